import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { echoBody, echoDocument } from './echoDocument.js';
import { decodeEchoRequest, ECHO_METHOD_PATH, encodeEchoReply, type EchoReply } from './echoProto.js';
import { classifyPreface } from './h2cPreface.js';
import { encodeGrpcFrame, encodeGrpcMessage, GrpcFrameDecoder, type GrpcFrame } from './grpcFrame.js';
import { HEALTHZ_PATH, handleHttp1Request } from './httpEcho.js';
import type { Identity } from './identity.js';
import { closeGracefully, listen, trackSockets, type ListeningServer, type Logger } from './listeningServer.js';

/** gRPC status codes used here (grpc/doc/statuscodes.md). */
export const GrpcStatus = { OK: 0, INVALID_ARGUMENT: 3, UNIMPLEMENTED: 12, INTERNAL: 13 } as const;

/** Request headers that belong to HTTP/2 or gRPC itself, not to the caller's metadata. */
const TRANSPORT_HEADERS = new Set([
  'content-type',
  'te',
  'user-agent',
  'host',
  'content-length',
  'accept-encoding',
  'connection',
]);

/** The caller's custom metadata: everything but pseudo-headers, transport and grpc-* headers. */
export function customMetadata(headers: http2.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const key = name.toLowerCase();
    if (value === undefined || key.startsWith(':') || key.startsWith('grpc-') || TRANSPORT_HEADERS.has(key)) continue;
    out[key] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

function isGrpc(headers: http2.IncomingHttpHeaders): boolean {
  const type = headers['content-type'];
  return typeof type === 'string' && /^application\/grpc(\+proto)?(;|$)/.test(type);
}

/** A "trailers-only" response: the status travels in the only HEADERS frame. */
function respondGrpcError(stream: http2.ServerHttp2Stream, code: number, message: string): void {
  if (stream.headersSent || stream.destroyed) return;
  stream.respond(
    {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': String(code),
      'grpc-message': encodeGrpcMessage(message),
    },
    { endStream: true },
  );
}

function handleGrpc(identity: Identity, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  const path = headers[':path'];
  if (path !== ECHO_METHOD_PATH) {
    stream.resume();
    respondGrpcError(stream, GrpcStatus.UNIMPLEMENTED, `unknown method ${String(path)}`);
    return;
  }
  const decoder = new GrpcFrameDecoder();
  const frames: GrpcFrame[] = [];
  let failure: Error | undefined;
  stream.on('data', (chunk: Buffer) => {
    if (failure) return;
    try {
      frames.push(...decoder.push(chunk));
    } catch (err) {
      failure = err as Error;
    }
  });
  stream.once('end', () => {
    try {
      if (!failure) decoder.finish();
    } catch (err) {
      failure = err as Error;
    }
    if (failure) return respondGrpcError(stream, GrpcStatus.INTERNAL, `bad request framing: ${failure.message}`);
    if (frames.length !== 1) {
      return respondGrpcError(stream, GrpcStatus.INVALID_ARGUMENT, `unary call needs exactly 1 message, got ${frames.length}`);
    }
    if (frames[0].compressed) {
      return respondGrpcError(stream, GrpcStatus.UNIMPLEMENTED, 'compressed messages are not supported');
    }
    let message: string;
    try {
      message = decodeEchoRequest(frames[0].message).message;
    } catch (err) {
      return respondGrpcError(stream, GrpcStatus.INTERNAL, `cannot decode EchoRequest: ${(err as Error).message}`);
    }
    const reply: EchoReply = { message, ...identity, metadata: customMetadata(headers) };
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc', 'grpc-accept-encoding': 'identity' },
      { waitForTrailers: true },
    );
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(GrpcStatus.OK) }));
    stream.end(encodeGrpcFrame(encodeEchoReply(reply)));
  });
}

function handleH2(identity: Identity, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  if (isGrpc(headers)) return handleGrpc(identity, stream, headers);
  stream.resume();
  stream.once('end', () => {
    if (stream.destroyed) return;
    const path = String(headers[':path'] ?? '/');
    if (path.split('?', 1)[0] === HEALTHZ_PATH) {
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.end('ok');
      return;
    }
    const body = echoBody(echoDocument(identity, 'h2', String(headers[':method'] ?? 'GET'), path, headers));
    stream.respond({ ':status': 200, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    stream.end(body);
  });
}

/**
 * One cleartext port for h2c (prior knowledge: plain requests and gRPC) and HTTP/1.1. Node cannot
 * perform the HTTP/1.1 `Upgrade: h2c` switch, so such requests are answered over HTTP/1.1, which
 * is what a server that declines the upgrade does (RFC 9110 §7.8).
 */
export async function startGrpcEcho(identity: Identity, host: string, port: number, log: Logger): Promise<ListeningServer> {
  const h2server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  h2server.on('session', (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  h2server.on('sessionError', (err: Error) => log(`grpc: session error: ${err.message}`));
  h2server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    stream.on('error', (err: Error) => log(`grpc: stream error: ${err.message}`));
    handleH2(identity, stream, headers);
  });

  const http1server = http.createServer((req, res) => handleHttp1Request(identity, req, res));
  http1server.on('clientError', (err, socket) => {
    log(`grpc: HTTP/1.1 client error: ${err.message}`);
    socket.destroy();
  });

  const server = net.createServer((socket) => {
    let head = Buffer.alloc(0);
    const onError = (err: Error): void => log(`grpc: connection error: ${err.message}`);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const verdict = classifyPreface(head);
      if (verdict === 'undecided') return;
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.pause();
      socket.unshift(head);
      // The HTTP/2 session reads bytes already buffered on the socket; the HTTP/1 parser needs
      // the socket flowing again to see them.
      if (verdict === 'h2') {
        h2server.emit('connection', socket);
      } else {
        http1server.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('error', onError);
    socket.on('data', onData);
  });
  const sockets = trackSockets(server);
  const address = await listen(server, host, port);
  const drain = (): void => {
    for (const session of sessions) session.close();
    http1server.closeIdleConnections();
  };
  return {
    kind: 'grpc',
    host: address.address,
    port: address.port,
    close: (graceMs) => closeGracefully(server, sockets, drain, graceMs),
  };
}
