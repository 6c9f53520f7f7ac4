/**
 * Sample workloads for the local test cluster, and the clients that tests run inside it, so a
 * test can tell which pod (or which workstation process) answered. CLI entry; see USAGE.
 */
import { parseCommand, USAGE, UsageError, type ClientCommand, type ServerCommand } from './cliArgs.js';
import { dnsLookup } from './dnsLookup.js';
import { grpcCall } from './grpcCall.js';
import { startGrpcEcho } from './grpcEcho.js';
import { h2Get } from './h2Get.js';
import { httpGet } from './httpGet.js';
import { startHttpEcho } from './httpEcho.js';
import { readIdentity } from './identity.js';
import { DEFAULT_GRACE_MS, type ListeningServer, type Logger } from './listeningServer.js';
import { startTcpEcho } from './tcpEcho.js';
import { tcpSend } from './tcpSend.js';
import { startUdpEcho } from './udpEcho.js';
import { udpSend } from './udpSend.js';

/**
 * SIGTERM must end the process within 1 s: drain for DEFAULT_GRACE_MS, then destroy what is left.
 * Exiting by this timer instead means the drain is broken, so it is not a clean exit (code 1).
 */
const FORCE_EXIT_MS = 900;

const log: Logger = (line) => console.log(line);

async function startServers(command: ServerCommand): Promise<ListeningServer[]> {
  const identity = readIdentity();
  switch (command.mode) {
    case 'http-echo':
      return [await startHttpEcho(identity, command.host, command.port, log)];
    case 'grpc-echo':
      return [await startGrpcEcho(identity, command.host, command.port, log)];
    case 'tcp-echo':
      return [await startTcpEcho(identity, command.host, command.port, log)];
    case 'udp-echo':
      return [await startUdpEcho(identity, command.host, command.port, log)];
    case 'multi':
      return [
        await startHttpEcho(identity, command.host, command.httpPort, log),
        await startTcpEcho(identity, command.host, command.tcpPort, log),
      ];
    case 'idle':
      return [];
  }
}

async function serve(command: ServerCommand): Promise<void> {
  let servers: ListeningServer[] = [];
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: shutting down`);
    setTimeout(() => {
      console.error(`samples: connections still open ${FORCE_EXIT_MS} ms after ${signal}; exiting anyway`);
      process.exit(1);
    }, FORCE_EXIT_MS).unref();
    Promise.all(servers.map((s) => s.close(DEFAULT_GRACE_MS))).then(
      () => process.exit(0),
      (err: Error) => {
        console.error(`samples: shutdown failed: ${err.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  servers = await startServers(command);
  for (const s of servers) log(`listening ${s.kind} ${s.host}:${s.port}`);
  if (command.mode === 'idle') {
    log('idle until SIGTERM');
    // Nothing else holds the event loop open.
    setInterval(() => undefined, 1 << 30);
  }
}

async function runClient(command: ClientCommand, signal: AbortSignal): Promise<string> {
  switch (command.mode) {
    case 'http-get':
      return (await httpGet({ url: command.url, headers: command.headers, count: command.count, signal }))
        .map(withNewline)
        .join('');
    case 'h2-get':
      return h2Get({ url: command.url, headers: command.headers, signal });
    case 'grpc-call':
      return JSON.stringify(await grpcCall({ ...command }));
    case 'tcp-send':
      return tcpSend({ host: command.host, port: command.port, text: command.text, signal });
    case 'udp-send':
      return udpSend({ ...command, signal });
    case 'dns-lookup':
      return JSON.stringify(await dnsLookup({ ...command, signal }));
  }
}

function withNewline(text: string): string {
  return text.endsWith('\n') ? text : text + '\n';
}

function exitAfterWrite(stream: NodeJS.WriteStream, text: string, code: number): void {
  stream.write(text, () => process.exit(code));
}

async function main(argv: readonly string[]): Promise<void> {
  let command;
  try {
    command = parseCommand(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return exitAfterWrite(process.stderr, `samples: ${err.message}\n${USAGE}\n`, 2);
  }
  if (command.mode === 'help') return exitAfterWrite(process.stdout, USAGE + '\n', 0);
  if (
    command.mode === 'http-echo' ||
    command.mode === 'grpc-echo' ||
    command.mode === 'tcp-echo' ||
    command.mode === 'udp-echo' ||
    command.mode === 'multi' ||
    command.mode === 'idle'
  ) {
    return serve(command);
  }
  const signal = AbortSignal.timeout(command.timeoutMs);
  try {
    exitAfterWrite(process.stdout, withNewline(await runClient(command, signal)), 0);
  } catch (err) {
    const reason = signal.aborted ? `timed out after ${command.timeoutMs} ms: ` : '';
    exitAfterWrite(process.stderr, `samples ${command.mode}: ${reason}${(err as Error).message}\n`, 1);
  }
}

main(process.argv.slice(2)).catch((err: Error) => {
  console.error(`samples: ${err.stack ?? err.message}`);
  process.exit(1);
});
