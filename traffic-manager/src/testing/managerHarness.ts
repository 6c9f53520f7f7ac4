/**
 * For the manager's unit tests: the real ManagerServerHost with its two listeners on unix sockets
 * and a real grpc-js client for each, a cluster-info source the test controls, an agent check that
 * accepts one test token, and a tunnel client that reads a stream as a queue of messages. Not a
 * test file itself (no .test.ts), so the runner does not run it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type ClientDuplexStream, credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import type { AgentInfo, ArriveAsAgentResponse, ArriveAsClientResponse, InterceptSpec } from '../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { Protocol, type TunnelMessage, type TunnelOpen } from '../../../protocol/src/gen/telepath/tunnel/v1/tunnel.js';
import { ipToBytes } from '../../../protocol/src/ipAddress.js';
import { ManagerClient } from '../../../protocol/src/manager/managerService.js';
import { API_LEVEL, MIN_API_LEVEL, type ApiRange } from '../../../protocol/src/version.js';
import type { ClientRightsCheck, RightVerdict } from '../auth/clientRights.js';
import type { RightName } from '../../../common/src/sessionIdentity.js';
import type { AgentArrivalCheck } from '../auth/agentVerifier.js';
import type { ClusterNetworks } from '../clusterInfo.js';
import type { ClusterInfoSource } from '../clusterInfoSource.js';
import type { DnsLookup } from '../dns/clusterDnsResolver.js';
import { InterceptRegistry } from '../intercepts/interceptRegistry.js';
import { InterceptRelay, type InterceptRelayOptions } from '../intercepts/interceptRelay.js';
import { silentLogger } from '../../../common/src/log/jsonLogger.js';
import { ManagerServerHost } from '../managerServer.js';
import { type Clock, SessionRegistry } from '../sessions.js';
import { DestinationGuard } from '../tunnel/destinationGuard.js';
import { DnsAnswerMemory } from '../tunnel/dnsAnswerMemory.js';
import { TunnelService, type TunnelServiceOptions } from '../tunnel/tunnelService.js';

/** A cluster-info source whose snapshots the test sets. */
export class SettableClusterInfo implements ClusterInfoSource {
  private snapshot: ClusterNetworks | undefined;
  private readonly listeners = new Set<(n: ClusterNetworks) => void>();

  constructor(initial?: ClusterNetworks) {
    this.snapshot = initial;
  }

  current(): ClusterNetworks | undefined {
    return this.snapshot;
  }

