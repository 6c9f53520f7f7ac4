// Entry of dist/telepath.js, the `telepath` command. It loads only the CLI (a JSON-RPC client), so
// a command starts in a fraction of the time the whole daemon would take; the daemon and the
// network role are programs of their own (network/programs.ts). A command line of theirs given to
// this program (daemon-foreground; network-role-foreground or resolver-restore, as a resolver
// guard started by an earlier version runs it) is handed on to the program that owns the mode.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { programCommand, type ProgramName } from '../../network/programs.js';
import { main } from './cli.js';

const OTHER_PROGRAMS: Record<string, ProgramName> = {
  'daemon-foreground': 'daemon',
  'network-role-foreground': 'network',
  'resolver-restore': 'network',
};

const owner = OTHER_PROGRAMS[process.argv[2] ?? ''];
if (owner) {
  const [node, ...rest] = programCommand(owner);
  const child = spawn(node!, [...rest, ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? 128 + ((signal && constants.signals[signal]) || 0)));
} else {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
