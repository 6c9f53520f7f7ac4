/**
 * For the webhook's unit tests: the few API calls the webhook makes (GET, POST, PUT with
 * resourceVersion, JSON PATCH), served from a map with the API server's status codes. The real API
 * server is exercised by the integration tests.
 */
import { KubeApiError, type RequestOptions } from '../../kube/kubeClient.js';
import { applyJsonPatch, type JsonPatchOp } from '../jsonPatch.js';
import type { KubeRequester } from '../webhookTls.js';

interface StoredObject {
  metadata?: { name?: string; resourceVersion?: string };
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
  /** Runs before each request is served, e.g. to let "another manager" write first. */
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
        if (opts.patchType !== 'json') throw new KubeApiError(415, 'UnsupportedMediaType', 'this fake takes JSON patches only');
        let patched: StoredObject;
        try {
          patched = applyJsonPatch(existing, opts.body as JsonPatchOp[]);
        } catch (e) {
          throw new KubeApiError(422, 'Invalid', e instanceof Error ? e.message : String(e));
        }
        return this.put(path, patched) as T;
      }
      default:
        throw new KubeApiError(405, 'MethodNotAllowed', `${call.method} is not served here`);
    }
  }
}
