/**
 * Holds COUNT simulated client sessions at the traffic-manager for the scale benchmark
 * (scaleBench.ts), in one process, in the workstation namespace (it reaches the API server):
 *   test/cluster/ws node --import tsx test/bench/scaleSessions.ts COUNT [MANAGER_NAMESPACE]
 *
 * A simulated session is what a connected daemon does to the manager, with the daemon's own code
 * for each part: its own port-forward through the API server and gRPC channel
 * (ManagerConnection.open), ArriveAsClient with an install id of its own, the Session object that
 * proves who it is (proveSession, the admin's kubeconfig), a WatchClusterInfo stream, and Remain
 * every 1.5 s (HEARTBEAT_MS). It does not: resolve names (LookupDNS), open tunnels, intercept,
 * list, start a network role (a second connection joined to the session), or reconnect — a session
 * that breaks stays broken and is reported.
 *
 * Stdout, one JSON line each: {event:'ready', sessions, seconds} once all have arrived and have
 * their first ClusterInfo; {event:'lost', index, error} when one breaks; on SIGTERM or SIGINT they
 * depart and {event:'summary', sessions, lost, remains, remainFailures, clusterInfoMessages}
 * closes. {event:'failed', error} and exit 1 when they cannot all arrive. Progress on stderr.
 * The process ends by itself when the process that started it is gone.
 */
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import type { ClusterInfo, SessionInfo } from '../../protocol/src/gen/telepath/manager/v1/manager.js';
import { API_LEVEL, MIN_API_LEVEL, PRODUCT_VERSION } from '../../protocol/src/version.js';
import { createLogger } from '../../common/src/log/fileLogger.js';
import { loadKubeAccess, type KubeAccess } from '../../daemon/src/user/kube/kubeAccess.js';
import { HEARTBEAT_MS, ManagerConnection } from '../../daemon/src/user/session/managerConnection.js';
import { proveSession } from '../../daemon/src/user/session/sessionProof.js';
import { inFlight } from './inFlight.js';

const ARRIVING_IN_FLIGHT = 5;
const FIRST_INFO_TIMEOUT_MS = 30_000;

interface Held {
  index: number;
  conn: ManagerConnection;
  session: SessionInfo;
  stopWatch: () => void;
  timer?: NodeJS.Timeout;
  lost: boolean;
}

let stopping = false;
const counts = { remains: 0, remainFailures: 0, clusterInfoMessages: 0, lost: 0 };
const held: Held[] = [];
const log = createLogger({ level: 'warn', write: (l) => process.stderr.write(l) }, 'scale-sessions');

function emit(message: object): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function errorText(err: unknown): string {
  const e = err as Partial<ServiceError> | undefined;
  return e?.details || e?.message || String(err);
}

function lose(h: Held, why: string): void {
  // Departing cancels the watches: that is no loss.
  if (h.lost || stopping) return;
  h.lost = true;
  counts.lost++;
  clearTimeout(h.timer);
  h.stopWatch();
  emit({ event: 'lost', index: h.index, error: why });
}

function keepAlive(h: Held, everyMs: number): void {
  h.timer = setTimeout(async () => {
    if (h.lost) return;
    try {
      await h.conn.remain(h.session);
      counts.remains++;
      keepAlive(h, everyMs);
    } catch (err) {
      counts.remainFailures++;
      lose(h, `Remain failed: ${errorText(err)}`);
    }
  }, everyMs);
}

/** One session, arrived, proven and watching; resolves when its first ClusterInfo came. */
async function open(access: KubeAccess, managerNamespace: string, index: number): Promise<void> {
  const conn = await ManagerConnection.open(access, managerNamespace, log.child(`s${index}`));
  let arrived: { session: SessionInfo; ttlMs: number };
  try {
    await conn.version();
    // Not conn.arrive(): it names this process's one install id, and a second arrival with the
    // same id replaces the first session.
    arrived = await new Promise((resolve, reject) =>
      conn.client.arriveAsClient(
        { client: { name: `scale-${index}@bench`, installId: `scale-bench-${process.pid}-${index}`, namespace: access.namespace, version: PRODUCT_VERSION, heartbeatMs: HEARTBEAT_MS, apiLevel: API_LEVEL, minApiLevel: MIN_API_LEVEL } },
        new Metadata(),
        { deadline: Date.now() + 15_000 },
        (err, res) => (err ? reject(err) : resolve({ session: res!.session!, ttlMs: res!.ttlMs })),
      ),
    );
    await proveSession(access, managerNamespace, arrived.session.sessionId, `scale-${index}@bench`);
  } catch (err) {
    await conn.close();
    throw new Error(`session ${index}: ${errorText(err)}`);
  }
  const h: Held = { index, conn, session: arrived.session, stopWatch: () => undefined, lost: false };
  held.push(h);
  await new Promise<void>((resolve, reject) => {
    let first = true;
    const timer = setTimeout(() => reject(new Error(`session ${index}: no ClusterInfo within ${FIRST_INFO_TIMEOUT_MS / 1000} s`)), FIRST_INFO_TIMEOUT_MS);
    h.stopWatch = conn.watchClusterInfo(
      arrived.session,
      (_info: ClusterInfo) => {
        counts.clusterInfoMessages++;
        if (first) {
          first = false;
          clearTimeout(timer);
          resolve();
        }
      },
      (err) => {
        if (first) {
          first = false;
          clearTimeout(timer);
          reject(new Error(`session ${index}: the cluster-info stream ended: ${errorText(err)}`));
        } else if (!h.lost) {
          lose(h, `the cluster-info stream ended: ${err ? errorText(err) : 'by the manager'}`);
        }
      },
    );
  });
  // As the daemon: every heartbeat, and at least three times within the TTL.
  keepAlive(h, Math.max(500, Math.min(HEARTBEAT_MS, Math.floor(arrived.ttlMs / 3))));
}

async function departAll(): Promise<void> {
  await Promise.all(
    held.map(async (h) => {
      clearTimeout(h.timer);
      h.stopWatch();
      if (!h.lost) await h.conn.depart(h.session);
      await h.conn.close().catch(() => undefined);
    }),
  );
}

async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    await departAll();
    emit({ event: 'summary', sessions: held.length, ...counts });
  }
  process.exit(code);
}

async function main(count: number, managerNamespace: string): Promise<void> {
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) void stop(0);
  }, 2000).unref();

  const access = loadKubeAccess({ namespace: 'samples' });
  const t0 = performance.now();
  try {
    await inFlight(0, count, ARRIVING_IN_FLIGHT, async (i) => {
      await open(access, managerNamespace, i);
      if (held.length % 10 === 0 || held.length === count) process.stderr.write(`scale sessions: ${held.length}/${count} arrived\n`);
    });
  } catch (err) {
    emit({ event: 'failed', error: errorText(err) });
    return stop(1);
  }
  emit({ event: 'ready', sessions: held.length, seconds: (performance.now() - t0) / 1000 });
}

const count = Number(process.argv[2]);
if (!Number.isInteger(count) || count < 1) {
  process.stderr.write('usage: scaleSessions.ts COUNT [MANAGER_NAMESPACE]\n');
  process.exit(2);
}
main(count, process.argv[3] ?? 'telepath').catch((err: unknown) => {
  emit({ event: 'failed', error: errorText(err) });
  void stop(1);
});
