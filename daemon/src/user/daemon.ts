/**
 * The daemon's behaviour behind its JSON-RPC API: one cluster session at a time, the connection
 * state as a small enum with a change event, and the requests that act on it.
 */
import { EventEmitter } from 'node:events';
import { CoreV1Api } from '@kubernetes/client-node';
import { CancellationToken } from 'vscode-jsonrpc';
import {
  daemonError,
  ErrorCode,
  toResponseError,
  type ConnectParams,
  type ContextsParams,
  type ContextsResult,
  type NamespacesResult,
  type DaemonStatus,
  type InterceptParams,
  type InterceptResult,
  type LeaveParams,
  type ListParams,
  type ListResult,
  type SetLogLevelParams,
  type UninstallParams,
  type UninstallResult,
  type VersionResult,
} from '../../../protocol/src/daemon';
import { formatApiRange, OWN_API, PRODUCT_VERSION, PROTOCOL_VERSION } from '../../../protocol/src/version.js';
import { DEFAULT_NAMESPACE } from '../../../common/src/install/managerManifests.js';
import { AgentInstaller } from './intercept/agentInstaller.js';
import { InterceptService, uninstallAgents } from './intercept/interceptService.js';
import { kubeContexts, loadKubeAccess, type KubeAccess } from './kube/kubeAccess.js';
import type { Logger, LogSink } from '../../../common/src/log/fileLogger.js';
import type { DaemonApi, Progress } from './rpc/rpcServer.js';
import { ClusterSession, type ClusterNetworks } from './session/clusterSession.js';
import { NetworkRole } from '../network/networkRole.js';
import { RefusedInput } from '../network/networkInput.js';
import type { NetworkRoleLink, RemoteNetwork } from './networkRoleLink.js';
import { uninstallManager } from './session/managerInstaller.js';

export class Daemon implements DaemonApi {
  private current: DaemonStatus = { state: 'disconnected', routedSubnets: [], intercepts: [] };
  private session?: ClusterSession;
  private intercepts?: InterceptService;
  /** Routes and DNS: in this process (root), or through a separate network-role process. */
  private network?: NetworkRole | RemoteNetwork;
  private connecting?: { key: string; done: Promise<DaemonStatus>; abort: AbortController };
  private readonly changes = new EventEmitter();
  private logLevelTimer?: NodeJS.Timeout;

  constructor(
    private readonly log: Logger,
    private readonly sink: LogSink,
    private readonly onQuit: () => void,
    /** Where changes outside the process are journaled; undefined without the network role. */
    private readonly journalDir?: string,
    /** The journal of volume mounts (any role). */
    private readonly mountJournalFile?: string,
    /** Not root: the link to a separate network-role process, when one runs. */
    private readonly link?: NetworkRoleLink,
  ) {
    link?.onAttached(() => void this.networkRoleAttached());
    link?.onDetached((why) => this.networkRoleDetached(why));
  }

  onStatusChanged(listener: (s: DaemonStatus) => void): void {
    this.changes.on('status', listener);
  }

  status(): DaemonStatus {
    const networkRole: DaemonStatus['networkRole'] = this.journalDir
      ? { process: 'daemon', pid: process.pid }
      : this.link?.attached
        ? { process: 'separate', ...(this.link.pid ? { pid: this.link.pid } : {}) }
        : { process: 'none' };
    return { ...structuredClone(this.current), networkRole };
  }

  version(): VersionResult {
    const v: VersionResult = { daemonVersion: PRODUCT_VERSION, protocolVersion: PROTOCOL_VERSION, apiLevels: formatApiRange(OWN_API) };
    return this.session ? { ...v, ...managerFields(this.session) } : v;
  }