  subscribe(listener: (n: ClusterNetworks) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  set(n: ClusterNetworks): void {
    this.snapshot = n;
    for (const l of [...this.listeners]) l(n);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }
}

export class ManualClock implements Clock {
  constructor(private t = 1_000_000) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/** The one token the harness's agent check accepts (for any claim). */
export const TEST_AGENT_TOKEN = 'test-agent-token';

/** Accepts TEST_AGENT_TOKEN and nothing else, and records what it was asked. */
export class TestAgentCheck implements AgentArrivalCheck {
  readonly asked: { token: string | undefined; podName: string }[] = [];
  verify(token: string | undefined, claim: Pick<AgentInfo, 'podName'>): ReturnType<AgentArrivalCheck['verify']> {
    this.asked.push({ token, podName: claim.podName });
    if (token === TEST_AGENT_TOKEN) return Promise.resolve({ ok: true, identity: { namespace: 'samples', serviceAccount: 'default', podName: claim.podName, podUid: 'uid' } });
    return Promise.resolve({ ok: false, code: 'unauthenticated', reason: 'not the test token' });
  }
}

/** `authorization: Bearer <token>`, as an agent sends it. */
export function bearer(token: string): Metadata {
  const m = new Metadata();
  m.set('authorization', `Bearer ${token}`);
  return m;
}

/** An agent of Deployment samples/echo in pod `podName`. */
export function echoAgent(podName: string): AgentInfo {
  return {
    namespace: 'samples',
    workloadKind: 'Deployment',
    workloadName: 'echo',
    podName,
    podIp: ipToBytes('10.244.0.9'),
    container: 'echo',
    ports: [{ agentPort: 9900, name: 'http', appPort: 8080, protocol: 'TCP', services: [] }],
    environment: { SAMPLE_GREETING: 'hello' },
    version: '9.8.7',
    apiLevel: API_LEVEL,
    minApiLevel: MIN_API_LEVEL,
    sftpPort: 0,
    environmentWithheld: '',
  };
}

/**
 * Rights as a test sets them: every right in every namespace unless `only` is given, then only the
 * listed "right namespace" pairs (e.g. "intercept samples"), for every session.
 */
export class TestClientRights implements ClientRightsCheck {
  forgotten: string[] = [];
  constructor(public only?: Set<string>) {}
  check(_sessionId: string, right: RightName, namespace: string): Promise<RightVerdict> {
    if (!this.only || this.only.has(`${right} ${namespace}`)) return Promise.resolve({ ok: true, user: { username: 'tester' } });
    return Promise.resolve({ ok: false, code: 'denied', reason: `tester may not ${right} in namespace ${namespace}` });
  }
  forget(sessionId: string): void {
    this.forgotten.push(sessionId);
  }
}

export interface TestManager {
  /** A client of the daemons' listener. */
  client: ManagerClient;
  /** A client of the agents' listener. */
  agentClient: ManagerClient;
  host: ManagerServerHost;
  sessions: SessionRegistry;
  relay: InterceptRelay;
  tunnels: TunnelService;
  dnsAnswers: DnsAnswerMemory;
  intercepts: InterceptRegistry;
  clusterInfo: SettableClusterInfo;
  clock: ManualClock;
  agentCheck: AgentArrivalCheck;
  /** The daemons' listener: "127.0.0.1:PORT". */
  address: string;
  agentAddress: string;
  /** A fresh session in `namespace`, of a client that sends no heartbeats unless `heartbeatMs` says so. */
  arrive(namespace?: string, installId?: string, heartbeatMs?: number): Promise<string>;
  /** An agent session for `info` (echoAgent by default) with the test token, on the agent listener. */
  arriveAgent(podName: string, info?: AgentInfo): Promise<string>;
  close(): Promise<void>;
}

export interface TestManagerOptions {
  dns?: DnsLookup;
  clusterInfo?: ClusterNetworks;
  ttlMs?: number;
  /**
   * The destination policy's TELEPATH_TUNNEL_ALLOW. The default opens loopback, where the tests'
   * destinations listen; [] leaves the policy as a real install has it.
   */
  tunnelAllow?: string[];
  /** The policy's "manager pod's own addresses". */
  managerIps?: string[];
  tunnel?: Partial<TunnelServiceOptions>;
  relay?: Partial<InterceptRelayOptions>;
  /** TestAgentCheck by default. */
  agentCheck?: AgentArrivalCheck;
  /** TestClientRights (everything allowed) by default. */
  clientRights?: ClientRightsCheck;
  /** ManagerServerOptions.interceptRefusal, e.g. the idle-agent removal's. */
  interceptRefusal?: (spec: InterceptSpec) => string | undefined;
  /** The API levels the manager serves: this build's by default. */
  api?: ApiRange;
}

export const NO_DNS: DnsLookup = { lookup: () => Promise.resolve({ rcode: 2, answers: [] }) };

export async function startTestManager(options: TestManagerOptions = {}): Promise<TestManager> {
  const dir = mkdtempSync(path.join(tmpdir(), 'telepath-manager-'));
  // TCP on loopback, as the real daemons' listener: a client session is bound to its connection
  // by peer address, which unix sockets do not have.
  let address = '127.0.0.1:0';
  const agentAddress = `unix:${path.join(dir, 'agents.sock')}`;
  const clock = new ManualClock();
  const sessions = new SessionRegistry({ ttlMs: options.ttlMs ?? 60_000, clock, logger: silentLogger });
  const intercepts = new InterceptRegistry(silentLogger);
  const lookupSession = sessions.get.bind(sessions);
  const relay = new InterceptRelay({ registry: intercepts, lookupSession, logger: silentLogger, presence: sessions, ...options.relay });
  const clusterInfo = new SettableClusterInfo(options.clusterInfo);
  const dnsAnswers = new DnsAnswerMemory({ clusterDomain: () => clusterInfo.current()?.clusterDomain ?? 'cluster.local', clock });
  const destinations = new DestinationGuard({
    clusterInfo,
    dnsAnswers,
    tunnelAllow: options.tunnelAllow ?? ['127.0.0.0/8', '::1/128'],
    managerIps: options.managerIps ?? [],
  });
  const tunnels = new TunnelService({ lookupSession, destinations, logger: silentLogger, intercepts: relay, ...options.tunnel });
  const agentCheck = options.agentCheck ?? new TestAgentCheck();
  const host = new ManagerServerHost({
    version: '9.8.7',
    ...(options.api ? { api: options.api } : {}),
    namespace: 'telepath',
    sessions,
    clusterInfo,
    dns: options.dns ?? NO_DNS,
    dnsAnswers,
    tunnels,
    intercepts,
    relay,
    agentArrivals: agentCheck,
    clientRights: options.clientRights ?? new TestClientRights(),
    ...(options.interceptRefusal ? { interceptRefusal: options.interceptRefusal } : {}),
    logger: silentLogger,
  });
  address = `127.0.0.1:${await host.listen('client', address)}`;
  await host.listen('agent', agentAddress);
  const client = new ManagerClient(address, credentials.createInsecure());
  const agentClient = new ManagerClient(agentAddress, credentials.createInsecure());
  let installs = 0;
  return {
    client,
    agentClient,
    host,
    sessions,
    relay,
    tunnels,
    dnsAnswers,
    intercepts,
    clusterInfo,
    clock,
    agentCheck,
    address,
    agentAddress,
    async arrive(namespace = 'samples', installId = `install-${++installs}`, heartbeatMs = 0) {
      const r = await unary<ArriveAsClientResponse>((cb) =>
        client.arriveAsClient({ client: { name: 'tester@test', installId, namespace, version: '9.8.7', heartbeatMs, apiLevel: API_LEVEL, minApiLevel: MIN_API_LEVEL } }, cb),
      );
      return r.session?.sessionId ?? '';
    },
    async arriveAgent(podName, info = echoAgent(podName)) {
      const r = await unary<ArriveAsAgentResponse>((cb) => agentClient.arriveAsAgent({ agent: info }, bearer(TEST_AGENT_TOKEN), cb));
      return r.session?.sessionId ?? '';
    },
    async close() {
      client.close();
      agentClient.close();
      await host.shutdown(0, 100);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Promise of a unary call: `unary<R>((cb) => client.method(request, cb))`. */
export function unary<Res>(start: (cb: (err: ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => start((err, res) => (err ? reject(err) : resolve(res))));
}

export function tcpOpen(sessionId: string, ip: string, port: number, extra: Partial<TunnelOpen> = {}): TunnelMessage {
  return {
    message: {
      $case: 'open',
      value: {
        protocol: Protocol.TCP,
        destinationIp: ipToBytes(ip),
        destinationPort: port,
        sourceIp: ipToBytes('100.64.0.2'),
        sourcePort: 40000,
        sessionId,
        dialTimeoutMs: 2000,
        interceptId: '',
        ...extra,
      },
    },
  };
}

export type TunnelEvent = { kind: 'message'; message: NonNullable<TunnelMessage['message']> } | { kind: 'end'; code: status; details: string };

/** One Tunnel call whose incoming messages, and its final status, are read in order with next(). */
export class TunnelClient {
  readonly call: ClientDuplexStream<TunnelMessage, TunnelMessage>;
  private readonly queue: TunnelEvent[] = [];
  private waiter: ((e: TunnelEvent) => void) | undefined;
  private ended = false;

  constructor(client: ManagerClient) {
    this.call = client.tunnel();
    this.call.on('data', (m: TunnelMessage) => {
      if (m.message) this.push({ kind: 'message', message: m.message });
    });
    this.call.on('status', (s: { code: status; details: string }) => this.push({ kind: 'end', code: s.code, details: s.details }));
    // The status event carries errors too; without a listener an error status would throw.
    this.call.on('error', () => undefined);
  }

  send(message: NonNullable<TunnelMessage['message']>): boolean {
    return this.call.write({ message });
  }

  /** The next message or the end of the call; rejects after `timeoutMs`. */
  next(timeoutMs = 5000): Promise<TunnelEvent> {
    const e = this.queue.shift();
    if (e) return Promise.resolve(e);
    if (this.ended) return Promise.reject(new Error('the call has ended'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no tunnel message in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (ev) => {
        clearTimeout(timer);
        resolve(ev);
      };
    });
  }

  /** Messages until the end of the call, then its status. */
  async rest(timeoutMs = 5000): Promise<{ messages: NonNullable<TunnelMessage['message']>[]; code: status; details: string }> {
    const messages: NonNullable<TunnelMessage['message']>[] = [];
    for (;;) {
      const e = await this.next(timeoutMs);
      if (e.kind === 'end') return { messages, code: e.code, details: e.details };
      messages.push(e.message);
    }
  }

  private push(e: TunnelEvent): void {
    if (e.kind === 'end') this.ended = true;
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w(e);
    } else {
      this.queue.push(e);
    }
  }
}
