import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ContextsResult, InterceptInfo, ListResult, validate, type ContextsResult as Contexts, type InterceptInfo as Info, type ListResult as List } from '../../../protocol/src/daemon';
import { connectionView } from '../status/connectionState.js';
import type { ContextNode, WorkloadNode } from './clusterNode.js';
import { contextChildren, contextNodes, pageOf, portNodes, TREE_COMMANDS, workloadNodes } from './treeModel.js';

// Protocol data as the daemon sends it (checked against the protocol's own schemas below).
const contexts: Contexts = {
  kubeconfig: '/home/alice/.kube/config',
  current: 'local',
  contexts: [
    { name: 'staging', cluster: 'https://staging:6443' },
    { name: 'local', cluster: 'https://10.0.0.1:6443', namespace: 'samples' },
  ],
};

const myEcho: Info = {
  name: 'echo',
  namespace: 'samples',
  workload: 'deployment/echo',
  servicePort: 'echo:http/8080',
  agentPort: 9900,
  localPort: 3000,
  mode: 'personal',
  headers: [{ name: 'x-telepath-intercept', value: 'alice-1a2b3c' }],
  previewPath: '/.telepath/preview/abc',
  state: 'active',
};

const list: List = {
  namespace: 'samples',
  intercepts: [myEcho],
  workloads: [
    {
      kind: 'StatefulSet', name: 'web', namespace: 'samples', agent: 'none',
      ports: [
        { service: 'web-lb', portName: 'http', port: 80, protocol: 'TCP', container: 'web', containerPort: 8080, intercepts: [] },
        { service: 'web-lb', portName: 'dns', port: 53, protocol: 'UDP', container: 'web', containerPort: 5353, intercepts: [] },
      ],
    },
    {
      kind: 'Deployment', name: 'echo', namespace: 'samples', agent: 'ready',
      ports: [
        {
          service: 'echo', portName: 'http', port: 8080, protocol: 'TCP', container: 'echo', containerPort: 8080,
          intercepts: [
            { name: 'echo', holder: 'you', mine: true, mode: 'personal', match: 'x-telepath-intercept=alice-1a2b3c' },
            { name: 'echo', holder: 'bob@laptop', mine: false, mode: 'personal', match: 'x-dev=(hidden)' },
          ],
        },
        {
          service: 'echo', portName: '', port: 9090, protocol: 'TCP', container: 'echo', containerPort: 9090,
          intercepts: [{ name: 'metrics', holder: 'carol@ci', mine: false, mode: 'global', match: 'all traffic' }],
        },
        {
          service: 'echo-admin', portName: 'http', port: 8081, protocol: 'TCP', container: 'echo', containerPort: 8081,
          intercepts: [{ name: 'echo-admin', holder: 'bob@laptop', mine: false, mode: 'personal', match: 'x-dev=(hidden)' }],
        },
      ],
    },
    { kind: 'ReplicaSet', name: 'lonely', namespace: 'samples', agent: 'installed', ports: [], problem: 'no Service selects it' },
  ],
};

const connected = connectionView('up', {
  state: 'connected', context: 'local', namespace: 'samples', routedSubnets: ['10.96.0.0/12'], intercepts: [myEcho],
});

