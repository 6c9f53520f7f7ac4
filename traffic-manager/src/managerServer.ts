/**
 * The telepath.manager.v1.Manager service: sessions, cluster info, DNS and tunnels behind one
 * grpc-js server, with a shutdown that drains before it forces.
 */
import type http2 from 'node:http2';
import { Server, ServerCredentials, type ServerWritableStream, type ServiceError, status } from '@grpc/grpc-js';
import type {
  AgentIntercepts,
  ClusterInfo,
  SessionInfo,
  WatchAgentInterceptsRequest,
  WatchClusterInfoRequest,
} from '../../protocol/src/gen/telepath/manager/v1/manager.js';
import { DisconnectReason } from '../../protocol/src/gen/telepath/tunnel/v1/tunnel.js';
import { ipToBytes } from '../../protocol/src/ipAddress.js';
import { type ManagerServer, managerService } from '../../protocol/src/manager/managerService.js';
import { type ClusterNetworks, subnetsOf } from './clusterInfo.js';
import type { ClusterInfoSource } from './clusterInfoSource.js';
import type { DnsLookup } from './dns/clusterDnsResolver.js';
import { DnsWireError, encodeName } from './dns/dnsWire.js';
import { qualifyName, renameOwners } from './dns/shortNames.js';
import { InterceptError, type InterceptRegistry } from './intercepts/interceptRegistry.js';
import type { InterceptRelay } from './intercepts/interceptRelay.js';
import type { Logger } from '../../common/src/log/jsonLogger.js';
import { type ClientSession, type SessionRegistry, sessionEndReason } from './sessions.js';
import type { DnsAnswerMemory } from './tunnel/dnsAnswerMemory.js';
import { TunnelService } from './tunnel/tunnelService.js';

export const PROGRAM_NAME = 'traffic-manager';

export interface ManagerServerOptions {
  version: string;
  /** The namespace the manager runs in, reported in ClusterInfo. */
  namespace: string;
  sessions: SessionRegistry;
  clusterInfo: ClusterInfoSource;
  dns: DnsLookup;
  /** Where LookupDNS answers go, so that tunnels may reach them (tunnel/destinationPolicy.ts). */
  dnsAnswers: Pick<DnsAnswerMemory, 'remember'>;
  tunnels: TunnelService;
  intercepts: InterceptRegistry;
  relay: InterceptRelay;
  logger: Logger;
}

type WatchCall = ServerWritableStream<WatchClusterInfoRequest, ClusterInfo>;
type AgentWatchCall = ServerWritableStream<WatchAgentInterceptsRequest, AgentIntercepts>;

/** Per-stream HTTP/2 receive window the manager advertises (default would be 64 KiB). */
export const STREAM_WINDOW_BYTES = 8 * 1024 * 1024;
/** HTTP/2 receive window of each whole connection (Node's default stays at 64 KiB). */
export const CONNECTION_WINDOW_BYTES = 8 * 1024 * 1024;

/** Sets the initial stream window in the settings grpc-js passes to http2.createServer. */
export function setInitialWindow(server: Server, bytes: number): boolean {
  const opts = (server as unknown as { commonServerOptions?: { settings?: Record<string, number> } }).commonServerOptions;
  if (!opts) return false;
  opts.settings = { ...opts.settings, initialWindowSize: bytes };
  return true;
}

type Http2Servers = Map<http2.Http2Server, { sessions?: Set<http2.ServerHttp2Session> }>;
const windowRaised = new WeakSet<http2.Http2Server>();

/**
 * Raises the connection window of every HTTP/2 session of the servers `server` has bound so far,
 * the ones already open and those to come. Call after each bind; false when grpc-js no longer
 * keeps its http2 servers where this looks.
 */
