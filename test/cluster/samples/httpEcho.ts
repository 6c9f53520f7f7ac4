import * as http from 'node:http';
import { echoBody, echoDocument } from './echoDocument.js';
import type { Identity } from './identity.js';
import { closeGracefully, listen, trackSockets, type ListeningServer, type Logger } from './listeningServer.js';

export const HEALTHZ_PATH = '/healthz';

/** Bulk endpoints for benchmarks: GET /bytes/<n> sends n bytes; POST /sink reads the body. */
const BYTES_PATH = /^\/bytes\/(\d{1,12})$/;
const SINK_PATH = '/sink';
const CHUNK = Buffer.alloc(256 * 1024, 0x61);

/** Answers every HTTP/1.1 request with the echo document; /healthz with "ok". */
export function handleHttp1Request(identity: Identity, req: http.IncomingMessage, res: http.ServerResponse): void {
  const bare = (req.url ?? '/').split('?', 1)[0]!;
  const bytes = BYTES_PATH.exec(bare);
  if (bytes) {
    req.resume();
    sendBytes(res, Number(bytes[1]));
    return;
  }
  if (bare === SINK_PATH) {
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.once('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ bytes: n }) + '\n'));
    return;
  }
  req.resume();
  req.once('end', () => {
    const path = req.url ?? '/';
    if (path.split('?', 1)[0] === HEALTHZ_PATH) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    const body = echoBody(echoDocument(identity, 'http/1.1', req.method ?? 'GET', path, req.headers));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
}

export async function startHttpEcho(identity: Identity, host: string, port: number, log: Logger): Promise<ListeningServer> {
  const server = http.createServer((req, res) => handleHttp1Request(identity, req, res));
  server.on('clientError', (err, socket) => {
    log(`http: client error: ${err.message}`);
    socket.destroy();
  });
  const sockets = trackSockets(server);
  const address = await listen(server, host, port);
  return {
    kind: 'http',
    host: address.address,
    port: address.port,
    // server.close() already closes idle keep-alive connections; busy ones finish their response.
    close: (graceMs) => closeGracefully(server, sockets, () => server.closeIdleConnections(), graceMs),
  };
}

/** Writes n bytes with backpressure: the next chunk waits for 'drain'. */
function sendBytes(res: http.ServerResponse, n: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
  let left = n;
  const pump = (): void => {
    while (left > 0) {
      const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}