  async connect(params: ConnectParams, progress: Progress, token: CancellationToken): Promise<DaemonStatus> {
    const access = loadKubeAccess(params);
    const managerNamespace = params.managerNamespace ?? DEFAULT_NAMESPACE;
    const key = `${access.kubeconfigPath}|${access.context}|${access.namespace}|${managerNamespace}`;
    if (this.connecting) {
      if (this.connecting.key === key) return this.connecting.done;
      throw daemonError(ErrorCode.AlreadyConnected, 'another connect is in progress; wait for it or run "telepath quit"');
    }
    if (this.session) {
      const s = this.session;
      const same = `${s.access.kubeconfigPath}|${s.access.context}|${s.access.namespace}|${s.managerNamespace}` === key;
      if (same) return this.status();
      throw daemonError(
        ErrorCode.AlreadyConnected,
        `already connected to context "${s.access.context}", namespace "${s.access.namespace}"; run "telepath quit" first`,
      );
    }
    const abort = new AbortController();
    token.onCancellationRequested(() => abort.abort());
    const session = new ClusterSession(
      access,
      managerNamespace,
      {
        onState: (state, error) => this.update({ state, ...(error ? { error } : { error: undefined }) }),
        onLinkLost: () => this.intercepts?.interceptor.suspend(),
        onRearrived: () => {
          // The manager may be another one now (upgraded by another client).
          this.update(managerFields(session));
          void this.intercepts?.resume().then(() => this.update({}));
          if (this.network && this.session === session && 'sessionChanged' in this.network) {
            this.network.sessionChanged(session.sessionId, session.joinSecret).catch((err: Error) => this.log.warn(`the network role did not take the new session: ${err.message}`));
          }
        },
        onClusterInfo: (n) => {
          this.log.info(`cluster networks: services ${n.serviceSubnets.join(', ')}; pods ${n.podSubnets.join(', ')}; dns ${n.dnsIp} (${n.clusterDomain})`);
          if (this.network && this.session === session) void this.networksChanged(session, n);
        },
      },
      this.log.child('session'),
    );
    const done = (async () => {
      this.update({ state: 'connecting', context: access.context, namespace: access.namespace, error: undefined });
      try {
        await session.start(progress, abort.signal);
        await this.startNetwork(session, progress);
        this.session = session;
        const link = this.link;
        this.intercepts = new InterceptService(session, this.log.child('intercepts'), {
          mountJournal: this.mountJournalFile,
          raiseReadAhead: link ? (mountPoint) => link.raiseReadAhead(mountPoint) : undefined,
          onChange: () => this.update({}),
        });
        this.update({ state: 'connected', ...managerFields(session), ...this.network?.status() });
        return this.status();
      } catch (err) {
        await this.network?.stop().catch(() => {});
        this.network = undefined;
        await session.close().catch(() => {});
        const e = toResponseError(err);
        this.update({ state: 'error', error: { code: e.code, category: e.data?.category ?? 'internal', message: e.message } });
        throw err;
      } finally {
        this.connecting = undefined;
      }
    })();
    this.connecting = { key, done, abort };
    return done;
  }

  async disconnect(): Promise<void> {
    this.connecting?.abort.abort();
    const s = this.session;
    this.session = undefined;
    await this.intercepts?.close();
    this.intercepts = undefined;
    const network = this.network;
    this.network = undefined;
    try {
      await network?.stop();
    } finally {
      await s?.close();
    }
    this.current = { state: 'disconnected', routedSubnets: [], intercepts: [] };
    this.changes.emit('status', this.status());
  }

