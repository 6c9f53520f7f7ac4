import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import type { DNSRecord } from '../../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { ipToBytes } from '../../../../protocol/src/ipAddress.js';
import {
  QTYPE,
  RCODE,
  clusterResponse,
  encodeQuery,
  fitForUdp,
  formatErrorResponse,
  negativeResponse,
  parseQuery,
  recordToAnswer,
  type DnsQuery,
} from './dnsAnswer.js';

function query(name: string, type: dnsPacket.RecordType, opts: { edns?: number; id?: number } = {}): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: opts.id ?? 0x1234,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
    additionals: opts.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [],
  });
}

function parsed(msg: Buffer): DnsQuery {
  const p = parseQuery(msg);
  assert.ok(p.ok, p.ok ? '' : p.reason);
  return p.query;
}

const a = (name: string, ip: string, ttl = 30): DNSRecord => ({ name, type: QTYPE.A, ttl, data: { $case: 'ip', value: ipToBytes(ip) } });
const cname = (name: string, target: string, ttl = 30): DNSRecord => ({ name, type: QTYPE.CNAME, ttl, data: { $case: 'target', value: target } });

test('parseQuery reads the question, keeps its bytes and sees EDNS', () => {
  const q = parsed(query('Echo.Samples', 'AAAA', { edns: 1232 }));
  assert.equal(q.id, 0x1234);
  assert.equal(q.name, 'Echo.Samples');
  assert.equal(q.qtype, QTYPE.AAAA);
  assert.equal(q.qclass, 1);
  assert.equal(q.ednsUdpSize, 1232);
  assert.equal(q.opcode, 0);
  assert.deepEqual(q.rawQuestion, Buffer.concat([Buffer.from('\x04Echo\x07Samples\x00', 'latin1'), Buffer.from([0, 28, 0, 1])]));
  assert.equal(parsed(query('x', 'A')).ednsUdpSize, undefined);
});

test('parseQuery rejects what is not one well-formed query, and says when FORMERR is due', () => {
  assert.deepEqual(parseQuery(Buffer.alloc(5)), { ok: false, reason: 'shorter than a DNS header', id: undefined });
  const response = dnsPacket.encode({ type: 'response', id: 7, questions: [{ name: 'x', type: 'A' }] });
  assert.equal(parseQuery(response).ok, false);
  assert.equal((parseQuery(response) as { id: number | undefined }).id, undefined);
  const two = dnsPacket.encode({ type: 'query', id: 9, questions: [{ name: 'x', type: 'A' }, { name: 'y', type: 'A' }] });
  assert.deepEqual(parseQuery(two), { ok: false, reason: '2 questions', id: 9 });
  const cut = query('echo.samples', 'A').subarray(0, 20);
  assert.equal((parseQuery(cut) as { id: number | undefined }).id, 0x1234);
  const f = dnsPacket.decode(formatErrorResponse(9));
  assert.equal(f.id, 9);
  assert.equal(f.type, 'response');
  assert.equal((f as unknown as { rcode: string }).rcode, 'FORMERR');
});

test('an answer found under the expanded name is given the name the client asked', () => {
  const q = parsed(query('echo', 'A'));
  const res = clusterResponse(
    q,
    { rcode: 0, answers: [a('echo.samples.svc.cluster.local', '10.96.12.34', 30)] },
    { askedName: 'echo.samples.svc.cluster.local', ttlCap: 5, negativeTtl: 2, zone: undefined },
    true,
  );
  const p = dnsPacket.decode(res);
  assert.equal(p.id, 0x1234);
  assert.equal(p.type, 'response');
  assert.ok(p.flag_rd && p.flag_ra && !p.flag_tc);
  assert.deepEqual(p.questions, [{ name: 'echo', type: 'A', class: 'IN' }]);
  assert.equal(p.answers?.length, 1);
  const ans = p.answers![0] as dnsPacket.StringAnswer;
  assert.deepEqual([ans.name, ans.type, ans.ttl, ans.data], ['echo', 'A', 5, '10.96.12.34']);
});

