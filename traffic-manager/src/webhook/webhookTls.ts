/**
 * The webhook's TLS material, which the manager makes and renews itself so an install needs no
 * cert-manager and no certificate from the workstation. It lives in a Secret in the manager's
 * namespace, so a restarted (or second) manager serves the same certificate, and its CA goes into
 * the MutatingWebhookConfiguration's caBundle, the one field of that object the manager owns (the
 * daemon's server-side apply leaves it out).
 *
 * Renewal two thirds into the validity makes a new CA and certificate. The new caBundle keeps the
 * previous CA while it is valid, because the API server sees the new bundle a little after we
 * write it and managers being rolled may still present the previous certificate.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { MutatingWebhookConfiguration } from 'kubernetes-types/admissionregistration/v1';
import type { Secret } from 'kubernetes-types/core/v1';
import { KubeApiError, type KubeRequester } from '../kube/kubeClient.js';
import type { Logger } from '../../../common/src/log/jsonLogger.js';
import { MANAGER_NAME, WEBHOOK_TLS_SECRET } from '../../../common/src/install/managerManifests.js';
import { type JsonPatchOp, jsonPointer } from './jsonPatch.js';
import { issueWebhookCertificates } from './x509.js';

export interface WebhookTlsMaterial {
  certPem: string;
  keyPem: string;
  /** The CAs the API server is to trust: the one that signed certPem, then a still-valid predecessor. */
  caBundlePem: string;
  notBefore: Date;
  notAfter: Date;
  /** When a replacement is due. */
  renewAt: Date;
}

export interface WebhookTlsOptions {
  kube: KubeRequester;
  /** The manager's namespace: the Secret's and the Service's. */
  namespace: string;
  /** The Service the API server dials. */
  serviceName: string;
  webhookConfigName: string;
  logger: Logger;
  secretName?: string;
  clusterDomain?: string;
  now?: () => Date;
  /** Validity of a new certificate; a year by default. */
  lifetimeMs?: number;
}

const DAY_MS = 24 * 3600_000;
export const DEFAULT_CERT_LIFETIME_MS = 365 * DAY_MS;
/** Certificates start a little in the past, for API servers whose clock is behind ours. */
const BACKDATE_MS = 5 * 60_000;
/** Also the field manager recorded for caBundle, so `kubectl get -o yaml --show-managed-fields` says who owns it. */
const FIELD_MANAGER = 'telepath-traffic-manager';
const WRITE_ATTEMPTS = 3;

export class WebhookTls {
  private readonly now: () => Date;
  private readonly secretName: string;

  constructor(private readonly options: WebhookTlsOptions) {
    this.now = options.now ?? (() => new Date());
    this.secretName = options.secretName ?? WEBHOOK_TLS_SECRET;
  }

  /** The names the API server may use for the Service; it dials `<service>.<namespace>.svc`. */
  dnsNames(): string[] {
    const { serviceName: s, namespace: ns, clusterDomain } = this.options;
    return [`${s}.${ns}.svc`, `${s}.${ns}.svc.${clusterDomain ?? 'cluster.local'}`, `${s}.${ns}`];
  }

  /**
   * The material in the Secret when it is usable and not yet due for renewal; otherwise new
   * material, written to the Secret first (create, or update guarded by resourceVersion, so of two
   * managers racing, both end up serving what the winner wrote).
   */
  async ensure(signal?: AbortSignal): Promise<WebhookTlsMaterial> {
    const { kube, logger, namespace } = this.options;
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
    for (let attempt = 1; attempt <= WRITE_ATTEMPTS; attempt++) {
      const secret = await this.readSecret(`${path}/${encodeURIComponent(this.secretName)}`, signal);
      const now = this.now();
      const found = secret ? inspectSecret(secret, this.dnsNames(), now) : undefined;
      if (found?.material) return found.material;
      const fresh = await this.issue(now, found?.previousCaPem);
      const body = this.secretObject(fresh, secret);
      try {
        if (secret) {
          await kube.request(`${path}/${encodeURIComponent(this.secretName)}`, { method: 'PUT', body, signal });
        } else {
          await kube.request(path, { method: 'POST', body, signal });
        }
      } catch (e) {
        if (e instanceof KubeApiError && e.status === 409) {
          logger.debug('the webhook Secret changed while we wrote it; reading it again', { attempt });
          continue;
        }
        throw e;
      }
      logger.info('wrote a new webhook certificate', {
        secret: `${namespace}/${this.secretName}`,
        reason: found?.problem ?? 'there was no Secret',
        notAfter: fresh.notAfter.toISOString(),
        renewAt: fresh.renewAt.toISOString(),
      });
      return fresh;
    }
    throw new Error(`the Secret ${namespace}/${this.secretName} kept changing while the webhook certificate was being replaced`);
  }