  async uninstall(params: UninstallParams, progress: Progress): Promise<UninstallResult> {
    const access = this.session?.access ?? loadKubeAccess(params);
    const abort = new AbortController();
    if (params.agent) {
      if (params.everything) throw daemonError(ErrorCode.InvalidParams, 'uninstall takes either --agent or --everything, not both');
      const namespace = params.namespace ?? access.namespace;
      if (this.intercepts) return { removed: await this.intercepts.uninstallAgent(params.agent, namespace, progress, abort.signal) };
      const installer = new AgentInstaller(access, this.log.child('agent'));
      return { removed: await installer.remove(await installer.findWorkload(params.agent, namespace), progress, abort.signal, true) };
    }
    if (!params.everything) throw daemonError(ErrorCode.InvalidParams, 'uninstall needs --agent <workload> or --everything');
    const namespace = this.session?.managerNamespace ?? DEFAULT_NAMESPACE;
    const namespaces = this.session ? await this.session.namespaces() : await listNamespaces(access);
    for (const h of this.intercepts?.interceptor.list() ?? []) await this.intercepts?.leave(h.spec.name).catch(() => undefined);
    await this.disconnect();
    const removed = await uninstallAgents(new AgentInstaller(access, this.log.child('agent')), namespaces, progress, abort.signal);
    removed.push(...(await uninstallManager(access, namespace, progress)));
    return { removed };
  }

  async intercept(params: InterceptParams, progress: Progress, token: CancellationToken): Promise<InterceptResult> {
    const service = this.connected();
    const abort = new AbortController();
    token.onCancellationRequested(() => abort.abort());
    const result = await service.intercept(params, progress, abort.signal);
    await this.shortNamesIn(result.intercept.namespace);
    this.update({});
    return result;
  }

  async leave(params: LeaveParams): Promise<void> {
    const service = this.connected();
    await service.leave(params.name);
    const latest = service.mine().at(-1);
    await this.shortNamesIn(latest?.namespace ?? this.session!.access.namespace);
    this.update({});
  }

  /** Short names follow the namespace of the latest intercept, else the connected one. */
  private async shortNamesIn(namespace: string): Promise<void> {
    if (!this.network) return;
    try {
      await this.network.setShortNameNamespace(namespace);
      this.update(this.network.status());
    } catch (err) {
      this.log.warn(`short names could not be moved to namespace ${namespace}: ${(err as Error).message}`);
    }
  }

  contexts(params: ContextsParams): ContextsResult {
    return kubeContexts(params.kubeconfig);
  }

  async namespaces(): Promise<NamespacesResult> {
    if (!this.session) throw daemonError(ErrorCode.NotConnected, 'not connected to a cluster; run "telepath connect" first');
    return { namespaces: await this.session.namespaces() };
  }

  list(params: ListParams): Promise<ListResult> {
    const service = this.connected();
    return service.list(params.namespace ?? this.session!.access.namespace);
  }

  private connected(): InterceptService {
    if (!this.intercepts || !this.session) throw daemonError(ErrorCode.NotConnected, 'not connected to a cluster; run "telepath connect" first');
    return this.intercepts;
  }

  setLogLevel(params: SetLogLevelParams): void {
    const previous = this.sink.level;
    this.sink.level = params.level;
    this.log.info(`log level ${params.level}${params.durationMs ? ` for ${params.durationMs} ms` : ''}`);
    clearTimeout(this.logLevelTimer);
    if (params.durationMs) {
      this.logLevelTimer = setTimeout(() => (this.sink.level = previous), params.durationMs);
      this.logLevelTimer.unref();
    }
  }

  quit(): void {
    this.onQuit();
  }

