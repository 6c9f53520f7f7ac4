import * as dgram from 'node:dgram';
import * as dns from 'node:dns';
import { once } from 'node:events';

export interface UdpSendOptions {
  host: string;
  port: number;
  text: string;
  timeoutMs: number;
  signal: AbortSignal;
}

export const UDP_ATTEMPTS = 3;

/** Sends one datagram and returns the first reply, resending up to 3 times within the timeout. */
export async function udpSend(options: UdpSendOptions): Promise<string> {
  const where = `${options.host}:${options.port}`;
  const { address, family } = await dns.promises.lookup(options.host);
  const socket = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', signal: options.signal });
  // Ignore the 'error' that the abort raises; the attempt loop reports the timeout.
  socket.on('error', () => undefined);
  try {
    socket.connect(options.port, address);
    await once(socket, 'connect', { signal: options.signal });
    const perAttemptMs = Math.max(1, Math.floor(options.timeoutMs / UDP_ATTEMPTS));
    let lastError: Error | undefined;
    for (let attempt = 1; attempt <= UDP_ATTEMPTS; attempt++) {
      const attemptSignal = AbortSignal.any([options.signal, AbortSignal.timeout(perAttemptMs)]);
      try {
        const reply = once(socket, 'message', { signal: attemptSignal });
        socket.send(options.text);
        const [msg] = (await reply) as [Buffer];
        return msg.toString('utf8');
      } catch (err) {
        lastError = err as Error;
        if (options.signal.aborted) break;
      }
    }
    throw new Error(`${where}: no reply after ${UDP_ATTEMPTS} attempts (${lastError?.message ?? 'timed out'})`);
  } finally {
    if (!options.signal.aborted) socket.close();
  }
}
