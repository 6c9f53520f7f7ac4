import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ipToBytes, subnetFromCidr, subnetToCidr } from '../../../protocol/src/ipAddress.js';
import { canonicalIp, type DestinationFacts, type DestinationVerdict, judgeDestination, parseAllowedCidr } from './destinationPolicy.js';

interface Situation {
  service?: string[];
  pod?: string[];
  dns?: string[];
  allow?: string[];
  manager?: string[];
}

function facts(s: Situation = {}): DestinationFacts {
  const dns = new Set(s.dns ?? []);
  return {
    serviceSubnets: (s.service ?? ['10.96.0.0/16', 'fd00:10:96::/112']).map(subnetFromCidr),
    podSubnets: (s.pod ?? ['10.244.0.0/24', 'fd00:10:244::/64']).map(subnetFromCidr),
    answeredByDns: (ip) => dns.has(ip),
    tunnelAllow: (s.allow ?? []).map(parseAllowedCidr),
    managerIps: new Set((s.manager ?? ['10.244.0.5', 'fd00:10:244::5']).map(canonicalIp)),
  };
}

function judge(ip: string, port: number, s?: Situation): DestinationVerdict {
  return judgeDestination({ ip: ipToBytes(ip), port }, facts(s));
}

function refusal(ip: string, port: number, s?: Situation): string {
  const v = judge(ip, port, s);
  assert.equal(v.allowed, false, `${ip}:${port} must be refused, was allowed: ${v.allowed ? v.why : ''}`);
  return v.allowed ? '' : v.reason;
}

function allowance(ip: string, port: number, s?: Situation): string {
  const v = judge(ip, port, s);
  assert.equal(v.allowed, true, `${ip}:${port} must be allowed, was refused: ${v.allowed ? '' : v.reason}`);
  return v.allowed ? v.why : '';
}

