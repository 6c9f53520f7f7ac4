/**
 * A thin Kubernetes API client for the in-cluster programs (manager and agent). They ship as one
 * bundle inside a ConfigMap (at most 1 MiB), where @kubernetes/client-node alone would take about
 * 1.9 MB; they need only a few GETs, PATCHes and watches, so plain REST over the service account
 * is enough. Types come from `kubernetes-types`.
 */
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { TokenReview, TokenReviewStatus } from 'kubernetes-types/authentication/v1';
import type { Pod } from 'kubernetes-types/core/v1';
import type {
  ResourceAttributes,
  SelfSubjectAccessReview,
  SubjectAccessReview,
  SubjectAccessReviewStatus,
} from 'kubernetes-types/authorization/v1';
import { SESSION_API_VERSION, SESSION_RESOURCE, TELEPATH_API_GROUP, type SessionObject, type SessionUser } from '../../../common/src/sessionIdentity.js';

export interface KubeClientConfig {
  /** e.g. https://10.96.0.1:443 */
  server: string;
  /** PEM of the cluster CA. */
  ca: string | Buffer;
  /** Returns the bearer token; called per request so rotated service-account tokens are used. */
  token: () => string;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  /** Content type of a PATCH body; JSON merge patch by default. */
  patchType?: 'merge' | 'strategic' | 'json';
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
}

/** The part of KubeClient that plain REST callers need; tests pass an in-memory one (testing/inMemoryKube.ts). */
export interface KubeRequester {
  request<T>(path: string, opts?: RequestOptions): Promise<T>;
}

/** A non-2xx answer of the API server, with its Status reason when it sent one. */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const PATCH_TYPES = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
} as const;

export class KubeClient implements KubeRequester {
  private readonly agent: https.Agent;
  private readonly url: URL;

  constructor(private readonly config: KubeClientConfig) {
    this.url = new URL(config.server);
    this.agent = new https.Agent({ ca: config.ca, keepAlive: true });
  }

  /** The pod's own service account, as every in-cluster program has it. */
  static inCluster(env: NodeJS.ProcessEnv = process.env): KubeClient {
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT ?? '443';
    if (!host) throw new Error('not running in a cluster: KUBERNETES_SERVICE_HOST is not set');
    const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
    return new KubeClient({
      server,
      ca: readFileSync(`${SA_DIR}/ca.crt`),
      token: () => readFileSync(`${SA_DIR}/token`, 'utf8').trim(),
    });
  }

  /** The namespace this pod runs in. */
  static podNamespace(): string {
    return readFileSync(`${SA_DIR}/namespace`, 'utf8').trim();
  }

