/**
 * A command-line client of a running traffic-manager, for tests and for debugging an install:
 * arrives as a client, reads the first ClusterInfo, runs the DNS lookups and tunnels of a plan,
 * departs, and prints one JSON report on stdout.
 *
 *   node --import tsx traffic-manager/tools/managerProbe.ts 127.0.0.1:PORT '<plan JSON>'
 *
 * The plan: { namespace?, lookups?: [{name, qtype}], tunnels?: [{protocol: 'tcp'|'udp', ip, port,
 * send?: string[], closeSend?: 'first'|'after', replies?: number}] }. For TCP, `send` is written
 * at once and `closeSend: 'first'` follows it; otherwise the probe waits for the peer's CloseSend
 * and answers with its own. For UDP each `send` entry is a datagram and `replies` datagrams are
 * awaited before CloseSend.
 */
import { credentials, type ServiceError, status } from '@grpc/grpc-js';
import type {
  ArriveAsClientResponse,
  ClusterInfo,
  DNSRecord,
  LookupDNSResponse,
  VersionResponse,
} from '../../protocol/src/gen/telepath/manager/v1/manager.js';
import { DialOutcome, DisconnectReason, Protocol, type TunnelMessage } from '../../protocol/src/gen/telepath/tunnel/v1/tunnel.js';
import { ipFromBytes, ipToBytes, subnetToCidr } from '../../protocol/src/ipAddress.js';
import { ManagerClient } from '../../protocol/src/manager/managerService.js';
import { API_LEVEL, MIN_API_LEVEL } from '../../protocol/src/version.js';

export interface ProbePlan {
  namespace?: string;
  lookups?: { name: string; qtype: number }[];
  tunnels?: TunnelPlan[];
}

export interface TunnelPlan {
  protocol: 'tcp' | 'udp';
  ip: string;
  port: number;
  send?: string[];
  closeSend?: 'first' | 'after';
  replies?: number;
}

export interface TunnelReport {
  outcome: string;
  message: string;
  /** Data received, as text; for UDP, one entry per datagram. */
  received: string[];
  peerClosedSend: boolean;
  disconnect?: string;
  status: string;
  /** From the Open to the end of the call. */
  ms: number;
}

export interface ProbeReport {
  version: VersionResponse;
  ttlMs: number;
  clusterInfo: { serviceSubnets: string[]; podSubnets: string[]; dnsIp: string; clusterDomain: string; managerNamespace: string };
  lookups: { name: string; qtype: number; rcode: number; answers: { name: string; type: number; ttl: number; data: unknown }[] }[];
  tunnels: TunnelReport[];
  /** gRPC status of Remain after Depart. */
  remainAfterDepart: string;
}

const TIMEOUT_MS = 10_000;

function unary<Res>(start: (cb: (err: ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer in time')), TIMEOUT_MS);
    start((err, res) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(res);
    });
  });
}

function recordData(r: DNSRecord): unknown {
  const d = r.data;
  switch (d?.$case) {
    case 'ip':
      return ipFromBytes(d.value);
    case 'txt':
      return d.value.strings.map((s) => Buffer.from(s).toString());
    case 'rdata':
      return Buffer.from(d.value).toString('hex');
    default:
      return d?.value;
  }
}

async function probe(address: string, plan: ProbePlan): Promise<ProbeReport> {
  const client = new ManagerClient(address, credentials.createInsecure());
  try {
    const version = await unary<VersionResponse>((cb) => client.version({}, cb));
    const arrived = await unary<ArriveAsClientResponse>((cb) =>
      client.arriveAsClient({ client: { name: 'probe@test', installId: `probe-${process.pid}`, namespace: plan.namespace ?? 'default', version: version.version, heartbeatMs: 0, apiLevel: API_LEVEL, minApiLevel: MIN_API_LEVEL } }, cb),
    );
    const session = { sessionId: arrived.session?.sessionId ?? '' };
    const clusterInfo = await firstClusterInfo(client, session.sessionId);
    const lookups: ProbeReport['lookups'] = [];
    for (const l of plan.lookups ?? []) {
      const r = await unary<LookupDNSResponse>((cb) => client.lookupDns({ session, name: l.name, qtype: l.qtype }, cb));
      lookups.push({ ...l, rcode: r.rcode, answers: r.answers.map((a) => ({ name: a.name, type: a.type, ttl: a.ttl, data: recordData(a) })) });
    }
    const tunnels: TunnelReport[] = [];
    for (const t of plan.tunnels ?? []) tunnels.push(await runTunnel(client, session.sessionId, t));
    await unary((cb) => client.depart({ session }, cb));
    const remainAfterDepart = await unary((cb) => client.remain({ session }, cb)).then(
      () => 'OK',
      (e: ServiceError) => status[e.code] ?? String(e.code),
    );
    return {
      version,
      ttlMs: arrived.ttlMs,
      clusterInfo: {
        serviceSubnets: clusterInfo.serviceSubnets.map(subnetToCidr),
        podSubnets: clusterInfo.podSubnets.map(subnetToCidr),
        dnsIp: clusterInfo.dnsIp.length ? ipFromBytes(clusterInfo.dnsIp) : '',
        clusterDomain: clusterInfo.clusterDomain,
        managerNamespace: clusterInfo.managerNamespace,
      },
      lookups,
      tunnels,
      remainAfterDepart,
    };
  } finally {
    client.close();
  }
}

