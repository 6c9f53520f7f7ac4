/**
 * Port-forward to a pod through the Kubernetes API, one upgraded connection per forwarded
 * connection: SPDY/3.1 (spdyPortForward.ts) where the API server offers it, as it does up to
 * now, else a WebSocket (`v4.channel.k8s.io`: every binary message starts with a channel byte,
 * 0 = data, 1 = error; the first message the server sends on each channel starts with the 2-byte
 * port).
 *
 * @kubernetes/client-node has a PortForward, but it ignores backpressure both ways (see
 * shared/notes/port-forward.md); here the library only supplies what it is good at — the
 * kubeconfig's TLS and authentication for the WebSocket — and this module owns the stream:
 * the socket pauses while the WebSocket's send buffer is full, and the WebSocket pauses while
 * the socket cannot take more.
 */
import net from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import WebSocket from 'ws';
import { PortForwardError, type PodPort } from './portForwardError.js';
import { openSpdyConnection, spliceSpdy } from './spdyPortForward.js';

export { PortForwardError, type PodPort } from './portForwardError.js';

/** How a PortForwardListener reaches the pod; 'auto' is SPDY, falling back to the WebSocket. */
export type PortForwardTransport = 'auto' | 'spdy' | 'websocket';

/** Pause the local socket once this much is waiting to go out on the WebSocket. */
const SEND_HIGH_WATER = 1 << 20;
/** The largest WebSocket message the forward builds from coalesced reads. */
const MAX_MESSAGE = 1 << 20;
const DATA = 0;
const ERROR = 1;

/**
 * Opens the WebSocket of one forwarded connection; resolves once the API server accepted it.
 * The WebSocket is returned paused; spliceSocket resumes it.
 */
export async function openPortForwardSocket(kc: KubeConfig, target: PodPort, signal?: AbortSignal): Promise<WebSocket> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new PortForwardError('the kubeconfig has no current cluster');
  const server = new URL(cluster.server);
  server.protocol = server.protocol === 'http:' ? 'ws:' : 'wss:';
  const base = server.pathname.replace(/\/$/, '');
  server.pathname = `${base}/api/v1/namespaces/${encodeURIComponent(target.namespace)}/pods/${encodeURIComponent(target.pod)}/portforward`;
  server.search = `?ports=${target.port}`;
  const opts: WebSocket.ClientOptions = {
    perMessageDeflate: false,
    // RFC 6455 masking guards browsers against cache-poisoning proxies; this client is no browser,
    // and an all-zero mask (a legal key) lets ws skip XOR-ing every byte of every upload in JS.
    generateMask: (mask: Buffer) => void mask.fill(0),
  };
  await kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(server.toString(), ['v4.channel.k8s.io'], opts);
    const abort = () => {
      ws.terminate();
      reject(new PortForwardError('port-forward cancelled'));
    };
    signal?.addEventListener('abort', abort, { once: true });
    ws.once('open', () => {
      // The server's first messages (the port prefixes) may already be buffered and would be
      // emitted before the caller's listeners exist: hold them until spliceSocket resumes.
      ws.pause();
      signal?.removeEventListener('abort', abort);
      resolve(ws);
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        signal?.removeEventListener('abort', abort);
        let message = body;
        try {
          message = (JSON.parse(body) as { message?: string }).message ?? body;
        } catch {
          // not a Status object
        }
        reject(
          new PortForwardError(`port-forward to ${target.namespace}/${target.pod}:${target.port} refused (HTTP ${res.statusCode}): ${message.trim()}`, res.statusCode),
        );
      });
    });
    ws.once('error', (err) => {
      signal?.removeEventListener('abort', abort);
      reject(new PortForwardError(`port-forward to ${target.namespace}/${target.pod}:${target.port}: ${err.message}`));
    });
  });
}

/**
 * Splices a local socket and a port-forward WebSocket until either ends. Resolves when both are
 * closed; an error from the pod side (channel 1) destroys the socket with that message.
 */
