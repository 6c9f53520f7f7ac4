/**
 * `npm run demo`: the main job in one command, against the local cluster. It brings the cluster up
 * when needed, starts a small HTTP server on the "workstation" (the tp-ws namespace), connects,
 * puts a personal intercept on the echo sample, sends two requests from a pod inside the cluster —
 * one with the intercept's header, which the workstation answers, one without, which the pod
 * answers — and then leaves, removes the agent and stops the daemon, so the cluster is as before.
 */
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { buildBundles, ensureCluster, fromClientPod, repoRoot, ws, wsSpawn } from '../test/cluster/harness.js';

const LOCAL_PORT = 3000;
const telepath = path.join(repoRoot, 'dist/telepath.js');
const env = { ...process.env, TELEPATH_RUN_DIR: '/run/telepath-demo', TELEPATH_STATE_DIR: path.join(repoRoot, '.cluster/telepath-demo') };

const SERVER = `require('http').createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end('Hello from your workstation! ' + req.method + ' ' + req.url + ' (SAMPLE_GREETING here is "' + process.env.SAMPLE_GREETING + '")\\n');
}).listen(${LOCAL_PORT}, '127.0.0.1', () => console.log('listening'));`;

function say(text: string): void {
  process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`);
}

function telepathCmd(args: string[]): string {
  const r = ws(['node', '--', telepath, ...args], { env, timeoutMs: 300_000 });
  process.stderr.write(r.stderr);
  if (r.code !== 0) throw new Error(`telepath ${args.join(' ')} failed (exit ${r.code})`);
  return r.stdout;
}

async function main(): Promise<void> {
  say('Bringing the local cluster up (test/cluster/up)');
  ensureCluster();
  say('Building Telepath');
  buildBundles('telepath', 'traffic-manager', 'traffic-agent');

  let server: ChildProcess | undefined;
  try {
    say(`telepath connect --namespace samples`);
    process.stdout.write(telepathCmd(['connect', '--namespace', 'samples']));

    say(`telepath intercept echo --port ${LOCAL_PORT} --personal  (a local server listens on :${LOCAL_PORT})`);
    const out = JSON.parse(telepathCmd(['intercept', 'echo', '--port', String(LOCAL_PORT), '--personal', '-o', 'json'])) as {
      intercept: { headers: { name: string; value: string }[] };
      environment: Record<string, string>;
    };
    const header = out.intercept.headers[0]!;
    process.stdout.write(`personal intercept: requests with "${header.name}: ${header.value}" come to this machine\n`);
    // The local service runs with the pod's environment, as `telepath intercept ... -- cmd` would.
    server = wsSpawn(['env', `SAMPLE_GREETING=${out.environment.SAMPLE_GREETING ?? ''}`, 'node', '-e', SERVER]);
    await new Promise<void>((resolve, reject) => {
      server!.stdout!.once('data', () => resolve());
      server!.once('exit', (c) => reject(new Error(`the local server exited ${c}`)));
    });

    say(`From the client pod in the cluster: GET http://echo.samples:8080/hello with ${header.name}: ${header.value}`);
    const mine = fromClientPod(['http-get', 'http://echo.samples:8080/hello', '--header', `${header.name}=${header.value}`]);
    process.stdout.write(mine.stdout || mine.stderr);
    say('The same request without the header (everyone else): the pod answers');
    const theirs = fromClientPod(['http-get', 'http://echo.samples:8080/hello']);
    const pod = (JSON.parse(theirs.stdout || '{}') as { pod?: string }).pod;
    process.stdout.write(pod ? `answered by pod ${pod}\n` : theirs.stderr);
    if (!mine.stdout.startsWith('Hello from your workstation!')) throw new Error('the intercepted request did not reach the workstation');
  } finally {
    say('Cleaning up: leave, remove the agent, stop the daemon');
    for (const args of [['leave', 'echo'], ['uninstall', '--agent', 'echo', '--namespace', 'samples'], ['quit']]) {
      const r = ws(['node', '--', telepath, ...args], { env, timeoutMs: 300_000 });
      process.stdout.write(r.stdout);
    }
    server?.kill('SIGTERM');
  }
}

main().then(
  () => say('Done'),
  (e: unknown) => {
    process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
