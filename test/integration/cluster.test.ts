/**
 * The local cluster itself: it comes up, every sample answers inside the cluster, and the
 * workstation namespace reaches the API server and nothing else.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureCluster, fromClientPod, kubectl, kubectlJson, kubectlPortForward, run, ws } from '../cluster/harness.js';

interface Pod {
  metadata: { name: string; labels?: Record<string, string> };
  status: {
    phase: string;
    podIP?: string;
    containerStatuses?: { ready: boolean }[];
  };
}
interface List<T> {
  items: T[];
}
interface Service {
  spec: { clusterIP: string };
}
interface EchoAnswer {
  pod: string;
  greeting: string;
  secret: string;
  config: string;
}

const SECRET = 's3cr3t-from-a-secret';
const CONFIG_LINE = 'config line from the sample-config ConfigMap';

function clusterIP(name: string): string {
  return kubectlJson<Service>('-n', 'samples', 'get', 'service', name).spec.clusterIP;
}

/** Runs a client mode in the client pod and returns its stdout; fails the test with stderr. */
function client(args: string[]): string {
  const r = fromClientPod(args);
  assert.equal(r.code, 0, `client ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

function assertIdentity(answer: EchoAnswer, podPrefix: string, workload: string): void {
  assert.match(answer.pod, new RegExp(`^${podPrefix}`));
  assert.equal(answer.greeting, `hello from ${workload}`);
  assert.equal(answer.secret, SECRET);
  assert.equal(answer.config, CONFIG_LINE);
}

before(() => {
  ensureCluster();
});

describe('the local cluster comes up', () => {
  test('the node is Ready', () => {
    const node = kubectlJson<{ status: { conditions: { type: string; status: string }[] } }>('get', 'node', 'tp-node');
    const ready = node.status.conditions.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'True');
  });

  test('every sample pod is Running and Ready', () => {
    const pods = kubectlJson<List<Pod>>('-n', 'samples', 'get', 'pods').items;
    const byApp = new Map<string, number>();
    for (const p of pods) {
      assert.equal(p.status.phase, 'Running', `${p.metadata.name} is ${p.status.phase}`);
      assert.ok(p.status.containerStatuses?.every((c) => c.ready), `${p.metadata.name} is not Ready`);
      const app = p.metadata.labels?.app ?? '?';
      byApp.set(app, (byApp.get(app) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries([...byApp].sort()), {
      client: 1, echo: 2, 'grpc-echo': 1, multi: 1, 'tcp-echo': 1, 'udp-echo': 1, web: 2,
    });
  });

  test('CoreDNS answers echo.samples.svc.cluster.local inside the cluster', () => {
    const out = JSON.parse(client(['dns-lookup', 'echo.samples.svc.cluster.local', '--type', 'A']));
    assert.deepEqual(out.addresses ?? out, [clusterIP('echo')]);
  });

  test('a ClusterIP answers from the client pod, with the pod env, Secret and ConfigMap', () => {
    const answer = JSON.parse(client(['http-get', `http://${clusterIP('echo')}:8080/`])) as EchoAnswer;
    assertIdentity(answer, 'echo-', 'echo');
  });
});

