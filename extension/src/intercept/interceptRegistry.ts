/**
 * What the daemon told us when each of our intercepts started: the container's environment and
 * the pod, which DaemonStatus does not repeat. Kept in memory only (it may hold secrets), and
 * pruned to what the daemon still holds.
 */
import type { InterceptInfo, InterceptResult } from '../../../protocol/src/daemon';

export class InterceptRegistry {
  private readonly results = new Map<string, InterceptResult>();

  remember(result: InterceptResult): void {
    this.results.set(result.intercept.name, result);
  }

  get(name: string): InterceptResult | undefined {
    return this.results.get(name);
  }

  forget(name: string): void {
    this.results.delete(name);
  }

  /** Forgets intercepts the daemon no longer holds (left elsewhere, or the daemon restarted). */
  sync(held: readonly InterceptInfo[]): void {
    for (const name of [...this.results.keys()]) if (!held.some((i) => i.name === name)) this.results.delete(name);
  }
}
