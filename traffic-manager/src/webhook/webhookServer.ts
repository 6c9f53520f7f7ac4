/**
 * The agent-injection webhook as the API server sees it: HTTPS (the API server calls webhooks only
 * over TLS, verified against the configuration's caBundle) on TELEPATH_WEBHOOK_PORT, answering
 * POST /mutate-pods with an AdmissionReview. startWebhook also keeps the certificate and caBundle
 * current for as long as the manager runs.
 */
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { abortableSleep, errorText } from '../kube/collectionWatch.js';
import type { Logger } from '../../../common/src/log/jsonLogger.js';
import { WEBHOOK_PATH } from '../../../common/src/install/managerManifests.js';
import { BadAdmissionReview, review, type ReviewOptions } from './admission.js';
import type { KubeRequester } from '../kube/kubeClient.js';
import { WebhookTls, type WebhookTlsMaterial } from './webhookTls.js';

/** AdmissionReviews carry one pod; the API server itself caps request bodies at 3 MiB. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface ServingCertificate {
  certPem: string;
  keyPem: string;
}

/** The HTTPS server alone; `handle` answers a parsed request body. */
export class WebhookServer {
  private readonly server: https.Server;

  constructor(
    tls: ServingCertificate,
    private readonly handle: (body: unknown) => unknown,
    private readonly logger: Logger,
    private readonly maxBodyBytes = MAX_BODY_BYTES,
  ) {
    this.server = https.createServer({ cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.2' }, (req, res) => this.serve(req, res));
    // The API server gives up after the webhook's timeoutSeconds (5) anyway.
    this.server.requestTimeout = 10_000;
    this.server.headersTimeout = 5_000;
    this.server.on('tlsClientError', (e) => this.logger.debug('TLS handshake failed', { error: e.message }));
  }

  /** Resolves with the bound port. Without `host`, all addresses (IPv6 and IPv4 where there is IPv6). */
  listen(port: number, host?: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.removeListener('error', reject);
        const a = this.server.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  }

  /** New connections present `tls`; open ones keep the certificate they were made with. */
  setCertificate(tls: ServingCertificate): void {
    this.server.setSecureContext({ cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.2' });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '').split('?')[0];
    if (path !== WEBHOOK_PATH) return reply(res, 404, { error: `not found: ${path}; this server answers POST ${WEBHOOK_PATH}` });
    if (req.method !== 'POST') return reply(res, 405, { error: `${req.method} is not allowed; use POST` }, { allow: 'POST' });
    const tooBig = (): void => reply(res, 413, { error: `the request body exceeds ${this.maxBodyBytes} bytes` }, { connection: 'close' });
    if (Number(req.headers['content-length'] ?? 0) > this.maxBodyBytes) return tooBig();
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > this.maxBodyBytes) {
        refused = true;
        chunks.length = 0;
        tooBig();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', (e) => this.logger.debug('request stream failed', { error: e.message }));
    req.on('end', () => {
      if (refused) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (e) {
        return reply(res, 400, { error: `the body is not JSON: ${errorText(e)}` });
      }
      try {
        reply(res, 200, this.handle(body));
      } catch (e) {
        if (e instanceof BadAdmissionReview) return reply(res, 400, { error: e.message });
        this.logger.error('cannot answer an admission review', { error: errorText(e) });
        reply(res, 500, { error: errorText(e) });
      }
    });
  }
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

export interface StartWebhookOptions {
  kube: KubeRequester;
  /** The manager's namespace. */
  namespace: string;
  /** The manager's Service, which the webhook configuration points at. */
  serviceName: string;
  webhookConfigName: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** The agent's image. */
  image: string;
  /** Called for each pod the agent is injected into, with its workload. */
  onInjected?: ReviewOptions['onInjected'];
  /** host:port of the manager's gRPC service, for the agents. */
  managerAddress: string;
  logger: Logger;
  /** Aborting stops the webhook, like close(). */
  signal: AbortSignal;
  /** Listen address; all addresses when absent. */
  host?: string;
  clusterDomain?: string;
  secretName?: string;
  now?: () => Date;
  /** Validity of new certificates. */
  certLifetimeMs?: number;
  /** How often the Secret and the caBundle are checked (and healed); 5 minutes by default. */
  checkIntervalMs?: number;
  /** How long the API server gets to see a new CA before the server presents a certificate it signed. */
  caPropagationMs?: number;
}

export interface WebhookHandle {
  port: number;
  /** True once the caBundle has been seen or written: until then the API server cannot call us. */
  caBundlePublished(): boolean;
  close(): Promise<void>;
}

/**
 * Ensures the certificate (reading or writing the Secret), starts the HTTPS server, then keeps
 * the caBundle and certificate current in the background. Rejects when the Secret can be neither
 * read nor written (RBAC), since no webhook can run without it. The webhook configuration need
 * not exist yet (the daemon applies it after the Deployment): publishing is retried.
 */
export async function startWebhook(options: StartWebhookOptions): Promise<WebhookHandle> {
  const { logger, signal } = options;
  const checkIntervalMs = options.checkIntervalMs ?? 5 * 60_000;
  const tls = new WebhookTls({
    kube: options.kube,
    namespace: options.namespace,
    serviceName: options.serviceName,
    webhookConfigName: options.webhookConfigName,
    logger,
    secretName: options.secretName,
    clusterDomain: options.clusterDomain,
    now: options.now,
    lifetimeMs: options.certLifetimeMs,
  });
  let serving: WebhookTlsMaterial = await tls.ensure(signal);
  const server = new WebhookServer(serving, (body) => review(body, { image: options.image, managerAddress: options.managerAddress, logger, onInjected: options.onInjected }), logger);
  const port = await server.listen(options.port, options.host);
  logger.info('webhook listening', { port, notAfter: serving.notAfter.toISOString(), renewAt: serving.renewAt.toISOString() });

  const stop = new AbortController();
  let published = false;
  const upkeep = async (): Promise<void> => {
    const next = await tls.ensure(stop.signal);
    // The API server must trust the new CA before it is shown a certificate signed by it.
    await tls.publishCaBundle(next.caBundlePem, stop.signal);
    published = true;
    if (next.certPem === serving.certPem) return;
    await abortableSleep(options.caPropagationMs ?? 30_000, stop.signal);
    if (stop.signal.aborted) return;
    server.setCertificate(next);
    serving = next;
    logger.info('serving a renewed webhook certificate', { notAfter: next.notAfter.toISOString(), renewAt: next.renewAt.toISOString() });
  };
  const loop = async (): Promise<void> => {
    const firstRetryMs = Math.min(1000, checkIntervalMs);
    let retryMs = firstRetryMs;
    while (!stop.signal.aborted) {
      try {
        await upkeep();
        retryMs = firstRetryMs;
        await abortableSleep(checkIntervalMs, stop.signal);
      } catch (e) {
        if (stop.signal.aborted) return;
        logger.warn('webhook TLS upkeep failed; retrying', { error: errorText(e), retryMs });
        await abortableSleep(retryMs, stop.signal);
        retryMs = Math.min(retryMs * 2, checkIntervalMs);
      }
    }
  };
  const looping = loop();

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stop.abort();
      await looping;
      await server.close();
      logger.info('webhook stopped');
    })();
    return closing;
  };
  if (signal.aborted) await close();
  else signal.addEventListener('abort', () => void close(), { once: true });
  return { port, caBundlePublished: () => published, close };
}
