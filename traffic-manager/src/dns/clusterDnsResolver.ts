/**
 * Asks the cluster DNS server (the nameserver of the manager pod's resolv.conf) one question and
 * returns its rcode and answer section. Node's dns.Resolver would hide what the daemon needs:
 * NXDOMAIN versus no-data, the CNAME chain, and types it does not know. So: UDP with EDNS0 and a
 * retry, TCP when the answer is truncated.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import type { DNSRecord } from '../../../protocol/src/gen/telepath/manager/v1/manager.js';
import type { Logger } from '../../../common/src/log/jsonLogger.js';
import { answersQuestion, DnsWireError, type DnsResponse, encodeQuery, parseResponse, RCODE } from './dnsWire.js';

export interface DnsAnswer {
  rcode: number;
  answers: DNSRecord[];
}

export interface DnsLookup {
  lookup(name: string, qtype: number, signal?: AbortSignal): Promise<DnsAnswer>;
}

export interface ClusterDnsResolverOptions {
  /** IP of the DNS server. */
  server: string;
  port?: number;
  /** Per attempt; UDP is tried `attempts` times, TCP once. */
  timeoutMs?: number;
  attempts?: number;
  logger: Logger;
}

/** Large enough for SRV sets of big headless Services, small enough never to fragment. */
const UDP_PAYLOAD_SIZE = 1232;

export class ClusterDnsResolver implements DnsLookup {
  private readonly port: number;
  private readonly timeoutMs: number;
  private readonly attempts: number;

  constructor(private readonly options: ClusterDnsResolverOptions) {
    this.port = options.port ?? 53;
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.attempts = options.attempts ?? 2;
  }

  /**
   * Resolves `name` exactly as given. A server that never answers is reported as SERVFAIL, which
   * is what a stub resolver would tell its caller.
   */
  async lookup(name: string, qtype: number, signal?: AbortSignal): Promise<DnsAnswer> {
    const { server, logger } = this.options;
    if (!server) return { rcode: RCODE.SERVFAIL, answers: [] };
    let lastError: unknown;
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      try {
        let response = await this.udpQuery(name, qtype, signal);
        if (response.truncated) response = await this.tcpQuery(name, qtype, signal);
        return { rcode: response.rcode, answers: response.answers };
      } catch (e) {
        if (e instanceof DnsWireError || signal?.aborted) throw e;
        lastError = e;
      }
    }
    logger.warn('cluster DNS did not answer', { server, name, qtype, error: lastError instanceof Error ? lastError.message : String(lastError) });
    return { rcode: RCODE.SERVFAIL, answers: [] };
  }

  private udpQuery(name: string, qtype: number, signal?: AbortSignal): Promise<DnsResponse> {
    const { server } = this.options;
    const id = randomInt(0x10000);
    const query = encodeQuery(id, name, qtype, { udpPayloadSize: UDP_PAYLOAD_SIZE });
    return new Promise<DnsResponse>((resolve, reject) => {
      const socket = dgram.createSocket(net.isIPv6(server) ? 'udp6' : 'udp4');
      const done = withDeadline(this.timeoutMs, signal, `no answer from ${server} in ${this.timeoutMs} ms`, () => socket.close(), resolve, reject);
      socket.on('error', (e) => done.fail(e));
      socket.on('message', (msg, rinfo) => {
        // Anything not from the server, or for another question, is ignored as spoofing would be.
        if (rinfo.port !== this.port || !sameIp(rinfo.address, server)) return;
        let r: DnsResponse;
        try {
          r = parseResponse(msg);
        } catch {
          return;
        }
        if (r.id === id && answersQuestion(r, name, qtype)) done.ok(r);
      });
      socket.send(query, this.port, server, (e) => {
        if (e) done.fail(e);
      });
    });
  }

  private tcpQuery(name: string, qtype: number, signal?: AbortSignal): Promise<DnsResponse> {
    const { server } = this.options;
    const id = randomInt(0x10000);
    const query = encodeQuery(id, name, qtype);
    return new Promise<DnsResponse>((resolve, reject) => {
      const socket = net.connect({ host: server, port: this.port });
      const done = withDeadline(this.timeoutMs, signal, `no TCP answer from ${server} in ${this.timeoutMs} ms`, () => socket.destroy(), resolve, reject);
      let pending = Buffer.alloc(0);
      socket.on('error', (e) => done.fail(e));
      socket.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(query.length);
        socket.end(Buffer.concat([len, query]));
      });
      socket.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        if (pending.length < 2 || pending.length < 2 + pending.readUInt16BE(0)) return;
        try {
          const r = parseResponse(pending.subarray(2, 2 + pending.readUInt16BE(0)));
          if (r.id === id && answersQuestion(r, name, qtype)) done.ok(r);
          else done.fail(new Error('TCP answer to another question'));
        } catch (e) {
          done.fail(e);
        }
      });
      socket.on('end', () => done.fail(new Error('DNS server closed the TCP connection without an answer')));
    });
  }
}

interface Settle<T> {
  ok(value: T): void;
  fail(error: unknown): void;
}

/** Settles once: on ok, fail, the deadline or the abort; `cleanup` runs exactly once. */
function withDeadline<T>(
  ms: number,
  signal: AbortSignal | undefined,
  timeoutMessage: string,
  cleanup: () => void,
  resolve: (v: T) => void,
  reject: (e: unknown) => void,
): Settle<T> {
  let settled = false;
  const finish = (f: () => void): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    cleanup();
    f();
  };
  const onAbort = (): void => finish(() => reject(signal?.reason ?? new Error('aborted')));
  const timer = setTimeout(() => finish(() => reject(new Error(timeoutMessage))), ms);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  return { ok: (v) => finish(() => resolve(v)), fail: (e) => finish(() => reject(e)) };
}

function sameIp(a: string, b: string): boolean {
  const strip = (s: string): string => s.replace(/^::ffff:/i, '').toLowerCase();
  return strip(a) === strip(b);
}
