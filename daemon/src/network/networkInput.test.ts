import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkLocalOverlap,
  checkNamespace,
  checkNamespaces,
  checkNetworks,
  checkSearchDomain,
  checkStartParams,
  checkUpdateParams,
  clusterDomainProblem,
  dnsLabelProblem,
  dnsNameProblem,
  RefusedInput,
  subnetProblem,
  type LocalNetwork,
} from './networkInput.js';

const strict = { allowWideSubnets: false };
const wide = { allowWideSubnets: true };
const good = { serviceSubnets: ['10.96.0.0/16', 'fd00:10:96::/112'], podSubnets: ['10.244.0.0/24', 'fd00:10:244::/64'], dnsIp: '10.96.0.10', clusterDomain: 'cluster.local' };

/** The refusal's message, or a failure when `fn` does not refuse. */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof RefusedInput, `not a refusal: ${String(err)}`);
    return err.message;
  }
  assert.fail('not refused');
}

test('the networks of an ordinary cluster pass, IPv4 and IPv6, a trailing dot on the domain too', () => {
  assert.deepEqual(checkNetworks(good, strict), good);
  assert.deepEqual(checkNetworks({ ...good, clusterDomain: 'cluster.local.' }, strict).clusterDomain, 'cluster.local.');
  assert.equal(subnetProblem('10.0.0.0/8', strict), undefined, '/8 is the widest allowed IPv4 subnet');
  assert.equal(subnetProblem('fd00::/32', strict), undefined, '/32 is the widest allowed IPv6 subnet');
  assert.equal(subnetProblem('10.96.0.10/32', strict), undefined);
});

test('a subnet that is not a CIDR, or has host bits, is refused', () => {
  for (const bad of ['10.96.0.0', '10.96.0.0/33', 'fd00::/129', '10.96.0.0/08', '10.096.0.0/16', 'fe80::%eth0/64', ' 10.96.0.0/16', '10.96.0.0/16\n', 'dev/8', '', 42, null]) {
    assert.match(subnetProblem(bad, strict) ?? '', /is not a CIDR subnet/, String(bad));
  }
  assert.match(subnetProblem('10.96.0.1/16', strict) ?? '', /"10\.96\.0\.1\/16" has host bits set/);
  assert.match(subnetProblem('fd00::1/64', strict) ?? '', /has host bits set/);
});

test('a default route is refused even when wide subnets are allowed', () => {
  assert.match(subnetProblem('0.0.0.0/0', wide) ?? '', /"0\.0\.0\.0\/0" is a default route/);
  assert.match(subnetProblem('::/0', wide) ?? '', /is a default route/);
});

test('a subnet wider than /8 or /32 is refused unless allowed, with what to do', () => {
  assert.match(subnetProblem('0.0.0.0/1', strict) ?? '', /"0\.0\.0\.0\/1" is wider than \/8, the widest IPv4 subnet .*--allow-wide-subnets/);
  assert.match(subnetProblem('128.0.0.0/1', strict) ?? '', /wider than \/8/);
  assert.match(subnetProblem('10.0.0.0/7', strict) ?? '', /wider than \/8/);
  assert.match(subnetProblem('2000::/3', strict) ?? '', /wider than \/32, the widest IPv6 subnet/);
  assert.equal(subnetProblem('10.0.0.0/7', wide), undefined);
  assert.equal(subnetProblem('2000::/3', wide), undefined);
});

test("ranges that are never a cluster's are refused, allowed or not: loopback, link-local (cloud metadata), multicast", () => {
  assert.match(subnetProblem('127.0.0.0/8', strict) ?? '', /overlaps 127\.0\.0\.0\/8 \(loopback\)/);
  assert.match(subnetProblem('169.254.169.254/32', strict) ?? '', /overlaps 169\.254\.0\.0\/16 \(link-local\)/);
  assert.match(subnetProblem('224.0.0.0/8', strict) ?? '', /multicast/);
  assert.match(subnetProblem('255.255.255.255/32', strict) ?? '', /reserved and broadcast/);
  assert.match(subnetProblem('0.0.0.0/1', wide) ?? '', /overlaps 0\.0\.0\.0\/8/, 'the /1 covers "this network" and loopback');
  assert.match(subnetProblem('::1/128', strict) ?? '', /loopback/);
  assert.match(subnetProblem('fe80::/64', strict) ?? '', /link-local/);
  assert.match(subnetProblem('::ffff:10.0.0.0/104', strict) ?? '', /IPv4-mapped/);
});

