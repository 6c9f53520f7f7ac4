// Entry of dist/telepathd.js, the daemon (`daemon-foreground`): started by the CLI or the VS Code
// extension when none runs, as the user (or as root, when it also runs the network role itself).
import { runDaemon } from './daemonMain.js';

if (process.argv[2] !== 'daemon-foreground') {
  process.stderr.write(`telepathd: unknown mode "${process.argv[2] ?? ''}" (the daemon starts as: telepathd daemon-foreground; the CLI starts it by itself)\n`);
  process.exit(2);
}
runDaemon().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`telepath daemon: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
