import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ArriveAsClientRequest,
  ArriveAsClientResponse,
  ClusterInfo,
  LookupDNSRequest,
  LookupDNSResponse,
  VersionResponse,
} from '../gen/telepath/manager/v1/manager.js';
import { ipFromBytes, ipToBytes, subnetFromCidr, subnetToCidr } from '../ipAddress.js';

/** Encodes and decodes with the generated codec, as grpc-js does on each side. */
function roundTrip<T>(codec: { encode(m: T): { finish(): Uint8Array; }; decode(b: Uint8Array): T; }, m: T): T {
  return codec.decode(codec.encode(m).finish());
}

test('session messages round-trip', () => {
  const arrive: ArriveAsClientRequest = {
    client: { name: 'alice@laptop', installId: '0f4e9f2a', namespace: 'shop', version: '0.2.0', heartbeatMs: 0, apiLevel: 2, minApiLevel: 1 },
  };
  assert.deepEqual(roundTrip(ArriveAsClientRequest, arrive), arrive);
  const session: ArriveAsClientResponse = { session: { sessionId: 's-1' }, ttlMs: 86_400_000, joinSecret: 'c0ffee' };
  assert.deepEqual(roundTrip(ArriveAsClientResponse, session), session);
  assert.deepEqual(roundTrip(VersionResponse, { version: '0.2.0', name: 'traffic-manager', apiLevel: 2, minApiLevel: 1 }), {
    version: '0.2.0',
    name: 'traffic-manager',
    apiLevel: 2,
    minApiLevel: 1,
  });
  // What a manager from before API levels sends (fields it does not know) reads as 0: an old build.
  const old = VersionResponse.decode(VersionResponse.encode({ version: '0.1.0', name: 'traffic-manager', apiLevel: 0, minApiLevel: 0 }).finish());
  assert.deepEqual([old.apiLevel, old.minApiLevel], [0, 0]);
});

test('cluster info carries dual-stack subnets and the DNS address as bytes', () => {
  const info: ClusterInfo = {
    serviceSubnets: [subnetFromCidr('10.96.0.0/12'), subnetFromCidr('fd00:10:96::/112')],
    podSubnets: [subnetFromCidr('10.244.0.0/24')],
    dnsIp: ipToBytes('10.96.0.10'),
    clusterDomain: 'cluster.local',
    managerNamespace: 'telepath',
  };
  const back = roundTrip(ClusterInfo, info);
  assert.deepEqual(back.serviceSubnets.map(subnetToCidr), ['10.96.0.0/12', 'fd00:10:96::/112']);
  assert.deepEqual(back.podSubnets.map(subnetToCidr), ['10.244.0.0/24']);
  assert.equal(ipFromBytes(back.dnsIp), '10.96.0.10');
  assert.equal(back.clusterDomain, 'cluster.local');
});

test('a DNS question round-trips', () => {
  const q: LookupDNSRequest = { session: { sessionId: 's-1' }, name: 'web.shop.svc.cluster.local', qtype: 28 };
  assert.deepEqual(roundTrip(LookupDNSRequest, q), q);
});

test('DNS answers of type A, AAAA, CNAME, SRV, PTR, TXT and an unknown type round-trip', () => {
  const answer: LookupDNSResponse = {
    rcode: 0,
    answers: [
      {
        name: 'www.shop.svc.cluster.local',
        type: 5,
        ttl: 30,
        data: { $case: 'target', value: 'web.shop.svc.cluster.local' },
      },
      { name: 'web.shop.svc.cluster.local', type: 1, ttl: 30, data: { $case: 'ip', value: ipToBytes('10.96.3.4') } },
      { name: 'web.shop.svc.cluster.local', type: 28, ttl: 30, data: { $case: 'ip', value: ipToBytes('fd00::3:4') } },
      {
        name: '_http._tcp.web.shop.svc.cluster.local',
        type: 33,
        ttl: 30,
        data: { $case: 'srv', value: { priority: 0, weight: 100, port: 80, target: 'web.shop.svc.cluster.local' } },
      },
      {
        name: '4.3.96.10.in-addr.arpa',
        type: 12,
        ttl: 30,
        data: { $case: 'target', value: 'web.shop.svc.cluster.local' },
      },
      {
        name: 'web.shop.svc.cluster.local',
        type: 16,
        ttl: 30,
        data: { $case: 'txt', value: { strings: [Buffer.from('v=1')] } },
      },
      {
        name: 'web.shop.svc.cluster.local',
        type: 99,
        ttl: 30,
        data: { $case: 'rdata', value: Uint8Array.of(1, 2, 3) },
      },
    ],
  };
  const back = roundTrip(LookupDNSResponse, answer);
  assert.deepEqual(LookupDNSResponse.toJSON(back), LookupDNSResponse.toJSON(answer));
  assert.deepEqual(
    back.answers.map((a) => a.data?.$case),
    ['target', 'ip', 'ip', 'srv', 'target', 'txt', 'rdata'],
  );
  const srv = back.answers[3]?.data;
  assert.equal(srv?.$case === 'srv' ? srv.value.port : undefined, 80);
});

test('NXDOMAIN and no-data stay distinct', () => {
  const nxdomain = roundTrip(LookupDNSResponse, { rcode: 3, answers: [] });
  const noData = roundTrip(LookupDNSResponse, { rcode: 0, answers: [] });
  assert.deepEqual(nxdomain, { rcode: 3, answers: [] });
  assert.deepEqual(noData, { rcode: 0, answers: [] });
  assert.notDeepEqual(nxdomain, noData);
});

test('fields added by a newer manager are skipped by an older daemon', () => {
  const wire = ClusterInfo.encode({
    serviceSubnets: [],
    podSubnets: [],
    dnsIp: ipToBytes('10.96.0.10'),
    clusterDomain: 'c.l',
    managerNamespace: 'telepath',
  }).finish();
  // Append field 99 (varint 1), as a later version might add.
  const extended = Buffer.concat([wire, Buffer.from([0x98, 0x06, 0x01])]);
  const back = ClusterInfo.decode(extended);
  assert.equal(back.clusterDomain, 'c.l');
  assert.equal(ipFromBytes(back.dnsIp), '10.96.0.10');
});
