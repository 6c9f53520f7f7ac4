/**
 * Discovery logic against a scripted KubeApi (lists, watch events, errors). The real API server
 * is exercised by test/integration/manager.test.ts; this covers the branches a healthy
 * single-node cluster never takes (old clusters, RBAC refusals, expired watches).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterNetworks } from './clusterInfo.js';
import { KubeClusterInfoSource, NODES_PATH, POD_FIELD_SELECTOR, PODS_PATH, SERVICE_CIDRS_PATH } from './clusterInfoSource.js';
import type { KubeApi } from './kube/collectionWatch.js';
import { KubeApiError, type RequestOptions, type WatchEventType } from './kube/kubeClient.js';
import { silentLogger } from '../../common/src/log/jsonLogger.js';

type Handler = (type: WatchEventType, object: object) => void;

/**
 * Answers lists from `lists` (or throws what is there), in pages when asked for a limit, and lets
 * the test drive the watches. Both are found by the path without its query; `requests` and
 * `watchPaths` keep the query.
 */
class ScriptedApi implements KubeApi {
  readonly requests: { path: string; opts?: RequestOptions }[] = [];
  readonly watchers = new Map<string, { handler: Handler; end: (e?: Error) => void }>();
  readonly watchPaths: string[] = [];
  constructor(readonly lists: Record<string, object[] | Error>) {}

  request<T>(path: string, opts?: RequestOptions): Promise<T> {
    this.requests.push({ path, opts });
    const l = this.lists[withoutQuery(path)];
    if (l instanceof Error) return Promise.reject(l);
    if (!l) return Promise.reject(new KubeApiError(404, 'NotFound', `no ${path}`));
    const limit = Number(opts?.query?.limit ?? l.length);
    const from = Number(opts?.query?.continue ?? 0);
    const more = from + limit < l.length ? String(from + limit) : undefined;
    return Promise.resolve({ metadata: { resourceVersion: '1', continue: more }, items: l.slice(from, from + limit) } as T);
  }

  watch<T>(path: string, rv: string, onEvent: (type: WatchEventType, object: T) => void, signal?: AbortSignal): Promise<string> {
    this.watchPaths.push(path);
    return new Promise((resolve, reject) => {
      const end = (e?: Error): void => {
        this.watchers.delete(withoutQuery(path));
        if (e) reject(e);
        else resolve(rv);
      };
      this.watchers.set(withoutQuery(path), { handler: onEvent as Handler, end });
      signal?.addEventListener('abort', () => end(new Error('aborted')), { once: true });
    });
  }

  emit(path: string, type: WatchEventType, object: object): void {
    const w = this.watchers.get(path);
    assert.ok(w, `a watch on ${path} is open`);
    w.handler(type, object);
  }
}

const withoutQuery = (path: string): string => path.split('?')[0]!;

const node = (name: string, cidr: string): object => ({ metadata: { name }, spec: { podCIDR: cidr, podCIDRs: [cidr] } });
/** A Ready node whose CNI left spec.podCIDR empty (Calico IPAM, Cilium cluster-pool, VPC CNIs). */
const bareNode = (name: string): object => ({ metadata: { name }, spec: {}, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
const pod = (name: string, ips: string[], spec: object = {}): object => ({
  metadata: { name, namespace: 'shop', uid: `uid-${name}` },
  spec,
  status: { phase: 'Running', podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) },
});
const cidr = (name: string, cidrs: string[]): object => ({ metadata: { name }, spec: { cidrs } });
const DNS = { dnsServer: '10.96.0.10', clusterDomain: 'cluster.local' };

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'condition not met');
}

