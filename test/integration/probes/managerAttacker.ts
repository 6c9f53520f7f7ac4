/**
 * An attacker's own Manager client, for attackAgent.test.ts: it runs inside the cluster (the test
 * bundles it and pipes it to `node -` in the client pod) and makes one call the way a hostile pod
 * would, skipping the daemon and the agent. It prints one JSON line, the call's outcome, and exits
 * 0 whatever that was:
 *   call TARGET METHOD [TOKEN]       a unary call with an empty request (version, arriveAsClient,
 *                                    listAgents, listIntercepts)
 *   arrive TARGET POD [TOKEN]        ArriveAsAgent as the agent of Deployment samples/echo in POD,
 *                                    handing workstations NODE_OPTIONS to run
 *   dial TARGET IP PORT              a Tunnel that asks the manager to dial IP:PORT
 * TOKEN is a token, or @FILE to read one. Outcome: {code, details} (code as grpc-js names it).
 */
import { readFileSync } from 'node:fs';
import { credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import type { AgentInfo } from '../../../protocol/src/gen/telepath/manager/v1/manager.js';
import type { TunnelMessage } from '../../../protocol/src/gen/telepath/tunnel/v1/tunnel.js';
import { ipToBytes } from '../../../protocol/src/ipAddress.js';
import { ManagerClient } from '../../../protocol/src/manager/managerService.js';
import { tcpOpen } from '../../../traffic-manager/src/testing/managerHarness.js';

interface Outcome {
  code: string;
  details: string;
  sessionId?: string;
}

const DEADLINE_MS = 5_000;

function metadataWith(token: string | undefined): Metadata {
  const m = new Metadata();
  if (token) m.set('authorization', `Bearer ${token.startsWith('@') ? readFileSync(token.slice(1), 'utf8').trim() : token}`);
  return m;
}

function outcome(err: ServiceError | null, sessionId?: string): Outcome {
  if (err) return { code: status[err.code] ?? String(err.code), details: err.details };
  return sessionId === undefined ? { code: 'OK', details: '' } : { code: 'OK', details: '', sessionId };
}

function fakeAgent(podName: string): AgentInfo {
  return {
    namespace: 'samples',
    workloadKind: 'Deployment',
    workloadName: 'echo',
    podName,
    podIp: ipToBytes('10.244.0.66'),
    container: 'echo',
    ports: [],
    // What a fake agent is after: an environment that every workstation intercepting echo runs.
    environment: { NODE_OPTIONS: '--require /tmp/attacker.js' },
    version: '0.0.0',
    apiLevel: 0,
    minApiLevel: 0,
    sftpPort: 0,
    environmentWithheld: '',
  };
}

function unary(client: ManagerClient, method: string, token: string | undefined): Promise<Outcome> {
  const options = { deadline: Date.now() + DEADLINE_MS };
  return new Promise((resolve) => {
    const done = (err: ServiceError | null): void => resolve(outcome(err));
    const m = metadataWith(token);
    switch (method) {
      case 'version':
        return void client.version({}, m, options, done);
      case 'arriveAsClient':
        return void client.arriveAsClient({ client: { name: 'mallory@client-pod', installId: 'mallory', namespace: 'samples', version: '0.0.0', heartbeatMs: 0, apiLevel: 0, minApiLevel: 0 } }, m, options, done);
      case 'listAgents':
        return void client.listAgents({ session: { sessionId: '' }, namespace: '', workloadName: '' }, m, options, done);
      case 'listIntercepts':
        return void client.listIntercepts({ session: { sessionId: '' }, namespace: '' }, m, options, done);
      default:
        resolve({ code: 'USAGE', details: `unknown method ${method}` });
    }
  });
}

function arrive(client: ManagerClient, pod: string, token: string | undefined): Promise<Outcome> {
  return new Promise((resolve) =>
    client.arriveAsAgent({ agent: fakeAgent(pod) }, metadataWith(token), { deadline: Date.now() + DEADLINE_MS }, (err, r) =>
      resolve(outcome(err, r?.session?.sessionId)),
    ),
  );
}

function dial(client: ManagerClient, ip: string, port: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const call = client.tunnel(new Metadata(), { deadline: Date.now() + DEADLINE_MS });
    let first = '';
    call.on('data', (m: TunnelMessage) => (first ||= m.message?.$case ?? 'empty'));
    call.on('error', () => undefined);
    call.on('status', (s: { code: status; details: string }) => resolve({ code: status[s.code] ?? String(s.code), details: first ? `${first}; ${s.details}` : s.details }));
    call.write(tcpOpen('', ip, port));
  });
}

async function main(argv: string[]): Promise<Outcome> {
  const [mode, target, ...rest] = argv;
  if (!target) return { code: 'USAGE', details: 'managerAttacker.ts call|arrive|dial TARGET ...' };
  const client = new ManagerClient(target, credentials.createInsecure());
  try {
    if (mode === 'call') return await unary(client, rest[0] ?? 'version', rest[1]);
    if (mode === 'arrive') return await arrive(client, rest[0] ?? '', rest[1]);
    if (mode === 'dial') return await dial(client, rest[0] ?? '', Number(rest[1]));
    return { code: 'USAGE', details: `unknown mode ${mode}` };
  } finally {
    client.close();
  }
}

main(process.argv.slice(2)).then(
  (o) => process.stdout.write(`${JSON.stringify(o)}\n`, () => process.exit(0)),
  (e: unknown) => process.stdout.write(`${JSON.stringify({ code: 'CRASH', details: e instanceof Error ? e.message : String(e) })}\n`, () => process.exit(0)),
);
