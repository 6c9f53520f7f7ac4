/**
 * Which debug sessions use which intercept, so that the intercept is left when the last session
 * that uses it ends — and only when a Telepath debug session started it, not when it reused one
 * the user had started by hand.
 */
export class DebugSessionTracker {
  private next = 1;
  private readonly sessions = new Map<string, string>();
  private readonly intercepts = new Map<string, { refs: number; started: boolean }>();

  /** Returns the key to put in the session's configuration. */
  add(intercept: string, started: boolean): string {
    const key = `telepath-${this.next++}`;
    this.sessions.set(key, intercept);
    const entry = this.intercepts.get(intercept);
    if (entry) {
      entry.refs += 1;
      entry.started ||= started;
    } else {
      this.intercepts.set(intercept, { refs: 1, started });
    }
    return key;
  }

  /** A session ended: the intercept to leave, if this was its last session and we started it. */
  end(key: unknown): string | undefined {
    if (typeof key !== 'string') return undefined;
    const intercept = this.sessions.get(key);
    if (intercept === undefined) return undefined;
    this.sessions.delete(key);
    const entry = this.intercepts.get(intercept)!;
    entry.refs -= 1;
    if (entry.refs > 0) return undefined;
    this.intercepts.delete(intercept);
    return entry.started ? intercept : undefined;
  }

  /** The intercept was left (or replaced) by other means: its sessions no longer own it. */
  released(intercept: string): void {
    const entry = this.intercepts.get(intercept);
    if (entry) entry.started = false;
  }
}
