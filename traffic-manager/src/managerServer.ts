/**
 * The telepath.manager.v1.Manager service: sessions, cluster info, DNS and tunnels, with a
 * shutdown that drains before it forces.
 *
 * Two listeners, one grpc-js server each, over the same registries. The client listener, bound to
 * the pod's loopback only, serves what a workstation's daemon calls; a daemon reaches it through a
 * Kubernetes port-forward, so the API server has checked that its user may port-forward to the
 * manager pod. The agent listener, on every address and behind the manager's Service, serves what
 * agents call, and an agent arrives only with a token of its pod that the API server vouches for
 * (auth/). On each listener the other's methods answer PERMISSION_DENIED, and sessions are found
 * only on the listener they were opened on.
 */
import type http2 from 'node:http2';
import { type Metadata, Server, ServerCredentials, type ServerWritableStream, type ServiceError, status } from '@grpc/grpc-js';
import type {
  AgentInfo,
  AgentIntercepts,
  ClusterInfo,
  InterceptSpec,
  SessionInfo,
  WatchAgentInterceptsRequest,
  WatchClusterInfoRequest,
} from '../../protocol/src/gen/telepath/manager/v1/manager.js';
import { DisconnectReason } from '../../protocol/src/gen/telepath/tunnel/v1/tunnel.js';
import { ipToBytes } from '../../protocol/src/ipAddress.js';
import { type ManagerServer, managerService } from '../../protocol/src/manager/managerService.js';
import type { AgentArrivalCheck } from './auth/agentVerifier.js';
import type { ClientRightsCheck, RightVerdict } from './auth/clientRights.js';
import { type ClusterNetworks, subnetsOf } from './clusterInfo.js';
import type { ClusterInfoSource } from './clusterInfoSource.js';
import type { DnsLookup } from './dns/clusterDnsResolver.js';
import { DnsWireError, encodeName } from './dns/dnsWire.js';
import { qualifyName, renameOwners } from './dns/shortNames.js';
import { InterceptError, type InterceptRegistry } from './intercepts/interceptRegistry.js';
import type { InterceptRelay } from './intercepts/interceptRelay.js';
import type { Logger } from '../../common/src/log/jsonLogger.js';
import { sessionHandle } from '../../common/src/sessionIdentity.js';
import { type ClientSession, type SessionKind, type SessionRegistry, sessionEndReason } from './sessions.js';
import { apiCompatible, apiRange, formatApiRange, OWN_API, type ApiRange } from '../../protocol/src/version.js';
import type { DnsAnswerMemory } from './tunnel/dnsAnswerMemory.js';
import { TunnelService } from './tunnel/tunnelService.js';

export const PROGRAM_NAME = 'traffic-manager';

/** Which of the two listeners: the daemons' (loopback, via port-forward) or the agents'. */
export type Listener = SessionKind;

type MethodName = keyof typeof managerService;
/** What only a workstation's daemon calls. */
const CLIENT_METHODS = [
  'arriveAsClient',
  'joinSession',
  'watchClusterInfo',
  'lookupDns',
  'createIntercept',
  'removeIntercept',
  'listIntercepts',
  'listAgents',
  'authorizeVolumes',
  'watchDials',
] as const satisfies readonly MethodName[];
/** What only agents call. */
const AGENT_METHODS = ['arriveAsAgent', 'watchAgentIntercepts'] as const satisfies readonly MethodName[];
/** Both: sessions are kept and ended on the listener that opened them; Tunnel checks its first message. */
type SharedMethod = 'version' | 'remain' | 'depart' | 'tunnel';
// A method added to the service does not compile until it is given to a listener above.
const everyMethodHasAListener: Record<Exclude<MethodName, (typeof CLIENT_METHODS | typeof AGENT_METHODS)[number] | SharedMethod>, never> = {};
void everyMethodHasAListener;

