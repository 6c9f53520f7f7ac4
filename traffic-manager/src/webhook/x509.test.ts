import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { der } from './der.js';
import { issueWebhookCertificates } from './x509.js';

const hex = (b: Buffer): string => b.toString('hex');

test('DER encodings are the minimal ones X.690 prescribes', () => {
  assert.equal(hex(der.integer(0)), '020100');
  assert.equal(hex(der.integer(127)), '02017f');
  assert.equal(hex(der.integer(128)), '02020080', 'a leading zero keeps it positive');
  assert.equal(hex(der.integer(Buffer.from('0000ff', 'hex'))), '020200ff', 'leading zeros are dropped');
  assert.equal(hex(der.oid('1.2.840.10045.4.3.2')), '06082a8648ce3d040302');
  assert.equal(hex(der.oid('2.5.29.17')), '0603551d11');
  assert.equal(hex(der.namedBits([0])), '03020780', 'digitalSignature: 7 unused bits');
  assert.equal(hex(der.namedBits([0, 5, 6])), '03020186', 'digitalSignature, keyCertSign, cRLSign');
  assert.equal(hex(der.octetString(Buffer.alloc(200))).slice(0, 6), '0481c8', 'long-form length');
  assert.equal(hex(der.octetString(Buffer.alloc(300))).slice(0, 8), '0482012c');
  assert.equal(der.time(new Date('2049-12-31T23:59:59.900Z')).toString('latin1').slice(2), '491231235959Z', 'UTCTime, whole seconds');
  assert.equal(der.time(new Date('2050-01-01T00:00:00Z')).toString('latin1').slice(2), '20500101000000Z', 'GeneralizedTime from 2050');
  assert.equal(der.time(new Date('2050-01-01T00:00:00Z'))[0], 0x18);
});

test('the CA and the serving certificate parse and chain, across the 2050 time-format switch too', () => {
  const notBefore = new Date('2049-06-01T00:00:00Z');
  const notAfter = new Date('2051-06-01T00:00:00Z');
  const c = issueWebhookCertificates({ dnsNames: ['svc.ns.svc', 'svc.ns'], caCommonName: 'telepath webhook CA (ns)', notBefore, notAfter });
  const ca = new X509Certificate(c.caPem);
  const leaf = new X509Certificate(c.certPem);
  for (const cert of [ca, leaf]) {
    assert.equal(Date.parse(cert.validFrom), notBefore.getTime());
    assert.equal(Date.parse(cert.validTo), notAfter.getTime());
  }
  assert.equal(ca.subject, 'O=telepath\nCN=telepath webhook CA (ns)');
  assert.ok(ca.ca);
  assert.ok(!leaf.ca);
  assert.ok(leaf.checkIssued(ca));
  assert.ok(leaf.verify(ca.publicKey));
  assert.equal(leaf.subjectAltName, 'DNS:svc.ns.svc, DNS:svc.ns');
  assert.ok(leaf.checkPrivateKey(createPrivateKey(c.keyPem)));
  assert.ok(!ca.checkPrivateKey(createPrivateKey(c.keyPem)), "the serving key is not the CA's");
  assert.notEqual(leaf.serialNumber, ca.serialNumber);
  assert.doesNotMatch(leaf.serialNumber, /^[89A-F]/i, 'a positive serial');
});

test('nonsense requests are refused', () => {
  const at = new Date('2030-01-01T00:00:00Z');
  assert.throws(() => issueWebhookCertificates({ dnsNames: [], caCommonName: 'x', notBefore: at, notAfter: new Date('2031-01-01') }), /at least one DNS name/);
  assert.throws(() => issueWebhookCertificates({ dnsNames: ['a'], caCommonName: 'x', notBefore: at, notAfter: at }), /notAfter must be later/);
});