function firstClusterInfo(client: ManagerClient, sessionId: string): Promise<ClusterInfo> {
  return new Promise((resolve, reject) => {
    const call = client.watchClusterInfo({ session: { sessionId } });
    const timer = setTimeout(() => {
      call.cancel();
      reject(new Error('no ClusterInfo in time'));
    }, TIMEOUT_MS);
    call.on('error', (e: ServiceError) => {
      if (e.code !== status.CANCELLED) reject(e);
    });
    call.once('data', (info: ClusterInfo) => {
      clearTimeout(timer);
      call.cancel();
      resolve(info);
    });
  });
}

function runTunnel(client: ManagerClient, sessionId: string, plan: TunnelPlan): Promise<TunnelReport> {
  return new Promise((resolve, reject) => {
    const call = client.tunnel();
    const started = performance.now();
    const report: TunnelReport = { outcome: '', message: '', received: [], peerClosedSend: false, status: '', ms: 0 };
    const timer = setTimeout(() => {
      call.cancel();
      reject(new Error(`tunnel to ${plan.ip}:${plan.port} did not finish in time: ${JSON.stringify(report)}`));
    }, TIMEOUT_MS);
    let tcpText = '';
    const send = (message: NonNullable<TunnelMessage['message']>): void => void call.write({ message });
    call.on('data', (m: TunnelMessage) => {
      const msg = m.message;
      switch (msg?.$case) {
        case 'dialResult':
          report.outcome = DialOutcome[msg.value.outcome] ?? String(msg.value.outcome);
          report.message = msg.value.message;
          if (msg.value.outcome !== DialOutcome.OK) return;
          for (const s of plan.send ?? []) send({ $case: 'data', value: Buffer.from(s) });
          if (plan.protocol === 'tcp' && plan.closeSend === 'first') send({ $case: 'closeSend', value: {} });
          if (plan.protocol === 'udp' && (plan.replies ?? 0) === 0) send({ $case: 'closeSend', value: {} });
          return;
        case 'data':
          if (plan.protocol === 'udp') {
            report.received.push(Buffer.from(msg.value).toString());
            if (report.received.length === plan.replies) send({ $case: 'closeSend', value: {} });
          } else {
            tcpText += Buffer.from(msg.value).toString();
          }
          return;
        case 'closeSend':
          report.peerClosedSend = true;
          if (plan.protocol === 'tcp' && plan.closeSend !== 'first') send({ $case: 'closeSend', value: {} });
          return;
        case 'disconnect':
          report.disconnect = `${DisconnectReason[msg.value.reason]}: ${msg.value.error}`;
          return;
        default:
          return;
      }
    });
    call.on('error', () => undefined);
    call.on('status', (s: { code: status }) => {
      clearTimeout(timer);
      if (tcpText) report.received.push(tcpText);
      report.status = status[s.code] ?? String(s.code);
      report.ms = Math.round(performance.now() - started);
      call.end();
      resolve(report);
    });
    call.write({
      message: {
        $case: 'open',
        value: {
          protocol: plan.protocol === 'tcp' ? Protocol.TCP : Protocol.UDP,
          destinationIp: ipToBytes(plan.ip),
          destinationPort: plan.port,
          sourceIp: ipToBytes('127.0.0.1'),
          sourcePort: 0,
          sessionId,
          dialTimeoutMs: 3000,
          interceptId: '',
        },
      },
    });
  });
}

// A script, not a library: importing it for its types (import type) does not run it.
const [address, planText] = process.argv.slice(2);
if (!address) {
  process.stderr.write('usage: managerProbe.ts HOST:PORT [PLAN_JSON]\n');
  process.exit(2);
}
probe(address, JSON.parse(planText ?? '{}') as ProbePlan).then(
  (r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`),
  (e: unknown) => {
    process.stderr.write(`probe failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
