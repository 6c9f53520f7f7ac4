import * as net from 'node:net';
import type { Identity } from './identity.js';
import { closeGracefully, listen, trackSockets, type ListeningServer, type Logger } from './listeningServer.js';

export function tcpHello(identity: Identity): string {
  return `hello from ${identity.pod} greeting=${identity.greeting}\n`;
}

/** Says hello, then echoes every byte; ends its side when the client ends its side. */
export async function startTcpEcho(identity: Identity, host: string, port: number, log: Logger): Promise<ListeningServer> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', (err) => log(`tcp: connection error: ${err.message}`));
    socket.write(tcpHello(identity));
    socket.pipe(socket);
  });
  const sockets = trackSockets(server);
  const address = await listen(server, host, port);
  return {
    kind: 'tcp',
    host: address.address,
    port: address.port,
    // An echo has no exchange to finish: end our side at once, force after the grace period.
    close: (graceMs) => closeGracefully(server, sockets, () => sockets.forEach((s) => s.end()), graceMs),
  };
}