test('ServiceCIDRs and nodes are listed, then followed; only real changes are published', async () => {
  const api = new ScriptedApi({
    [SERVICE_CIDRS_PATH]: [cidr('extra', ['10.100.0.0/16']), cidr('kubernetes', ['10.96.0.0/16'])],
    [NODES_PATH]: [node('n1', '10.244.0.0/24')],
  });
  const source = new KubeClusterInfoSource({ api, namespace: 'telepath', ...DNS, logger: silentLogger });
  const seen: ClusterNetworks[] = [];
  source.subscribe((n) => seen.push(n));
  const stop = new AbortController();
  const first = await source.start(stop.signal);
  assert.deepEqual(first, { serviceCidrs: ['10.96.0.0/16', '10.100.0.0/16'], podCidrs: ['10.244.0.0/24'], ...DNS });
  assert.deepEqual(seen, [first], 'the first snapshot reaches early subscribers');

  await until(() => api.watchers.has(NODES_PATH) && api.watchers.has(SERVICE_CIDRS_PATH));
  api.emit(NODES_PATH, 'ADDED', node('n2', '10.244.1.0/24'));
  api.emit(NODES_PATH, 'MODIFIED', { ...node('n2', '10.244.1.0/24'), status: { heartbeat: 1 } });
  api.emit(NODES_PATH, 'BOOKMARK', { metadata: { resourceVersion: '9' } });
  api.emit(NODES_PATH, 'DELETED', node('n1', '10.244.0.0/24'));
  api.emit(SERVICE_CIDRS_PATH, 'DELETED', cidr('extra', ['10.100.0.0/16']));
  assert.deepEqual(
    seen.slice(1).map((n) => [n.serviceCidrs, n.podCidrs]),
    [
      [['10.96.0.0/16', '10.100.0.0/16'], ['10.244.0.0/24', '10.244.1.0/24']],
      [['10.96.0.0/16', '10.100.0.0/16'], ['10.244.1.0/24']],
      [['10.96.0.0/16'], ['10.244.1.0/24']],
    ],
  );
  assert.deepEqual(source.current()?.podCidrs, ['10.244.1.0/24']);
  stop.abort();
});

test('without the ServiceCIDR API the range comes from a dry-run Service the API server rejects', async () => {
  const api = new ScriptedApi({ [NODES_PATH]: [node('n1', '10.42.0.0/24')] });
  api.request = function <T>(path: string, opts?: RequestOptions): Promise<T> {
    this.requests.push({ path, opts });
    if (opts?.method === 'POST') {
      return Promise.reject(
        new KubeApiError(422, 'Invalid', 'Service "telepath-service-range-probe" is invalid: spec.clusterIPs: Invalid value: []string{"1.1.1.1"}: failed to allocate IP 1.1.1.1: the provided IP (1.1.1.1) is not in the valid range. The range of valid IPs is 10.43.0.0/16'),
      );
    }
    return ScriptedApi.prototype.request.call(this, path, opts) as Promise<T>;
  };
  const stop = new AbortController();
  const source = new KubeClusterInfoSource({ api, namespace: 'tp', ...DNS, logger: silentLogger });
  const first = await source.start(stop.signal);
  assert.deepEqual(first.serviceCidrs, ['10.43.0.0/16']);
  const post = api.requests.find((r) => r.opts?.method === 'POST');
  assert.equal(post?.path, '/api/v1/namespaces/tp/services');
  assert.deepEqual(post?.opts?.query, { dryRun: 'All' });
  assert.equal((post?.opts?.body as { spec: { clusterIP: string } }).spec.clusterIP, '1.1.1.1');
  stop.abort();
});

test('what RBAC forbids is left empty instead of failing discovery, and nodes are listed again later', async () => {
  const forbidden = new KubeApiError(403, 'Forbidden', 'nodes is forbidden');
  const api = new ScriptedApi({ [SERVICE_CIDRS_PATH]: [cidr('kubernetes', ['10.96.0.0/16'])], [NODES_PATH]: forbidden });
  const stop = new AbortController();
  const source = new KubeClusterInfoSource({ api, namespace: 'tp', ...DNS, logger: silentLogger, retryDelayMs: 20 });
  const first = await source.start(stop.signal);
  assert.deepEqual(first, { serviceCidrs: ['10.96.0.0/16'], podCidrs: [], ...DNS });
  // The binding arrives; the next retry lists the nodes and follows them from then on.
  api.lists[NODES_PATH] = [node('n1', '10.244.0.0/24')];
  await until(() => source.current()?.podCidrs.length === 1);
  await until(() => api.watchers.has(NODES_PATH));
  stop.abort();
});

