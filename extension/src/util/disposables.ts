/**
 * Disposal without vscode: the same shape as vscode.Disposable, so either kind fits either place.
 * A DisposableList disposes its children in reverse order, and anything added after it was
 * disposed is disposed at once (as vscode-js-debug's DisposableList does).
 */
export interface Disposable {
  dispose(): void;
}

export function toDisposable(dispose: () => void): Disposable {
  let done = false;
  return {
    dispose: () => {
      if (done) return;
      done = true;
      dispose();
    },
  };
}

export class DisposableList implements Disposable {
  private items: Disposable[] = [];
  private disposed = false;

  get isDisposed(): boolean {
    return this.disposed;
  }

  add<T extends Disposable>(item: T): T {
    if (this.disposed) item.dispose();
    else this.items.push(item);
    return item;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const items = this.items.reverse();
    this.items = [];
    for (const item of items) {
      try {
        item.dispose();
      } catch {
        // One child failing to dispose must not keep the others alive.
      }
    }
  }
}