export interface ManagerServerOptions {
  version: string;
  /** The API levels served; this build's (OWN_API) unless a test plays another build. */
  api?: ApiRange;
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
  /** Decides whether an ArriveAsAgent comes from the pod it claims. */
  agentArrivals: AgentArrivalCheck;
  /** Decides whether a client session's user may intercept, or read the environment, in a namespace. */
  clientRights: ClientRightsCheck;
  /** Called once when a client session ends, however it ends. */
  onClientSessionEnded?: (sessionId: string) => void;
  /** Why an intercept of this workload cannot be created now (its agent was just removed as idle); undefined when it can. */
  interceptRefusal?: (spec: InterceptSpec) => string | undefined;
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

/**
 * Calls `each` for every HTTP/2 session of the servers `server` has bound so far, the ones open
 * now and those to come, once per http2 server and `purpose`; false when grpc-js no longer keeps
 * its http2 servers where this looks.
 */
function onEveryHttp2Session(server: Server, purpose: WeakSet<http2.Http2Server>, each: (session: http2.ServerHttp2Session) => void): boolean {
  const servers = (server as unknown as { http2Servers?: Http2Servers }).http2Servers;
  if (!(servers instanceof Map)) return false;
  for (const [h2, entry] of servers) {
    if (purpose.has(h2)) continue;
    purpose.add(h2);
    h2.on('session', each);
    entry.sessions?.forEach(each);
  }
  return true;
}

const windowRaised = new WeakSet<http2.Http2Server>();

/**
 * Raises the connection window of every HTTP/2 session of the servers `server` has bound so far,
 * the ones already open and those to come. Call after each bind; false when grpc-js no longer
 * keeps its http2 servers where this looks.
 */
export function setConnectionWindow(server: Server, bytes: number): boolean {
  return onEveryHttp2Session(server, windowRaised, (session) => {
    if (!session.destroyed) session.setLocalWindowSize(bytes);
  });
}

/** The peer name grpc-js gives a call on this connection (ServerInterceptingCall.getPeer). */
export function peerOf(socket: { remoteAddress?: string; remotePort?: number } | undefined): string {
  if (!socket?.remoteAddress) return 'unknown';
  return socket.remotePort ? `${socket.remoteAddress}:${socket.remotePort}` : socket.remoteAddress;
}

const closeWatched = new WeakSet<http2.Http2Server>();

/**
 * Calls `closed(peer)` when an HTTP/2 connection of a server `server` has bound closes, for the
 * connections open now and those to come; call after each bind. Connections without an address
 * (unix sockets: every one is 'unknown') are left out. False when grpc-js no longer keeps its
 * http2 servers where this looks.
 */
export function onConnectionClosed(server: Server, closed: (peer: string) => void): boolean {
  return onEveryHttp2Session(server, closeWatched, (session) => {
    const peer = peerOf(session.socket);
    if (peer === 'unknown') return;
    if (session.closed || session.destroyed) return closed(peer);
    session.once('close', () => closed(peer));
  });
}

export class ManagerServerHost {
  // Upload throughput of a tunnel stream is one HTTP/2 receive window per round trip through the
  // port-forward, for the stream and for the connection that carries all of them; grpc-js's server
  // offers no option for either (its client has grpc-node.flow_control_window; grpc-node#3058
  // would add it). Its http2 server options are a plain field read at bind time, and it keeps its
  // http2 servers in a map: the stream window is set in the one, the connection window on each
  // session of the other (checked by managerServer.test.ts). Agents' relayed connections cross
  // the same kind of path, so both servers get both.
  private readonly servers: Record<Listener, Server> = { client: newServer(CLIENT_KEEPALIVE), agent: newServer(AGENT_KEEPALIVE) };
  private readonly watches = new Set<WatchCall>();
  private readonly logger: Logger;
  private shuttingDown = false;

  constructor(private readonly options: ManagerServerOptions) {
    this.logger = options.logger;
    for (const listener of ['client', 'agent'] as const) {
      const server = this.servers[listener];
      if (!setInitialWindow(server, STREAM_WINDOW_BYTES)) {
        this.logger.warn('cannot raise the HTTP/2 stream window (grpc-js changed); uploads through tunnels will be slower');
      }
      server.addService(managerService, this.implementation(listener));
    }
  }

