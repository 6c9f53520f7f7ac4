/**
 * Certificates for the webhook's HTTPS server: a self-signed CA and one serving certificate signed
 * by it, ECDSA P-256 with SHA-256 (small, fast, and accepted by the API server's Go TLS stack).
 * Keys and signatures come from node:crypto; der.ts writes the structures of RFC 5280.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { der } from './der.js';

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

/** KeyUsage bit numbers (RFC 5280 4.2.1.3). */
const KEY_USAGE = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

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
 * certificate and its private key is dropped here, so neither a leaked Secret nor the manager can
 * later mint certificates for other names that the API server would trust; renewal makes a new CA.
 */
export function issueWebhookCertificates(req: WebhookCertificateRequest): WebhookCertificates {
  if (req.dnsNames.length === 0) throw new Error('a serving certificate needs at least one DNS name');
  if (!(req.notAfter.getTime() > req.notBefore.getTime())) throw new Error('notAfter must be later than notBefore');
  const ca = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const leaf = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const caSpki = spkiOf(ca.publicKey);
  const leafSpki = spkiOf(leaf.publicKey);
  const caName = name(req.caCommonName, 'telepath');
  const caKeyId = keyIdentifier(caSpki);

  const caCert = certificate({
    issuer: caName,
    subject: caName,
    spki: caSpki,
    notBefore: req.notBefore,
    notAfter: req.notAfter,
    signingKey: ca.privateKey,
    extensions: [
      extension(OID.basicConstraints, true, der.sequence(der.boolean(true), der.integer(0))),
      extension(OID.keyUsage, true, der.namedBits([KEY_USAGE.digitalSignature, KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign])),
      extension(OID.subjectKeyIdentifier, false, der.octetString(caKeyId)),
    ],
  });
  const leafCert = certificate({
    issuer: caName,
    subject: name(req.dnsNames[0]),
    spki: leafSpki,
    notBefore: req.notBefore,
    notAfter: req.notAfter,
    signingKey: ca.privateKey,
    extensions: [
      extension(OID.basicConstraints, true, der.sequence()),
      extension(OID.keyUsage, true, der.namedBits([KEY_USAGE.digitalSignature])),
      extension(OID.extKeyUsage, false, der.sequence(der.oid(OID.serverAuth))),
      extension(OID.subjectAltName, false, der.sequence(...req.dnsNames.map((n) => der.implicit(2, Buffer.from(n, 'ascii'))))),
      extension(OID.subjectKeyIdentifier, false, der.octetString(keyIdentifier(leafSpki))),
      extension(OID.authorityKeyIdentifier, false, der.sequence(der.implicit(0, caKeyId))),
    ],
  });
  return {
    caPem: pem('CERTIFICATE', caCert),
    certPem: pem('CERTIFICATE', leafCert),
    keyPem: leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

interface CertificateFields {
  issuer: Buffer;
  subject: Buffer;
  spki: Buffer;
  notBefore: Date;
  notAfter: Date;
  signingKey: KeyObject;
  extensions: Buffer[];
}

function certificate(f: CertificateFields): Buffer {
  const algorithm = der.sequence(der.oid(OID.ecdsaWithSha256));
  // 16 random bytes with the top bit clear: positive, unique, within the 20 octets RFC 5280 allows.
  const serial = randomBytes(16);
  serial[0] = (serial[0] & 0x7f) | 0x40;
  const tbs = der.sequence(
    der.explicit(0, der.integer(2)), // v3
    der.integer(serial),
    algorithm,
    f.issuer,
    der.sequence(der.time(f.notBefore), der.time(f.notAfter)),
    f.subject,
    f.spki,
    der.explicit(3, der.sequence(...f.extensions)),
  );
  const signature = sign('sha256', tbs, { key: f.signingKey, dsaEncoding: 'der' });
  return der.sequence(tbs, algorithm, der.bitString(signature));
}

function name(commonName: string, organization?: string): Buffer {
  const rdn = (oid: string, value: string): Buffer => der.set(der.sequence(der.oid(oid), der.utf8String(value)));
  return organization ? der.sequence(rdn(OID.organization, organization), rdn(OID.commonName, commonName)) : der.sequence(rdn(OID.commonName, commonName));
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  // DER omits a BOOLEAN that equals its DEFAULT FALSE.
  return der.sequence(der.oid(oid), ...(critical ? [der.boolean(true)] : []), der.octetString(value));
}

function spkiOf(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

/** RFC 7093 method 1, applied to the whole SubjectPublicKeyInfo: any stable unique id will do. */
function keyIdentifier(spki: Buffer): Buffer {
  return createHash('sha256').update(spki).digest().subarray(0, 20);
}

function pem(label: string, body: Buffer): string {
  const b64 = body.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
