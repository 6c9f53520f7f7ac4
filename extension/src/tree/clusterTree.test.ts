import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CancellationToken } from 'vscode-jsonrpc';
import { daemonError, ErrorCode, type ContextsResult, type DaemonStatus, type InterceptInfo, type ListResult } from '../../../protocol/src/daemon';
import { connectionView, type ConnectionView } from '../status/connectionState.js';
import { CancelledError } from '../util/cancellation.js';
import type { ClusterNode } from './clusterNode.js';
import { ClusterTree, type ClusterTreeSource } from './clusterTree.js';
import { LOADING_CONTEXT_VALUE, TREE_COMMANDS } from './treeModel.js';

const contexts: ContextsResult = {
  kubeconfig: '/home/alice/.kube/config',
  current: 'local',
  contexts: [{ name: 'local', cluster: 'https://10.0.0.1:6443', namespace: 'samples' }, { name: 'staging', cluster: 'https://staging:6443' }],
};

function workloads(namespace: string, count = 2): ListResult {
  return {
    namespace,
    intercepts: [],
    workloads: Array.from({ length: count }, (_, i) => ({
      kind: 'Deployment' as const,
      name: `app-${String(i).padStart(4, '0')}`,
      namespace,
      agent: 'none' as const,
      ports: [{ service: `app-${i}`, portName: 'http', port: 80, protocol: 'TCP', container: 'app', containerPort: 8080, intercepts: [] }],
    })),
  };
}

interface Call {
  what: string;
  token: CancellationToken;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  done: boolean;
}

/** The daemon as the tree sees it: every request is recorded and waits until the test answers it. */
class FakeDaemon implements ClusterTreeSource {
  readonly calls: Call[] = [];
  maxInFlight = 0;
  namespaceNames = ['default', 'kube-system', 'samples'];
  workloadCount = 2;

  contexts(token: CancellationToken): Promise<ContextsResult> {
    return this.call('contexts', token);
  }
  namespaces(token: CancellationToken): Promise<string[]> {
    return this.call('namespaces', token);
  }
  list(namespace: string, token: CancellationToken): Promise<ListResult> {
    return this.call(`list ${namespace}`, token);
  }

  /** What was asked, in order. */
  asked(): string[] {
    return this.calls.map((c) => c.what);
  }
  inFlight(): string[] {
    return this.calls.filter((c) => !c.done).map((c) => c.what);
  }

  /** Answers the open requests (those for `what` only, if given) as a cluster would. */
  answer(what?: string): void {
    for (const c of this.open(what)) {
      c.done = true;
      c.resolve(
        c.what === 'contexts' ? contexts
        : c.what === 'namespaces' ? this.namespaceNames
        : workloads(c.what.slice('list '.length), this.workloadCount),
      );
    }
  }

  fail(what: string, error: unknown): void {
    for (const c of this.open(what)) {
      c.done = true;
      c.reject(error);
    }
  }

  private open(what?: string): Call[] {
    return this.calls.filter((c) => !c.done && (what === undefined || c.what === what));
  }

  private call<T>(what: string, token: CancellationToken): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const call: Call = { what, token, resolve: resolve as (v: unknown) => void, reject, done: false };
      this.calls.push(call);
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight().length);
      token.onCancellationRequested(() => {
        if (call.done) return;
        call.done = true;
        reject(new CancelledError());
      });
    });
  }
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

const status = (over: Partial<DaemonStatus> = {}): DaemonStatus => ({
  state: 'connected', context: 'local', namespace: 'samples', routedSubnets: [], intercepts: [], ...over,
});

const myEcho: InterceptInfo = {
  name: 'echo', namespace: 'samples', workload: 'deployment/echo', servicePort: 'echo:http/8080', agentPort: 9900,
  localPort: 3000, mode: 'personal', headers: [{ name: 'x-telepath-intercept', value: 'alice' }], state: 'active',
};

