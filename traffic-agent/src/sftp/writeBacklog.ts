/**
 * The bytes of WRITE requests the agent holds: received, not yet on disk. sshfs sends writes
 * without a limit of its own and ssh2 opens the SSH window again as soon as data arrives, so a
 * client faster than the pod's disk piled them up in the agent's memory (a 100 MB copy into an
 * emptyDir took the agent to its 128 MiB limit and got it OOM-killed, and the mount with it).
 * Above `high` the server stops reading its connections, below `low` it reads again: TCP then
 * holds the client back, as it would for any slow server.
 */
export class WriteBacklog {
  private held = 0;
  private stopped = false;
  /** The most bytes held at once (for tests and the log). */
  peak = 0;

  constructor(
    private readonly high: number,
    private readonly low: number,
    /** Called with true to stop reading the connections, with false to read again. */
    private readonly stopReading: (stop: boolean) => void,
  ) {}

  take(bytes: number): void {
    this.held += bytes;
    this.peak = Math.max(this.peak, this.held);
    if (!this.stopped && this.held > this.high) {
      this.stopped = true;
      this.stopReading(true);
    }
  }

  give(bytes: number): void {
    this.held -= bytes;
    if (this.stopped && this.held <= this.low) {
      this.stopped = false;
      this.stopReading(false);
    }
  }
}
