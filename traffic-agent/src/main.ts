/**
 * The traffic-agent's entry point. The manager's webhook injects it into the pods of a workload a
 * developer marked (see protocol/src/agent/agentConfig.ts): it runs on the Node image with this
 * bundle from a ConfigMap, listens on the agent ports that the workload's Services now reach, and
 * sends each connection (or, on HTTP, each request) to the app in the same pod or to a developer's
 * workstation, as the manager's intercepts say.
 */
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import {
  AGENT_CONFIG_ENV,
  AGENT_MANAGER_ADDRESS_ENV,
  AGENT_MOUNTS_DIR,
  AGENT_NAMESPACE_ENV,
  AGENT_POD_IP_ENV,
  AGENT_POD_NAME_ENV,
  AGENT_TOKEN_DIR,
  AGENT_TOKEN_FILE,
  type AgentConfig,
  parseAgentConfig,
} from '../../protocol/src/agent/agentConfig.js';
import type { AgentInfo, InterceptInfo } from '../../protocol/src/gen/telepath/manager/v1/manager.js';
import { ipToBytes } from '../../protocol/src/ipAddress.js';
import { API_LEVEL, MIN_API_LEVEL, PRODUCT_VERSION } from '../../protocol/src/version.js';
import { jsonLogger, type Logger, parseLogLevel } from '../../common/src/log/jsonLogger.js';
import { appEnvironment } from './agentEnv.js';
import { AgentSession } from './agentSession.js';
import { toRule } from './interceptRules.js';
import { PortRouter } from './routing/portRouter.js';
import { AuthorizedKeys } from './sftp/authorizedKeys.js';
import { readOnlyMountPoints } from './sftp/sftpMounts.js';
import { startSftpServer } from './sftp/sftpServer.js';

const PROGRAM_NAME = 'traffic-agent';
/** After SIGTERM: how long connections in flight may finish before the agent exits. */
const DRAIN_MS = 5_000;

interface PortHost {
  agentPort: number;
  router: PortRouter;
  server: net.Server;
}