  /**
   * Binds `address` ("127.0.0.1:8081", "[::]:8083", "unix:/path") for `listener`; resolves with
   * the port. A listener may be bound to several addresses.
   */
  listen(listener: Listener, address: string): Promise<number> {
    const server = this.servers[listener];
    return new Promise((resolve, reject) => {
      server.bindAsync(address, ServerCredentials.createInsecure(), (e, port) => {
        if (e) return reject(e);
        if (!setConnectionWindow(server, CONNECTION_WINDOW_BYTES)) {
          this.logger.warn('cannot raise the HTTP/2 connection window (grpc-js changed); uploads through tunnels will be slower');
        }
        // A client session is bound to connections by peer address; a closed one's address must
        // not stay bound, or a later connection that happens to get the same port would inherit it.
        if (listener === 'client' && !onConnectionClosed(server, (peer) => this.options.sessions.connectionClosed(peer))) {
          this.logger.warn('cannot see client connections close (grpc-js changed); a session stays bound to the addresses of closed connections');
        }
        resolve(port);
      });
    });
  }

  /**
   * Stops taking calls and ends the cluster-info watches at once (clients reconnect to the next
   * manager); gives tunnels `drainMs` to finish, then disconnects the rest and forces both servers
   * closed `forceMs` later.
   */
  async shutdown(drainMs: number, forceMs = 1000): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    const { tunnels, sessions } = this.options;
    this.logger.info('shutting down', { tunnels: tunnels.activeCount, drainMs });
    for (const w of [...this.watches]) endWatch(w, status.UNAVAILABLE, 'the traffic-manager is shutting down');
    this.options.relay.disconnectAll('the traffic-manager is shutting down');
    const servers = Object.values(this.servers);
    const drained = Promise.all(servers.map((s) => new Promise<void>((resolve) => s.tryShutdown(() => resolve())))).then(() => undefined);
    if (!(await settlesWithin(drained, drainMs))) {
      this.logger.info('drain deadline passed; disconnecting tunnels', { tunnels: tunnels.activeCount });
      tunnels.disconnectAll(DisconnectReason.SHUTDOWN, 'the traffic-manager is shutting down');
      if (!(await settlesWithin(drained, forceMs))) for (const s of servers) s.forceShutdown();
    }
    sessions.endAll('shutdown');
    this.logger.info('shut down');
  }

  /** The service as `listener` serves it: the other listener's methods are refused. */
  private implementation(listener: Listener): ManagerServer {
    const all = this.methods(listener);
    const refused = listener === 'client' ? AGENT_METHODS : CLIENT_METHODS;
    const why = listener === 'client' ? 'served to agents only, on the agent port' : 'served to workstations only, through a port-forward to the manager pod';
    const served: Record<string, unknown> = { ...all };
    for (const name of refused) {
      const error = serviceError(status.PERMISSION_DENIED, `${managerService[name].path} is ${why}`);
      served[name] = managerService[name].responseStream
        ? (call: { emit(event: 'error', e: unknown): void }) => void call.emit('error', error)
        : (_call: unknown, callback: (e: Partial<ServiceError>) => void) => callback(error);
    }
    return served as ManagerServer;
  }

