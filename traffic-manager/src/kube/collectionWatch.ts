/**
 * List-then-watch of one collection, the informer pattern reduced to what the manager needs: the
 * current set of objects by name (or just the part of each the caller keeps), kept up to date,
 * with a callback after every change. A watch that the server closes (timeoutSeconds) resumes
 * from the last resourceVersion; 410 Gone, or any other failure after a backoff, lists again.
 */
import type { Logger } from '../../../common/src/log/jsonLogger.js';
import { KubeApiError, type RequestOptions, type WatchEventType } from './kubeClient.js';

/** The part of KubeClient that watching needs; tests pass a stub. */
export interface KubeApi {
  request<T>(path: string, opts?: RequestOptions): Promise<T>;
  watch<T extends { metadata?: { resourceVersion?: string } }>(
    path: string,
    resourceVersion: string,
    onEvent: (type: WatchEventType, object: T) => void,
    signal?: AbortSignal,
  ): Promise<string>;
}

export interface KubeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

interface KubeList<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

export interface CollectionWatchOptions<T extends KubeObject, S = T> {
  api: KubeApi;
  /** e.g. /api/v1/nodes */
  path: string;
  /** Objects the server leaves out of the list and the watch, e.g. status.phase!=Succeeded. */
  fieldSelector?: string;
  /**
   * What is kept of each object, the whole object by default. A large collection (every pod of
   * the cluster) keeps only what its caller needs, so memory does not grow with object size.
   */
  keep?: (object: T) => S;
  /**
   * Lists in pages of this many objects (limit/continue), each reduced by `keep` before the next
   * one is read, instead of in one answer that holds the whole collection at once.
   */
  pageSize?: number;
  logger: Logger;
  /** Called with every object after the first list and after each change. */
  onChange: (objects: S[]) => void;
  signal: AbortSignal;
  /** Backoff bounds after a failure; short in tests. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * Lists once and resolves with the objects (or rejects if that first list fails), then keeps
 * watching in the background until `signal` aborts.
 */
export async function watchCollection<T extends KubeObject, S = T>(options: CollectionWatchOptions<T, S>): Promise<S[]> {
  const { api, logger, onChange, signal } = options;
  // The watch takes no query of its own; the selector rides on the path (KubeClient appends).
  const path = options.fieldSelector ? `${options.path}?fieldSelector=${encodeURIComponent(options.fieldSelector)}` : options.path;
  const keep = options.keep ?? ((o: T) => o as unknown as S);
  const objects = new Map<string, S>();
  const keyOf = (o: T): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

  const list = async (): Promise<string> => {
    const listed = new Map<string, S>();
    let page: KubeList<T> | undefined;
    do {
      const query = options.pageSize ? { limit: options.pageSize, continue: page?.metadata?.continue } : undefined;
      page = await api.request<KubeList<T>>(path, { signal, query });
      for (const o of page.items) listed.set(keyOf(o), keep(o));
    } while (options.pageSize && page.metadata?.continue);
    // Only a complete list replaces what is known; a page that fails leaves the old state.
    objects.clear();
    for (const [k, v] of listed) objects.set(k, v);
    onChange([...objects.values()]);
    return page.metadata?.resourceVersion ?? '';
  };

  let resourceVersion = await list();

  const loop = async (): Promise<void> => {
    let backoff = options.minBackoffMs ?? 1000;
    const maxBackoff = options.maxBackoffMs ?? 30_000;
    while (!signal.aborted) {
      const started = Date.now();
      try {
        resourceVersion = await api.watch<T>(
          path,
          resourceVersion,
          (type, object) => {
            if (type === 'ADDED' || type === 'MODIFIED') objects.set(keyOf(object), keep(object));
            else if (type === 'DELETED') objects.delete(keyOf(object));
            else return;
            onChange([...objects.values()]);
          },
          signal,
        );
        backoff = options.minBackoffMs ?? 1000;
        // A server that ends watches at once must not turn this loop into a busy one.
        if (Date.now() - started < 1000) await abortableSleep(backoff, signal);
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof KubeApiError && e.status === 410) {
          logger.debug('watch expired; listing again', { path });
        } else {
          logger.warn('watch failed; listing again after a pause', { path, error: errorText(e), backoffMs: backoff });
          await abortableSleep(backoff, signal);
          backoff = Math.min(maxBackoff, backoff * 2);
        }
        try {
          if (!signal.aborted) resourceVersion = await list();
        } catch (le) {
          if (!signal.aborted) logger.warn('list failed', { path, error: errorText(le) });
        }
      }
    }
  };
  void loop();
  return [...objects.values()];
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
