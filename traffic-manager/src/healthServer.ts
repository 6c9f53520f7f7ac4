/**
 * Probes for the kubelet on a port of their own: /healthz (the process serves HTTP) and /readyz
 * (the gRPC port is bound, the first cluster discovery is done, and no shutdown has begun). Plain
 * HTTP rather than the gRPC health service, because that would need its .proto in protocol/ for a
 * caller that only ever is the kubelet.
 */
import http from 'node:http';

export interface HealthServer {
  listen(port: number, host?: string): Promise<number>;
  close(): Promise<void>;
}

export function healthServer(isReady: () => boolean): HealthServer {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    let code = 404;
    if (path === '/healthz') code = 200;
    else if (path === '/readyz') code = isReady() ? 200 : 503;
    res.writeHead(code, { 'content-type': 'text/plain' });
    res.end(code === 200 ? 'ok\n' : code === 503 ? 'not ready\n' : 'not found\n');
  });
  server.keepAliveTimeout = 1000;
  return {
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.removeListener('error', reject);
          const a = server.address();
          resolve(typeof a === 'object' && a ? a.port : port);
        });
      }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
