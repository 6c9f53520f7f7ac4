import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket, { type Answer } from 'dns-packet';
import { ipFromBytes } from '../../../protocol/src/ipAddress.js';
import { DnsWireError, encodeName, encodeQuery, parseResponse, readName } from './dnsWire.js';

test('a query encodes as dns-packet reads it, with EDNS0 when asked', () => {
  const q = dnsPacket.decode(encodeQuery(0x1234, 'Web.Shop.svc.cluster.local.', 33, { udpPayloadSize: 1232 }));
  assert.equal(q.id, 0x1234);
  assert.equal(q.flag_rd, true);
  assert.equal(q.flag_qr, false);
  assert.deepEqual(q.questions, [{ name: 'Web.Shop.svc.cluster.local', type: 'SRV', class: 'IN' }]);
  const opt = q.additionals?.[0];
  assert.equal(opt?.type, 'OPT');
  assert.equal(opt && 'udpPayloadSize' in opt ? opt.udpPayloadSize : 0, 1232);
  assert.equal(dnsPacket.decode(encodeQuery(1, 'x', 65280)).questions?.[0]?.type, 'UNKNOWN_65280');
  assert.equal(dnsPacket.decode(encodeQuery(1, 'x', 1)).additionals?.length, 0);
});

test('invalid names are refused before anything is sent', () => {
  assert.throws(() => encodeName('a..b'), DnsWireError);
  assert.throws(() => encodeName(`${'x'.repeat(64)}.com`), DnsWireError);
  assert.throws(() => encodeName(Array.from({ length: 60 }, () => 'abcd').join('.')), DnsWireError);
  assert.deepEqual([...encodeName('')], [0]);
});

test('a response parses into structured records, compressed names expanded', () => {
  const answers: Answer[] = [
    { type: 'CNAME', name: 'external.samples.svc.cluster.local', ttl: 5, data: 'echo.samples.svc.cluster.local' },
    { type: 'A', name: 'echo.samples.svc.cluster.local', ttl: 5, data: '10.96.12.34' },
    { type: 'AAAA', name: 'echo.samples.svc.cluster.local', ttl: 6, data: 'fd00::1234' },
    { type: 'SRV', name: '_http._tcp.echo.samples.svc.cluster.local', ttl: 7, data: { priority: 0, weight: 100, port: 8080, target: 'echo.samples.svc.cluster.local' } },
    { type: 'MX', name: 'samples.svc.cluster.local', ttl: 8, data: { preference: 10, exchange: 'mail.samples.svc.cluster.local' } },
    { type: 'TXT', name: 'samples.svc.cluster.local', ttl: 9, data: ['hello', 'world'] },
    { type: 'PTR', name: '34.12.96.10.in-addr.arpa', ttl: 10, data: 'echo.samples.svc.cluster.local' },
  ];
  const wire = dnsPacket.encode({ type: 'response', id: 7, flags: 0, questions: [{ type: 'A', name: 'external.samples.svc.cluster.local' }], answers });
  const r = parseResponse(wire);
  assert.equal(r.id, 7);
  assert.equal(r.rcode, 0);
  assert.deepEqual(r.questions, [{ name: 'external.samples.svc.cluster.local', type: 1 }]);
  const view = r.answers.map((a) => {
    const d = a.data;
    const v = d?.$case === 'ip' ? ipFromBytes(d.value)
      : d?.$case === 'txt' ? d.value.strings.map((s) => Buffer.from(s).toString())
      : d?.value;
    return [a.name, a.type, a.ttl, d?.$case, v];
  });
  assert.deepEqual(view, [
    ['external.samples.svc.cluster.local', 5, 5, 'target', 'echo.samples.svc.cluster.local'],
    ['echo.samples.svc.cluster.local', 1, 5, 'ip', '10.96.12.34'],
    ['echo.samples.svc.cluster.local', 28, 6, 'ip', 'fd00::1234'],
    ['_http._tcp.echo.samples.svc.cluster.local', 33, 7, 'srv', { priority: 0, weight: 100, port: 8080, target: 'echo.samples.svc.cluster.local' }],
    ['samples.svc.cluster.local', 15, 8, 'mx', { preference: 10, exchange: 'mail.samples.svc.cluster.local' }],
    ['samples.svc.cluster.local', 16, 9, 'txt', ['hello', 'world']],
    ['34.12.96.10.in-addr.arpa', 12, 10, 'target', 'echo.samples.svc.cluster.local'],
  ]);
});

test('compression pointers are followed; SOA RDATA comes back uncompressed; unknown types raw', () => {
  // Header, question "a.example" A, then: CNAME a.example -> b.<ptr to example>, SOA with
  // compressed names, and type 65280 with raw RDATA.
  const header = Buffer.from([0, 9, 0x81, 0x83, 0, 1, 0, 3, 0, 0, 0, 0]);
  const question = Buffer.concat([Buffer.from([1, 0x61, 7, ...Buffer.from('example'), 0]), Buffer.from([0, 1, 0, 1])]);
  const ptrToName = Buffer.from([0xc0, 12]); // a.example
  const ptrToExample = Buffer.from([0xc0, 14]); // example
  const rr = (type: number, rdata: Buffer): Buffer => {
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(type, 0);
    fixed.writeUInt16BE(1, 2);
    fixed.writeUInt32BE(60, 4);
    fixed.writeUInt16BE(rdata.length, 8);
    return Buffer.concat([ptrToName, fixed, rdata]);
  };
  const cname = rr(5, Buffer.concat([Buffer.from([1, 0x62]), ptrToExample]));
  const soaFixed = Buffer.alloc(20, 1);
  const soa = rr(6, Buffer.concat([Buffer.from([2, 0x6e, 0x73]), ptrToExample, Buffer.from([4, ...Buffer.from('host')]), ptrToExample, soaFixed]));
  const raw = rr(65280, Buffer.from([1, 2, 3]));
  const r = parseResponse(Buffer.concat([header, question, cname, soa, raw]));
  assert.equal(r.rcode, 3);
  assert.deepEqual(r.answers[0], { name: 'a.example', type: 5, ttl: 60, data: { $case: 'target', value: 'b.example' } });
  const soaData = r.answers[1]?.data;
  assert.equal(soaData?.$case, 'rdata');
  const soaRdata = Buffer.from(soaData?.$case === 'rdata' ? soaData.value : []);
  assert.deepEqual(soaRdata, Buffer.concat([encodeName('ns.example'), encodeName('host.example'), soaFixed]));
  assert.deepEqual(r.answers[2], { name: 'a.example', type: 65280, ttl: 60, data: { $case: 'rdata', value: Uint8Array.from([1, 2, 3]) } });
});

test('pointer loops and truncated messages are errors, not hangs', () => {
  const loop = Buffer.concat([Buffer.alloc(12), Buffer.from([0xc0, 12])]);
  assert.throws(() => readName(loop, 12), DnsWireError);
  const header = Buffer.from([0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
  assert.throws(() => parseResponse(Buffer.concat([header, Buffer.from([1, 0x61])])), DnsWireError);
  assert.throws(() => parseResponse(Buffer.from([0, 1, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0])), /not a response/);
});
