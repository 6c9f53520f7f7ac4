import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { Identity } from './identity.js';
import type { ListeningServer, Logger } from './listeningServer.js';

export function udpReply(identity: Identity, datagram: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`${identity.pod}: `), datagram]);
}

/** Answers each datagram with "<pod>: " and the datagram's bytes. */
export async function startUdpEcho(identity: Identity, host: string, port: number, log: Logger): Promise<ListeningServer> {
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  socket.on('message', (msg, from) => {
    socket.send(udpReply(identity, msg), from.port, from.address, (err) => {
      if (err) log(`udp: reply to ${from.address}:${from.port} failed: ${err.message}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.removeListener('error', reject);
      resolve();
    });
  });
  socket.on('error', (err) => log(`udp: ${err.message}`));
  const address = socket.address();
  return {
    kind: 'udp',
    host: address.address,
    port: address.port,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
