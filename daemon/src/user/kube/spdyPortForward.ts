/**
 * Port-forward to a pod over SPDY/3.1 (`portforward.k8s.io`), the protocol `kubectl port-forward`
 * spoke before WebSockets: one HTTP upgrade per forwarded connection, then an error stream and a
 * data stream on it. The API server and the kubelet only relay the bytes, and the container
 * runtime reads SPDY DATA frames for a fraction of what it spends on the masked WebSocket frames
 * of `v4.channel.k8s.io` (containerd 1.6: about a third of the CPU per uploaded byte), which is
 * what limited uploads through the WebSocket port-forward (docs/benchmarks.md).
 *
 * SPDY flow control is not used: the Kubernetes server (moby/spdystream) neither sends nor
 * honours WINDOW_UPDATE; TCP's backpressure holds both sides, as it does for kubectl.
 *
 * Why the framing is written here (spdyFrames.ts) rather than taken from npm's spdy-transport
 * (node-spdy's transport). Checked in the sources: spdystream's Connection writes only SYN_STREAM,
 * SYN_REPLY, RST_STREAM, HEADERS, PING, GOAWAY and DATA frames, never WINDOW_UPDATE (or SETTINGS),
 * and its frame handler drops a WINDOW_UPDATE it receives as an unhandled frame type.
 * spdy-transport gives every stream a send window of 64 KiB (SPDY's default) and holds each
 * write until that window has room (stream.js `_send` waits on `window.send.update`), room that
 * only a peer's WINDOW_UPDATE gives back, whatever SPDY version is negotiated (3.1 adds the same
 * wait per connection): against spdystream an upload would stop after its first 64 KiB. Its last
 * release, 3.0.0, is from 2018. A port-forward needs a small part of SPDY (two streams, DATA,
 * PING answers), which spdyFrames.ts covers in about 200 pure, tested lines.
 */
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { PortForwardError, type PodPort } from './portForwardError.js';
import { dataFrame, pingFrame, SpdyReader, SpdyWriter, type SpdyFrame } from './spdyFrames.js';

/** Pause either socket once this much is waiting to go out on the other. */
const SEND_HIGH_WATER = 1 << 20;
const ERROR_STREAM = 1;
const DATA_STREAM = 3;

/** An upgraded connection to the API server, ready for the port-forward's streams. */
export interface SpdyConnection {
  socket: net.Socket;
  /** Bytes the server sent after its 101 response, before the socket was handed over. */
  head: Buffer;
}

/**
 * Asks the API server to upgrade a port-forward request to SPDY/3.1. Rejects with a
 * PortForwardError carrying the HTTP status when the server answers anything but 101.
 */
export async function openSpdyConnection(kc: KubeConfig, target: PodPort, signal?: AbortSignal): Promise<SpdyConnection> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new PortForwardError('the kubeconfig has no current cluster');
  const url = new URL(cluster.server);
  const base = url.pathname.replace(/\/$/, '');
  url.pathname = `${base}/api/v1/namespaces/${encodeURIComponent(target.namespace)}/pods/${encodeURIComponent(target.pod)}/portforward`;
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const where = `${target.namespace}/${target.pod}:${target.port}`;
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'http:' ? http.request : https.request;
    const req = request(url, {
      ...opts,
      method: 'POST',
      signal,
      headers: {
        ...opts.headers,
        Connection: 'Upgrade',
        Upgrade: 'SPDY/3.1',
        'X-Stream-Protocol-Version': 'portforward.k8s.io',
      },
    });
    req.once('upgrade', (res, socket, head) => {
      const protocol = res.headers['x-stream-protocol-version'];
      if (protocol !== undefined && protocol !== 'portforward.k8s.io') {
        socket.destroy();
        return reject(new PortForwardError(`port-forward to ${where}: the server chose protocol ${String(protocol)}`, 101));
      }
      resolve({ socket, head });
    });
    req.once('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        let message = body;
        try {
          message = (JSON.parse(body) as { message?: string }).message ?? body;
        } catch {
          // not a Status object
        }
        reject(new PortForwardError(`port-forward to ${where} refused (HTTP ${res.statusCode}): ${message.trim()}`, res.statusCode));
      });
    });
    req.once('error', (err) =>
      reject(new PortForwardError(signal?.aborted ? 'port-forward cancelled' : `port-forward to ${where}: ${err.message}`)),
    );
    req.end();
  });
}