test('an expired watch (410 Gone) lists again and picks up what changed meanwhile', async () => {
  const api = new ScriptedApi({ [SERVICE_CIDRS_PATH]: [cidr('kubernetes', ['10.96.0.0/16'])], [NODES_PATH]: [node('n1', '10.244.0.0/24')] });
  const stop = new AbortController();
  const source = new KubeClusterInfoSource({ api, namespace: 'tp', ...DNS, logger: silentLogger });
  await source.start(stop.signal);
  await until(() => api.watchers.has(NODES_PATH));
  api.lists[NODES_PATH] = [node('n1', '10.244.0.0/24'), node('n3', '10.244.3.0/24')];
  api.watchers.get(NODES_PATH)!.end(new KubeApiError(410, 'Gone', 'too old resource version'));
  await until(() => source.current()?.podCidrs.length === 2);
  assert.deepEqual(source.current()?.podCidrs, ['10.244.0.0/24', '10.244.3.0/24']);
  stop.abort();
});

/** Pod changes gather for 10 ms; an emptied block stays 100 ms. */
const COVER = { podCoverDelayMs: 10, keepEmptyBlockMs: 100 };

test('auto: Ready nodes without spec.podCIDR make the pod subnets cover the pods, hostNetwork pods left out', async () => {
  const api = new ScriptedApi({
    [SERVICE_CIDRS_PATH]: [cidr('kubernetes', ['10.96.0.0/16'])],
    [NODES_PATH]: [bareNode('n1'), bareNode('n2')],
    [PODS_PATH]: [
      pod('web-1', ['192.168.10.7']),
      pod('web-2', ['192.168.11.9', 'fd00:10:244:1::9']),
      pod('db-0', ['192.168.40.3']),
      pod('kube-proxy-x', ['172.18.0.2'], { hostNetwork: true }),
    ],
  });
  const stop = new AbortController();
  const source = new KubeClusterInfoSource({ api, namespace: 'tp', ...DNS, logger: silentLogger, ...COVER });
  const first = await source.start(stop.signal);
  // 192.168.10.0/24 and .11.0/24 are siblings; the node address 172.18.0.2 is not routed.
  assert.deepEqual(first.podCidrs, ['192.168.10.0/23', '192.168.40.0/24', 'fd00:10:244:1::/64']);
  const list = api.requests.find((r) => withoutQuery(r.path) === PODS_PATH);
  assert.equal(list?.path, `${PODS_PATH}?fieldSelector=${encodeURIComponent(POD_FIELD_SELECTOR)}`, 'finished and hostNetwork pods are not even sent');
  assert.equal(list?.opts?.query?.limit, 500, 'pods are listed in pages');
  await until(() => api.watchers.has(PODS_PATH));
  assert.equal(api.watchPaths.at(-1), list?.path, 'the watch has the same selector');
  stop.abort();
});

test('a large cluster is listed page by page, and every page counts', async () => {
  const pods = Array.from({ length: 1201 }, (_, i) => pod(`p${i}`, [`10.${8 + Math.floor(i / 256)}.${i % 256}.1`]));
  const api = new ScriptedApi({ [NODES_PATH]: [bareNode('n1')], [PODS_PATH]: pods });
  const stop = new AbortController();
  const source = new KubeClusterInfoSource({ api, namespace: 'tp', ...DNS, logger: silentLogger, ...COVER });
  const first = await source.start(stop.signal);
  // 1,201 /24s: four whole /16s (merging stops there), then 177 /24s of 10.12.
  assert.deepEqual(first.podCidrs, ['10.8.0.0/16', '10.9.0.0/16', '10.10.0.0/16', '10.11.0.0/16', '10.12.0.0/17', '10.12.128.0/19', '10.12.160.0/20', '10.12.176.0/24']);
  const pages = api.requests.filter((r) => withoutQuery(r.path) === PODS_PATH).map((r) => r.opts?.query?.continue);
  assert.deepEqual(pages, [undefined, '500', '1000']);
  stop.abort();
});

