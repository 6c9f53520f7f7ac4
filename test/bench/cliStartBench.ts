/**
 * How long a `telepath` command takes to start and how much memory it uses, next to what a user
 * runs beside it (kubectl's own client-only command) and Node doing nothing (the floor every Node
 * program pays). The CLI is its own bundle (dist/telepath.js); "the daemon's bundle, loaded" is what
 * every command paid before that split, when the CLI and the daemon were one 18 MB bundle: Node
 * loads dist/telepathd.js, which exits at once without a mode. Each command runs `runs` times,
 * one after another, under GNU time (its peak RSS; the wall time measured around it, with the
 * fork and exec of time itself, about a millisecond); the first run of each is not counted (a
 * cold page cache). No cluster needed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, stateDir } from '../cluster/harness.js';

export interface StartRow {
  name: string;
  p50ms: number;
  p90ms: number;
  rssMiB: number;
}

const TIME = '/usr/bin/time';

function measure(name: string, argv: string[], env: NodeJS.ProcessEnv, runs: number): StartRow {
  const ms: number[] = [];
  const rss: number[] = [];
  spawnSync(argv[0]!, argv.slice(1), { env }); // warm the page cache; not counted
  for (let i = 0; i < runs; i++) {
    // Wall time from here (GNU time's %e has 10 ms steps), peak RSS from GNU time.
    const t0 = performance.now();
    const r = spawnSync(TIME, ['-f', '@@ %M', ...argv], { env, encoding: 'utf8' });
    ms.push(performance.now() - t0);
    const m = /@@ (\d+)\s*$/.exec(r.stderr);
    if (!m) throw new Error(`${name}: no peak RSS from ${TIME}: ${r.stderr}`);
    rss.push(Number(m[1]) / 1024);
  }
  const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
  const at = (a: number[], q: number) => sorted(a)[Math.min(a.length - 1, Math.floor(q * a.length))]!;
  return { name, p50ms: at(ms, 0.5), p90ms: at(ms, 0.9), rssMiB: at(rss, 0.5) };
}

export async function cliStartBench(runs: number): Promise<StartRow[]> {
  if (!existsSync(TIME)) throw new Error(`${TIME} (Debian's time package) is needed for the start-up bench`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'telepath-clibench-'));
  const env = { ...process.env, TELEPATH_RUN_DIR: path.join(dir, 'run'), TELEPATH_STATE_DIR: path.join(dir, 'state') };
  const cli = path.join(repoRoot, 'dist/telepath.js');
  const node = process.execPath;
  const rows: StartRow[] = [];
  try {
    rows.push(measure('node -e 0 (the floor of any Node program)', [node, '-e', '0'], env, runs));
    rows.push(measure('telepath version (no daemon)', [node, '--', cli, 'version'], env, runs));
    rows.push(measure('telepath help', [node, '--', cli, 'help'], env, runs));
    const kubectl = path.join(stateDir, 'bin/kubectl');
    if (existsSync(kubectl)) rows.push(measure('kubectl version --client', [kubectl, 'version', '--client'], env, runs));
    rows.push(measure("the daemon's bundle, loaded (every command before the split)", [node, '--', path.join(repoRoot, 'dist/telepathd.js')], env, runs));
    // With a daemon to talk to: status is one JSON-RPC round trip.
    const daemon = spawn(node, ['--', path.join(repoRoot, 'dist/telepathd.js'), 'daemon-foreground'], { env, stdio: 'ignore' });
    try {
      const deadline = Date.now() + 15_000;
      while (spawnSync(node, ['--', cli, 'status'], { env }).status !== 0) {
        if (Date.now() > deadline) throw new Error('the daemon did not answer in 15 s');
        await new Promise((r) => setTimeout(r, 200));
      }
      rows.push(measure('telepath status (a daemon running, not connected)', [node, '--', cli, 'status'], env, runs));
    } finally {
      spawnSync(node, ['--', cli, 'quit'], { env });
      daemon.kill('SIGTERM');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
