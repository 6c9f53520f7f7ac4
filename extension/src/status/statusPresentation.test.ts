import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DaemonStatus, InterceptInfo } from '../../../protocol/src/daemon';
import { connectionView } from './connectionState.js';
import { statusPresentation } from './statusPresentation.js';

const intercept = (name: string): InterceptInfo => ({
  name, namespace: 'samples', workload: `deployment/${name}`, servicePort: `${name}:http/8080`, agentPort: 9900, localPort: 8080, mode: 'personal', headers: [], state: 'active',
});
const connected: DaemonStatus = {
  state: 'connected', context: 'local', namespace: 'samples', routedSubnets: ['10.96.0.0/12'], dns: { state: 'active' }, intercepts: [],
};
const text = (link: Parameters<typeof connectionView>[0], status?: DaemonStatus, failure?: unknown) => statusPresentation(connectionView(link, status, failure));

describe('the status bar', () => {
  test('disconnected: no daemon yet, or a daemon without a cluster', () => {
    assert.equal(text('idle').text, '$(debug-disconnect) Telepath: disconnected');
    assert.equal(text('down').text, '$(debug-disconnect) Telepath: disconnected');
    assert.equal(text('up', { state: 'disconnected', routedSubnets: [] }).text, '$(debug-disconnect) Telepath: disconnected');
  });

  test('connecting: the daemon starting, then the cluster', () => {
    assert.equal(text('starting').text, '$(sync~spin) Telepath: starting…');
    assert.equal(text('up', { state: 'connecting', context: 'local', namespace: 'samples', routedSubnets: [] }).text, '$(sync~spin) Telepath: connecting…');
  });

  test('connected: context/namespace and the number of intercepts', () => {
    assert.equal(text('up', connected).text, '$(plug) Telepath: local/samples');
    assert.equal(text('up', { ...connected, intercepts: [intercept('echo')] }).text, '$(plug) Telepath: local/samples · 1 intercept');
    const two = text('up', { ...connected, intercepts: [intercept('echo'), intercept('web')] });
    assert.equal(two.text, '$(plug) Telepath: local/samples · 2 intercepts');
    assert.match(two.tooltip, /Intercept web: deployment\/web web:http\/8080 → localhost:8080 \(personal\)/);
    assert.equal(two.background, undefined);
  });

  test('connected without the network role: a warning colour and why', () => {
    const p = text('up', { ...connected, routedSubnets: [], dns: { state: 'inactive', message: 'outbound cluster access (routes and DNS) needs the network role: run the daemon as root' } });
    assert.equal(p.text, '$(plug) Telepath: local/samples');
    assert.equal(p.background, 'warning');
    assert.match(p.tooltip, /Outbound access is off: .*needs the network role/);
  });

  test('reconnecting: the cluster link, or the daemon itself', () => {
    const cluster = text('up', { ...connected, state: 'reconnecting', error: { code: 3005, category: 'cluster', message: 'the traffic-manager does not answer' } });
    assert.equal(cluster.text, '$(sync~spin) Telepath: reconnecting…');
    assert.equal(cluster.tooltip, 'the traffic-manager does not answer');
    const daemon = text('lost', { ...connected, intercepts: [intercept('echo')] });
    assert.equal(daemon.text, '$(sync~spin) Telepath: reconnecting…');
    assert.match(daemon.tooltip, /daemon stopped/);
  });

  test('error: from the cluster, or a daemon that could not start', () => {
    const cluster = text('up', { state: 'error', context: 'local', routedSubnets: [], error: { code: 3001, category: 'cluster', message: 'the API server does not answer' } });
    assert.deepEqual(cluster, { text: '$(error) Telepath: error', tooltip: 'the API server does not answer', background: 'error' });
    assert.equal(text('failed', undefined, new Error('the Telepath daemon stopped right after starting (exit 1)')).tooltip, 'the Telepath daemon stopped right after starting (exit 1)');
  });

});