test('a pod in a new range makes one new snapshot with it, however many start at once; a hostNetwork pod none', async () => {
  const api = new ScriptedApi({ [NODES_PATH]: [bareNode('n1')], [PODS_PATH]: [pod('web-1', ['10.0.1.7'])] });
  const stop = new AbortController();
  const source = new KubeClusterInfoSource({ api, namespace: 'tp', ...DNS, logger: silentLogger, ...COVER });
  const seen: string[][] = [];
  source.subscribe((n) => seen.push(n.podCidrs));
  await source.start(stop.signal);
  await until(() => api.watchers.has(PODS_PATH));
  api.emit(PODS_PATH, 'ADDED', pod('ingress-x', ['10.0.9.1'], { hostNetwork: true }));
  for (let i = 0; i < 50; i++) api.emit(PODS_PATH, 'ADDED', pod(`batch-${i}`, [`10.0.${20 + (i % 2)}.${i + 1}`]));
  api.emit(PODS_PATH, 'MODIFIED', pod('web-1', ['10.0.1.7']));
  await until(() => seen.length === 2);
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(seen, [['10.0.1.0/24'], ['10.0.1.0/24', '10.0.20.0/23']]);
  stop.abort();
});

test('a range whose pods are gone stays a while, then goes; one that gets a pod back stays', async () => {
  const api = new ScriptedApi({ [NODES_PATH]: [bareNode('n1')], [PODS_PATH]: [pod('a', ['10.0.1.7']), pod('b', ['10.0.5.7'])] });
  const stop = new AbortController();
  const source = new KubeClusterInfoSource({ api, namespace: 'tp', ...DNS, logger: silentLogger, ...COVER });
  await source.start(stop.signal);
  await until(() => api.watchers.has(PODS_PATH));
  const t0 = Date.now();
  api.emit(PODS_PATH, 'DELETED', pod('a', ['10.0.1.7']));
  api.emit(PODS_PATH, 'DELETED', pod('b', ['10.0.5.7']));
  api.emit(PODS_PATH, 'ADDED', pod('b2', ['10.0.5.8']));
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(source.current()?.podCidrs, ['10.0.1.0/24', '10.0.5.0/24'], 'not at once');
  await until(() => source.current()?.podCidrs.length === 1);
  assert.ok(Date.now() - t0 >= 100, 'after keepEmptyBlockMs');
  assert.deepEqual(source.current()?.podCidrs, ['10.0.5.0/24']);
  stop.abort();
});

test('auto: while every Ready node has a pod CIDR, pods are not even listed; when one without joins, they are', async () => {
  const api = new ScriptedApi({ [NODES_PATH]: [node('n1', '10.244.0.0/24')], [PODS_PATH]: [pod('web-1', ['10.0.1.7'])] });
  const stop = new AbortController();
  const source = new KubeClusterInfoSource({ api, namespace: 'tp', ...DNS, logger: silentLogger, ...COVER });
  assert.deepEqual((await source.start(stop.signal)).podCidrs, ['10.244.0.0/24']);
  await until(() => api.watchers.has(NODES_PATH));
  // A new node before the controller manager gave it a pod CIDR: not Ready, does not count.
  api.emit(NODES_PATH, 'ADDED', { metadata: { name: 'n2' }, spec: {} });
  api.emit(NODES_PATH, 'MODIFIED', node('n2', '10.244.1.0/24'));
  assert.ok(!api.requests.some((r) => withoutQuery(r.path) === PODS_PATH));
  assert.deepEqual(source.current()?.podCidrs, ['10.244.0.0/24', '10.244.1.0/24']);
  api.emit(NODES_PATH, 'ADDED', bareNode('n3'));
  await until(() => source.current()?.podCidrs.join() === '10.0.1.0/24');
  stop.abort();
});

