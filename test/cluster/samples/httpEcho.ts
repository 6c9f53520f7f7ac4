import * as http from 'node:http';
import { echoBody, echoDocument } from './echoDocument.js';
import type { Identity } from './identity.js';
import { closeGracefully, listen, trackSockets, type ListeningServer, type Logger } from './listeningServer.js';

export const HEALTHZ_PATH = '/healthz';

/** Answers every HTTP/1.1 request with the echo document; /healthz with "ok". */
export function handleHttp1Request(identity: Identity, req: http.IncomingMessage, res: http.ServerResponse): void {
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
