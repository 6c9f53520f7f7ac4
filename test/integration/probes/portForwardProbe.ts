/**
 * Runs inside the workstation namespace (see portForward.test.ts): forwards a local port to a
 * sample pod with the daemon's PortForwardListener and prints what came back, as JSON.
 *   portForwardProbe.ts http <pod>            one HTTP GET to the echo pod
 *   portForwardProbe.ts echo <pod> <bytes>    <bytes> through the TCP echo pod and back
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { PortForwardListener } from '../../../daemon/src/user/kube/portForward.js';

async function main(): Promise<void> {
  const [mode, pod, size] = process.argv.slice(2);
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const port = mode === 'http' ? 8080 : 9000;
  const listener = new PortForwardListener(
    kc,
    async () => ({ namespace: 'samples', pod: pod!, port }),
    (err) => process.stderr.write(`port-forward error: ${err.message}\n`),
  );
  const local = await listener.listen();
  try {
    if (mode === 'http') {
      const body = await new Promise<string>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: local, path: '/through-telepath-port-forward' }, (res) => {
            let b = '';
            res.on('data', (d: Buffer) => (b += d.toString()));
            res.on('end', () => resolve(b));
          })
          .on('error', reject);
      });
      process.stdout.write(body);
    } else {
      const payload = randomBytes(Number(size));
      const started = Date.now();
      const result = await new Promise<{ hello: string; sha: string; bytes: number }>((resolve, reject) => {
        const s = net.connect(local, '127.0.0.1');
        const received: Buffer[] = [];
        let total = 0;
        let hello = '';
        s.on('data', (d: Buffer) => {
          received.push(d);
          total += d.length;
          if (!hello) {
            const all = Buffer.concat(received);
            const nl = all.indexOf(10);
            if (nl >= 0) {
              hello = all.subarray(0, nl).toString();
              received.length = 0;
              received.push(all.subarray(nl + 1));
              total = all.length - nl - 1;
            }
          }
          if (hello && total >= payload.length) {
            const echoed = Buffer.concat(received).subarray(0, payload.length);
            resolve({ hello, sha: createHash('sha256').update(echoed).digest('hex'), bytes: total });
            s.destroy();
          }
        });
        s.on('error', reject);
        s.write(payload);
      });
      process.stdout.write(
        JSON.stringify({
          ...result,
          sent: createHash('sha256').update(payload).digest('hex'),
          ms: Date.now() - started,
        }),
      );
    }
  } finally {
    await listener.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`probe: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