export function spliceSocket(socket: net.Socket, ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    const seenPortPrefix = [false, false];
    let errorText = '';
    let closed = 0;
    const done = () => {
      if (++closed === 2) resolve();
    };

    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary || data.length === 0) return;
      const channel = data[0]!;
      let payload = data.subarray(1);
      if (channel === DATA || channel === ERROR) {
        if (!seenPortPrefix[channel]) {
          seenPortPrefix[channel] = true;
          payload = payload.subarray(2);
        }
      }
      if (channel === DATA && payload.length > 0) {
        if (!socket.write(payload)) ws.pause();
      } else if (channel === ERROR && payload.length > 0) {
        errorText += payload.toString('utf8');
      }
    });
    socket.on('drain', () => ws.resume());

    const sendPaused = () => ws.bufferedAmount >= SEND_HIGH_WATER;
    // Reads that arrive in one turn of the event loop go out as one WebSocket message: every
    // message costs the API server and the container runtime a round of work, so fewer, larger
    // ones carry more bytes for the same CPU.
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = () => {
      if (pending.length === 0 || ws.readyState !== WebSocket.OPEN) return;
      const frame = Buffer.allocUnsafe(pendingBytes + 1);
      frame[0] = DATA;
      let at = 1;
      for (const c of pending) at += c.copy(frame, at);
      pending = [];
      pendingBytes = 0;
      ws.send(frame, { binary: true }, () => {
        if (socket.isPaused() && !sendPaused()) socket.resume();
      });
      if (sendPaused()) socket.pause();
    };
    socket.on('data', (chunk: Buffer) => {
      if (pending.length === 0) setImmediate(flush);
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= MAX_MESSAGE) flush();
    });
    // The v4 channel protocol cannot half-close: the local side's end closes the whole forward.
    socket.on('end', () => {
      flush();
      ws.close(1000);
    });
    socket.on('error', () => ws.terminate());
    socket.on('close', () => {
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      done();
    });
    ws.on('close', () => {
      if (errorText) socket.destroy(new PortForwardError(errorText.trim()));
      else socket.end();
      done();
    });
    ws.on('error', (err) => socket.destroy(err));
    ws.resume();
  });
}

/**
 * A local TCP (or unix socket) listener whose every connection is forwarded to a pod port, as
 * `kubectl port-forward` does. `resolveTarget` is asked per connection, so a caller can follow a
 * Service to whichever pod is ready now.
 */
export class PortForwardListener {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private transport: PortForwardTransport;

  constructor(
    private readonly kc: KubeConfig,
    private readonly resolveTarget: () => Promise<PodPort>,
    private readonly onError: (err: Error) => void = () => {},
    options: { transport?: PortForwardTransport } = {},
  ) {
    this.transport = options.transport ?? 'auto';
    this.server = net.createServer({ noDelay: true }, (socket) => void this.handle(socket));
  }

  /** Listens on host:port (port 0 picks one) and returns the bound port. */
  listen(port = 0, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  /**
   * Listens on a unix socket instead: a local client's bytes then cross no loopback TCP, which
   * costs less CPU per byte, and only who may open `socketPath` can connect.
   */
  listenUnix(socketPath: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(socketPath, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(socket: net.Socket): Promise<void> {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.pause();
    try {
      const target = await this.resolveTarget();
      if (this.transport !== 'websocket') {
        let spdy;
        try {
          spdy = await openSpdyConnection(this.kc, target);
        } catch (err) {
          if (this.transport === 'spdy' || !spdyUnsupported(err)) throw err;
          this.transport = 'websocket';
          this.onError(new PortForwardError(`SPDY port-forward unavailable, using WebSockets: ${(err as Error).message}`));
        }
        if (spdy) {
          if (socket.destroyed) return void spdy.socket.destroy();
          socket.resume();
          return await spliceSpdy(socket, spdy, target.port);
        }
      }
      const ws = await openPortForwardSocket(this.kc, target);
      if (socket.destroyed) {
        ws.terminate();
        return;
      }
      socket.resume();
      await spliceSocket(socket, ws);
    } catch (err) {
      socket.destroy();
      this.onError(err as Error);
    }
  }
}

/**
 * Whether a failed SPDY upgrade says the server (or a proxy before it) does not do SPDY, rather
 * than something a WebSocket would meet just the same: who the user is, what they may do, which
 * pod exists, or no API server at all.
 */
function spdyUnsupported(err: unknown): boolean {
  const status = err instanceof PortForwardError ? err.status : undefined;
  return status !== undefined && ![401, 403, 404].includes(status);
}