/** A tree over a fake daemon, with the redraws it asked for. */
function setUp(view: ConnectionView = connectionView('up', status()), options: { pageSize?: number } = {}) {
  const daemon = new FakeDaemon();
  const state = { view };
  const logged: string[] = [];
  const tree = new ClusterTree(daemon, () => state.view, { ...options, log: (m) => logged.push(m) });
  const redrawn: (string | undefined)[] = [];
  const objects: (ClusterNode | undefined)[] = [];
  tree.onDidChange((n) => {
    redrawn.push(n?.id);
    objects.push(n);
  });
  const busy: boolean[] = [];
  tree.onDidChangeBusy((b) => busy.push(b));
  return { daemon, tree, state, redrawn, objects, busy, logged };
}

/** Walks the tree by labels, as VS Code does when the user expands each one, answering the daemon on the way. */
async function expand(t: ReturnType<typeof setUp>, ...labels: string[]): Promise<ClusterNode | undefined> {
  let node: ClusterNode | undefined;
  for (const label of labels) {
    t.tree.children(node);
    t.daemon.answer();
    await settle();
    const next = t.tree.children(node).find((n) => n.label === label);
    assert.ok(next, `no ${label} under ${node?.id ?? 'the root'}: ${t.tree.children(node).map((n) => n.label).join(', ')}`);
    node = next;
  }
  return node;
}

/** The children of `node` once the daemon has answered for them. */
async function loaded(t: ReturnType<typeof setUp>, node: ClusterNode | undefined): Promise<ClusterNode[]> {
  t.tree.children(node);
  t.daemon.answer();
  await settle();
  return t.tree.children(node);
}

/** Answers until nothing is asked any more. */
async function answerAll(t: ReturnType<typeof setUp>): Promise<void> {
  while (t.daemon.inFlight().length > 0) {
    t.daemon.answer();
    await settle();
  }
}

const labels = (nodes: ClusterNode[]): string[] => nodes.map((n) => n.label);

describe('the cluster tree loads lazily', () => {
  test('each level asks the daemon only when it is expanded: contexts, then names, then one namespace', async () => {
    const t = setUp();
    const roots = t.tree.children();
    assert.deepEqual(roots.map((n) => [n.label, n.icon.id, n.contextValue]), [['Loading contexts…', 'loading~spin', LOADING_CONTEXT_VALUE]]);
    assert.deepEqual(t.daemon.asked(), ['contexts']);
    t.daemon.answer();
    await settle();
    assert.deepEqual(t.redrawn, [undefined], 'the roots are redrawn when the contexts come');
    const [local, staging] = t.tree.children();
    assert.deepEqual([local!.label, staging!.label], ['local', 'staging']);

    // A context that is not connected offers to connect, and asks nothing.
    assert.deepEqual(labels(t.tree.children(staging)), ['Connect to staging']);
    assert.deepEqual(t.daemon.asked(), ['contexts']);

    assert.deepEqual(labels(t.tree.children(local)), ['Loading namespaces…']);
    t.daemon.answer();
    await settle();
    assert.deepEqual(t.redrawn, [undefined, local!.id]);
    const namespaces = t.tree.children(local);
    assert.deepEqual(labels(namespaces), ['samples', 'default', 'kube-system']);
    assert.deepEqual(t.daemon.asked(), ['contexts', 'namespaces'], 'names only: nothing per namespace until one is expanded');

    assert.deepEqual(labels(t.tree.children(namespaces[0])), ['Loading workloads…']);
    t.daemon.answer();
    await settle();
    const apps = t.tree.children(namespaces[0]);
    assert.deepEqual(labels(apps), ['app-0000', 'app-0001']);
    // Ports come with their workload: no request of their own.
    assert.deepEqual(labels(t.tree.children(apps[0])), ['app-0:http/80']);
    assert.deepEqual(t.daemon.asked(), ['contexts', 'namespaces', 'list samples']);
  });

  test('loaded children are answered from memory: asking again, or redrawing, fetches nothing', async () => {
    const t = setUp();
    const samples = await expand(t, 'local', 'samples');
    await loaded(t, samples);
    const asked = t.daemon.asked().length;
    for (let i = 0; i < 3; i++) {
      t.tree.children();
      t.tree.children(samples);
    }
    assert.equal(t.daemon.asked().length, asked);
  });

  test('while requests run the tree is busy (the view shows its progress bar), then idle', async () => {
    const t = setUp();
    t.tree.children();
    assert.deepEqual(t.busy, [true]);
    let idle = false;
    void t.tree.whenIdle().then(() => (idle = true));
    await settle();
    assert.equal(idle, false);
    t.daemon.answer();
    await settle();
    assert.equal(idle, true);
    assert.deepEqual(t.busy, [true, false]);
  });

  test('a node that shows the same is the same object on every call; a changed one is new', async () => {
    const t = setUp();
    const local = await expand(t, 'local');
    const [samples, def] = await loaded(t, local);
    assert.equal(t.tree.children(local)[0], samples);
    t.state.view = connectionView('up', status({ namespace: 'default' }));
    const [nowDefault, , nowSamples] = t.tree.children(local);
    assert.notEqual(nowDefault, def, 'default is now the connected one: another description');
    assert.deepEqual([nowDefault!.description, nowSamples!.description], ['connected', undefined]);
  });

  test('the redrawn node is the very object VS Code was given (it finds nodes by object)', async () => {
    const t = setUp();
    const local = await expand(t, 'local');
    const samples = (await loaded(t, local))[0]!;
    await loaded(t, samples);
    assert.equal(t.objects.at(-1), samples);
  });
});

