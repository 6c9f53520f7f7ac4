import type * as net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

export type ListenerKind = 'http' | 'grpc' | 'tcp' | 'udp';

/** A started sample server. */
export interface ListeningServer {
  readonly kind: ListenerKind;
  readonly host: string;
  readonly port: number;
  /**
   * Stops accepting, lets open exchanges finish for up to graceMs, then destroys what is left.
   * Resolves once everything is closed.
   */
  close(graceMs: number): Promise<void>;
}

export type Logger = (line: string) => void;

export const DEFAULT_GRACE_MS = 500;

export function listen(server: net.Server, host: string, port: number): Promise<net.AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve(server.address() as net.AddressInfo);
    });
  });
}

/** Every socket the server accepted and has not yet seen close. */
export function trackSockets(server: net.Server): Set<net.Socket> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return sockets;
}

/**
 * Drain, then force: stop listening, ask open connections to finish (drain), and destroy the
 * ones still open when the grace period is over.
 */
export async function closeGracefully(
  server: net.Server,
  sockets: Set<net.Socket>,
  drain: () => void,
  graceMs: number,
): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  drain();
  const grace = new AbortController();
  await Promise.race([closed, delay(graceMs, undefined, { signal: grace.signal }).catch(() => undefined)]);
  grace.abort();
  for (const socket of sockets) socket.destroy();
  await closed;
}