  private methods(listener: Listener): ManagerServer {
    const { version, sessions, dns, dnsAnswers, tunnels, intercepts, relay, clientRights, logger } = this.options;
    const api = this.options.api ?? OWN_API;
    const rpcLog = logger.child('rpc');
    // A client's session is found only on a connection it is bound to (sessions.ts).
    const clientSession = (info: SessionInfo | undefined, call: { getPeer(): string }): ClientSession | undefined =>
      sessions.get(info?.sessionId ?? '', 'client', call.getPeer());
    return {
      version: (_call, callback) => callback(null, { version, name: PROGRAM_NAME, apiLevel: api.level, minApiLevel: api.min }),

      arriveAsClient: (call, callback) => {
        const c = call.request.client;
        if (!c?.name) return callback(serviceError(status.INVALID_ARGUMENT, 'client.name is required'));
        const refusal = levelRefusal(`client ${c.name} (telepath ${c.version || 'before 0.2.0'})`, apiRange(c.apiLevel, c.minApiLevel), version, api);
        if (refusal) {
          logger.warn('client refused', { client: c.name, version: c.version, why: refusal });
          return callback(serviceError(status.FAILED_PRECONDITION, refusal));
        }
        const session = sessions.arrive(
          { name: c.name, installId: c.installId, namespace: c.namespace, version: c.version, heartbeatMs: c.heartbeatMs },
          'client',
          call.getPeer(),
        );
        const ended = this.options.onClientSessionEnded;
        if (ended) session.signal.addEventListener('abort', () => ended(session.id), { once: true });
        callback(null, { session: { sessionId: session.id }, ttlMs: sessions.ttlMs, joinSecret: session.joinSecret });
      },

      joinSession: (call, callback) => {
        const session = sessions.join(call.request.session?.sessionId ?? '', call.request.joinSecret, call.getPeer());
        if (!session) return callback(unknownSession(call.request.session));
        callback(null, { ttlMs: sessions.ttlMs });
      },

      remain: (call, callback) => {
        const id = call.request.session?.sessionId ?? '';
        if (!sessions.remain(id, listener, call.getPeer())) return callback(unknownSession(call.request.session));
        callback(null, {});
      },

      depart: (call, callback) => {
        const id = call.request.session?.sessionId ?? '';
        if (!sessions.depart(id, listener, call.getPeer())) return callback(unknownSession(call.request.session));
        callback(null, {});
      },

      watchClusterInfo: (call) => this.watchClusterInfo(call),

      lookupDns: (call, callback) => {
        const { name, qtype } = call.request;
        const session = clientSession(call.request.session, call);
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
        tunnels.handle(call, listener);
      },

      createIntercept: (call, callback) => {
        const session = clientSession(call.request.session, call);
        if (!session) return callback(unknownSession(call.request.session));
        const spec = call.request.spec;
        if (!spec?.namespace) return callback(serviceError(status.INVALID_ARGUMENT, 'spec with a namespace is required'));
        // The cluster decides, for the user the session's Session object names, in the
        // workload's namespace; nothing changes until it has said yes.
        clientRights.check(session.id, 'intercept', spec.namespace).then((verdict) => {
          if (!verdict.ok) {
            rpcLog.info('intercept refused', { session: sessionHandle(session.id), namespace: spec.namespace, why: verdict.reason });
            return callback(rightError(verdict));
          }
          if (session.signal.aborted) return callback(sessionEnded(session));
          const refused = this.options.interceptRefusal?.(spec);
          if (refused) return callback(serviceError(status.FAILED_PRECONDITION, refused));
          try {
            const i = intercepts.create(session, spec, verdict.user.username);
            callback(null, { intercept: intercepts.info(i, session.id) });
          } catch (e) {
            callback(interceptError(e));
          }
        }, (e: unknown) => callback(serviceError(status.INTERNAL, e instanceof Error ? e.message : String(e))));
      },

      removeIntercept: (call, callback) => {
        const session = clientSession(call.request.session, call);
        if (!session) return callback(unknownSession(call.request.session));
        try {
          intercepts.remove(session, call.request.name);
          callback(null, {});
        } catch (e) {
          callback(interceptError(e));
        }
      },

      listIntercepts: (call, callback) => {
        const session = clientSession(call.request.session, call);
        if (!session) return callback(unknownSession(call.request.session));
        callback(null, { intercepts: intercepts.list(call.request.namespace, session.id) });
      },

      listAgents: (call, callback) => {
        const session = clientSession(call.request.session, call);
        if (!session) return callback(unknownSession(call.request.session));
        const all = intercepts.listAgents(call.request.namespace, call.request.workloadName);
        this.agentsFor(session.id, all).then(
          (agents) => callback(null, { agents }),
          (e: unknown) => callback(serviceError(status.INTERNAL, e instanceof Error ? e.message : String(e))),
        );
      },

      authorizeVolumes: (call, callback) => {
        const session = clientSession(call.request.session, call);
        if (!session) return callback(unknownSession(call.request.session));
        const { interceptName, publicKey } = call.request;
        const problem = publicKeyProblem(publicKey);
        if (problem) return callback(serviceError(status.INVALID_ARGUMENT, problem));
        const held = intercepts.held(session, interceptName);
        if (!held) return callback(serviceError(status.NOT_FOUND, `you have no intercept named ${interceptName}`));
        clientRights.check(session.id, 'volumes', held.spec.namespace).then((verdict) => {
          if (!verdict.ok) {
            rpcLog.info('volumes refused', { session: sessionHandle(session.id), namespace: held.spec.namespace, why: verdict.reason });
            return callback(rightError(verdict));
          }
          if (intercepts.get(held.id) !== held) return callback(serviceError(status.NOT_FOUND, `the intercept ${interceptName} ended`));
          intercepts.setVolumeKey(held, publicKey.trim());
          callback(null, {});
        }, (e: unknown) => callback(serviceError(status.INTERNAL, e instanceof Error ? e.message : String(e))));
      },

      watchDials: (call) => {
        const session = clientSession(call.request.session, call);
        if (!session) return void call.emit('error', unknownSession(call.request.session));
        relay.watchDials(call, session);
      },

      arriveAsAgent: (call, callback) => {
        const a = call.request.agent;
        if (!a?.namespace || !a.workloadName || !a.podName) {
          return callback(serviceError(status.INVALID_ARGUMENT, 'agent.namespace, workload_name and pod_name are required'));
        }
        this.arriveAsAgent(a, call.metadata, call.getPeer()).then(
          (sessionId) => callback(null, { session: { sessionId }, ttlMs: sessions.ttlMs }),
          (e: Partial<ServiceError>) => callback(e),
        );
      },

      watchAgentIntercepts: (call) => this.watchAgentIntercepts(call),
    };
  }

