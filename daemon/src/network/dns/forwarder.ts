/**
 * Sends a client's query, as raw bytes, to the workstation's original nameservers and returns
 * their response: the path every non-cluster name takes. UDP first, each server in turn, for
 * `attempts` rounds (what glibc does with `nameserver` lines); TCP to the same server when the
 * answer comes back truncated. A server that refuses (ICMP port unreachable) is skipped at once.
 *
 * The query goes out with a fresh random id and from a fresh socket, and only a response with
 * that id and the same question is taken (RFC 5452), so a local process cannot feed the daemon
 * spoofed answers. The client's id is put back before the response is returned.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import { questionEnd } from './dnsAnswer.js';
import { type DnsLogger, errorText } from './dnsLogger.js';

export interface Nameserver {
  address: string;
  port: number;
}

export interface ForwarderOptions {
  nameservers: readonly Nameserver[];
  /** How long one UDP or TCP exchange with one server may take. */
  attemptTimeoutMs?: number;
  /** Rounds over all servers. */
  attempts?: number;
  logger: DnsLogger;
  /** Query ids; injected by tests. */
  randomId?: () => number;
}

export class ForwardError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ForwardError';
  }
}

const MAX_TCP_MESSAGE = 65535;

export class Forwarder {
  readonly nameservers: readonly Nameserver[];
  private readonly attemptTimeoutMs: number;
  private readonly attempts: number;
  private readonly logger: DnsLogger;
  private readonly randomId: () => number;

  constructor(options: ForwarderOptions) {
    this.nameservers = options.nameservers;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 1500;
    this.attempts = options.attempts ?? 2;
    this.logger = options.logger;
    this.randomId = options.randomId ?? (() => randomInt(0x10000));
  }

  /**
   * The original resolver's response to `query` (one question), with the client's id. Throws
   * ForwardError when no server answered before `signal` or the attempts ran out.
   */
  async forward(query: Buffer, signal?: AbortSignal): Promise<Buffer> {
    const qEnd = questionEnd(query);
    if (qEnd === undefined) throw new ForwardError('not a query with one question');
    if (this.nameservers.length === 0) throw new ForwardError('no original nameserver is known');
    const clientId = query.readUInt16BE(0);
    const id = this.randomId() & 0xffff;
    const msg = Buffer.from(query);
    msg.writeUInt16BE(id, 0);
    const accept = (r: Buffer): boolean => isResponseTo(r, msg, qEnd);
    let lastError = 'no attempt made';
    for (let round = 0; round < this.attempts; round++) {
      for (const ns of this.nameservers) {
        signal?.throwIfAborted();
        try {
          let response = await udpExchange(ns, msg, accept, this.attemptTimeoutMs, signal);
          if (response.readUInt16BE(2) & 0x0200) {
            response = await tcpExchange(ns, msg, accept, this.attemptTimeoutMs * 2, signal);
          }
          const out = Buffer.from(response);
          out.writeUInt16BE(clientId, 0);
          return out;
        } catch (e) {
          if (signal?.aborted) throw new ForwardError(`gave up: ${errorText(signal.reason)}`);
          lastError = `${ns.address}:${ns.port}: ${errorText(e)}`;
          this.logger.debug('original nameserver did not answer', { nameserver: `${ns.address}:${ns.port}`, error: errorText(e) });
        }
      }
    }
    throw new ForwardError(`no original nameserver answered (last: ${lastError})`);
  }
}

/** Same id, QR set, and the same question (names compared without regard to case). */
function isResponseTo(response: Buffer, query: Buffer, qEnd: number): boolean {
  if (response.length < qEnd || response.readUInt16BE(0) !== query.readUInt16BE(0)) return false;
  if (!(response.readUInt16BE(2) & 0x8000) || response.readUInt16BE(4) !== 1) return false;
  for (let i = 12; i < qEnd; i++) {
    if (lower(response[i]!) !== lower(query[i]!)) return false;
  }
  return true;
}

function lower(b: number): number {
  return b >= 0x41 && b <= 0x5a ? b | 0x20 : b;
}

/** One datagram out, the first acceptable datagram back. */
function udpExchange(ns: Nameserver, msg: Buffer, accept: (r: Buffer) => boolean, timeoutMs: number, signal?: AbortSignal): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const socket = dgram.createSocket(net.isIPv6(ns.address) ? 'udp6' : 'udp4');
    const deadline = deadlineSignal(timeoutMs, signal);
    const finish = (err: Error | undefined, r?: Buffer): void => {
      deadline.removeEventListener('abort', onAbort);
      socket.removeAllListeners('message');
      socket.on('error', () => {});
      try {
        socket.close();
      } catch {
        // already closed
      }
      if (err) reject(err);
      else resolve(r!);
    };
    const onAbort = (): void => finish(new Error(`no answer in ${timeoutMs} ms`));
    if (deadline.aborted) return onAbort();
    deadline.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (e) => finish(e));
    socket.on('message', (r) => {
      if (accept(r)) finish(undefined, r);
    });
    // Connected, so that an ICMP port unreachable comes back as ECONNREFUSED at once.
    socket.connect(ns.port, ns.address, () => {
      socket.send(msg, (e) => {
        if (e) finish(e);
      });
    });
  });
}

/** One length-prefixed message out, one back (RFC 1035 4.2.2). */
function tcpExchange(ns: Nameserver, msg: Buffer, accept: (r: Buffer) => boolean, timeoutMs: number, signal?: AbortSignal): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const socket = net.connect({ host: ns.address, port: ns.port });
    const deadline = deadlineSignal(timeoutMs, signal);
    let buffered: Buffer = Buffer.alloc(0);
    const finish = (err: Error | undefined, r?: Buffer): void => {
      deadline.removeEventListener('abort', onAbort);
      socket.removeAllListeners('data');
      socket.on('error', () => {});
      socket.destroy();
      if (err) reject(err);
      else resolve(r!);
    };
    const onAbort = (): void => finish(new Error(`no answer over TCP in ${timeoutMs} ms`));
    if (deadline.aborted) return onAbort();
    deadline.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (e) => finish(e));
    socket.on('end', () => finish(new Error('connection closed before the answer')));
    socket.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(msg.length);
      socket.write(Buffer.concat([len, msg]));
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const n = buffered.readUInt16BE(0);
        if (buffered.length < 2 + n) return;
        const r = buffered.subarray(2, 2 + n);
        buffered = buffered.subarray(2 + n);
        if (accept(r)) return finish(undefined, Buffer.from(r));
      }
      if (buffered.length > MAX_TCP_MESSAGE + 2) finish(new Error('oversized TCP answer'));
    });
  });
}

/** Aborts after `ms` or when `outer` does, whichever comes first. */
export function deadlineSignal(ms: number, outer?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(ms);
  return outer ? AbortSignal.any([outer, timeout]) : timeout;
}