export function setConnectionWindow(server: Server, bytes: number): boolean {
  const servers = (server as unknown as { http2Servers?: Http2Servers }).http2Servers;
  if (!(servers instanceof Map)) return false;
  const raise = (session: http2.ServerHttp2Session): void => {
    if (!session.destroyed) session.setLocalWindowSize(bytes);
  };
  for (const [h2, entry] of servers) {
    if (windowRaised.has(h2)) continue;
    windowRaised.add(h2);
    h2.on('session', raise);
    entry.sessions?.forEach(raise);
  }
  return true;
}

export class ManagerServerHost {
  private readonly server = new Server({
    // Dead port-forwards must not keep sessions' streams around forever.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  });
  // Upload throughput of a tunnel stream is one HTTP/2 receive window per round trip through the
  // port-forward, for the stream and for the connection that carries all of them; grpc-js's server
  // offers no option for either (its client has grpc-node.flow_control_window; grpc-node#3058
  // would add it). Its http2 server options are a plain field read at bind time, and it keeps its
  // http2 servers in a map: the stream window is set in the one, the connection window on each
  // session of the other (checked by managerServer.test.ts).
  private readonly watches = new Set<WatchCall>();
  private readonly logger: Logger;
  private shuttingDown = false;

  constructor(private readonly options: ManagerServerOptions) {
    this.logger = options.logger;
    if (!setInitialWindow(this.server, STREAM_WINDOW_BYTES)) {
      this.logger.warn('cannot raise the HTTP/2 stream window (grpc-js changed); uploads through tunnels will be slower');
    }
    this.server.addService(managerService, this.implementation());
  }

  /** Binds `address` ("0.0.0.0:8081", "unix:/path"); resolves with the port. */
  listen(address: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, ServerCredentials.createInsecure(), (e, port) => {
        if (e) return reject(e);
        if (!setConnectionWindow(this.server, CONNECTION_WINDOW_BYTES)) {
          this.logger.warn('cannot raise the HTTP/2 connection window (grpc-js changed); uploads through tunnels will be slower');
        }
        resolve(port);
      });
    });
  }

  /**
   * Stops taking calls and ends the cluster-info watches at once (clients reconnect to the next
   * manager); gives tunnels `drainMs` to finish, then disconnects the rest and forces the server
   * closed `forceMs` later.
   */
  async shutdown(drainMs: number, forceMs = 1000): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    const { tunnels, sessions } = this.options;
    this.logger.info('shutting down', { tunnels: tunnels.activeCount, drainMs });
    for (const w of [...this.watches]) endWatch(w, status.UNAVAILABLE, 'the traffic-manager is shutting down');
    this.options.relay.disconnectAll('the traffic-manager is shutting down');
    const drained = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    if (!(await settlesWithin(drained, drainMs))) {
      this.logger.info('drain deadline passed; disconnecting tunnels', { tunnels: tunnels.activeCount });
      tunnels.disconnectAll(DisconnectReason.SHUTDOWN, 'the traffic-manager is shutting down');
      if (!(await settlesWithin(drained, forceMs))) this.server.forceShutdown();
    }
    sessions.endAll('shutdown');
    this.logger.info('shut down');
  }

  private implementation(): ManagerServer {
    const { version, sessions, dns, dnsAnswers, tunnels, intercepts, relay, logger } = this.options;
    const rpcLog = logger.child('rpc');
    return {
      version: (_call, callback) => callback(null, { version, name: PROGRAM_NAME }),

      arriveAsClient: (call, callback) => {
        const c = call.request.client;
        if (!c?.name) return callback(serviceError(status.INVALID_ARGUMENT, 'client.name is required'));
        const session = sessions.arrive({ name: c.name, installId: c.installId, namespace: c.namespace, version: c.version });
        callback(null, { session: { sessionId: session.id }, ttlMs: sessions.ttlMs });
      },

      remain: (call, callback) => {
        const id = call.request.session?.sessionId ?? '';
        if (!sessions.remain(id)) return callback(unknownSession(call.request.session));
        callback(null, {});
      },

      depart: (call, callback) => {
        const id = call.request.session?.sessionId ?? '';
        if (!sessions.depart(id)) return callback(unknownSession(call.request.session));
        callback(null, {});
      },

      watchClusterInfo: (call) => this.watchClusterInfo(call),

      lookupDns: (call, callback) => {
        const { name, qtype } = call.request;
        const session = sessions.get(call.request.session?.sessionId ?? '');
        if (!session) return callback(unknownSession(call.request.session));
        const domain = this.options.clusterInfo.current()?.clusterDomain ?? 'cluster.local';
        const asked = qualifyName(name, session.client.namespace, domain);
        try {
          encodeName(asked);
        } catch (e) {
          return callback(serviceError(status.INVALID_ARGUMENT, e instanceof DnsWireError ? e.message : String(e)));
        }
        if (!Number.isInteger(qtype) || qtype < 1 || qtype > 0xffff) {
          return callback(serviceError(status.INVALID_ARGUMENT, `bad query type ${qtype}`));
        }
        dns.lookup(asked, qtype, session.signal).then(
          (r) => {
            rpcLog.debug('dns', { name, asked, qtype, rcode: r.rcode, answers: r.answers.length });
            dnsAnswers.remember(session, asked, r.answers);
            callback(null, { rcode: r.rcode, answers: renameOwners(r.answers, asked, name.replace(/\.$/, '')) });
          },
          (e: unknown) => {
            if (session.signal.aborted) callback(sessionEnded(session));
            else callback(serviceError(status.INTERNAL, e instanceof Error ? e.message : String(e)));
          },
        );
      },

      tunnel: (call) => {
        if (this.shuttingDown) return void call.emit('error', serviceError(status.UNAVAILABLE, 'the traffic-manager is shutting down'));
        tunnels.handle(call);
      },

      createIntercept: (call, callback) => {
        const session = sessions.get(call.request.session?.sessionId ?? '');
        if (!session) return callback(unknownSession(call.request.session));
        if (!call.request.spec) return callback(serviceError(status.INVALID_ARGUMENT, 'spec is required'));
        try {
          const i = intercepts.create(session, call.request.spec);
          callback(null, { intercept: intercepts.info(i, session.id) });
        } catch (e) {
          callback(interceptError(e));
        }
      },

      removeIntercept: (call, callback) => {
        const session = sessions.get(call.request.session?.sessionId ?? '');
        if (!session) return callback(unknownSession(call.request.session));
        try {
          intercepts.remove(session, call.request.name);
          callback(null, {});
        } catch (e) {
          callback(interceptError(e));
        }
      },

      listIntercepts: (call, callback) => {
        const session = sessions.get(call.request.session?.sessionId ?? '');
        if (!session) return callback(unknownSession(call.request.session));
        callback(null, { intercepts: intercepts.list(call.request.namespace, session.id) });
      },

      listAgents: (call, callback) => {
        const session = sessions.get(call.request.session?.sessionId ?? '');
        if (!session) return callback(unknownSession(call.request.session));
        callback(null, { agents: intercepts.listAgents(call.request.namespace, call.request.workloadName) });
      },

      watchDials: (call) => {
        const session = sessions.get(call.request.session?.sessionId ?? '');
        if (!session) return void call.emit('error', unknownSession(call.request.session));
        relay.watchDials(call, session);
      },

      arriveAsAgent: (call, callback) => {
        const a = call.request.agent;
        if (!a?.namespace || !a.workloadName || !a.podName) {
          return callback(serviceError(status.INVALID_ARGUMENT, 'agent.namespace, workload_name and pod_name are required'));
        }
        const session = sessions.arrive({
          name: `agent ${a.namespace}/${a.podName}`,
          installId: `agent/${a.namespace}/${a.podName}`,
          namespace: a.namespace,
          version: a.version,
        });
        intercepts.addAgent(session, a);
        callback(null, { session: { sessionId: session.id }, ttlMs: sessions.ttlMs });
      },

      watchAgentIntercepts: (call) => this.watchAgentIntercepts(call),
    };
  }

  private watchAgentIntercepts(call: AgentWatchCall): void {
    const { sessions, intercepts } = this.options;
    const id = call.request.session?.sessionId ?? '';
    const session = sessions.get(id);
    const agent = intercepts.agent(id);
    if (!session || !agent) return void call.emit('error', unknownSession(call.request.session));
    if (this.shuttingDown) return endAgentWatch(call, status.UNAVAILABLE, 'the traffic-manager is shutting down');
    const send = (): void => {
      if (!call.writableEnded && !call.destroyed) call.write({ intercepts: intercepts.forWorkload(agent.info.namespace, agent.info.workloadName) });
    };
    const unsubscribe = intercepts.onWorkloadChange(agent.info.namespace, agent.info.workloadName, send);
    const onSessionEnd = (): void => endAgentWatch(call, status.NOT_FOUND, `session ${session.id} ended`);
    session.signal.addEventListener('abort', onSessionEnd, { once: true });
    const cleanup = (): void => {
      unsubscribe();
      session.signal.removeEventListener('abort', onSessionEnd);
    };
    call.on('cancelled', cleanup);
    call.on('finish', cleanup);
    call.on('error', cleanup);
    send();
  }

  private watchClusterInfo(call: WatchCall): void {
    const { sessions, clusterInfo, namespace } = this.options;
    const session = sessions.get(call.request.session?.sessionId ?? '');
    if (!session) return void call.emit('error', unknownSession(call.request.session));
    if (this.shuttingDown) return endWatch(call, status.UNAVAILABLE, 'the traffic-manager is shutting down');
    const send = (n: ClusterNetworks): void => {
      if (!call.writableEnded) call.write(toClusterInfo(n, namespace));
    };
    const unsubscribe = clusterInfo.subscribe(send);
    const onSessionEnd = (): void => endWatch(call, status.NOT_FOUND, sessionEnded(session).details ?? 'session ended');
    session.signal.addEventListener('abort', onSessionEnd, { once: true });
    this.watches.add(call);
    const cleanup = (): void => {
      unsubscribe();
      session.signal.removeEventListener('abort', onSessionEnd);
      this.watches.delete(call);
    };
    call.on('cancelled', cleanup);
    call.on('finish', cleanup);
    call.on('error', cleanup);
    const current = clusterInfo.current();
    if (current) send(current);
  }
}