  /**
   * The agents a session's user may see: those of namespaces where they may intercept, with the
   * environment only where they may read it too. A namespace the API server cannot be asked about
   * is left out, as if not allowed.
   */
  private async agentsFor(sessionId: string, all: AgentInfo[]): Promise<AgentInfo[]> {
    const { clientRights } = this.options;
    const namespaces = [...new Set(all.map((a) => a.namespace))];
    const allowed = new Map(
      await Promise.all(
        namespaces.map(async (ns) => {
          const intercept = await clientRights.check(sessionId, 'intercept', ns);
          const environment = intercept.ok ? await clientRights.check(sessionId, 'environment', ns) : intercept;
          return [ns, { intercept, environment }] as const;
        }),
      ),
    );
    const out: AgentInfo[] = [];
    for (const a of all) {
      const rights = allowed.get(a.namespace)!;
      if (!rights.intercept.ok) continue;
      out.push(rights.environment.ok ? a : { ...a, environment: {}, environmentWithheld: rights.environment.reason });
    }
    return out;
  }

  /**
   * Opens an agent session once the API server has vouched for the caller's token and pod. Until
   * then nothing changes: a refused caller cannot replace the session of the agent it names.
   * Rejects with the gRPC error to answer.
   */
  private async arriveAsAgent(a: AgentInfo, metadata: Metadata, peer: string): Promise<string> {
    const { sessions, intercepts, agentArrivals, logger } = this.options;
    // Before the TokenReview: an agent this manager cannot serve retries every few seconds.
    const refusal = levelRefusal(`the traffic-agent ${a.version || 'before 0.2.0'}`, apiRange(a.apiLevel, a.minApiLevel), this.options.version, this.options.api ?? OWN_API);
    if (refusal) {
      logger.warn('agent refused', { namespace: a.namespace, workload: `${a.workloadKind}/${a.workloadName}`, pod: a.podName, why: refusal });
      throw serviceError(status.FAILED_PRECONDITION, refusal);
    }
    const verdict = await agentArrivals.verify(bearerToken(metadata), a);
    if (!verdict.ok) {
      logger.warn('agent refused', { namespace: a.namespace, workload: `${a.workloadKind}/${a.workloadName}`, pod: a.podName, peer, why: verdict.reason });
      const code = verdict.code === 'unauthenticated' ? status.UNAUTHENTICATED : verdict.code === 'permissionDenied' ? status.PERMISSION_DENIED : status.UNAVAILABLE;
      throw serviceError(code, verdict.reason);
    }
    if (this.shuttingDown) throw serviceError(status.UNAVAILABLE, 'the traffic-manager is shutting down');
    const session = sessions.arrive(
      { name: `agent ${a.namespace}/${a.podName}`, installId: `agent/${a.namespace}/${a.podName}`, namespace: a.namespace, version: a.version },
      'agent',
    );
    intercepts.addAgent(session, a);
    return session.id;
  }

