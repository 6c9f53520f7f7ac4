import type { Readable } from 'node:stream';

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
  private reading = true;
  /** The most bytes held at once (for tests and the log). */
  peak = 0;

  constructor(
    private readonly high: number,
    private readonly low: number,
    /** Called with true to stop reading the connections, with false to read again. */
    private readonly stopReading: (stop: boolean) => void,
  ) {}

  /** False from the moment reading stops until it starts again. */
  get readingAllowed(): boolean {
    return this.reading;
  }

  take(bytes: number): void {
    this.held += bytes;
    this.peak = Math.max(this.peak, this.held);
    if (this.reading && this.held > this.high) {
      this.reading = false;
      this.stopReading(true);
    }
  }

  give(bytes: number): void {
    this.held -= bytes;
    if (!this.reading && this.held <= this.low) {
      this.reading = true;
      this.stopReading(false);
    }
  }
}

/**
 * Keeps `socket` from reading while `backlog` says not to, whoever resumes it: the server pauses
 * the sockets open when reading stops, but ssh2 resumes a socket it is handed once its handshake
 * is set up, so a connection accepted meanwhile would be read from until the next stop.
 */
export function pauseWhileStopped(socket: Readable, backlog: WriteBacklog): void {
  // 'resume' comes on the tick after resume(), before any data flows; pausing then keeps it.
  socket.on('resume', () => {
    if (!backlog.readingAllowed) socket.pause();
  });
}