test('an ExternalName CNAME chain starts at the asked name and keeps the cluster names after it', () => {
  const q = parsed(query('external.samples', 'A'));
  const res = clusterResponse(
    q,
    { rcode: 0, answers: [cname('external.samples.svc.cluster.local', 'echo.samples.svc.cluster.local', 5), a('echo.samples.svc.cluster.local', '10.96.0.20', 3)] },
    { askedName: 'external.samples.svc.cluster.local', ttlCap: 5, negativeTtl: 2, zone: 'samples' },
    false,
  );
  const p = dnsPacket.decode(res);
  assert.deepEqual(
    p.answers?.map((x) => [x.name, x.type, (x as dnsPacket.StringAnswer).ttl, (x as dnsPacket.StringAnswer).data]),
    [
      ['external.samples', 'CNAME', 5, 'echo.samples.svc.cluster.local'],
      ['echo.samples.svc.cluster.local', 'A', 3, '10.96.0.20'],
    ],
  );
  assert.equal(p.authorities?.length, 0);
});

test('NXDOMAIN and no-data differ, and both carry an SOA of the zone with the negative TTL', () => {
  const q = parsed(query('nope.samples', 'A'));
  const nx = dnsPacket.decode(negativeResponse(q, RCODE.NXDOMAIN, 'samples', 2, true)) as dnsPacket.DecodedPacket & { rcode: string };
  assert.equal(nx.rcode, 'NXDOMAIN');
  assert.equal(nx.answers?.length, 0);
  const soa = nx.authorities?.[0] as dnsPacket.SoaAnswer;
  assert.equal(soa.type, 'SOA');
  assert.equal(soa.name, 'samples');
  assert.equal(soa.ttl, 2);
  assert.equal(soa.data.minimum, 2);

  const q6 = parsed(query('echo.samples', 'AAAA'));
  const nodata = dnsPacket.decode(
    clusterResponse(q6, { rcode: 0, answers: [] }, { askedName: 'echo.samples.svc.cluster.local', ttlCap: 5, negativeTtl: 2, zone: 'samples' }, true),
  ) as dnsPacket.DecodedPacket & { rcode: string };
  assert.equal(nodata.rcode, 'NOERROR');
  assert.equal(nodata.answers?.length, 0);
  assert.equal(nodata.authorities?.[0]?.type, 'SOA');
});

test('every structured record type becomes the right wire record', () => {
  const owner = 'x.samples';
  const records: DNSRecord[] = [
    a('o', '10.0.0.1'),
    { name: 'o', type: QTYPE.AAAA, ttl: 1, data: { $case: 'ip', value: ipToBytes('fd00::1') } },
    { name: 'o', type: QTYPE.SRV, ttl: 1, data: { $case: 'srv', value: { priority: 0, weight: 50, port: 8080, target: 'web-0.web.samples.svc.cluster.local' } } },
    { name: 'o', type: QTYPE.MX, ttl: 1, data: { $case: 'mx', value: { preference: 10, exchange: 'mail.samples' } } },
    { name: 'o', type: QTYPE.TXT, ttl: 1, data: { $case: 'txt', value: { strings: [Buffer.from('a=1'), Buffer.from('b')] } } },
    { name: 'o', type: QTYPE.PTR, ttl: 1, data: { $case: 'target', value: 'echo.samples.svc.cluster.local' } },
    // CAA (257) as raw RDATA: flags 0, tag "issue", value "ca.example"
    { name: 'o', type: 257, ttl: 1, data: { $case: 'rdata', value: Buffer.from('\x00\x05issueca.example', 'latin1') } },
  ];
  const q = parsed(query('o', 'UNKNOWN_255' as dnsPacket.RecordType));
  const answers = records.map((r) => recordToAnswer(r, owner, 1)!);
  const p = dnsPacket.decode(clusterResponse(q, { rcode: 0, answers: records }, { askedName: 'o', ttlCap: 5, negativeTtl: 2, zone: undefined }, false));
  assert.equal(answers.length, 7);
  const got = p.answers!;
  assert.deepEqual(got.map((x) => x.type), ['A', 'AAAA', 'SRV', 'MX', 'TXT', 'PTR', 'CAA']);
  assert.equal((got[1] as dnsPacket.StringAnswer).data, 'fd00::1');
  assert.deepEqual((got[2] as dnsPacket.SrvAnswer).data, { priority: 0, weight: 50, port: 8080, target: 'web-0.web.samples.svc.cluster.local' });
  assert.deepEqual((got[3] as dnsPacket.MxAnswer).data, { preference: 10, exchange: 'mail.samples' });
  assert.deepEqual((got[4] as dnsPacket.TxtAnswer).data, [Buffer.from('a=1'), Buffer.from('b')]);
  assert.equal((got[6] as dnsPacket.CaaAnswer).data.value, 'ca.example');
});