  private watchAgentIntercepts(call: AgentWatchCall): void {
    const { sessions, intercepts } = this.options;
    const id = call.request.session?.sessionId ?? '';
    const session = sessions.get(id, 'agent');
    const agent = intercepts.agent(id);
    if (!session || !agent) return void call.emit('error', unknownSession(call.request.session));
    if (this.shuttingDown) return endAgentWatch(call, status.UNAVAILABLE, 'the traffic-manager is shutting down');
    const send = (): void => {
      if (!call.writableEnded && !call.destroyed) {
        const { namespace, workloadName } = agent.info;
        call.write({ intercepts: intercepts.forWorkload(namespace, workloadName), volumeKeys: intercepts.volumeKeys(namespace, workloadName) });
      }
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
    const session = sessions.get(call.request.session?.sessionId ?? '', 'client', call.getPeer());
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

/** Why a peer with API levels `theirs` cannot be served, or '' when it can (protocol/src/version.ts). */
export function levelRefusal(who: string, theirs: ApiRange, version: string, ours: ApiRange): string {
  if (apiCompatible(theirs, ours)) return '';
  const older = theirs.level < ours.min;
  return (
    `${who} speaks API levels ${formatApiRange(theirs)}; this traffic-manager ${version} serves ${formatApiRange(ours)}` +
    (older ? ': it is too old (upgrade Telepath; a daemon that intercepts the workload rolls it with a current agent)' : ': the traffic-manager is too old (connect with a newer client to upgrade it)')
  );
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

/** Why `key` is not one OpenSSH public key line of a key type ssh2 and OpenSSH both take; undefined when it is. */
export function publicKeyProblem(key: string): string | undefined {
  const m = /^(ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa) ([A-Za-z0-9+/]+={0,2})(?: [\x20-\x7e]{0,200})?$/.exec(key.trim());
  if (!m || key.length > 4096) return 'public_key must be one OpenSSH public key line ("ssh-ed25519 AAAA…")';
  const blob = Buffer.from(m[2]!, 'base64');
  // The blob starts with its own type name, length-prefixed.
  const n = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (n !== m[1]!.length || blob.subarray(4, 4 + n).toString('latin1') !== m[1]) return `public_key's data is not a ${m[1]} key`;
  return undefined;
}

function rightError(verdict: Exclude<RightVerdict, { ok: true }>): Partial<ServiceError> {
  return serviceError(verdict.code === 'unavailable' ? status.UNAVAILABLE : status.PERMISSION_DENIED, verdict.reason);
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

/** The token of an `authorization: Bearer <token>` metadata entry. */
export function bearerToken(metadata: Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  const m = typeof value === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(value) : null;
  return m?.[1];
}

/**
 * How soon a dead connection is noticed (dead port-forwards must not keep sessions' streams around
 * forever). Not sooner: a workstation whose network is away for half a minute (a lid, a Wi-Fi
 * change) keeps its connection, and with it its session and intercepts, meanwhile; its callers get
 * a 503 after the relay's accept timeout (3 s). 5 s + 5 s was tried: the intercept was dropped
 * within 8 s of the outage and came back 13 s after it, for no gain in the callers' answers.
 */
const CLIENT_KEEPALIVE = { timeMs: 30_000, timeoutMs: 10_000 };
const AGENT_KEEPALIVE = { timeMs: 30_000, timeoutMs: 10_000 };

function newServer(keepalive: { timeMs: number; timeoutMs: number }): Server {
  return new Server({
    'grpc.keepalive_time_ms': keepalive.timeMs,
    'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  });
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
