import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subnetFromCidr } from '../../../../protocol/src/ipAddress.js';
import { DnsRouter, ipFromReverseName, type DnsRoute } from './dnsRouter.js';

const router = new DnsRouter({
  clusterDomain: 'cluster.local',
  connectedNamespace: 'samples',
  namespaces: ['samples', 'default', 'kube-system', 'dev'],
  tldNamespaces: ['dev'],
  reverseSubnets: [subnetFromCidr('10.96.0.0/16'), subnetFromCidr('fd00:10:96::/112')],
});

const authoritative = (name: string, zone: string): DnsRoute => ({ kind: 'cluster', names: [name], onNxdomain: 'answer', zone });
const fallsBack = (name: string, zone: string | undefined): DnsRoute => ({ kind: 'cluster', names: [name], onNxdomain: 'forward', zone });

const table: [string, DnsRoute][] = [
  // short names: the connected namespace, then the original resolver
  ['echo', fallsBack('echo.samples.svc.cluster.local', undefined)],
  ['ECHO.', fallsBack('echo.samples.svc.cluster.local', undefined)],
  ['nas', fallsBack('nas.samples.svc.cluster.local', undefined)],
  // svc.ns, headless pods, SRV
  ['echo.samples', authoritative('echo.samples.svc.cluster.local', 'samples')],
  ['echo.samples.', authoritative('echo.samples.svc.cluster.local', 'samples')],
  ['web-0.web.samples', authoritative('web-0.web.samples.svc.cluster.local', 'samples')],
  ['_http._tcp.echo.samples', authoritative('_http._tcp.echo.samples.svc.cluster.local', 'samples')],
  ['kube-dns.kube-system', authoritative('kube-dns.kube-system.svc.cluster.local', 'kube-system')],
  // .svc and .pod
  ['x.svc', authoritative('x.svc.cluster.local', 'svc')],
  ['echo.samples.svc', authoritative('echo.samples.svc.cluster.local', 'svc')],
  ['10-244-0-5.samples.pod', authoritative('10-244-0-5.samples.pod.cluster.local', 'pod')],
  // the cluster domain itself
  ['echo.samples.svc.cluster.local', authoritative('echo.samples.svc.cluster.local', 'cluster.local')],
  ['_http._tcp.echo.samples.svc.cluster.local.', authoritative('_http._tcp.echo.samples.svc.cluster.local', 'cluster.local')],
  ['nope.nowhere.svc.cluster.local', authoritative('nope.nowhere.svc.cluster.local', 'cluster.local')],
  ['cluster.local', authoritative('cluster.local', 'cluster.local')],
  // a namespace that is also a TLD: the cluster first, the internet when the cluster does not know it
  ['api.dev', fallsBack('api.dev.svc.cluster.local', 'dev')],
  // PTR of cluster addresses
  ['10.0.96.10.in-addr.arpa', authoritative('10.0.96.10.in-addr.arpa', 'in-addr.arpa')],
  [
    '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa',
    authoritative('1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa', 'ip6.arpa'),
  ],
  // everything else goes to the original resolver
  ['example.com', { kind: 'forward', reason: 'not-cluster' }],
  ['www.example.com', { kind: 'forward', reason: 'not-cluster' }],
  ['echo.unknown-ns', { kind: 'forward', reason: 'not-cluster' }],
  ['a.b.c.samples', { kind: 'forward', reason: 'not-cluster' }],
  ['foo.local', { kind: 'forward', reason: 'not-cluster' }],
  ['8.8.8.8.in-addr.arpa', { kind: 'forward', reason: 'not-cluster' }],
  ['localhost', { kind: 'forward', reason: 'never-cluster' }],
  ['wpad', { kind: 'forward', reason: 'never-cluster' }],
  ['wpad.samples', { kind: 'forward', reason: 'never-cluster' }],
  ['', { kind: 'forward', reason: 'not-cluster' }],
  ['.', { kind: 'forward', reason: 'not-cluster' }],
  ['bad name.samples', { kind: 'forward', reason: 'unusual-name' }],
  ['a..samples', { kind: 'forward', reason: 'unusual-name' }],
  ['-x.samples', { kind: 'forward', reason: 'unusual-name' }],
  ['ü.samples', { kind: 'forward', reason: 'unusual-name' }],
];

for (const [name, want] of table) {
  test(`route ${JSON.stringify(name)}`, () => {
    assert.deepEqual(router.route(name), want);
  });
}

test('without a connected namespace, short names go to the original resolver', () => {
  const r = new DnsRouter({ clusterDomain: 'cluster.local', connectedNamespace: '', namespaces: ['samples'] });
  assert.deepEqual(r.route('echo'), { kind: 'forward', reason: 'no-namespace' });
  assert.equal(r.route('echo.samples').kind, 'cluster');
});

test('another cluster domain is honoured, with or without a trailing dot', () => {
  const r = new DnsRouter({ clusterDomain: 'Corp.Internal.', connectedNamespace: 'team', namespaces: ['team'] });
  assert.deepEqual(r.route('api'), fallsBack('api.team.svc.corp.internal', undefined));
  assert.deepEqual(r.route('api.team'), authoritative('api.team.svc.corp.internal', 'team'));
  assert.deepEqual(r.route('echo.samples.svc.cluster.local'), { kind: 'forward', reason: 'not-cluster' });
});

test('a name ending in a namespace that is not listed is not captured', () => {
  const r = new DnsRouter({ clusterDomain: 'cluster.local', connectedNamespace: 'samples', namespaces: ['samples'] });
  assert.deepEqual(r.route('api.dev'), { kind: 'forward', reason: 'not-cluster' });
});

test('PTR names are parsed strictly', () => {
  assert.deepEqual(ipFromReverseName('4.3.2.1.in-addr.arpa'.split('.')), Uint8Array.from([1, 2, 3, 4]));
  assert.equal(ipFromReverseName('256.3.2.1.in-addr.arpa'.split('.')), undefined);
  assert.equal(ipFromReverseName('03.3.2.1.in-addr.arpa'.split('.')), undefined);
  assert.equal(ipFromReverseName('3.2.1.in-addr.arpa'.split('.')), undefined);
  assert.equal(ipFromReverseName('g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa'.split('.')), undefined);
});
