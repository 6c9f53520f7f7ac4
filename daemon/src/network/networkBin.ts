// Entry of dist/telepath-network.js, the programs that run as root apart from a root daemon: the
// separate network-role process (network-role-foreground, started by `sudo telepath network-role`)
// and the resolver guard's restoring half (resolver-restore, see dns/resolverGuard.ts). Its bundle
// holds only network/, common/ and protocol/ code: no kubeconfig is ever read in it.
import { runNetworkRole } from './networkRoleMain.js';
import { RESOLVER_RESTORE, runResolverRestore } from './dns/resolverGuard.js';

const [mode, ...args] = process.argv.slice(2);
const run = mode === 'network-role-foreground' ? runNetworkRole : mode === RESOLVER_RESTORE ? runResolverRestore : undefined;
if (!run) {
  process.stderr.write(`telepath-network: unknown mode "${mode ?? ''}" (the network role is started with: sudo telepath network-role)\n`);
  process.exit(2);
}
run(args).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`telepath ${mode}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
