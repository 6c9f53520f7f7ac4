/**
 * The keep-alive pool of one downstream HTTP/1 connection towards one destination. Each downstream
 * connection gets its own, so a workstation's tunnel connections never carry another client's
 * requests, and they all go when the downstream connection goes.
 */
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';

type Created = (err: Error | null, stream?: Duplex) => void;

export class UpstreamAgent extends http.Agent {
  private retired = false;

  constructor(private readonly dial: () => Promise<Duplex>) {
    super({ keepAlive: true, scheduling: 'lifo' });
  }

  /** Asynchronous dial: Node's Agent takes the callback form when this returns undefined. */
  override createConnection(_options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): undefined {
    const done = callback as Created | undefined;
    this.dial().then(
      (stream) => {
        if (this.retired) {
          stream.destroy();
          done?.(new Error('the route to this destination was removed'));
          return;
        }
        // A tunnel stream stays half-open when the destination ends its side (a dev server closing
        // an idle keep-alive connection), where a socket would close: end ours too, so the stream
        // closes and leaves the pool instead of taking a request that nobody will answer.
        stream.once('end', () => stream.end());
        done?.(null, stream);
      },
      (e: unknown) => done?.(e instanceof Error ? e : new Error(String(e))),
    );
    return undefined;
  }

  /** Tunnel streams are not sockets: they get no TCP keep-alive and no unref. */
  override keepSocketAlive(socket: Duplex): boolean {
    if (this.retired || socket.readableEnded) return false;
    if (socket instanceof net.Socket) socket.setKeepAlive(true, 60_000);
    return true;
  }

  override reuseSocket(): void {
    // Nothing: the default ref()s a socket that keepSocketAlive never unref'd.
  }

  /**
   * No new requests through this pool: idle connections close now, busy ones once their response
   * is done (keepSocketAlive then says no).
   */
  retire(): void {
    this.retired = true;
    for (const list of Object.values(this.freeSockets)) for (const s of list ?? []) s.destroy();
  }
}
