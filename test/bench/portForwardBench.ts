/**
 * The daemon's port-forward alone (no TUN, no gRPC), over SPDY and over the WebSocket, against
 * `kubectl port-forward`, to the same echo pod in one run: what the port-forward leg of `connect`
 * can carry at most. As root, with the local cluster up:
 *   node --import tsx test/bench/portForwardBench.ts [--mb 200] [--requests 200] [--rounds 3]
 * Each listener runs in a process of its own in the workstation namespace, as kubectl does
 * (`portForwardBench.ts listen POD spdy|websocket` is that process).
 */
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { PortForwardListener, type PortForwardTransport } from '../../daemon/src/user/kube/portForward.js';
import { kubectlJson, kubectlPortForward, ws, wsSpawn } from '../cluster/harness.js';

interface Result {
  downloadMBs: number;
  uploadMBs: number;
  p50ms: number;
  p99ms: number;
}

async function listen(pod: string, transport: PortForwardTransport): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const l = new PortForwardListener(kc, async () => ({ namespace: 'samples', pod, port: 8080 }), (e) => console.error(e.message), { transport });
  process.stdout.write(`listening ${await l.listen()}\n`);
  // An orderly exit, so that --cpu-prof can write its profile.
  process.once('SIGTERM', () => void l.close().then(() => process.exit(0)));
}

async function startListener(pod: string, transport: PortForwardTransport): Promise<{ port: number; stop(): void }> {
  const child = wsSpawn(['node', '--import', 'tsx', import.meta.filename, 'listen', pod, transport]);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  while (!/listening (\d+)/.test(out)) {
    await Promise.race([once(child.stdout!, 'data'), once(child, 'exit').then(() => Promise.reject(new Error(`listener exited: ${out}`)))]);
  }
  return { port: Number(/listening (\d+)/.exec(out)![1]), stop: () => void child.kill('SIGTERM') };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { mb: { type: 'string', default: '200' }, requests: { type: 'string', default: '200' }, rounds: { type: 'string', default: '3' } },
  });
  const pods = kubectlJson<{ items: { metadata: { name: string } }[] }>('-n', 'samples', 'get', 'pods', '-l', 'app=echo').items;
  const pod = pods[0]!.metadata.name;
  const forwards = {
    kubectl: await kubectlPortForward('samples', `pod/${pod}`, 8080),
    'daemon SPDY': await startListener(pod, 'spdy'),
    'daemon WebSocket': await startListener(pod, 'websocket'),
  };
  const results: Record<string, Result[]> = {};
  const bench = (port: number): Result => {
    const r = ws(['node', '--import', 'tsx', 'test/bench/httpBench.ts', `http://127.0.0.1:${port}`, values.mb!, values.requests!], { timeoutMs: 600_000 });
    if (r.code !== 0) throw new Error(`bench failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as Result;
  };
  try {
    for (let i = 0; i < Number(values.rounds); i++) {
      for (const [name, f] of Object.entries(forwards)) (results[name] ??= []).push(bench(f.port));
    }
  } finally {
    for (const f of Object.values(forwards)) f.stop();
  }
  const f = (n: number, d = 1) => n.toFixed(d);
  console.log(`| path | download MB/s | upload MB/s | p50 ms | (each round) |`);
  console.log('|---|---|---|---|---|');
  for (const [name, rs] of Object.entries(results)) {
    const best = (k: keyof Result, max = true) => (max ? Math.max : Math.min)(...rs.map((r) => r[k]));
    const each = rs.map((r) => `${f(r.downloadMBs)}/${f(r.uploadMBs)}`).join(', ');
    console.log(`| ${name} port-forward | ${f(best('downloadMBs'))} | ${f(best('uploadMBs'))} | ${f(best('p50ms', false), 2)} | ${each} |`);
  }
}

if (process.argv[2] === 'listen') void listen(process.argv[3]!, process.argv[4] as PortForwardTransport);
else
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