  /**
   * Puts `caBundlePem` into every webhook of the configuration. Returns false when they all had it.
   * A JSON patch rather than a merge patch, which would replace the whole webhooks list; each
   * index is guarded by a test of the webhook's name.
   */
  async publishCaBundle(caBundlePem: string, signal?: AbortSignal): Promise<boolean> {
    const { kube, webhookConfigName } = this.options;
    const path = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${encodeURIComponent(webhookConfigName)}`;
    let config: MutatingWebhookConfiguration;
    try {
      config = await kube.request<MutatingWebhookConfiguration>(path, { signal });
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 404) {
        throw new Error(`the MutatingWebhookConfiguration ${webhookConfigName} does not exist (yet); agents cannot be injected until it does`);
      }
      throw e;
    }
    const want = Buffer.from(caBundlePem, 'utf8');
    const ops: JsonPatchOp[] = [];
    for (const [i, w] of (config.webhooks ?? []).entries()) {
      if (w.clientConfig.caBundle !== undefined && Buffer.from(w.clientConfig.caBundle, 'base64').equals(want)) continue;
      ops.push({ op: 'test', path: jsonPointer('webhooks', i, 'name'), value: w.name });
      ops.push({ op: 'add', path: jsonPointer('webhooks', i, 'clientConfig', 'caBundle'), value: want.toString('base64') });
    }
    if (ops.length === 0) return false;
    await kube.request(path, { method: 'PATCH', patchType: 'json', body: ops, query: { fieldManager: FIELD_MANAGER }, signal });
    this.options.logger.info('published the webhook CA bundle', { webhookConfiguration: webhookConfigName, webhooks: ops.length / 2 });
    return true;
  }

  private async readSecret(path: string, signal?: AbortSignal): Promise<Secret | undefined> {
    try {
      return await this.options.kube.request<Secret>(path, { signal });
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  private async issue(now: Date, previousCaPem: string | undefined): Promise<WebhookTlsMaterial> {
    const notBefore = new Date(Math.floor((now.getTime() - BACKDATE_MS) / 1000) * 1000);
    const notAfter = new Date(notBefore.getTime() + (this.options.lifetimeMs ?? DEFAULT_CERT_LIFETIME_MS));
    const issued = await issueWebhookCertificates({
      dnsNames: this.dnsNames(),
      caCommonName: `telepath webhook CA (${this.options.namespace})`,
      notBefore,
      notAfter,
    });
    return {
      certPem: issued.certPem,
      keyPem: issued.keyPem,
      caBundlePem: issued.caPem + (previousCaPem ?? ''),
      notBefore,
      notAfter,
      renewAt: renewalTime(notBefore, notAfter),
    };
  }

  private secretObject(m: WebhookTlsMaterial, existing: Secret | undefined): Secret {
    const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: this.secretName,
        namespace: this.options.namespace,
        labels: { 'app.kubernetes.io/name': MANAGER_NAME, 'app.kubernetes.io/part-of': 'telepath' },
        ...(existing?.metadata?.resourceVersion ? { resourceVersion: existing.metadata.resourceVersion } : {}),
      },
      // The type of an existing Secret cannot change.
      type: existing?.type ?? 'kubernetes.io/tls',
      data: { 'tls.crt': b64(m.certPem), 'tls.key': b64(m.keyPem), 'ca.crt': b64(m.caBundlePem) },
    };
  }
}

/** Two thirds into the validity, as kubelet and cert-manager renew. */
export function renewalTime(notBefore: Date, notAfter: Date): Date {
  return new Date(notBefore.getTime() + Math.floor(((notAfter.getTime() - notBefore.getTime()) * 2) / 3));
}

interface Inspection {
  /** Set when the Secret can be served as it is. */
  material?: WebhookTlsMaterial;
  /** Why it cannot. */
  problem?: string;
  /** The CA that signed the Secret's certificate, while it is valid: the next bundle keeps it. */
  previousCaPem?: string;
}

/** Whether the Secret holds a certificate for `dnsNames`, its key, and its CA, valid well beyond `now`. */
export function inspectSecret(secret: Secret, dnsNames: string[], now: Date): Inspection {
  const text = (key: string): string | undefined => {
    const v = secret.data?.[key];
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
  };
  const certPem = text('tls.crt');
  const keyPem = text('tls.key');
  const bundlePem = text('ca.crt');
  if (!certPem || !keyPem || !bundlePem) return { problem: 'the Secret lacks tls.crt, tls.key or ca.crt' };
  const t = now.getTime();
  let cert: X509Certificate;
  let live: { pem: string; cert: X509Certificate }[];
  try {
    cert = new X509Certificate(certPem);
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return { problem: 'tls.key is not the key of tls.crt' };
    live = splitPem(bundlePem)
      .map((pem) => ({ pem, cert: new X509Certificate(pem) }))
      .filter((ca) => validity(ca.cert).notBefore <= t && t < validity(ca.cert).notAfter);
    validity(cert);
  } catch (e) {
    return { problem: `the Secret's certificates cannot be read: ${e instanceof Error ? e.message : String(e)}` };
  }
  const issuer = live.find((ca) => ca.cert.ca && cert.checkIssued(ca.cert) && cert.verify(ca.cert.publicKey));
  const previousCaPem = issuer?.pem;
  if (!issuer) return { problem: 'no valid CA in ca.crt signed tls.crt' };
  const names = new Set(sanDnsNames(cert));
  const missing = dnsNames.filter((n) => !names.has(n));
  if (missing.length > 0) return { problem: `the certificate does not name ${missing.join(', ')}`, previousCaPem };
  const { notBefore, notAfter } = validity(cert);
  const renewAt = renewalTime(new Date(notBefore), new Date(notAfter));
  if (t < notBefore) return { problem: `the certificate is not valid before ${new Date(notBefore).toISOString()}`, previousCaPem };
  if (t >= notAfter) return { problem: `the certificate expired at ${new Date(notAfter).toISOString()}` };
  if (t >= renewAt.getTime()) return { problem: `the certificate was due for renewal at ${renewAt.toISOString()}`, previousCaPem };
  // The signing CA first, then others still valid (a predecessor kept through a renewal).
  const bundle = [issuer, ...live.filter((ca) => ca !== issuer)].map((ca) => ca.pem).join('');
  return { material: { certPem, keyPem, caBundlePem: bundle, notBefore: new Date(notBefore), notAfter: new Date(notAfter), renewAt } };
}

function splitPem(bundle: string): string[] {
  const blocks = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error('ca.crt holds no certificate');
  return blocks.map((b) => `${b}\n`);
}

function validity(c: X509Certificate): { notBefore: number; notAfter: number } {
  const notBefore = Date.parse(c.validFrom);
  const notAfter = Date.parse(c.validTo);
  if (Number.isNaN(notBefore) || Number.isNaN(notAfter)) throw new Error(`unreadable validity ${c.validFrom} – ${c.validTo}`);
  return { notBefore, notAfter };
}

/** The DNS names of a certificate's subjectAltName ("DNS:a, DNS:b, IP Address:…"). */
export function sanDnsNames(c: X509Certificate): string[] {
  return (c.subjectAltName ?? '')
    .split(', ')
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
}
