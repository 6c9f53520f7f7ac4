/**
 * Runs the tree's daemon requests a few at a time: each `list` costs the daemon several API server
 * calls, so a refresh of many expanded namespaces must trickle, not burst. What the user just
 * expanded goes before background refreshes.
 */
import type { CancellationToken } from 'vscode-jsonrpc';
import { CancelledError } from '../util/cancellation.js';
import type { Disposable } from '../util/disposables.js';
import { Emitter, type Event } from '../util/emitter.js';

interface Job {
  run: () => Promise<void>;
  token?: CancellationToken;
  cancelled: () => void;
}

export class LoadQueue implements Disposable {
  private running = 0;
  private readonly urgent: Job[] = [];
  private readonly background: Job[] = [];
  private readonly busyChanged = new Emitter<boolean>();
  /** True when the first job is queued, false when the last one has finished. */
  readonly onDidChangeBusy: Event<boolean> = this.busyChanged.event;
  private idleWaiters: (() => void)[] = [];
  private reportedBusy = false;
  private disposed = false;

  constructor(readonly concurrency: number) {}

  get busy(): boolean {
    return this.running + this.urgent.length + this.background.length > 0;
  }

  /** How many jobs run now (at most `concurrency`). */
  get inFlight(): number {
    return this.running;
  }

  /**
   * Runs `job` when a slot is free; urgent jobs overtake background ones. A job whose token is
   * cancelled before its turn never runs and rejects with CancelledError.
   */
  run<T>(job: () => Promise<T>, options: { urgent?: boolean; token?: CancellationToken } = {}): Promise<T> {
    if (this.disposed) return Promise.reject(new CancelledError());
    return new Promise<T>((resolve, reject) => {
      (options.urgent ? this.urgent : this.background).push({
        run: () => {
          try {
            return job().then(resolve, reject);
          } catch (e) {
            reject(e);
            return Promise.resolve();
          }
        },
        ...(options.token ? { token: options.token } : {}),
        cancelled: () => reject(new CancelledError()),
      });
      if (!this.reportedBusy) {
        this.reportedBusy = true;
        this.busyChanged.fire(true);
      }
      this.next();
    });
  }

  /** Resolves once nothing runs or waits. */
  whenIdle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  dispose(): void {
    this.disposed = true;
    for (const job of this.urgent.splice(0).concat(this.background.splice(0))) job.cancelled();
    this.settle();
    this.busyChanged.dispose();
  }

  private next(): void {
    while (this.running < this.concurrency) {
      const job = this.urgent.shift() ?? this.background.shift();
      if (!job) break;
      if (job.token?.isCancellationRequested) {
        job.cancelled();
        continue;
      }
      this.running++;
      void job.run().finally(() => {
        this.running--;
        this.next();
      });
    }
    this.settle();
  }

  private settle(): void {
    if (this.busy || !this.reportedBusy) return;
    this.reportedBusy = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
    this.busyChanged.fire(false);
  }
}