async function run(logger: Logger, env: NodeJS.ProcessEnv): Promise<void> {
  const config: AgentConfig = parseAgentConfig(env[AGENT_CONFIG_ENV] ?? '');
  const podName = env[AGENT_POD_NAME_ENV] ?? '';
  const podIp = env[AGENT_POD_IP_ENV] ?? '';
  const namespace = env[AGENT_NAMESPACE_ENV] || config.workload.namespace;
  const managerAddress = env[AGENT_MANAGER_ADDRESS_ENV] ?? '';
  logger.info('starting', { version: PRODUCT_VERSION, workload: `${config.workload.kind}/${config.workload.name}`, pod: podName, ports: config.ports.length });

  const info: AgentInfo = {
    namespace,
    workloadKind: config.workload.kind,
    workloadName: config.workload.name,
    podName,
    podIp: podIp ? ipToBytes(podIp) : new Uint8Array(0),
    container: config.container,
    ports: config.ports.map((p) => ({
      agentPort: p.agentPort,
      name: p.name,
      appPort: p.appPort,
      protocol: p.protocol,
      services: p.services.map((s) => ({ service: s.service, portName: s.portName, port: s.port })),
    })),
    environment: appEnvironment(env),
    version: PRODUCT_VERSION,
    apiLevel: API_LEVEL,
    minApiLevel: MIN_API_LEVEL,
    sftpPort: 0,
    environmentWithheld: '',
  };
  // The app's volumes, for the workstation (docs/intercept.md): only on the pod's loopback,
  // which the daemon reaches by a port-forward that RBAC allowed.
  let sftp: { close(): Promise<void> } | undefined;
  // Empty until the manager hands over the keys of intercepts whose holders may mount: until then nobody gets in.
  const volumeKeys = new AuthorizedKeys();
  if (existsSync(AGENT_MOUNTS_DIR)) {
    try {
      const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
      const server = await startSftpServer({
        root: AGENT_MOUNTS_DIR,
        port: 0,
        readOnlyPaths: readOnlyMountPoints(mountinfo, AGENT_MOUNTS_DIR),
        authorizedKeys: volumeKeys,
        logger: logger.child('sftp'),
      });
      info.sftpPort = server.port;
      sftp = server;
      logger.info('serving the app volumes', { port: server.port });
    } catch (e) {
      logger.warn('cannot serve the app volumes', { error: e instanceof Error ? e.message : String(e) });
    }
  }

  const hosts: PortHost[] = [];
  let session: AgentSession | undefined;
  for (const port of config.ports) {
    if (port.protocol !== 'TCP') {
      logger.warn('only TCP ports are intercepted; ignoring', { port: port.name });
      continue;
    }
    const log = logger.child(`port ${port.name}`);
    const router = new PortRouter({
      dialApp: () => net.connect({ host: '127.0.0.1', port: port.appPort, allowHalfOpen: true }),
      dialClient: (interceptId, meta) => {
        if (!session) return Promise.reject(new Error('not connected to the traffic-manager'));
        return session.openInterceptTunnel(interceptId, meta.source, { address: podIp || '127.0.0.1', port: port.appPort });
      },
      logger: log,
    });
    const server = net.createServer({ allowHalfOpen: true }, (socket) => router.handle(socket));
    await listenDualStack(server, port.agentPort);
    log.info('listening', { agentPort: port.agentPort, appPort: port.appPort });
    hosts.push({ agentPort: port.agentPort, router, server });
  }

  const apply = (intercepts: InterceptInfo[], keys?: string[]): void => {
    if (keys) {
      volumeKeys.replace(keys, (_line, e) => logger.warn('the manager sent a volume key that is no public key', { error: e.message }));
    }
    for (const h of hosts) h.router.setRules(intercepts.filter((i) => i.spec?.agentPort === h.agentPort && i.active).map(toRule));
    logger.info('intercepts', { count: intercepts.length, names: intercepts.map((i) => `${i.spec?.name ?? '?'} (${i.clientName})`), volumeKeys: volumeKeys.size });
  };
  if (managerAddress) {
    session = new AgentSession({
      address: managerAddress,
      info,
      readToken: () => readFileSync(`${AGENT_TOKEN_DIR}/${AGENT_TOKEN_FILE}`, 'utf8').trim(),
      logger: logger.child('manager'),
      onIntercepts: apply,
    });
    session.start();
  } else {
    logger.warn(`${AGENT_MANAGER_ADDRESS_ENV} is not set; forwarding everything to the app`);
  }

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info('signal received', { signal });
    for (const h of hosts) h.router.setRules([]);
    await session?.close();
    await sftp?.close();
    for (const h of hosts) h.server.close();
    const timer = setTimeout(() => process.exit(0), DRAIN_MS);
    await Promise.all(hosts.map((h) => h.router.close()));
    clearTimeout(timer);
    process.exit(0);
  };
  for (const s of ['SIGTERM', 'SIGINT'] as const) process.on(s, (sig) => void shutdown(sig));
}

function listenDualStack(server: net.Server, port: number): Promise<void> {
  const listen = (host: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      server.once('error', onError);
      server.listen({ port, host, ipv6Only: false }, () => {
        server.off('error', onError);
        resolve();
      });
    });
  return listen('::').catch(() => listen('0.0.0.0'));
}

if (process.argv.includes('--version')) {
  process.stdout.write(`${PROGRAM_NAME} ${PRODUCT_VERSION}\n`);
} else {
  const logger = jsonLogger({ level: parseLogLevel(process.env._TP_LOG_LEVEL), write: (line) => process.stderr.write(line) });
  // The agent carries the workload's traffic: a fault in one connection's handling must not take
  // every other connection (and the pod's readiness) down with it.
  process.on('unhandledRejection', (e) => {
    logger.error('unhandled rejection', { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  });
  process.on('uncaughtException', (e) => {
    logger.error('uncaught exception', { error: e.stack ?? e.message });
  });
  run(logger, process.env).catch((e: unknown) => {
    logger.error('cannot start', { error: e instanceof Error ? e.message : String(e) });
    process.exit(1);
  });
}