test("nodes: the nodes' pod CIDRs, even where Ready nodes have none; pods are never listed", async () => {
  const api = new ScriptedApi({ [NODES_PATH]: [node('n1', '10.244.0.0/24'), bareNode('n2')], [PODS_PATH]: [pod('web-1', ['10.0.1.7'])] });
  const stop = new AbortController();
  const source = new KubeClusterInfoSource({ api, namespace: 'tp', ...DNS, logger: silentLogger, podCidrStrategy: 'nodes', ...COVER });
  assert.deepEqual((await source.start(stop.signal)).podCidrs, ['10.244.0.0/24']);
  await until(() => api.watchers.has(NODES_PATH));
  api.emit(NODES_PATH, 'ADDED', bareNode('n3'));
  await new Promise((r) => setTimeout(r, 30));
  assert.ok(!api.requests.some((r) => withoutQuery(r.path) === PODS_PATH));
  assert.deepEqual(source.current()?.podCidrs, ['10.244.0.0/24']);
  stop.abort();
});

test('pods: the pods are covered even where every node has a pod CIDR, and nodes are not listed', async () => {
  // Calico's own IPAM beside a kubeadm --pod-network-cidr: the nodes' CIDRs are not the pods'.
  const api = new ScriptedApi({ [NODES_PATH]: [node('n1', '10.244.0.0/24')], [PODS_PATH]: [pod('web-1', ['192.168.77.130'])] });
  const stop = new AbortController();
  const source = new KubeClusterInfoSource({ api, namespace: 'tp', ...DNS, logger: silentLogger, podCidrStrategy: 'pods', ...COVER });
  assert.deepEqual((await source.start(stop.signal)).podCidrs, ['192.168.77.0/24']);
  assert.ok(!api.requests.some((r) => r.path === NODES_PATH));
  stop.abort();
});

test('configured pod CIDRs win over every strategy; neither nodes nor pods are listed', async () => {
  const api = new ScriptedApi({ [NODES_PATH]: [bareNode('n1')], [PODS_PATH]: [pod('web-1', ['10.0.1.7'])] });
  const stop = new AbortController();
  const podCidrs = ['100.64.0.0/16', 'fd00:64::/56'];
  const source = new KubeClusterInfoSource({ api, namespace: 'tp', ...DNS, logger: silentLogger, podCidrStrategy: 'pods', podCidrs, ...COVER });
  assert.deepEqual((await source.start(stop.signal)).podCidrs, podCidrs);
  assert.ok(!api.requests.some((r) => r.path === NODES_PATH || withoutQuery(r.path) === PODS_PATH));
  stop.abort();
});

test('pods that cannot be listed leave auto with the nodes; once they can, the pods are covered', async () => {
  const api = new ScriptedApi({ [NODES_PATH]: [node('n1', '10.244.0.0/24'), bareNode('n2')], [PODS_PATH]: new KubeApiError(403, 'Forbidden', 'pods is forbidden') });
  const stop = new AbortController();
  const source = new KubeClusterInfoSource({ api, namespace: 'tp', ...DNS, logger: silentLogger, retryDelayMs: 20, ...COVER });
  assert.deepEqual((await source.start(stop.signal)).podCidrs, ['10.244.0.0/24']);
  api.lists[PODS_PATH] = [pod('web-1', ['10.0.1.7'])];
  await until(() => source.current()?.podCidrs.join() === '10.0.1.0/24');
  stop.abort();
});