test('records whose data does not fit their type are left out, not sent wrong', () => {
  assert.equal(recordToAnswer({ name: 'o', type: QTYPE.A, ttl: 1, data: { $case: 'ip', value: new Uint8Array(16) } }, 'o', 1), undefined);
  assert.equal(recordToAnswer({ name: 'o', type: QTYPE.A, ttl: 1, data: { $case: 'target', value: 'x' } }, 'o', 1), undefined);
  assert.equal(recordToAnswer({ name: 'o', type: QTYPE.A, ttl: 1, data: undefined }, 'o', 1), undefined);
});

test('over UDP, an answer too large for the client is truncated to its question with TC', () => {
  const many = Array.from({ length: 60 }, (_, i) => a('web.samples.svc.cluster.local', `10.244.0.${i + 1}`));
  const opts = { askedName: 'web.samples.svc.cluster.local', ttlCap: 5, negativeTtl: 2, zone: 'samples' };
  const plain = parsed(query('web.samples', 'A'));
  const udp = dnsPacket.decode(clusterResponse(plain, { rcode: 0, answers: many }, opts, true));
  assert.ok(udp.flag_tc);
  assert.equal(udp.answers?.length, 0);
  assert.equal(udp.questions?.[0]?.name, 'web.samples');
  const tcp = dnsPacket.decode(clusterResponse(plain, { rcode: 0, answers: many }, opts, false));
  assert.ok(!tcp.flag_tc);
  assert.equal(tcp.answers?.length, 60);
  // EDNS0 lets the client take more over UDP, and the response says what the server takes.
  const edns = dnsPacket.decode(clusterResponse(parsed(query('web.samples', 'A', { edns: 4096 })), { rcode: 0, answers: many }, opts, true));
  assert.ok(!edns.flag_tc);
  assert.equal(edns.answers?.length, 60);
  assert.equal(edns.additionals?.[0]?.type, 'OPT');
});

test('a forwarded response too large for the client is cut the same way', () => {
  const q = parsed(query('big.example', 'TXT'));
  const big = dnsPacket.encode({
    type: 'response',
    id: q.id,
    questions: [{ name: 'big.example', type: 'TXT' }],
    answers: [{ name: 'big.example', type: 'TXT', ttl: 1, data: ['x'.repeat(250), 'y'.repeat(250), 'z'.repeat(250)] }],
  });
  const cut = fitForUdp(big, q);
  const p = dnsPacket.decode(cut);
  assert.ok(p.flag_tc);
  assert.equal(p.id, q.id);
  assert.deepEqual(p.questions, [{ name: 'big.example', type: 'TXT', class: 'IN' }]);
  const small = dnsPacket.encode({ type: 'response', id: q.id, questions: [{ name: 'big.example', type: 'TXT' }] });
  assert.equal(fitForUdp(small, q), small);
});

test('the client question bytes come back exactly, case and all (0x20 randomisation)', () => {
  const msg = query('eChO.SaMpLeS', 'A');
  const q = parsed(msg);
  const res = negativeResponse(q, RCODE.NXDOMAIN, 'samples', 2, true);
  assert.deepEqual(res.subarray(12, 12 + q.rawQuestion.length), msg.subarray(12, 12 + q.rawQuestion.length));
});

test('encodeQuery writes any type number', () => {
  const p = dnsPacket.decode(encodeQuery(77, 'example.test', 65));
  assert.equal(p.id, 77);
  assert.ok(p.flag_rd);
  assert.equal(p.questions?.[0]?.name, 'example.test');
  assert.equal(p.questions?.[0]?.class, 'IN');
  assert.equal(parsed(encodeQuery(77, 'example.test', 65)).qtype, 65);
});
