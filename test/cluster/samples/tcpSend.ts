import * as net from 'node:net';
import { addAbortSignal } from 'node:stream';

export interface TcpSendOptions {
  host: string;
  port: number;
  text: string;
  signal: AbortSignal;
}

/**
 * Connects, waits for the server's hello line, sends the text and half-closes; returns all bytes
 * received until the server ends its side.
 */
export function tcpSend(options: TcpSendOptions): Promise<string> {
  const where = `${options.host}:${options.port}`;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: options.host, port: options.port, allowHalfOpen: true });
    addAbortSignal(options.signal, socket);
    const chunks: Buffer[] = [];
    let sent = false;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (!sent && chunk.includes(0x0a)) {
        sent = true;
        socket.end(options.text);
      }
    });
    socket.on('error', (err) => reject(new Error(`${where}: ${err.message}`)));
    socket.on('end', () => {
      const received = Buffer.concat(chunks).toString('utf8');
      socket.destroy();
      if (!sent) reject(new Error(`${where}: connection closed before the hello line (got ${JSON.stringify(received)})`));
      else resolve(received);
    });
  });
}
