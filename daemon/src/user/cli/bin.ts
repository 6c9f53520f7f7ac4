// Entry of the `telepath` executable bundle: the CLI, the daemon itself (daemon-foreground), the
// separate network-role process (network-role-foreground, as root), or the resolver guard's
// restoring half (resolver-restore, see dns/resolverGuard.ts).
import { main } from './cli.js';
import { runDaemon } from './daemonMain.js';
import { runNetworkRole } from './netrole/networkRoleMain.js';
import { RESOLVER_RESTORE, runResolverRestore } from './dns/resolverGuard.js';

if (process.argv[2] === 'network-role-foreground') {
  runNetworkRole(process.argv.slice(3)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`telepath network role: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
} else if (process.argv[2] === RESOLVER_RESTORE) {
  // Run by the resolver guard when the daemon or network role it watched ended without stopping.
  runResolverRestore(process.argv.slice(3)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`telepath resolver guard: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
} else if (process.argv[2] === 'daemon-foreground') {
  runDaemon().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`telepath daemon: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
} else {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