  async request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    const method = opts.method ?? 'GET';
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = {
      accept: 'application/json',
      authorization: `Bearer ${this.config.token()}`,
    };
    if (body !== undefined) {
      headers['content-type'] = method === 'PATCH' ? PATCH_TYPES[opts.patchType ?? 'merge'] : 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const res = await this.send(method, this.pathWithQuery(path, opts.query), headers, opts.signal, body);
    const text = await readAll(res);
    if (res.statusCode! < 200 || res.statusCode! >= 300) throw apiError(res.statusCode!, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * Watches a collection from `resourceVersion` and calls `onEvent` for each event until the
   * server closes the stream or `signal` aborts. Resolves with the last resourceVersion seen,
   * so the caller can resume (or list again after a 410 Gone, which rejects with KubeApiError).
   */
  async watch<T extends { metadata?: { resourceVersion?: string } }>(
    path: string,
    resourceVersion: string,
    onEvent: (type: WatchEventType, object: T) => void,
    signal?: AbortSignal,
  ): Promise<string> {
    const query = { watch: 1, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 300 };
    const res = await this.send(
      'GET',
      this.pathWithQuery(path, query),
      { accept: 'application/json', authorization: `Bearer ${this.config.token()}` },
      signal,
    );
    if (res.statusCode !== 200) throw apiError(res.statusCode!, await readAll(res));
    let last = resourceVersion;
    let pending = '';
    for await (const chunk of res) {
      pending += (chunk as Buffer).toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (!line.trim()) continue;
        const event = JSON.parse(line) as { type: WatchEventType; object: T & { code?: number; reason?: string; message?: string } };
        if (event.type === 'ERROR') {
          const status = event.object;
          throw new KubeApiError(status.code ?? 500, status.reason ?? '', status.message ?? 'watch error');
        }
        last = event.object.metadata?.resourceVersion ?? last;
        onEvent(event.type, event.object);
      }
    }
    return last;
  }

  /**
   * What the API server says of someone else's `token` for these audiences (a TokenReview; needs
   * `create` on tokenreviews.authentication.k8s.io). The token is sent only to the API server.
   */
  async reviewToken(token: string, audiences: string[], signal?: AbortSignal): Promise<TokenReviewStatus> {
    const review: TokenReview = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } };
    const answer = await this.request<TokenReview>('/apis/authentication.k8s.io/v1/tokenreviews', { method: 'POST', body: review, signal });
    return answer.status ?? {};
  }

  /** The pod, or undefined when there is none of that name. */
  async getPod(namespace: string, name: string, signal?: AbortSignal): Promise<Pod | undefined> {
    try {
      return await this.request<Pod>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`, { signal });
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  /**
   * Whether `user` may do what `attributes` say (a SubjectAccessReview; needs `create` on
   * subjectaccessreviews.authorization.k8s.io). The API server runs its authorizers (RBAC, and
   * any webhook) for that user exactly as for a request of theirs.
   */
  async reviewAccess(user: SessionUser, attributes: ResourceAttributes, signal?: AbortSignal): Promise<SubjectAccessReviewStatus> {
    const review: SubjectAccessReview = {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { user: user.username, uid: user.uid, groups: user.groups, extra: user.extra, resourceAttributes: attributes },
    };
    const answer = await this.request<SubjectAccessReview>('/apis/authorization.k8s.io/v1/subjectaccessreviews', { method: 'POST', body: review, signal });
    return answer.status ?? { allowed: false };
  }

  /**
   * Whether the manager's own service account may do what `attributes` say (a
   * SelfSubjectAccessReview, which every authenticated account may make).
   */
  async reviewOwnAccess(attributes: ResourceAttributes, signal?: AbortSignal): Promise<SubjectAccessReviewStatus> {
    const review: SelfSubjectAccessReview = {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: attributes },
    };
    const answer = await this.request<SelfSubjectAccessReview>('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { method: 'POST', body: review, signal });
    return answer.status ?? { allowed: false };
  }

  /** A Session object (common/src/sessionIdentity.ts), or undefined when there is none of that name. */
  async getSession(namespace: string, name: string, signal?: AbortSignal): Promise<SessionObject | undefined> {
    try {
      return await this.request<SessionObject>(`${sessionsPath(namespace)}/${encodeURIComponent(name)}`, { signal });
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  async listSessions(namespace: string, signal?: AbortSignal): Promise<SessionObject[]> {
    return (await this.request<{ items?: SessionObject[] }>(sessionsPath(namespace), { signal })).items ?? [];
  }

  /** Deletes a Session object; one already gone counts as deleted. */
  async deleteSession(namespace: string, name: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.request(`${sessionsPath(namespace)}/${encodeURIComponent(name)}`, { method: 'DELETE', signal });
    } catch (e) {
      if (!(e instanceof KubeApiError && e.status === 404)) throw e;
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private pathWithQuery(path: string, query?: RequestOptions['query']): string {
    if (!query) return path;
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
    const s = q.toString();
    return s ? `${path}${path.includes('?') ? '&' : '?'}${s}` : path;
  }

  private send(
    method: string,
    path: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
    body?: string,
  ): Promise<import('node:http').IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          protocol: this.url.protocol,
          hostname: this.url.hostname.replace(/^\[|\]$/g, ''),
          port: this.url.port || 443,
          path,
          method,
          headers,
          agent: this.agent,
          signal,
        },
        resolve,
      );
      req.on('error', reject);
      req.end(body);
    });
  }
}

function sessionsPath(namespace: string): string {
  return `/apis/${TELEPATH_API_GROUP}/${SESSION_API_VERSION}/namespaces/${encodeURIComponent(namespace)}/${SESSION_RESOURCE}`;
}

async function readAll(res: AsyncIterable<unknown>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function apiError(status: number, text: string): KubeApiError {
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    return new KubeApiError(status, s.reason ?? '', s.message ?? text);
  } catch {
    return new KubeApiError(status, '', text || `HTTP ${status}`);
  }
}