describe('the cluster tree on failures', () => {
  test('a failed namespace says why, offers Retry, and is not asked again by itself', async () => {
    const t = setUp();
    const samples = await expand(t, 'local', 'samples');
    t.tree.children(samples);
    t.daemon.fail('list samples', daemonError(ErrorCode.Forbidden, 'the cluster does not let you list Deployments in namespace samples; ask a cluster admin'));
    await settle();
    const shown = t.tree.children(samples);
    assert.deepEqual(shown.map((n) => [n.label, n.icon.id]), [
      ['The cluster does not let you list Deployments in namespace samples; ask a cluster admin.', 'error'],
      ['Retry', 'refresh'],
    ]);
    assert.deepEqual(shown[1]!.command, { command: TREE_COMMANDS.retry, title: 'Retry', arguments: [samples!.id] });
    assert.match(t.logged.join('\n'), /could not show the workloads of namespace:local\/samples: The cluster does not let you/);
    // VS Code asks again on every redraw: that must not become a request loop.
    t.tree.children();
    t.tree.children(samples);
    assert.equal(t.daemon.asked().filter((w) => w === 'list samples').length, 1);

    t.tree.retry(samples!.id);
    assert.equal(t.redrawn.at(-1), samples!.id);
    assert.deepEqual(labels(t.tree.children(samples)), ['Loading workloads…']);
    t.daemon.answer();
    await settle();
    assert.deepEqual(labels(t.tree.children(samples)), ['app-0000', 'app-0001']);
  });

  test('an unexpected failure points to the log; a daemon of another protocol, to a restart', async () => {
    const t = setUp();
    t.tree.children();
    t.daemon.fail('contexts', new Error('socket hang up'));
    await settle();
    assert.deepEqual(labels(t.tree.children()), ['Socket hang up. See the Telepath log.', 'Retry', 'Show the Telepath log']);

    t.tree.retry('root');
    t.daemon.fail('contexts', daemonError(ErrorCode.IncompatibleProtocol, 'the daemon speaks protocol 2.0, this client 1.0'));
    await settle();
    assert.deepEqual(t.tree.children().map((n) => n.command?.command ?? ''), ['', TREE_COMMANDS.retry, 'telepath.restartDaemon']);
  });

  test('a failure on reload replaces the old children (they may no longer be true)', async () => {
    const t = setUp();
    const samples = await expand(t, 'local', 'samples');
    await loaded(t, samples);
    t.tree.refresh();
    t.tree.children();
    t.daemon.answer('contexts');
    t.tree.children(samples);
    t.daemon.fail('list samples', daemonError(ErrorCode.ClusterUnreachable, 'the API server does not answer'));
    await settle();
    assert.equal(t.tree.children(samples)[0]!.label, 'The API server does not answer.');
  });
});

