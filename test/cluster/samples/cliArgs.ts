import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DNS_RECORD_TYPES, type DnsRecordType } from './dnsLookup.js';
import { parseKeyValue, type KeyValue } from './keyValue.js';

export const DEFAULT_HOST = '0.0.0.0';
export const DEFAULT_TIMEOUT_MS = 5000;

export type ServerCommand =
  | { mode: 'http-echo'; host: string; port: number }
  | { mode: 'grpc-echo'; host: string; port: number }
  | { mode: 'tcp-echo'; host: string; port: number }
  | { mode: 'udp-echo'; host: string; port: number }
  | { mode: 'multi'; host: string; httpPort: number; tcpPort: number }
  | { mode: 'idle' };

export type ClientCommand =
  | { mode: 'http-get'; url: string; headers: KeyValue[]; count: number; timeoutMs: number }
  | { mode: 'h2-get'; url: string; headers: KeyValue[]; timeoutMs: number }
  | { mode: 'grpc-call'; target: string; metadata: KeyValue[]; message: string; timeoutMs: number }
  | { mode: 'tcp-send'; host: string; port: number; text: string; timeoutMs: number }
  | { mode: 'udp-send'; host: string; port: number; text: string; timeoutMs: number }
  | { mode: 'dns-lookup'; name: string; type?: DnsRecordType; server?: string; timeoutMs: number };

export type SampleCommand = ServerCommand | ClientCommand | { mode: 'help' };

export const USAGE = `usage: node samples.js <mode> [flags]
servers (listen on --host, default 0.0.0.0; --port 0 picks a free port):
  http-echo  [--port 8080]
  grpc-echo  [--port 50051]        h2c + gRPC telepath.samples.Echo (+ HTTP/1.1) on one port
  tcp-echo   [--port 9000]
  udp-echo   [--port 9001]
  multi      [--http-port 8080] [--tcp-port 9000]
  idle
clients (all take --timeout ms, default ${DEFAULT_TIMEOUT_MS}):
  http-get   URL [--header k=v]... [--count N]
  h2-get     URL [--header k=v]...
  grpc-call  HOST:PORT [--metadata k=v]... [--message m]
  tcp-send   HOST PORT TEXT
  udp-send   HOST PORT TEXT
  dns-lookup NAME [--type A|AAAA|SRV|CNAME] [--server IP[:PORT]]
identity: POD_NAME (else hostname), SAMPLE_GREETING, SAMPLE_SECRET,
  first line of SAMPLE_CONFIG_FILE (default /etc/sample/config.txt)`;

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

const host: Options = { host: { type: 'string' } };
const port: Options = { ...host, port: { type: 'string' } };
const timeout: Options = { timeout: { type: 'string' } };
const headers: Options = { header: { type: 'string', multiple: true } };

/** Flags and positional argument names of each mode. */
const MODES: Record<SampleCommand['mode'], { options: Options; positionals: string[] }> = {
  'http-echo': { options: port, positionals: [] },
  'grpc-echo': { options: port, positionals: [] },
  'tcp-echo': { options: port, positionals: [] },
  'udp-echo': { options: port, positionals: [] },
  multi: { options: { ...host, 'http-port': { type: 'string' }, 'tcp-port': { type: 'string' } }, positionals: [] },
  idle: { options: {}, positionals: [] },
  'http-get': { options: { ...timeout, ...headers, count: { type: 'string' } }, positionals: ['URL'] },
  'h2-get': { options: { ...timeout, ...headers }, positionals: ['URL'] },
  'grpc-call': {
    options: { ...timeout, metadata: { type: 'string', multiple: true }, message: { type: 'string' } },
    positionals: ['HOST:PORT'],
  },
  'tcp-send': { options: timeout, positionals: ['HOST', 'PORT', 'TEXT'] },
  'udp-send': { options: timeout, positionals: ['HOST', 'PORT', 'TEXT'] },
  'dns-lookup': { options: { ...timeout, type: { type: 'string' }, server: { type: 'string' } }, positionals: ['NAME'] },
  help: { options: {}, positionals: [] },
};

function isMode(mode: string): mode is SampleCommand['mode'] {
  return Object.prototype.hasOwnProperty.call(MODES, mode);
}

/** Parses `<mode> [flags]` (argv without node and the script). Throws UsageError. */
export function parseCommand(argv: readonly string[]): SampleCommand {
  const [mode, ...rest] = argv;
  if (mode === undefined || mode === '--help' || mode === '-h') return { mode: 'help' };
  if (!isMode(mode)) throw new UsageError(`unknown mode "${mode}"`);
  const spec = MODES[mode];
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...rest], options: spec.options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${mode}: ${(err as Error).message}`);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== spec.positionals.length) {
    throw new UsageError(`${mode} wants ${spec.positionals.join(' ') || 'no arguments'}, got ${positionals.length} argument(s)`);
  }
  const str = (name: string): string | undefined => {
    const v = values[name];
    return typeof v === 'string' ? v : undefined;
  };
  const list = (name: string): string[] => {
    const v = values[name];
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  };
  const hostValue = str('host') ?? DEFAULT_HOST;
  const portFlag = (name: string, fallback: number): number => parsePort(str(name) ?? String(fallback), `--${name}`);
  const timeoutMs = parsePositiveInt(str('timeout') ?? String(DEFAULT_TIMEOUT_MS), '--timeout');
  const pairs = (name: string): KeyValue[] => {
    try {
      return list(name).map((v) => parseKeyValue(v, `--${name}`));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  };

  switch (mode) {
    case 'http-echo':
      return { mode, host: hostValue, port: portFlag('port', 8080) };
    case 'grpc-echo':
      return { mode, host: hostValue, port: portFlag('port', 50051) };
    case 'tcp-echo':
      return { mode, host: hostValue, port: portFlag('port', 9000) };
    case 'udp-echo':
      return { mode, host: hostValue, port: portFlag('port', 9001) };
    case 'multi':
      return { mode, host: hostValue, httpPort: portFlag('http-port', 8080), tcpPort: portFlag('tcp-port', 9000) };
    case 'idle':
    case 'help':
      return { mode };
    case 'http-get':
      return {
        mode,
        url: positionals[0],
        headers: pairs('header'),
        count: parsePositiveInt(str('count') ?? '1', '--count'),
        timeoutMs,
      };
    case 'h2-get':
      return { mode, url: positionals[0], headers: pairs('header'), timeoutMs };
    case 'grpc-call':
      return { mode, target: positionals[0], metadata: pairs('metadata'), message: str('message') ?? 'hello', timeoutMs };
    case 'tcp-send':
    case 'udp-send':
      return { mode, host: positionals[0], port: parsePort(positionals[1], 'PORT'), text: positionals[2], timeoutMs };
    case 'dns-lookup': {
      const type = str('type')?.toUpperCase();
      if (type !== undefined && !isDnsRecordType(type)) {
        throw new UsageError(`--type must be one of ${DNS_RECORD_TYPES.join(', ')}, got "${type}"`);
      }
      return { mode, name: positionals[0], type, server: str('server'), timeoutMs };
    }
  }
}

function isDnsRecordType(type: string): type is DnsRecordType {
  return (DNS_RECORD_TYPES as readonly string[]).includes(type);
}

function parsePort(text: string, what: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 0 && n <= 65535)) throw new UsageError(`${what} must be a port number 0-65535, got "${text}"`);
  return n;
}

function parsePositiveInt(text: string, what: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && Number.isSafeInteger(n))) throw new UsageError(`${what} must be a positive integer, got "${text}"`);
  return n;
}
