import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { issueWebhookCertificates } from './x509.js';

test('the CA and the serving certificate parse and chain, across the 2050 time-format switch too', async () => {
  const notBefore = new Date('2049-06-01T00:00:00Z');
  const notAfter = new Date('2051-06-01T00:00:00Z');
  const c = await issueWebhookCertificates({ dnsNames: ['svc.ns.svc', 'svc.ns'], caCommonName: 'telepath webhook CA (ns)', notBefore, notAfter });
  const ca = new X509Certificate(c.caPem);
  const leaf = new X509Certificate(c.certPem);
  for (const cert of [ca, leaf]) {
    assert.equal(Date.parse(cert.validFrom), notBefore.getTime());
    assert.equal(Date.parse(cert.validTo), notAfter.getTime());
  }
  assert.equal(ca.subject, 'O=telepath\nCN=telepath webhook CA (ns)');
  assert.equal(leaf.subject, 'CN=svc.ns.svc');
  assert.ok(ca.ca);
  assert.ok(!leaf.ca);
  assert.ok(leaf.checkIssued(ca));
  assert.ok(leaf.verify(ca.publicKey));
  assert.equal(leaf.subjectAltName, 'DNS:svc.ns.svc, DNS:svc.ns');
  assert.ok(leaf.checkPrivateKey(createPrivateKey(c.keyPem)));
  assert.ok(!ca.checkPrivateKey(createPrivateKey(c.keyPem)), "the serving key is not the CA's");
  assert.notEqual(leaf.serialNumber, ca.serialNumber);
  assert.doesNotMatch(leaf.serialNumber, /^[89A-F]/i, 'a positive serial');
  assert.match(c.keyPem, /^-----BEGIN PRIVATE KEY-----\n/, 'PKCS#8');
  assert.match(c.caPem + c.certPem, /^(-----BEGIN CERTIFICATE-----\n[^-]+-----END CERTIFICATE-----\n){2}$/, 'PEM blocks that concatenate into a bundle');
  assert.doesNotThrow(() => createSecureContext({ cert: c.certPem, key: c.keyPem, ca: c.caPem }), 'node:tls takes the pair');
});

test('the certificates carry the algorithms and extensions the API server relies on', async () => {
  const at = new Date('2030-01-01T00:00:00Z');
  const c = await issueWebhookCertificates({ dnsNames: ['a.b.svc'], caCommonName: 'ca', notBefore: at, notAfter: new Date('2031-01-01T00:00:00Z') });
  const ca = new x509.X509Certificate(c.caPem);
  const leaf = new x509.X509Certificate(c.certPem);
  for (const cert of [ca, leaf]) {
    assert.deepEqual(cert.signatureAlgorithm, { name: 'ECDSA', hash: { name: 'SHA-256' } });
    assert.equal(cert.publicKey.algorithm.name, 'ECDSA');
    assert.equal((cert.publicKey.algorithm as webcrypto.EcKeyAlgorithm).namedCurve, 'P-256');
  }
  const U = x509.KeyUsageFlags;

  const caBasic = ca.getExtension(x509.BasicConstraintsExtension);
  assert.ok(caBasic?.ca && caBasic.critical, 'CA:true, critical');
  const caUsage = ca.getExtension(x509.KeyUsagesExtension);
  assert.ok(caUsage?.critical);
  assert.equal(caUsage.usages & (U.keyCertSign | U.cRLSign), U.keyCertSign | U.cRLSign);
  const caKeyId = ca.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  assert.ok(caKeyId);

  const leafBasic = leaf.getExtension(x509.BasicConstraintsExtension);
  assert.ok(leafBasic && !leafBasic.ca && leafBasic.critical, 'CA:false, critical');
  assert.equal(leaf.getExtension(x509.KeyUsagesExtension)?.usages, U.digitalSignature);
  assert.deepEqual([...(leaf.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])], [x509.ExtendedKeyUsage.serverAuth]);
  assert.deepEqual(leaf.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON(), [{ type: 'dns', value: 'a.b.svc' }]);
  assert.ok(leaf.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
  assert.notEqual(leaf.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId, caKeyId);
  assert.equal(leaf.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId, caKeyId, "the authority key id is the CA's key id");
});

test('openssl accepts the serving certificate for TLS servers under strict X.509 rules', async (t) => {
  if (spawnSync('openssl', ['version']).error) return t.skip('openssl is not installed; the strict X.509 check needs it');
  const c = await issueWebhookCertificates({
    dnsNames: ['hook.ns.svc', 'hook.ns'],
    caCommonName: 'telepath webhook CA (ns)',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3600_000),
  });
  const other = await issueWebhookCertificates({ dnsNames: ['hook.ns.svc'], caCommonName: 'x', notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3600_000) });
  const dir = mkdtempSync(path.join(tmpdir(), 'telepath-x509-'));
  try {
    writeFileSync(path.join(dir, 'ca.pem'), c.caPem);
    writeFileSync(path.join(dir, 'cert.pem'), c.certPem);
    writeFileSync(path.join(dir, 'other-ca.pem'), other.caPem);
    const verify = (caFile: string, host: string): { status: number | null; output: string } => {
      const r = spawnSync('openssl', ['verify', '-x509_strict', '-purpose', 'sslserver', '-verify_hostname', host, '-CAfile', caFile, 'cert.pem'], { cwd: dir, encoding: 'utf8' });
      return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
    };
    const ok = verify('ca.pem', 'hook.ns');
    assert.equal(ok.status, 0, ok.output);
    assert.equal(ok.output, 'cert.pem: OK');
    assert.notEqual(verify('ca.pem', 'hook.other.svc').status, 0, 'a name the certificate does not carry');
    assert.notEqual(verify('other-ca.pem', 'hook.ns.svc').status, 0, 'another CA');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('nonsense requests are refused', async () => {
  const at = new Date('2030-01-01T00:00:00Z');
  await assert.rejects(issueWebhookCertificates({ dnsNames: [], caCommonName: 'x', notBefore: at, notAfter: new Date('2031-01-01') }), /at least one DNS name/);
  await assert.rejects(issueWebhookCertificates({ dnsNames: ['a'], caCommonName: 'x', notBefore: at, notAfter: at }), /notAfter must be later/);
});
