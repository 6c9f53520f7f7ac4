/**
 * A minimal event emitter for modules that must not import vscode; its Event has the shape of
 * vscode.Event (listener in, Disposable out), so UI code subscribes to it the same way.
 */
import type { Disposable } from './disposables.js';

export type Event<T> = (listener: (e: T) => void) => Disposable;

export class Emitter<T> implements Disposable {
  private listeners = new Set<(e: T) => void>();

  readonly event: Event<T> = (listener) => {
    // A wrapper, so that one listener added twice is two subscriptions.
    const wrapped = (e: T): void => listener(e);
    this.listeners.add(wrapped);
    return { dispose: () => void this.listeners.delete(wrapped) };
  };

  fire(e: T): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(e);
      } catch {
        // A failing listener must not starve the others.
      }
    }
  }

  dispose(): void {
    this.listeners.clear();
  }
}
