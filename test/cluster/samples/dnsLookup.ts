import * as dns from 'node:dns';

export const DNS_RECORD_TYPES = ['A', 'AAAA', 'SRV', 'CNAME'] as const;
export type DnsRecordType = (typeof DNS_RECORD_TYPES)[number];

export type DnsAnswer = string[] | dns.SrvRecord[] | dns.LookupAddress[];

export interface DnsLookupOptions {
  name: string;
  /** Without a type: the system resolver (dns.lookup, as most programs resolve). */
  type?: DnsRecordType;
  /** ip or ip:port of a DNS server to ask instead of the system's (needs a type). */
  server?: string;
  timeoutMs: number;
  signal: AbortSignal;
}

export async function dnsLookup(options: DnsLookupOptions): Promise<DnsAnswer> {
  if (!options.type) {
    if (options.server) throw new Error('--server needs --type: dns.lookup always asks the system resolver');
    return abortable(dns.promises.lookup(options.name, { all: true }), options.signal, () => undefined);
  }
  const resolver = new dns.promises.Resolver({ timeout: options.timeoutMs, tries: 1 });
  if (options.server) resolver.setServers([options.server]);
  const cancel = (): void => resolver.cancel();
  switch (options.type) {
    case 'A':
      return abortable(resolver.resolve4(options.name), options.signal, cancel);
    case 'AAAA':
      return abortable(resolver.resolve6(options.name), options.signal, cancel);
    case 'SRV':
      return abortable(resolver.resolveSrv(options.name), options.signal, cancel);
    case 'CNAME':
      return abortable(resolver.resolveCname(options.name), options.signal, cancel);
  }
}

function abortable<T>(work: Promise<T>, signal: AbortSignal, cancel: () => void): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      cancel();
      reject(new Error(`aborted: ${String(signal.reason)}`));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
