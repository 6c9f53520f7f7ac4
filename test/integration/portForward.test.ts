/**
 * The daemon's own port-forward (daemon/src/user/kube/portForward.ts) through the local cluster's API
 * server, from the workstation namespace: the path every Telepath tunnel takes.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureCluster, kubectlJson, ws } from '../cluster/harness.js';

const probe = (args: string[]) =>
  ws(['node', '--import', 'tsx', 'test/integration/probes/portForwardProbe.ts', ...args], { timeoutMs: 120_000 });

function podOf(app: string): string {
  const pods = kubectlJson<{ items: { metadata: { name: string } }[] }>('-n', 'samples', 'get', 'pods', '-l', `app=${app}`);
  return pods.items[0]!.metadata.name;
}

before(() => ensureCluster());

test('an HTTP request reaches the pod through the daemon port-forward', () => {
  const pod = podOf('echo');
  const r = probe(['http', pod]);
  assert.equal(r.code, 0, r.stderr);
  const answer = JSON.parse(r.stdout) as { pod: string; path: string };
  assert.equal(answer.pod, pod);
  assert.equal(answer.path, '/through-telepath-port-forward');
});

test('32 MB go to the TCP echo pod and come back intact (backpressure both ways)', () => {
  const pod = podOf('tcp-echo');
  const r = probe(['echo', pod, String(32 << 20)]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { hello: string; sha: string; sent: string };
  assert.match(out.hello, new RegExp(`^hello from ${pod} `));
  assert.equal(out.sha, out.sent);
});

test('a port-forward to a pod that does not exist fails with the API server reason', () => {
  const r = probe(['http', 'no-such-pod']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /no-such-pod|not found/i);
});