test('DNS names: letters, digits, inner hyphens, 1-63 a label, 253 in all; nothing that can end a line or add a word', () => {
  assert.equal(dnsNameProblem('cluster.local'), undefined);
  assert.equal(dnsNameProblem('a-1.B2.example.'), undefined);
  assert.match(dnsNameProblem('cluster.local\nnameserver 6.6.6.6') ?? '', /white space or a line break/);
  assert.match(dnsNameProblem('cluster.local search evil') ?? '', /white space/);
  assert.match(dnsNameProblem('cluster..local') ?? '', /empty label/);
  assert.match(dnsNameProblem('-cluster.local') ?? '', /the label "-cluster"/);
  assert.match(dnsNameProblem('cluster_x.local') ?? '', /the label "cluster_x"/);
  assert.match(dnsNameProblem(`${'a'.repeat(64)}.local`) ?? '', /is not 1 to 63/);
  assert.equal(dnsNameProblem(`${'a'.repeat(63)}.local`), undefined);
  assert.match(dnsNameProblem(Array(64).fill('abc').join('.')) ?? '', /255 characters long, more than 253/);
  assert.match(dnsNameProblem('') ?? '', /empty/);
  assert.match(dnsNameProblem('.') ?? '', /empty/);
  assert.match(dnsNameProblem(7) ?? '', /not a string/);
  assert.match(dnsNameProblem('clüster.local') ?? '', /the label "clüster"/);
});

test('the cluster domain has two labels at least and is not under arpa; a namespace is one label', () => {
  assert.match(clusterDomainProblem('com') ?? '', /a single label: every name under that top-level domain/);
  assert.match(clusterDomainProblem('in-addr.arpa') ?? '', /under "arpa"/);
  assert.equal(clusterDomainProblem('k8s.corp.example'), undefined);
  assert.equal(dnsLabelProblem('samples'), undefined);
  assert.match(dnsLabelProblem('a.b') ?? '', /contains a dot/);
  assert.match(dnsLabelProblem('dev.') ?? '', /contains a dot/);
  assert.match(dnsLabelProblem('ns\n') ?? '', /line break/);
});

test('the DNS server must be an address inside the service subnets', () => {
  assert.match(refusal(() => checkNetworks({ ...good, dnsIp: '192.168.1.1' }, strict)), /the DNS server "192\.168\.1\.1" is not inside the service subnets \(10\.96\.0\.0\/16, fd00:10:96::\/112\)/);
  assert.match(refusal(() => checkNetworks({ ...good, dnsIp: '10.244.0.10' }, strict)), /not inside the service subnets/, 'a pod subnet is not where the DNS Service is');
  assert.match(refusal(() => checkNetworks({ ...good, dnsIp: '169.254.20.10' }, strict)), /not inside the service subnets/, 'NodeLocal DNSCache: not answerable here');
  assert.match(refusal(() => checkNetworks({ ...good, dnsIp: '' }, strict)), /the DNS server "" is not an IP address/);
  assert.match(refusal(() => checkNetworks({ ...good, dnsIp: '10.96.0.10%eth0' }, strict)), /not an IP address/);
  assert.equal(checkNetworks({ ...good, dnsIp: 'fd00:10:96::a' }, strict).dnsIp, 'fd00:10:96::a');
});