describe('the cluster tree on changes', () => {
  /** Connected, with samples and default expanded and loaded. */
  async function twoLoaded() {
    const t = setUp();
    const local = await expand(t, 'local');
    const [samples, def] = await loaded(t, local);
    t.tree.children(samples);
    t.tree.children(def);
    t.daemon.answer();
    await settle();
    t.redrawn.length = 0;
    return { ...t, local: local!, samples: samples!, def: def! };
  }

  test('an intercept of mine reloads only its namespace, showing the old workloads meanwhile', async () => {
    const t = await twoLoaded();
    const before = t.daemon.asked().length;
    t.state.view = connectionView('up', status({ intercepts: [myEcho] }));
    t.tree.statusChanged();
    assert.deepEqual(t.redrawn, [t.samples.id], 'samples is redrawn; default and the rest stay');
    // VS Code asks again for what it shows: the old children, while samples reloads.
    assert.deepEqual(labels(t.tree.children(t.samples)), ['app-0000', 'app-0001']);
    t.tree.children(t.def);
    assert.deepEqual(t.daemon.asked().slice(before), ['list samples']);
    t.daemon.workloadCount = 3;
    t.daemon.answer();
    await settle();
    assert.deepEqual(labels(t.tree.children(t.samples)), ['app-0000', 'app-0001', 'app-0002']);
  });

  test('a collapsed namespace that changed is fetched when next expanded, not before', async () => {
    const t = await twoLoaded();
    const before = t.daemon.asked().length;
    t.state.view = connectionView('up', status({ intercepts: [myEcho] }));
    t.tree.statusChanged();
    // VS Code does not ask for the children of a collapsed node: nothing is fetched.
    await settle();
    assert.deepEqual(t.daemon.asked().slice(before), []);
    t.tree.children(t.samples);
    assert.deepEqual(t.daemon.asked().slice(before), ['list samples']);
  });

  test('a burst of changes while a namespace reloads costs one more request, not one each', async () => {
    const t = await twoLoaded();
    const before = t.daemon.asked().length;
    const intercepts: InterceptInfo[] = [];
    for (let i = 0; i < 5; i++) {
      intercepts.push({ ...myEcho, name: `echo-${i}` });
      t.state.view = connectionView('up', status({ intercepts: [...intercepts] }));
      t.tree.statusChanged();
      t.tree.children(t.samples);
    }
    assert.deepEqual(t.daemon.asked().slice(before), ['list samples']);
    t.daemon.answer();
    await settle();
    t.tree.children(t.samples);
    t.daemon.answer();
    await settle();
    t.tree.children(t.samples);
    assert.deepEqual(t.daemon.asked().slice(before), ['list samples', 'list samples']);
  });

  test('a status that repeats itself, or changes what the tree does not show, redraws nothing', async () => {
    const t = await twoLoaded();
    const before = t.daemon.asked().length;
    t.tree.statusChanged();
    t.state.view = connectionView('up', status({ routedSubnets: ['10.0.0.0/8'], dns: { state: 'active', method: 'x' } }));
    t.tree.statusChanged();
    assert.deepEqual(t.redrawn, []);
    t.tree.children(t.samples);
    assert.deepEqual(t.daemon.asked().slice(before), []);
  });

  test('switching namespace redraws from memory', async () => {
    const t = await twoLoaded();
    const before = t.daemon.asked().length;
    t.state.view = connectionView('up', status({ namespace: 'default' }));
    t.tree.statusChanged();
    assert.deepEqual(t.redrawn, [undefined]);
    assert.deepEqual(labels(t.tree.children(t.local)), ['default', 'kube-system', 'samples']);
    assert.deepEqual(t.daemon.asked().slice(before), []);
  });

  test('Refresh on 40 expanded namespaces: a few requests at a time, the old children on screen', async () => {
    const t = setUp();
    t.daemon.namespaceNames = Array.from({ length: 40 }, (_, i) => `ns-${String(i).padStart(2, '0')}`);
    const local = await expand(t, 'local');
    const shown = (await loaded(t, local)).filter((n) => n.kind === 'namespace');
    for (const ns of shown) t.tree.children(ns);
    assert.equal(t.daemon.inFlight().length, 4, 'expanding 40 at once: 4 requests, the others wait their turn');
    await answerAll(t);
    t.daemon.maxInFlight = 0;
    const before = t.daemon.asked().length;

    t.tree.refresh();
    assert.deepEqual(t.redrawn.at(-1), undefined, 'one redraw of the whole tree');
    // VS Code asks again for every expanded node, all at once.
    t.tree.children();
    t.tree.children(local);
    for (const ns of shown) assert.notEqual(t.tree.children(ns)[0]!.contextValue, LOADING_CONTEXT_VALUE);
    await settle();
    assert.ok(t.daemon.inFlight().length <= 4, `in flight: ${t.daemon.inFlight().join(', ')}`);
    await answerAll(t);
    assert.equal(t.daemon.maxInFlight, 4);
    assert.equal(t.daemon.asked().length - before, 2 + shown.length, 'contexts, namespaces and each namespace once');
  });

  test('while the daemon is away nothing is fetched; its return reloads what is shown', async () => {
    const t = await twoLoaded();
    const before = t.daemon.asked().length;
    t.state.view = connectionView('lost', status());
    t.tree.statusChanged();
    t.tree.children(t.local);
    t.tree.children(t.samples);
    assert.deepEqual(labels(t.tree.children(t.samples)), ['app-0000', 'app-0001']);
    assert.deepEqual(t.daemon.asked().slice(before), []);
    t.state.view = connectionView('up', status());
    t.tree.statusChanged();
    t.tree.children(t.local);
    t.tree.children(t.samples);
    assert.deepEqual(t.daemon.asked().slice(before).sort(), ['list samples', 'namespaces']);
  });

  test('disconnecting forgets the namespaces and cancels their requests', async () => {
    const t = setUp();
    const samples = await expand(t, 'local', 'samples');
    t.tree.children(samples);
    const request = t.daemon.calls.at(-1)!;
    t.state.view = connectionView('up', { state: 'disconnected', routedSubnets: [] });
    t.tree.statusChanged();
    assert.equal(request.token.isCancellationRequested, true);
    const local = t.tree.children().find((n) => n.label === 'local');
    assert.deepEqual(labels(t.tree.children(local)), ['Connect to local']);
  });

  test('disposed: requests are cancelled and nothing is redrawn', async () => {
    const t = setUp();
    t.tree.children();
    const request = t.daemon.calls[0]!;
    t.tree.dispose();
    assert.equal(request.token.isCancellationRequested, true);
    await settle();
    assert.deepEqual(t.redrawn, []);
    assert.deepEqual(t.tree.children(), []);
  });
});

