/**
 * Certificates for the webhook's HTTPS server: a self-signed CA and one serving certificate signed
 * by it, ECDSA P-256 with SHA-256 (small, fast, and accepted by the API server's Go TLS stack).
 * @peculiar/x509 writes the structures of RFC 5280; keys and signatures come from Node's WebCrypto.
 */
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect polyfill loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { KeyObject, randomBytes, webcrypto } from 'node:crypto';

// Pinned to Node's own WebCrypto rather than whatever `globalThis.crypto` happens to be.
x509.cryptoProvider.set(webcrypto);

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

export interface WebhookCertificateRequest {
  /** The names the API server may dial; the first is also the subject's common name. */
  dnsNames: string[];
  /** The CA's common name, for people reading the certificate. */
  caCommonName: string;
  notBefore: Date;
  notAfter: Date;
}

export interface WebhookCertificates {
  /** PEM of the CA that signed `certPem`. */
  caPem: string;
  /** PEM of the serving certificate. */
  certPem: string;
  /** PKCS#8 PEM of the serving certificate's private key. */
  keyPem: string;
}

/**
 * A fresh CA and a serving certificate signed by it, with the same validity. The CA signs this one
 * certificate and its private key is dropped here (it is not even extractable), so neither a
 * leaked Secret nor the manager can later mint certificates for other names that the API server
 * would trust; renewal makes a new CA.
 */
export async function issueWebhookCertificates(req: WebhookCertificateRequest): Promise<WebhookCertificates> {
  if (req.dnsNames.length === 0) throw new Error('a serving certificate needs at least one DNS name');
  if (!(req.notAfter.getTime() > req.notBefore.getTime())) throw new Error('notAfter must be later than notBefore');
  const ca = await webcrypto.subtle.generateKey(EC_P256, false, ['sign', 'verify']);
  const leaf = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const caName = name(req.caCommonName, 'telepath');
  const { KeyUsageFlags: U } = x509;

  const caCert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    issuer: caName,
    subject: caName,
    publicKey: ca.publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: ECDSA_SHA256,
    notBefore: req.notBefore,
    notAfter: req.notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(U.digitalSignature | U.keyCertSign | U.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(ca.publicKey),
    ],
  });
  const leafCert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    issuer: caName,
    subject: name(req.dnsNames[0]),
    publicKey: leaf.publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: ECDSA_SHA256,
    notBefore: req.notBefore,
    notAfter: req.notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(U.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([SERVER_AUTH]),
      new x509.SubjectAlternativeNameExtension(req.dnsNames.map((value) => ({ type: 'dns', value }))),
      await x509.SubjectKeyIdentifierExtension.create(leaf.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey),
    ],
  });
  return {
    caPem: pem(caCert),
    certPem: pem(leafCert),
    keyPem: KeyObject.from(leaf.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/**
 * 16 random bytes with the top bits 01: positive without a padding byte, so unique, within the 20
 * octets RFC 5280 allows, and always 16 octets long.
 */
function serialNumber(): string {
  const serial = randomBytes(16);
  serial[0] = (serial[0] & 0x7f) | 0x40;
  return serial.toString('hex');
}

/** UTF8String values, as RFC 5280 asks, and no DN-string parsing of names the caller chose. */
function name(commonName: string, organization?: string): x509.Name {
  return new x509.Name([...(organization ? [{ O: [{ utf8String: organization }] }] : []), { CN: [{ utf8String: commonName }] }]);
}

/** The library ends its PEM without a newline; bundles are concatenated, so end each with one. */
function pem(cert: x509.X509Certificate): string {
  return `${cert.toString('pem').trimEnd()}\n`;
}
