/**
 * Discovery logic against a scripted KubeApi (lists, watch events, errors). The real API server
 * is exercised by test/integration/manager.test.ts; this covers the branches a healthy
 * single-node cluster never takes (old clusters, RBAC refusals, expired watches).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterNetworks } from './clusterInfo.js';
import { KubeClusterInfoSource, NODES_PATH, SERVICE_CIDRS_PATH } from './clusterInfoSource.js';
import type { KubeApi } from './kube/collectionWatch.js';
import { KubeApiError, type RequestOptions, type WatchEventType } from './kube/kubeClient.js';
import { silentLogger } from '../../common/src/log/jsonLogger.js';

type Handler = (type: WatchEventType, object: object) => void;

/** Answers lists from `lists` (or throws what is there), and lets the test drive the watches. */
class ScriptedApi implements KubeApi {
  readonly requests: { path: string; opts?: RequestOptions }[] = [];
  readonly watchers = new Map<string, { handler: Handler; end: (e?: Error) => void }>();
  constructor(readonly lists: Record<string, object[] | Error>) {}

  request<T>(path: string, opts?: RequestOptions): Promise<T> {
    this.requests.push({ path, opts });
    const l = this.lists[path];
    if (l instanceof Error) return Promise.reject(l);
    if (!l) return Promise.reject(new KubeApiError(404, 'NotFound', `no ${path}`));
    return Promise.resolve({ metadata: { resourceVersion: '1' }, items: l } as T);
  }

  watch<T>(path: string, rv: string, onEvent: (type: WatchEventType, object: T) => void, signal?: AbortSignal): Promise<string> {
    return new Promise((resolve, reject) => {
      const end = (e?: Error): void => {
        this.watchers.delete(path);
        if (e) reject(e);
        else resolve(rv);
      };
      this.watchers.set(path, { handler: onEvent as Handler, end });
      signal?.addEventListener('abort', () => end(new Error('aborted')), { once: true });
    });
  }

  emit(path: string, type: WatchEventType, object: object): void {
    const w = this.watchers.get(path);
    assert.ok(w, `a watch on ${path} is open`);
    w.handler(type, object);
  }
}

const node = (name: string, cidr: string): object => ({ metadata: { name }, spec: { podCIDR: cidr, podCIDRs: [cidr] } });
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