  /** Routes and DNS: in this process when it runs as root, else through a network-role process. */
  private async startNetwork(session: ClusterSession, progress: Progress): Promise<void> {
    if (this.journalDir) {
      progress('report', 'Routing the cluster subnets and configuring DNS');
      try {
        this.network = await NetworkRole.start({
          client: session.client,
          sessionId: () => session.sessionId,
          lookupCluster: (name, qtype, signal) => session.lookupDns(name, qtype, signal),
          networks: session.networks!,
          connectedNamespace: session.access.namespace,
          namespaces: await session.namespaces(),
          journalDir: this.journalDir,
          log: this.log.child('network'),
          // A daemon that runs as root was started by root: its environment is root's to set.
          allowWideSubnets: process.env.TELEPATH_ALLOW_WIDE_SUBNETS === '1',
        });
      } catch (err) {
        if (!(err instanceof RefusedInput)) throw err;
        // As with a separate network role: the session and intercepts go on, outbound access is off.
        this.log.error(err.message);
        this.update({ routedSubnets: [], unroutedSubnets: undefined, dns: { state: 'failed', message: err.message } });
      }
      return;
    }
    if (!this.link?.attached) {
      this.update({ routedSubnets: [], unroutedSubnets: undefined, dns: { state: 'inactive', message: this.link?.inactiveMessage() ?? 'outbound cluster access needs the network role' } });
      return;
    }
    progress('report', `Routing the cluster subnets and configuring DNS (network role, pid ${this.link.pid})`);
    try {
      this.network = await this.link.start({
        managerAddress: session.managerAddress,
        sessionId: session.sessionId,
        joinSecret: session.joinSecret,
        networks: session.networks!,
        connectedNamespace: session.access.namespace,
        namespaces: await session.namespaces(),
      });
    } catch (err) {
      // Outbound access is an addition: the session (and intercepts) go on without it.
      const message = `the network role could not start routes and DNS: ${(err as Error).message}`;
      this.log.error(message);
      this.update({ routedSubnets: [], unroutedSubnets: undefined, dns: { state: 'failed', message } });
    }
  }

  /** A network role appeared while connected: outbound access starts without a new connect. */
  private async networkRoleAttached(): Promise<void> {
    this.update({});
    // A connect under way checks for the role at its end; wait for it so neither misses the other.
    await this.connecting?.done.catch(() => undefined);
    // Volume mounts made before the role came still have the kernel's read-ahead.
    void this.intercepts?.raiseReadAhead();
    const session = this.session;
    if (!session || this.network) return;
    await this.startNetwork(session, () => {});
    const started = this.network as NetworkRole | RemoteNetwork | undefined;
    if (this.session !== session) {
      // Disconnected meanwhile.
      await started?.stop().catch(() => undefined);
      this.network = undefined;
      return;
    }
    if (started) this.update(started.status());
  }

  private networkRoleDetached(why: string): void {
    if (this.network && !(this.network instanceof NetworkRole)) {
      this.network = undefined;
      if (this.session) this.update({ routedSubnets: [], unroutedSubnets: undefined, dns: { state: 'inactive', message: why } });
      else this.update({});
    } else {
      this.update({});
    }
  }

  private async networksChanged(session: ClusterSession, n: ClusterNetworks): Promise<void> {
    try {
      await this.network?.update(n, await session.namespaces());
      if (this.network) this.update(this.network.status());
    } catch (err) {
      this.log.error('applying new cluster networks failed', err);
    }
  }

  private update(patch: Partial<DaemonStatus>): void {
    const next = { ...this.current, ...patch };
    next.intercepts = this.intercepts?.mine() ?? [];
    const ended = this.intercepts?.ended() ?? [];
    next.endedIntercepts = ended.length ? ended : undefined;
    for (const k of Object.keys(next) as (keyof DaemonStatus)[]) if (next[k] === undefined) delete next[k];
    this.current = next as DaemonStatus;
    this.changes.emit('status', this.status());
  }
}

async function listNamespaces(access: KubeAccess): Promise<string[]> {
  try {
    const list = await access.kc.makeApiClient(CoreV1Api).listNamespace();
    return list.items.map((n) => n.metadata!.name!).sort();
  } catch {
    return [access.namespace];
  }
}

/** What status and version say about the manager of a session: its version and levels, and what connect did with it. */
function managerFields(session: ClusterSession): Pick<DaemonStatus, 'managerVersion' | 'managerApiLevels' | 'manager'> {
  return {
    managerVersion: session.managerVersion,
    managerApiLevels: session.managerApi && formatApiRange(session.managerApi),
    manager: session.managerChoice,
  };
}