describe('the cluster tree, from protocol data', () => {
  test('the fixtures are valid protocol data', () => {
    assert.deepEqual(validate(ContextsResult, contexts), []);
    assert.deepEqual(validate(ListResult, list), []);
    assert.deepEqual(validate(InterceptInfo, myEcho), []);
  });

  test('contexts: the connected one first, expanded, with its namespace', () => {
    const nodes = contextNodes(contexts, connected) as ContextNode[];
    assert.deepEqual(nodes.map((n) => [n.label, n.description, n.collapsible, n.contextValue]), [
      ['local', 'connected · samples', 'expanded', 'telepathContext-connected'],
      ['staging', undefined, 'collapsed', 'telepathContext'],
    ]);
    assert.deepEqual(nodes[0]!.icon, { id: 'cloud', color: 'charts.green' });
  });

  test('a context gets another id once connected, so that the editor shows it expanded however it was shown before', () => {
    const connecting = connectionView('up', { state: 'connecting', context: 'local', routedSubnets: [] });
    const before = (contextNodes(contexts, connecting) as ContextNode[]).find((n) => n.context === 'local')!;
    const after = (contextNodes(contexts, connected) as ContextNode[]).find((n) => n.context === 'local')!;
    assert.equal(before.collapsible, 'collapsed');
    assert.equal(after.collapsible, 'expanded');
    assert.notEqual(before.id, after.id);
    const reconnecting = connectionView('up', { state: 'reconnecting', context: 'local', namespace: 'samples', routedSubnets: [] });
    assert.equal((contextNodes(contexts, reconnecting) as ContextNode[]).find((n) => n.context === 'local')!.id, after.id, 'a reconnect keeps it as it is');
  });

  test('contexts while disconnected: the current one is marked, each offers to connect', () => {
    const view = connectionView('up', { state: 'disconnected', routedSubnets: [] });
    const nodes = contextNodes(contexts, view) as ContextNode[];
    assert.deepEqual(nodes.map((n) => [n.label, n.description ?? '', n.collapsible]), [['staging', '', 'collapsed'], ['local', 'current', 'expanded']]);
    const [connect] = contextChildren(nodes[1]!, view);
    assert.equal(connect!.label, 'Connect to local');
    assert.deepEqual(connect!.command, { command: 'telepath.connect', title: 'Connect', arguments: ['local'] });
  });

  test('a context that failed to connect says why', () => {
    const view = connectionView('up', { state: 'error', context: 'local', routedSubnets: [], error: { code: 3001, category: 'cluster', message: 'the API server does not answer' } });
    const local = (contextNodes(contexts, view) as ContextNode[]).find((n) => n.context === 'local')!;
    assert.equal(local.description, 'error');
    assert.deepEqual(contextChildren(local, view).map((n) => n.label), ['the API server does not answer', 'Connect to local']);
  });

  test('no contexts: a message naming the kubeconfig', () => {
    const nodes = contextNodes({ kubeconfig: '/x/config', contexts: [] }, connectionView('up', { state: 'disconnected', routedSubnets: [] }));
    assert.deepEqual(nodes.map((n) => [n.kind, n.label]), [['message', 'No contexts in /x/config']]);
  });

  test('namespaces: the connected one first and expanded', () => {
    const local = (contextNodes(contexts, connected) as ContextNode[])[0]!;
    const nodes = contextChildren(local, connected, ['default', 'kube-system', 'samples', 'telepath']);
    assert.deepEqual(nodes.map((n) => [n.label, n.description ?? '', n.collapsible]), [
      ['samples', 'connected', 'expanded'],
      ['default', '', 'collapsed'],
      ['kube-system', '', 'collapsed'],
      ['telepath', '', 'collapsed'],
    ]);
  });

  test('workloads: sorted, with kind, agent presence and intercept count', () => {
    const nodes = workloadNodes('local', list, [myEcho]) as WorkloadNode[];
    assert.deepEqual(nodes.map((n) => [n.label, n.description, n.icon, n.contextValue, n.collapsible]), [
      ['echo', 'Deployment · agent ready · 4 intercepts', { id: 'server-process', color: 'charts.green' }, 'telepathWorkload', 'expanded'],
      ['lonely', 'ReplicaSet · cannot be intercepted', { id: 'layers', color: 'charts.yellow' }, 'telepathWorkload-unavailable', 'none'],
      ['web', 'StatefulSet · no agent', { id: 'database' }, 'telepathWorkload', 'collapsed'],
    ]);
    assert.match(nodes[1]!.tooltip!, /no Service selects it/);
  });

  test('ports: mine, someone\'s global, someone\'s personal, free, and not interceptable', () => {
    const [echo, , web] = workloadNodes('local', list, [myEcho]) as WorkloadNode[];
    const ports = [...portNodes(echo!), ...portNodes(web!)];
    assert.deepEqual(ports.map((p) => [p.label, p.description, p.state, p.contextValue, p.icon.id]), [
      ['echo:http/8080', 'intercepted by you · personal → localhost:3000 · +1 more', 'mine', 'telepathPort-mine-preview', 'pass-filled'],
      ['echo:9090', 'global intercept by carol@ci', 'global', 'telepathPort-global', 'globe'],
      ['echo-admin:http/8081', 'personal intercept by bob@laptop', 'personal', 'telepathPort-other', 'person'],
      ['web-lb:http/80', 'not intercepted', 'free', 'telepathPort', 'plug'],
      ['web-lb:dns/53', 'UDP: not interceptable', 'unavailable', 'telepathPort-unavailable', 'circle-slash'],
    ]);
    assert.equal(ports[0]!.mine, myEcho);
    assert.match(ports[0]!.tooltip!, /Send header x-telepath-intercept: alice-1a2b3c/);
    assert.match(ports[0]!.tooltip!, /personal intercept echo by bob@laptop \(x-dev=\(hidden\)\)/);
  });

  test('a port hands the intercept commands an unambiguous Service port', () => {
    const [echo, , web] = workloadNodes('local', list, [myEcho]) as WorkloadNode[];
    // "http" names a port of two Services of echo: the Service is named too.
    assert.deepEqual(portNodes(echo!).map((p) => p.target.servicePort), ['echo/http', '9090', 'echo-admin/http']);
    assert.deepEqual(portNodes(web!)[0]!.target, {
      namespace: 'samples', workloadKind: 'StatefulSet', workload: 'web', servicePort: 'http', portLabel: 'web-lb:http/80', port: 80, containerPort: 8080,
    });
  });

  test('node ids are stable and unique, so VS Code keeps what is expanded', () => {
    const [echo, lonely, web] = workloadNodes('local', list, [myEcho]) as WorkloadNode[];
    const ids = [echo!, lonely!, web!, ...portNodes(echo!), ...portNodes(web!)].map((n) => n.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(echo!.id, 'workload:local/samples/Deployment/echo');
    assert.deepEqual(workloadNodes('local', list, [myEcho]).map((n) => n.id), [echo!.id, lonely!.id, web!.id]);
  });

  test('a long list: a page, then one node that shows the next page', () => {
    const local = (contextNodes(contexts, connected) as ContextNode[])[0]!;
    const names = (n: number) => Array.from({ length: n }, (_, i) => `ns-${i}`);
    assert.equal(pageOf(local.id, contextChildren(local, connected, names(9)), 10, 'namespaces', 10).length, 10, 'samples and 9 others: all shown');
    const eleven = pageOf(local.id, contextChildren(local, connected, names(10)), 10, 'namespaces', 10);
    assert.deepEqual(eleven.slice(9).map((n) => [n.kind, n.label, n.description ?? '']), [['namespace', 'ns-8', ''], ['message', '1 more namespace…', 'show 1 more']]);
    const many = pageOf(local.id, contextChildren(local, connected, names(50)), 20, 'namespaces', 10);
    assert.deepEqual([many.length, many[20]!.label, many[20]!.description], [21, '31 more namespaces…', 'show 10 more']);
    assert.deepEqual(many[20]!.command, { command: TREE_COMMANDS.showMore, title: 'Show More', arguments: [local.id] });
  });

  test('an empty namespace says so', () => {
    assert.deepEqual(workloadNodes('local', { namespace: 'empty', workloads: [], intercepts: [] }, []).map((n) => n.label), ['No Deployments, StatefulSets or ReplicaSets']);
  });
});