describe('the cluster tree on a large cluster', () => {
  test('3000 namespaces: the connected one first, a page of names, "N more…", and no request per namespace', async () => {
    const t = setUp(undefined, { pageSize: 200 });
    t.daemon.namespaceNames = Array.from({ length: 3000 }, (_, i) => `team-${String(i).padStart(4, '0')}`).concat('samples');
    const local = await expand(t, 'local');
    const first = await loaded(t, local);
    assert.equal(first.length, 201);
    assert.equal(first[0]!.label, 'samples');
    assert.equal(first[199]!.label, 'team-0198');
    const more = first[200]!;
    assert.deepEqual([more.label, more.description], ['2801 more namespaces…', 'show 200 more']);
    assert.deepEqual(more.command, { command: TREE_COMMANDS.showMore, title: 'Show More', arguments: [local!.id] });
    assert.deepEqual(t.daemon.asked(), ['contexts', 'namespaces']);

    t.tree.showMore(local!.id);
    assert.equal(t.redrawn.at(-1), local!.id);
    const second = t.tree.children(local);
    assert.equal(second.length, 401);
    assert.equal(second[400]!.label, '2601 more namespaces…');
    assert.deepEqual(t.daemon.asked(), ['contexts', 'namespaces'], 'showing more names asks the daemon nothing');
  });

  test('a namespace of 500 workloads shows them a page at a time', async () => {
    const t = setUp(undefined, { pageSize: 200 });
    t.daemon.workloadCount = 500;
    const samples = await expand(t, 'local', 'samples');
    await loaded(t, samples);
    const shown = t.tree.children(samples);
    assert.equal(shown.length, 201);
    assert.equal(shown[200]!.label, '300 more workloads…');
  });
});
