// Entry of the `telepath` executable bundle: the CLI, or the daemon itself (daemon-foreground).
import { main } from './cli.js';
import { runDaemon } from './daemonMain.js';

if (process.argv[2] === 'daemon-foreground') {
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