test('one refusal names every problem, says nothing was changed, and shows control characters escaped', () => {
  const message = refusal(() => checkNetworks({ ...good, serviceSubnets: ['0.0.0.0/1', '10.96.0.0/16'], clusterDomain: 'cluster.local\nsearch evil' }, strict));
  assert.match(message, /^refused the cluster's networks: service subnet "0\.0\.0\.0\/1" is wider than \/8/);
  assert.match(message, /the cluster domain "cluster\.local\\nsearch evil" is not a DNS name for a cluster: contains white space or a line break/);
  assert.match(message, /Nothing was changed\.$/);
  assert.ok(!message.includes('\n'), 'the message itself is one line');
  assert.match(refusal(() => checkNetworks(null, strict)), /the networks are null, not an object/);
  assert.match(refusal(() => checkNetworks({ ...good, podSubnets: '10.244.0.0/16' }, strict)), /podSubnets is "10\.244\.0\.0\/16", not a list of subnets/);
  const many = refusal(() => checkNetworks({ ...good, podSubnets: Array.from({ length: 9 }, (_, i) => `10.${i}.0.1/16`) }, strict));
  assert.match(many, /; and 4 more\. Nothing was changed\.$/);
});

test('a subnet that overlaps one of the workstation\'s own networks is refused, naming it', () => {
  const local: LocalNetwork[] = [
    { cidr: '192.168.1.0/24', what: 'the network 192.168.1.0/24 of wlan0 (the LAN of the default route)' },
    { cidr: '192.168.1.1/32', what: 'the default gateway 192.168.1.1 (dev wlan0)' },
    { cidr: '1.1.1.1/32', what: "the nameserver 1.1.1.1 of this workstation's resolver" },
  ];
  checkLocalOverlap(good, local);
  const around = refusal(() => checkLocalOverlap({ ...good, podSubnets: ['192.168.0.0/16'] }, local));
  assert.match(around, /pod subnet "192\.168\.0\.0\/16" overlaps the network 192\.168\.1\.0\/24 of wlan0 \(the LAN of the default route\): routing it would take part of this workstation's own network/);
  assert.match(refusal(() => checkLocalOverlap({ ...good, podSubnets: ['192.168.1.128/25'] }, local)), /overlaps the network 192\.168\.1\.0\/24/, 'inside the LAN');
  assert.match(refusal(() => checkLocalOverlap({ ...good, serviceSubnets: ['1.1.1.0/24'] }, local)), /overlaps the nameserver 1\.1\.1\.1/);
});

test('namespaces: a list of labels; the connected namespace may be empty, a short-name namespace may not', () => {
  assert.deepEqual(checkNamespaces(['default', 'dev', 'kube-system']), ['default', 'dev', 'kube-system']);
  assert.match(refusal(() => checkNamespaces(['ok', 'bad\nname', 'a.b'])), /^refused the namespaces: the namespace "bad\\nname" is not a DNS label: .*; the namespace "a\.b" is not a DNS label: contains a dot/);
  assert.match(refusal(() => checkNamespaces('dev')), /not a list/);
  assert.equal(checkNamespace('', 'the connected namespace', true), '');
  assert.match(refusal(() => checkNamespace('', 'the short-name namespace')), /the short-name namespace "" is not a DNS label: empty/);
});

test('network/start params: every field checked, unknown shapes refused', () => {
  const joinSecret = 'ab'.repeat(32);
  const params = { managerAddress: 'unix:/tmp/telepath-forward-x/manager.sock', sessionId: '0b5c0ffe-1', joinSecret, networks: good, connectedNamespace: 'samples', namespaces: ['samples'] };
  assert.deepEqual(checkStartParams(params, strict), params);
  assert.match(refusal(() => checkStartParams(undefined, strict)), /^refused network\/start: the params are undefined, not an object/);
  for (const managerAddress of ['dns:///10.0.0.1:8081', '127.0.0.1:8081', 'unix:relative.sock', 'unix:/tmp/../run/containerd/containerd.sock', 'unix:/tmp/a\nb']) {
    assert.match(refusal(() => checkStartParams({ ...params, managerAddress }, strict)), /the manager address/, managerAddress);
  }
  assert.match(refusal(() => checkStartParams({ ...params, sessionId: 'a b' }, strict)), /the session id "a b" is not 1 to 256 printable characters/);
  assert.match(refusal(() => checkStartParams({ ...params, connectedNamespace: 'x y' }, strict)), /the connected namespace "x y"/);
  assert.match(refusal(() => checkStartParams({ ...params, joinSecret: 'x' }, strict)), /the join secret is not 64 hex digits/);
  assert.doesNotMatch(refusal(() => checkStartParams({ ...params, joinSecret: 'x' }, strict)), /"x"/, 'a secret is not echoed');
});

test('network/update params: only what is present is checked and returned', () => {
  const joinSecret = 'cd'.repeat(32);
  assert.deepEqual(checkUpdateParams({ sessionId: 'abc', joinSecret }, strict), { sessionId: 'abc', joinSecret });
  assert.match(refusal(() => checkUpdateParams({ sessionId: 'abc' }, strict)), /the join secret is not 64 hex digits/);
  assert.deepEqual(checkUpdateParams({ shortNameNamespace: 'dev' }, strict), { shortNameNamespace: 'dev' });
  assert.match(refusal(() => checkUpdateParams({ shortNameNamespace: 'dev\nx' }, strict)), /^refused network\/update: the short-name namespace/);
  assert.match(refusal(() => checkUpdateParams({ networks: { ...good, serviceSubnets: ['0.0.0.0/0'] } }, strict)), /is a default route/);
  assert.match(refusal(() => checkUpdateParams({ namespaces: [1] }, strict)), /the namespace 1 is not a DNS label: not a string/);
});

test('the search domain made of the namespace and the cluster domain must be a DNS name too', () => {
  checkSearchDomain('samples', 'cluster.local.');
  checkSearchDomain('', 'cluster.local');
  const longDomain = Array(4).fill('a'.repeat(60)).join('.');
  assert.equal(dnsNameProblem(longDomain), undefined, 'the domain alone is fine');
  assert.match(refusal(() => checkSearchDomain('b'.repeat(40), longDomain)), /^refused the search domain "b{40}\.svc\.a+\.\.\.: 288 characters long, more than 253\. Nothing was changed\.$/);
});
