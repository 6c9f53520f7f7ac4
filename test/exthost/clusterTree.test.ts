/** The Clusters view, as VS Code asks its data provider: context → namespaces → workloads → ports. */
import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import type { ContextNode, NamespaceNode, PortNode, WorkloadNode } from '../../extension/src/tree/clusterNode.js';
import { children, telepath, treePath } from './exthostHarness.js';

describe('the Clusters view', () => {
  it('shows the connected context first, expanded, with its namespace', async () => {
    const api = await telepath();
    const roots = await children(api);
    const first = roots[0] as ContextNode;
    assert.equal(first.kind, 'context');
    assert.equal(first.context, 'telepath-local');
    assert.equal(first.connected, true);
    const item = await api.tree.getTreeItem(first);
    assert.equal(item.label, 'telepath-local');
    assert.equal(item.description, 'connected · samples');
    assert.equal(item.collapsibleState, vscode.TreeItemCollapsibleState.Expanded);
    assert.equal(item.contextValue, 'telepathContext-connected');
  });

  it("lists the cluster's namespaces, the connected one (samples) first", async () => {
    const api = await telepath();
    const namespaces = (await children(api, await treePath(api, 'telepath-local'))) as NamespaceNode[];
    const names = namespaces.map((n) => n.label);
    assert.equal(names[0], 'samples');
    for (const ns of ['default', 'kube-system']) assert.ok(names.includes(ns), `${ns} in ${names.join(', ')}`);
    assert.deepEqual(names.slice(1), [...names.slice(1)].sort(), 'the others by name');
    assert.equal((await api.tree.getTreeItem(namespaces[0]!)).description, 'connected');
  });

  it('lists the workloads of samples with their kinds: echo (Deployment), web (StatefulSet)', async () => {
    const api = await telepath();
    const workloads = (await children(api, await treePath(api, 'telepath-local', 'samples'))) as WorkloadNode[];
    const byName = new Map(workloads.map((w) => [w.label, w]));
    for (const name of ['echo', 'grpc-echo', 'tcp-echo', 'udp-echo', 'web']) assert.ok(byName.has(name), `${name} in ${[...byName.keys()].join(', ')}`);
    assert.equal(byName.get('echo')!.workload.kind, 'Deployment');
    assert.equal(byName.get('web')!.workload.kind, 'StatefulSet');
    assert.match(String((await api.tree.getTreeItem(byName.get('web')!)).description), /^StatefulSet · /);
    assert.equal((await api.tree.getTreeItem(byName.get('echo')!)).contextValue, 'telepathWorkload');
  });

  it("shows each workload's Service ports and whether they can be intercepted", async () => {
    const api = await telepath();
    const echo = (await children(api, await treePath(api, 'telepath-local', 'samples', 'echo'))) as PortNode[];
    assert.deepEqual(echo.map((p) => p.label), ['echo:http/8080']);
    assert.equal(echo[0]!.state, 'free');
    const item = await api.tree.getTreeItem(echo[0]!);
    assert.equal(item.description, 'not intercepted');
    assert.equal(item.contextValue, 'telepathPort', 'the Intercept and Debug menu applies');
    assert.deepEqual(
      { workload: echo[0]!.target.workload, servicePort: echo[0]!.target.servicePort, containerPort: echo[0]!.target.containerPort },
      { workload: 'echo', servicePort: 'http', containerPort: 8080 },
    );
    // UDP cannot be intercepted, and the view says so.
    const udp = (await children(api, await treePath(api, 'telepath-local', 'samples', 'udp-echo'))) as PortNode[];
    assert.equal(udp[0]!.state, 'unavailable');
    assert.equal((await api.tree.getTreeItem(udp[0]!)).description, 'UDP: not interceptable');
  });
});
