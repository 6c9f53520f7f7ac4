/**
 * The traffic-manager's entry point. It runs in the cluster on the stock Node image, its bundle
 * delivered in a ConfigMap (see common/src/install/managerManifests.ts): the gRPC Manager service
 * for daemons on the pod's loopback at TELEPATH_GRPC_PORT (8081), for agents on every address at
 * TELEPATH_AGENT_PORT (8083), probes on TELEPATH_HEALTH_PORT (8082), JSON log lines on stderr.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { PRODUCT_VERSION } from '../../protocol/src/version.js';
import { dnsOfResolvConf, KubeClusterInfoSource } from './clusterInfoSource.js';
import { formatDuration, IdleAgents } from './agents/idleAgents.js';
import { KubeAgentRemoval } from './agents/kubeAgentRemoval.js';
import { AgentVerifier } from './auth/agentVerifier.js';
import { ClientRights } from './auth/clientRights.js';
import { SessionObjects } from './auth/sessionObjects.js';
import { readConfig } from './config.js';
import { ClusterDnsResolver } from './dns/clusterDnsResolver.js';
import { healthServer } from './healthServer.js';
import { KubeClient } from './kube/kubeClient.js';
import { InterceptRegistry } from './intercepts/interceptRegistry.js';
import { InterceptRelay } from './intercepts/interceptRelay.js';
import { jsonLogger, type Logger } from '../../common/src/log/jsonLogger.js';
import { listenDualStack, listenLoopback } from './listeners.js';
import { ManagerServerHost, PROGRAM_NAME } from './managerServer.js';
import { MANAGER_NAME, webhookConfigName } from '../../common/src/install/managerManifests.js';
import { startWebhook } from './webhook/webhookServer.js';
import { SessionRegistry } from './sessions.js';
import { DestinationGuard, interfaceAddresses } from './tunnel/destinationGuard.js';
import { DnsAnswerMemory } from './tunnel/dnsAnswerMemory.js';
import { TunnelService } from './tunnel/tunnelService.js';

async function run(logger: Logger, env: NodeJS.ProcessEnv): Promise<void> {
  const { config, problems } = readConfig(env);
  for (const p of problems) logger.warn(p);
  const namespace = config.namespace || KubeClient.podNamespace();
  logger.info('starting', {
    version: PRODUCT_VERSION,
    namespace,
    grpcPort: config.grpcPort,
    agentPort: config.agentPort,
    sessionTtlMs: config.sessionTtlMs,
    agentIdleTimeout: config.agentIdleTimeoutMs ? formatDuration(config.agentIdleTimeoutMs) : 'off',
  });

  const kube = KubeClient.inCluster(env);
  const { dnsServer, clusterDomain } = dnsOfResolvConf(readFileSync('/etc/resolv.conf', 'utf8'));
  if (!dnsServer) logger.warn('/etc/resolv.conf names no nameserver; LookupDNS will answer SERVFAIL');
  const stop = new AbortController();
  const clusterInfo = new KubeClusterInfoSource({
    api: kube,
    namespace,
    dnsServer,
    clusterDomain,
    podCidrStrategy: config.podCidrStrategy,
    podCidrs: config.podCidrs,
    logger: logger.child('cluster'),
  });
  const sessions = new SessionRegistry({ ttlMs: config.sessionTtlMs, logger: logger.child('session') });
  const stopSweeping = sessions.startSweeping();
  const intercepts = new InterceptRegistry(logger.child('intercept'));
  const lookupSession = sessions.get.bind(sessions);
  const relay = new InterceptRelay({ registry: intercepts, lookupSession, logger: logger.child('relay'), presence: sessions });
  const stopAwayChecks = relay.startAwayChecks();
  const dnsAnswers = new DnsAnswerMemory({ clusterDomain: () => clusterInfo.current()?.clusterDomain ?? clusterDomain });
  const managerIps = [...new Set([...config.podIps, ...interfaceAddresses(os.networkInterfaces())])];
  logger.info('tunnel destinations', { tunnelAllow: config.tunnelAllow, managerIps });
  const destinations = new DestinationGuard({ clusterInfo, dnsAnswers, tunnelAllow: config.tunnelAllow, managerIps });
  const tunnels = new TunnelService({ lookupSession, destinations, logger: logger.child('tunnel'), intercepts: relay });
  const dns = new ClusterDnsResolver({ server: dnsServer, logger: logger.child('dns') });
  const agentArrivals = new AgentVerifier({ api: kube });
  const clientRights = new ClientRights({ api: kube, namespace });
  const sessionObjects = new SessionObjects({
    api: kube,
    namespace,
    rights: clientRights,
    intercepts,
    liveSessions: () => sessions.ids('client'),
    tellHolder: (i, reason) => relay.interceptEnded(i.session.id, i.id, i.spec.name, reason),
    logger: logger.child('rights'),
  });
  sessionObjects.start();
  // Off by default: removing agents takes rights on every workload, which an admin grants on purpose.
  const idleAgents =
    config.agentIdleTimeoutMs > 0
      ? new IdleAgents({
          timeoutMs: config.agentIdleTimeoutMs,
          intercepts,
          api: new KubeAgentRemoval(kube),
          mayI: async (attributes) => {
            const review = await kube.reviewOwnAccess(attributes);
            return review.allowed === true && review.denied !== true;
          },
          namespace,
          logger: logger.child('idle-agents'),
        })
      : undefined;
  const host = new ManagerServerHost({
    version: PRODUCT_VERSION,
    namespace,
    sessions,
    clusterInfo,
    dns,
    dnsAnswers,
    tunnels,
    intercepts,
    relay,
    agentArrivals,
    clientRights,
    onClientSessionEnded: (id) => sessionObjects.ended(id),
    ...(idleAgents ? { interceptRefusal: (spec) => idleAgents.refusal(spec) } : {}),
    logger,
  });

  let discovered = false;
  let webhook: { close(): Promise<void> } | undefined;
  let stopping = false;
  const health = healthServer(() => discovered && !stopping);

  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info('signal received', { signal });
    // Before the sessions end: no workload is changed while the manager goes away.
    idleAgents?.stop();
    await host.shutdown(config.drainMs);
    await webhook?.close();
    stop.abort();
    stopSweeping();
    stopAwayChecks();
    sessionObjects.stop();
    await health.close();
    kube.close();
    // Exit rather than wait for the event loop: nothing is left that must finish.
    process.exit(0);
  };
  for (const s of ['SIGTERM', 'SIGINT'] as const) process.on(s, (sig) => void shutdown(sig));

  const grpcPort = await listenLoopback(host, 'client', config.grpcPort, logger);
  const agentPort = await listenDualStack(host, 'agent', config.agentPort, logger);
  await health.listen(config.healthPort);
  idleAgents?.start();
  if (config.webhookPort > 0) {
    try {
      webhook = await startWebhook({
        kube,
        namespace,
        serviceName: MANAGER_NAME,
        webhookConfigName: webhookConfigName(namespace),
        port: config.webhookPort,
        image: config.agentImage,
        managerAddress: `${MANAGER_NAME}.${namespace}:${config.agentPort}`,
        clusterDomain,
        ...(idleAgents ? { onInjected: (w) => idleAgents.agentInjected(w) } : {}),
        logger: logger.child('webhook'),
        signal: stop.signal,
      });
    } catch (e) {
      // Connect and DNS still work without it; only new intercepts need the agent injected.
      logger.error('the agent injection webhook cannot start; intercepts of new workloads will not work', {
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }
  await clusterInfo.start(stop.signal);
  discovered = true;
  logger.info('ready', { grpcPort, agentPort, healthPort: config.healthPort });
}

if (process.argv.includes('--version')) {
  process.stdout.write(`${PROGRAM_NAME} ${PRODUCT_VERSION}\n`);
} else {
  const { config } = readConfig(process.env);
  const logger = jsonLogger({ level: config.logLevel, write: (line) => process.stderr.write(line) });
  process.on('unhandledRejection', (e) => {
    logger.error('unhandled rejection', { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    process.exit(1);
  });
  run(logger, process.env).catch((e: unknown) => {
    logger.error('cannot start', { error: e instanceof Error ? e.message : String(e) });
    process.exit(1);
  });
}