/**
 * Splices a local socket and one forwarded connection until either ends: opens the error stream
 * (closed at once from our side: we never write to it) and the data stream for `port`. Resolves
 * when both sockets are closed; an error text from the pod side destroys the local socket with it.
 */
export function spliceSpdy(local: net.Socket, remote: SpdyConnection, port: number): Promise<void> {
  const { socket } = remote;
  return new Promise((resolve) => {
    let closed = 0;
    const done = () => {
      if (++closed === 2) resolve();
    };
    socket.setNoDelay(true);
    const writer = new SpdyWriter();
    const headers = (type: string): [string, string][] => [
      ['streamtype', type],
      ['port', String(port)],
      ['requestid', '0'],
    ];
    // The server handles a stream's frames in order, so data may follow SYN_STREAM at once.
    socket.write(writer.synStream(ERROR_STREAM, headers('error'), true));
    socket.write(writer.synStream(DATA_STREAM, headers('data')));

    let errorText = '';
    let remoteFinished = false;
    let localFinished = false;
    let failure: Error | undefined;
    const reader = new SpdyReader();
    // The TLS socket hands over one record (at most 16 KiB) per 'data' event, several in a row
    // for one read from the network: they go to the local socket in one writev, not one write each.
    let corked = false;
    const uncork = (): void => {
      corked = false;
      local.uncork();
    };
    const onFrame = (f: SpdyFrame): void => {
      switch (f.kind) {
        case 'data':
          if (f.streamId === DATA_STREAM) {
            if (!corked && f.payload.length > 0) {
              corked = true;
              local.cork();
              setImmediate(uncork);
            }
            // After the local side's end (no half-close here) what still comes has no reader.
            if (f.payload.length > 0 && !local.writableEnded && !local.write(f.payload) && local.writableLength >= SEND_HIGH_WATER) socket.pause();
            if (f.fin) {
              remoteFinished = true;
              local.end();
              if (localFinished) socket.end();
            }
          } else if (f.streamId === ERROR_STREAM && f.payload.length > 0) {
            errorText += f.payload.toString('utf8');
          }
          return;
        case 'rstStream':
          if (f.streamId === DATA_STREAM) {
            failure = new PortForwardError(errorText.trim() || `the port-forward's data stream was reset (status ${f.status})`);
            socket.destroy();
          }
          return;
        case 'ping':
          socket.write(pingFrame(f.id));
          return;
        default:
          // SYN_REPLY, HEADERS, SETTINGS, WINDOW_UPDATE, GOAWAY (it stops new streams only).
          return;
      }
    };
    const consume = (chunk: Buffer): void => {
      let frames: SpdyFrame[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        failure = err as Error;
        socket.destroy();
        return;
      }
      for (const f of frames) onFrame(f);
    };
    if (remote.head.length > 0) consume(remote.head);
    socket.on('data', consume);
    local.on('drain', () => socket.resume());

    // One DATA frame per read: the runtime's cost per SPDY frame is small, and frames gathered
    // over an event-loop turn measured no faster (docs/benchmarks.md) but added to latency.
    const sendPaused = () => socket.writableLength >= SEND_HIGH_WATER;
    socket.on('drain', () => {
      if (local.isPaused()) local.resume();
    });
    local.on('data', (chunk: Buffer) => {
      if (socket.destroyed) return;
      if (!socket.write(dataFrame(DATA_STREAM, chunk)) && sendPaused()) local.pause();
    });
    local.on('end', () => {
      localFinished = true;
      if (!socket.destroyed) {
        socket.write(dataFrame(DATA_STREAM, Buffer.alloc(0), true));
        if (remoteFinished) socket.end();
      }
    });
    local.on('error', () => socket.destroy());
    local.on('close', () => {
      if (!socket.destroyed) socket.destroy();
      done();
    });
    socket.on('error', (err) => (failure ??= err));
    socket.on('close', () => {
      const why = failure ?? (errorText ? new PortForwardError(errorText.trim()) : undefined);
      if (why) local.destroy(why);
      else local.end();
      done();
    });
    socket.resume();
  });
}
