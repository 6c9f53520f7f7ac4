import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { checkLocalOverlap, RefusedInput } from '../networkInput.js';
import { localNetworksOf, readLocalNetworks, type IpLink, type IpRoute } from './localNetworks.js';

/** A laptop: Wi-Fi with a DHCP default route, docker's bridge, a VPN with a routed range, and
 * Telepath's own device from an earlier start. */
const links: IpLink[] = [
  { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }, { family: 'inet6', local: '::1', prefixlen: 128 }] },
  { ifname: 'wlan0', addr_info: [{ family: 'inet', local: '192.168.1.23', prefixlen: 24 }, { family: 'inet6', local: 'fe80::1c2:3ff:fe4:5', prefixlen: 64 }] },
  { ifname: 'docker0', addr_info: [{ family: 'inet', local: '172.17.0.1', prefixlen: 16 }] },
  { ifname: 'tun0', addr_info: [{ family: 'inet', local: '10.8.0.6', address: '10.8.0.5', prefixlen: 32 }] },
  { ifname: 'telepath0', addr_info: [] },
];
const routes: IpRoute[] = [
  { dst: 'default', gateway: '192.168.1.1', dev: 'wlan0' },
  { dst: '192.168.1.0/24', dev: 'wlan0', scope: 'link' },
  { dst: '172.17.0.0/16', dev: 'docker0', scope: 'link' },
  { dst: '10.0.0.0/8', gateway: '10.8.0.5', dev: 'tun0' },
  { dst: '10.8.0.5', dev: 'tun0', scope: 'link' },
  { dst: '10.96.0.0/16', dev: 'telepath0', scope: 'link' },
  { dst: '203.0.113.0/24', type: 'blackhole' },
];

test("the workstation's own networks: gateways, nameservers, addresses and the networks they are on", () => {
  const own = localNetworksOf({ links, routes, nameservers: ['192.168.1.1', '9.9.9.9', 'fe80::1%wlan0', '127.0.0.53'] }, { tunDev: 'telepath0' });
  const cidrs = own.map((o) => o.cidr);
  assert.ok(cidrs.includes('192.168.1.1/32'));
  assert.ok(cidrs.includes('9.9.9.9/32'));
  assert.ok(cidrs.includes('fe80::1/128'), 'a link-local nameserver without its zone');
  assert.ok(cidrs.includes('192.168.1.23/32') && cidrs.includes('192.168.1.0/24'));
  assert.ok(cidrs.includes('fe80::/64'));
  assert.ok(cidrs.includes('172.17.0.0/16'));
  assert.ok(cidrs.includes('10.8.0.6/32') && cidrs.includes('10.8.0.5/32'), 'a point-to-point address and its peer');
  assert.ok(!cidrs.includes('10.0.0.0/8'), 'a route through a gateway is not an own network (routePlan.ts decides about it)');
  assert.ok(!cidrs.includes('10.96.0.0/16'), "Telepath's own device is left out");
  assert.ok(!cidrs.includes('203.0.113.0/24'), 'a blackhole is not a network');
  assert.ok(!cidrs.some((c) => c.startsWith('0.0.0.0')), 'the default route itself is not one');
  assert.equal(own.find((o) => o.cidr === '192.168.1.0/24')?.what, 'the network 192.168.1.0/24 of wlan0 (the LAN of the default route)');
  assert.equal(own.find((o) => o.cidr === '192.168.1.1/32')?.what, 'the default gateway 192.168.1.1 (dev wlan0)');
  assert.equal(own.find((o) => o.cidr === '172.17.0.0/16')?.what, 'the network 172.17.0.0/16 of docker0');
});

test('a default route with an on-link gateway and no LAN route (a cloud VM with a /32): the gateway still counts', () => {
  const own = localNetworksOf({
    links: [{ ifname: 'ens4', addr_info: [{ family: 'inet', local: '10.128.0.7', prefixlen: 32 }] }],
    routes: [{ dst: 'default', gateway: '10.128.0.1', dev: 'ens4' }, { dst: '10.128.0.1', dev: 'ens4', scope: 'link' }],
    nameservers: ['169.254.169.254'],
  });
  const networks = { serviceSubnets: ['10.128.0.0/20'], podSubnets: [], dnsIp: '10.128.0.10', clusterDomain: 'cluster.local' };
  assert.throws(() => checkLocalOverlap(networks, own), (e: Error) => e instanceof RefusedInput && /overlaps the default gateway 10\.128\.0\.1 \(dev ens4\)/.test(e.message));
});

test('multipath default routes name each gateway; the cluster DNS Telepath put into the resolver is not own', () => {
  const own = localNetworksOf(
    { links: [], routes: [{ dst: 'default', nexthops: [{ gateway: '192.0.2.1', dev: 'eth0' }, { gateway: '198.51.100.1', dev: 'eth1' }] }], nameservers: ['10.96.0.10', '192.0.2.53'] },
    { ownDnsIps: ['10.96.0.10'] },
  );
  assert.deepEqual(own.map((o) => o.cidr), ['192.0.2.1/32', '198.51.100.1/32', '192.0.2.53/32']);
});

const noIp = spawnSync('ip', ['-V']).status !== 0 ? 'iproute2 (ip) is not installed' : false;

test('this machine is read without error and names its loopback address', { skip: noIp }, async () => {
  const own = await readLocalNetworks();
  assert.ok(own.some((o) => o.cidr === '127.0.0.1/32' || o.cidr === '127.0.0.0/8'), JSON.stringify(own));
});
