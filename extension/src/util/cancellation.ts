/**
 * Deadlines and cancellable waits on vscode-jsonrpc's CancellationToken (which vscode's own token
 * satisfies), so async work never rests on a bare setTimeout.
 */
import { CancellationTokenSource, type CancellationToken } from 'vscode-jsonrpc';
import type { Disposable } from './disposables.js';

export class CancelledError extends Error {
  constructor(message = 'cancelled') {
    super(message);
    this.name = 'CancelledError';
  }
}

export class DeadlineError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not finish within ${Math.round(ms / 1000)} s`);
    this.name = 'DeadlineError';
  }
}

/** A token that is cancelled when `parent` is, or after `ms`; dispose it when the work is done. */
export function withDeadline(ms: number, parent?: CancellationToken): { token: CancellationToken; expired(): boolean } & Disposable {
  const source = new CancellationTokenSource();
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    source.cancel();
  }, ms);
  const sub = parent?.onCancellationRequested(() => source.cancel());
  if (parent?.isCancellationRequested) source.cancel();
  return {
    token: source.token,
    expired: () => expired,
    dispose: () => {
      clearTimeout(timer);
      sub?.dispose();
      source.dispose();
    },
  };
}

/** Resolves after `ms`; rejects with CancelledError as soon as `token` is cancelled. */
export function delay(ms: number, token?: CancellationToken): Promise<void> {
  return new Promise((resolve, reject) => {
    if (token?.isCancellationRequested) return reject(new CancelledError());
    const timer = setTimeout(() => {
      sub?.dispose();
      resolve();
    }, ms);
    const sub = token?.onCancellationRequested(() => {
      clearTimeout(timer);
      sub?.dispose();
      reject(new CancelledError());
    });
  });
}

/** Bounded exponential backoff: initial, doubled each step, never above max. */
export function backoffDelays(initialMs: number, maxMs: number): () => number {
  let next = initialMs;
  return () => {
    const current = next;
    next = Math.min(next * 2, maxMs);
    return current;
  };
}