describe('always refused', () => {
  test('cloud metadata is link-local, and the refusal says what it is and how to open it', () => {
    assert.equal(
      refusal('169.254.169.254', 80),
      "169.254.169.254:80 is link-local (cloud metadata lives there); the install's tunnelAllow setting (TELEPATH_TUNNEL_ALLOW) can open it by naming a CIDR inside 169.254.0.0/16",
    );
  });

  test('IPv4: loopback, unspecified, link-local, multicast, broadcast, Alibaba metadata', () => {
    for (const [ip, what] of [
      ['127.0.0.1', /is loopback/],
      ['127.3.2.1', /is loopback/],
      ['0.0.0.0', /is unspecified/],
      ['0.1.2.3', /is unspecified/],
      ['169.254.1.1', /is link-local/],
      ['224.0.0.1', /is multicast/],
      ['239.255.255.250', /is multicast/],
      ['255.255.255.255', /is the broadcast address/],
      ['100.100.100.200', /cloud metadata address/],
    ] as const) {
      assert.match(refusal(ip, 8082), what, ip);
    }
  });

  test('IPv6: loopback, unspecified, link-local, multicast, AWS metadata', () => {
    assert.match(refusal('::1', 8081), /^\[::1\]:8081 is loopback .* inside ::1\/128$/);
    assert.match(refusal('::', 80), /^\[::\]:80 is unspecified/);
    assert.match(refusal('fe80::1', 80), /is link-local.* inside fe80::\/10$/);
    assert.match(refusal('febf::1', 80), /is link-local/);
    assert.match(refusal('ff02::1', 80), /is multicast/);
    assert.match(refusal('fd00:ec2::254', 80), /cloud metadata address \(AWS/);
  });

  test('IPv4-mapped IPv6 forms are judged as the IPv4 address they carry', () => {
    assert.match(refusal('::ffff:127.0.0.1', 8082), /^127\.0\.0\.1:8082 is loopback/);
    assert.match(refusal('::ffff:a9fe:a9fe', 80), /^169\.254\.169\.254:80 is link-local/);
    assert.match(refusal('::ffff:0.0.0.0', 80), /^0\.0\.0\.0:80 is unspecified/);
    assert.match(refusal('::ffff:10.244.0.5', 8081), /^10\.244\.0\.5:8081 is the traffic-manager pod itself/);
    // Allowed ones are dialed as IPv4.
    assert.deepEqual(judge('::ffff:10.96.0.10', 53), { allowed: true, ip: '10.96.0.10', why: "in the cluster's service subnet 10.96.0.0/16" });
  });

  test('NAT64 (64:ff9b::/96) of a closed IPv4 address is closed too', () => {
    assert.match(refusal('64:ff9b::a9fe:a9fe', 80), /^\[64:ff9b::a9fe:a9fe\]:80 is NAT64 for 169\.254\.169\.254, which is link-local/);
    assert.match(refusal('64:ff9b::a9fe:a9fe', 80), /inside 64:ff9b::a9fe:0\/112$/);
    // Another IPv4 address through NAT64 is the internet: refused by the last rule.
    assert.match(refusal('64:ff9b::808:808', 443), /outside the cluster's service and pod subnets/);
  });

  test("the manager pod's own addresses, on every port, even inside the pod subnet", () => {
    for (const port of [8081, 8082, 8443, 1, 65535]) {
      assert.equal(
        refusal('10.244.0.5', port),
        `10.244.0.5:${port} is the traffic-manager pod itself (all of its ports); the install's tunnelAllow setting (TELEPATH_TUNNEL_ALLOW) can open it by naming a CIDR inside 10.244.0.5/32`,
      );
    }
    assert.match(refusal('fd00:10:244::5', 8081), /^\[fd00:10:244::5\]:8081 is the traffic-manager pod itself/);
    assert.match(allowance('10.244.0.6', 8081), /pod subnet/);
  });

  test('a DNS answer does not open a closed address or the manager pod', () => {
    const s = { dns: ['169.254.169.254', '127.0.0.1', '10.244.0.5', '::1'] };
    assert.match(refusal('169.254.169.254', 80, s), /link-local/);
    assert.match(refusal('127.0.0.1', 8082, s), /loopback/);
    assert.match(refusal('10.244.0.5', 8081, s), /traffic-manager pod itself/);
    assert.match(refusal('::1', 8081, s), /loopback/);
  });

  test('a broad admin CIDR does not open them; one inside the closed range does', () => {
    const broad = { allow: ['0.0.0.0/0', '::/0'] };
    assert.match(refusal('169.254.169.254', 80, broad), /link-local/);
    assert.match(refusal('127.0.0.1', 8082, broad), /loopback/);
    assert.match(refusal('::1', 8082, broad), /loopback/);
    assert.match(refusal('10.244.0.5', 8081, { allow: ['10.244.0.0/16'] }), /traffic-manager pod itself/);
    assert.match(allowance('8.8.8.8', 53, broad), /TELEPATH_TUNNEL_ALLOW's 0\.0\.0\.0\/0/);

    const explicit = { allow: ['169.254.169.254/32', '127.0.0.0/8', '10.244.0.5', 'fe80::/64'] };
    assert.equal(allowance('169.254.169.254', 80, explicit), "link-local (cloud metadata lives there), opened by TELEPATH_TUNNEL_ALLOW's 169.254.169.254/32");
    assert.match(refusal('169.254.169.253', 80, explicit), /link-local/);
    assert.match(allowance('127.0.0.1', 8082, explicit), /loopback.*opened by TELEPATH_TUNNEL_ALLOW's 127\.0\.0\.0\/8/);
    assert.match(allowance('::ffff:127.0.0.1', 8082, explicit), /loopback/);
    assert.match(allowance('10.244.0.5', 8081, explicit), /traffic-manager pod itself.*10\.244\.0\.5\/32/);
    assert.match(allowance('fe80::1', 80, explicit), /link-local/);
    assert.match(refusal('fe80:0:0:1::1', 80, explicit), /link-local/);
    assert.match(allowance('64:ff9b::a9fe:a9fe', 80, { allow: ['64:ff9b::a9fe:a9fe/128'] }), /NAT64/);
    assert.match(refusal('64:ff9b::a9fe:a9fe', 80, { allow: ['64:ff9b::/96'] }), /NAT64/);
  });
});

describe('allowed', () => {
  test("inside the cluster's service and pod subnets, IPv4 and IPv6", () => {
    assert.equal(allowance('10.96.0.10', 53), "in the cluster's service subnet 10.96.0.0/16");
    assert.equal(allowance('10.244.0.17', 8080), "in the cluster's pod subnet 10.244.0.0/24");
    assert.equal(allowance('fd00:10:96::a', 80), "in the cluster's service subnet fd00:10:96::/112");
    assert.equal(allowance('fd00:10:244::17', 80), "in the cluster's pod subnet fd00:10:244::/64");
  });

  test('an address cluster DNS answered to the session, IPv4 and IPv6', () => {
    const s = { dns: ['203.0.113.9', '2001:db8::9'] };
    assert.equal(allowance('203.0.113.9', 5432, s), 'answered by cluster DNS to this session');
    assert.equal(allowance('2001:db8::9', 5432, s), 'answered by cluster DNS to this session');
    assert.match(refusal('203.0.113.10', 5432, s), /cluster DNS has not answered it/);
  });

  test('inside an admin CIDR, IPv4 and IPv6', () => {
    const s = { allow: ['203.0.113.0/24', '2001:db8::/32'] };
    assert.equal(allowance('203.0.113.200', 443, s), "in TELEPATH_TUNNEL_ALLOW's 203.0.113.0/24");
    assert.equal(allowance('2001:db8:1::1', 443, s), "in TELEPATH_TUNNEL_ALLOW's 2001:db8::/32");
    assert.match(refusal('203.0.114.1', 443, s), /outside/);
  });
});

describe('refused by default', () => {
  test('the internet, TEST-NET and other private ranges, naming the subnets it is outside of', () => {
    assert.equal(
      refusal('192.0.2.1', 80),
      "192.0.2.1:80 is outside the cluster's service and pod subnets (10.96.0.0/16, fd00:10:96::/112, 10.244.0.0/24, fd00:10:244::/64) and cluster DNS has not answered it to this session; the install's tunnelAllow setting (TELEPATH_TUNNEL_ALLOW) can open it",
    );
    assert.match(refusal('8.8.8.8', 53), /outside/);
    assert.match(refusal('10.97.0.1', 80), /outside/);
    assert.match(refusal('2001:4860:4860::8888', 53), /^\[2001:4860:4860::8888\]:53 is outside/);
    // IPv4-compatible IPv6 (deprecated) is not IPv4: ::127.0.0.1 is just an unroutable IPv6 address.
    assert.match(refusal('::7f00:1', 80), /outside/);
  });

  test('before the cluster subnets are known, only DNS answers and admin CIDRs are allowed', () => {
    const unknown = { service: [], pod: [] };
    assert.match(refusal('10.96.0.10', 53, unknown), /subnets \(not known yet\)/);
    assert.match(allowance('10.96.0.10', 53, { ...unknown, dns: ['10.96.0.10'] }), /DNS/);
  });
});

describe('TELEPATH_TUNNEL_ALLOW entries', () => {
  const parsed = (text: string): string => subnetToCidr(parseAllowedCidr(text));

  test('CIDRs of both families, and bare addresses as one address', () => {
    assert.equal(parsed('10.20.0.0/16'), '10.20.0.0/16');
    assert.equal(parsed('0.0.0.0/0'), '0.0.0.0/0');
    assert.equal(parsed('203.0.113.7'), '203.0.113.7/32');
    assert.equal(parsed('2001:DB8::/32'), '2001:db8::/32');
    assert.equal(parsed('2001:db8::7'), '2001:db8::7/128');
    assert.equal(parsed('::ffff:127.0.0.0/104'), '127.0.0.0/8');
    assert.equal(parsed('::ffff:169.254.169.254'), '169.254.169.254/32');
  });

  test('a bad entry says what is wrong with it', () => {
    assert.throws(() => parseAllowedCidr('10.0.0.1/8'), { message: '"10.0.0.1/8" has host bits set (did you mean 10.0.0.0/8?)' });
    assert.throws(() => parseAllowedCidr('10.0.0.0/33'), { message: '"10.0.0.0/33" needs a prefix length from 0 to 32' });
    assert.throws(() => parseAllowedCidr('fd00::/129'), /needs a prefix length from 0 to 128/);
    assert.throws(() => parseAllowedCidr('10.0.0.0/'), /needs a prefix length/);
    assert.throws(() => parseAllowedCidr('10.0.0.0/8/9'), /needs a prefix length/);
    assert.throws(() => parseAllowedCidr('10.0.0.0/-1'), /needs a prefix length/);
    assert.throws(() => parseAllowedCidr('example.com'), { message: '"example.com" is not a CIDR (like 10.20.0.0/16) or an IP address' });
    assert.throws(() => parseAllowedCidr('10.0.0/8'), /is not a CIDR/);
  });
});
