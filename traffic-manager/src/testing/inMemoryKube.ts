/**
 * For the manager's unit tests: the few API calls the webhook and the idle-agent removal make
 * (GET of an object or a list, POST, PUT with resourceVersion, JSON and merge PATCH, DELETE),
 * served from a map with the API server's status codes. The real API server is exercised by the
 * integration tests.
 */
import { KubeApiError, type KubeRequester, type RequestOptions } from '../kube/kubeClient.js';
import { applyJsonPatch, type JsonPatchOp } from '../webhook/jsonPatch.js';
import { applyMergePatch } from '../../../common/src/testing/mergePatch.js';

interface StoredObject {
  metadata?: { name?: string; resourceVersion?: string; labels?: Record<string, string> };
}

export interface RecordedCall {
  method: string;
  path: string;
  body?: unknown;
  patchType?: string;
  query?: RequestOptions['query'];
}

export class InMemoryKube implements KubeRequester {
  readonly objects = new Map<string, StoredObject>();
  readonly calls: RecordedCall[] = [];
  /** Runs before each request is served, e.g. to let "another manager" write first, or to refuse it (throw). */
  beforeRequest?: (call: RecordedCall) => void;
  private resourceVersion = 100;

  /** Stores `object` at `path` (the object's own URL path) with a fresh resourceVersion. */
  put<T extends StoredObject>(path: string, object: T): T {
    const stored = structuredClone(object);
    stored.metadata = { ...stored.metadata, resourceVersion: String(++this.resourceVersion) };
    this.objects.set(path, stored);
    return structuredClone(stored);
  }

  get<T>(path: string): T | undefined {
    const o = this.objects.get(path);
    return o === undefined ? undefined : (structuredClone(o) as T);
  }

  writes(): RecordedCall[] {
    return this.calls.filter((c) => c.method !== 'GET');
  }

  async request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    const call: RecordedCall = { method: opts.method ?? 'GET', path, body: opts.body, patchType: opts.patchType, query: opts.query };
    this.calls.push(call);
    this.beforeRequest?.(call);
    await Promise.resolve();
    const existing = this.objects.get(path);
    switch (call.method) {
      case 'GET':
        if (isCollection(path)) return { items: this.list(path, opts.query?.labelSelector) } as T;
        if (!existing) throw new KubeApiError(404, 'NotFound', `${path} not found`);
        return structuredClone(existing) as T;
      case 'POST': {
        const body = opts.body as StoredObject;
        const at = `${path}/${body.metadata?.name ?? ''}`;
        if (this.objects.has(at)) throw new KubeApiError(409, 'AlreadyExists', `${at} already exists`);
        return this.put(at, body) as T;
      }
      case 'PUT': {
        const body = opts.body as StoredObject;
        if (!existing) throw new KubeApiError(404, 'NotFound', `${path} not found`);
        if (body.metadata?.resourceVersion !== existing.metadata?.resourceVersion) {
          throw new KubeApiError(409, 'Conflict', 'the object has been modified; please apply your changes to the latest version and try again');
        }
        return this.put(path, body) as T;
      }
      case 'PATCH': {
        if (!existing) throw new KubeApiError(404, 'NotFound', `${path} not found`);
        if (opts.patchType === 'strategic') throw new KubeApiError(415, 'UnsupportedMediaType', 'this fake takes JSON and merge patches only');
        if (opts.patchType !== 'json') return this.put(path, mergePatched(existing, opts.body as StoredObject)) as T;
        let patched: StoredObject;
        try {
          patched = applyJsonPatch(existing, opts.body as JsonPatchOp[]);
        } catch (e) {
          throw new KubeApiError(422, 'Invalid', e instanceof Error ? e.message : String(e));
        }
        return this.put(path, patched) as T;
      }
      case 'DELETE':
        if (!existing) throw new KubeApiError(404, 'NotFound', `${path} not found`);
        this.objects.delete(path);
        return { kind: 'Status', status: 'Success' } as T;
      default:
        throw new KubeApiError(405, 'MethodNotAllowed', `${call.method} is not served here`);
    }
  }

  /** The objects of a collection path, in one namespace or (without one) in all; `a=b,c=d` selectors only. */
  private list(path: string, labelSelector: string | number | boolean | undefined): StoredObject[] {
    const { prefix, namespace, resource } = collectionParts(path);
    const wanted = String(labelSelector ?? '')
      .split(',')
      .filter(Boolean)
      .map((term) => term.split('='));
    const out: StoredObject[] = [];
    for (const [at, o] of [...this.objects.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const m = /^(.*)\/namespaces\/([^/]+)\/([^/]+)\/[^/]+$/.exec(at);
      if (!m || m[1] !== prefix || m[3] !== resource || (namespace !== undefined && m[2] !== namespace)) continue;
      if (wanted.every(([k, v]) => o.metadata?.labels?.[k!] === v)) out.push(structuredClone(o));
    }
    return out;
  }
}

/**
 * `/api/v1/namespaces/N/services` and `/apis/apps/v1/deployments` are lists; an object's path has
 * its name after the resource.
 */
function isCollection(path: string): boolean {
  const rest = path.replace(/^\/api\/v1\/|^\/apis\/[^/]+\/[^/]+\//, '').split('/');
  return rest.length === 1 || (rest[0] === 'namespaces' && rest.length === 3);
}

function collectionParts(path: string): { prefix: string; namespace?: string; resource: string } {
  const m = /^(\/api\/v1|\/apis\/[^/]+\/[^/]+)\/(?:namespaces\/([^/]+)\/)?([^/]+)$/.exec(path)!;
  return { prefix: m[1]!, ...(m[2] ? { namespace: m[2] } : {}), resource: m[3]! };
}

/** As the API server takes a merge patch: a resourceVersion in it must be the object's (409 otherwise). */
function mergePatched(existing: StoredObject, patch: StoredObject): StoredObject {
  const expected = patch.metadata?.resourceVersion;
  if (expected !== undefined && expected !== existing.metadata?.resourceVersion) {
    throw new KubeApiError(409, 'Conflict', 'the object has been modified; please apply your changes to the latest version and try again');
  }
  return applyMergePatch(existing, patch);
}