export function toClusterInfo(n: ClusterNetworks, managerNamespace: string): ClusterInfo {
  return {
    serviceSubnets: subnetsOf(n.serviceCidrs),
    podSubnets: subnetsOf(n.podCidrs),
    dnsIp: n.dnsServer ? ipToBytes(n.dnsServer) : new Uint8Array(0),
    clusterDomain: n.clusterDomain,
    managerNamespace,
  };
}

function endWatch(call: WatchCall, code: status, details: string): void {
  if (!call.writableEnded && !call.destroyed) call.emit('error', serviceError(code, details));
}

function endAgentWatch(call: AgentWatchCall, code: status, details: string): void {
  if (!call.writableEnded && !call.destroyed) call.emit('error', serviceError(code, details));
}

function interceptError(e: unknown): Partial<ServiceError> {
  if (e instanceof InterceptError) {
    const code = e.kind === 'conflict' ? status.ALREADY_EXISTS : e.kind === 'notFound' ? status.NOT_FOUND : status.INVALID_ARGUMENT;
    return serviceError(code, e.message);
  }
  return serviceError(status.INTERNAL, e instanceof Error ? e.message : String(e));
}

function serviceError(code: status, details: string): Partial<ServiceError> {
  return { code, details };
}

function unknownSession(session: SessionInfo | undefined): Partial<ServiceError> {
  return serviceError(status.NOT_FOUND, `unknown or expired session ${JSON.stringify(session?.sessionId ?? '')}`);
}

function sessionEnded(session: ClientSession): Partial<ServiceError> {
  return serviceError(status.NOT_FOUND, `session ${session.id} ${sessionEndReason(session.signal) ?? 'ended'}`);
}

function settlesWithin(p: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void p.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