describe('every sample answers inside the cluster', () => {
  test('HTTP/1.1 echo by short name, with two requests on one keep-alive connection', () => {
    const lines = client(['http-get', 'http://echo:8080/x', '--count', '2']).trim().split('\n');
    assert.equal(lines.length, 2);
    for (const l of lines) assertIdentity(JSON.parse(l) as EchoAnswer, 'echo-', 'echo');
  });

  test('h2c and gRPC on one numeric port', () => {
    const h2 = JSON.parse(client(['h2-get', 'http://grpc-echo.samples:50051/h2'])) as EchoAnswer & { protocol: string };
    assert.equal(h2.protocol, 'h2');
    assertIdentity(h2, 'grpc-echo-', 'grpc-echo');
    const reply = JSON.parse(client(['grpc-call', 'grpc-echo.samples:50051', '--metadata', 'x-test=1', '--message', 'hi']));
    assert.equal(reply.message, 'hi');
    assert.equal(reply.metadata['x-test'], '1');
    assertIdentity(reply as EchoAnswer, 'grpc-echo-', 'grpc-echo');
  });

  test('raw TCP echo', () => {
    const out = client(['tcp-send', 'tcp-echo.samples.svc.cluster.local', '9000', 'ping-tcp']);
    assert.match(out, /^hello from tcp-echo-\S+ greeting=hello from tcp-echo\n/);
    assert.match(out, /\nping-tcp\n$/);
  });

  test('UDP echo', () => {
    const out = client(['udp-send', 'udp-echo', '9001', 'ping-udp']);
    assert.match(out, /^udp-echo-\S+: ping-udp/);
  });

  test('headless Service over a StatefulSet: each pod by name', () => {
    for (const pod of ['web-0', 'web-1']) {
      const answer = JSON.parse(client(['http-get', `http://${pod}.web.samples.svc.cluster.local:8080/`])) as EchoAnswer;
      assert.equal(answer.pod, pod);
      assertIdentity(answer, 'web-', 'web');
    }
  });

  test('a multi-port Service answers on both ports', () => {
    assertIdentity(JSON.parse(client(['http-get', 'http://multi/'])) as EchoAnswer, 'multi-', 'multi');
    assert.match(client(['tcp-send', 'multi', '9000', 'ping-multi']), /^hello from multi-\S+ greeting=hello from multi\nping-multi\n$/);
  });

  test('an ExternalName Service is a CNAME to the echo Service', () => {
    const cname = JSON.parse(client(['dns-lookup', 'external.samples.svc.cluster.local', '--type', 'CNAME']));
    assert.deepEqual(cname.addresses ?? cname, ['echo.samples.svc.cluster.local']);
    assertIdentity(JSON.parse(client(['http-get', 'http://external:8080/'])) as EchoAnswer, 'echo-', 'echo');
  });
});

describe('the workstation namespace reaches the API server and nothing else', () => {
  const curl = (url: string) => ws(['curl', '-sS', '--max-time', '3', '-o', '/dev/null', '-w', '%{http_code}', url]);

  test('the API server answers', () => {
    assert.equal(ws(['kubectl', 'get', '--raw', '/readyz']).stdout, 'ok');
  });

  test('a pod IP does not answer', () => {
    const pod = kubectlJson<List<Pod>>('-n', 'samples', 'get', 'pods', '-l', 'app=echo').items[0]!;
    const r = curl(`http://${pod.status.podIP}:8080/`);
    assert.notEqual(r.code, 0, `a pod answered the workstation: ${r.stdout}`);
  });

  test('a ClusterIP does not answer', () => {
    const r = curl(`http://${clusterIP('echo')}:8080/`);
    assert.notEqual(r.code, 0, `a ClusterIP answered the workstation: ${r.stdout}`);
  });

  test('the node answers on no port but the API server', () => {
    const r = curl('https://10.250.0.1:10250/healthz'); // the kubelet
    assert.notEqual(r.code, 0);
  });

  test('an address outside the cluster is unreachable (no route: no packet leaves)', () => {
    const r = curl('http://192.0.2.1/'); // TEST-NET-1
    assert.notEqual(r.code, 0);
    assert.match(ws(['ip', 'route', 'get', '192.0.2.1']).stderr, /unreachable/i);
  });

  test('the node itself has no way out: its default route ends in a veth whose peer is down', () => {
    const route = run('ip', ['-n', 'tp-node', 'route', 'get', '192.0.2.1']).stdout;
    assert.match(route, /dev tpblk0/);
    const peer = run('ip', ['-n', 'tp-node', '-o', 'link', 'show', 'tpblk1']).stdout;
    assert.match(peer, /state DOWN/);
  });
});

test('kubectl port-forward from the workstation namespace carries a request to a pod', async () => {
  const pod = kubectlJson<List<Pod>>('-n', 'samples', 'get', 'pods', '-l', 'app=echo').items[0]!.metadata.name;
  const pf = await kubectlPortForward('samples', `pod/${pod}`, 8080, 20_000);
  try {
    const r = ws(['curl', '-sS', '--max-time', '5', `http://127.0.0.1:${pf.port}/via-port-forward`]);
    assert.equal(r.code, 0, r.stderr);
    const answer = JSON.parse(r.stdout) as EchoAnswer & { path: string };
    assert.equal(answer.pod, pod);
    assert.equal(answer.path, '/via-port-forward');
  } finally {
    pf.stop();
  }
});

test('kubectl talks to the cluster from the workstation namespace', () => {
  assert.match(kubectl('version'), /Server Version: v1\.34\./);
});
