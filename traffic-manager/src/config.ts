/**
 * The manager's settings, from its environment (the Deployment sets them; see manifests.ts).
 * Unset or unparsable values fall back to the defaults, and what was wrong is reported so the
 * entry point can log it.
 */
import { isIP } from 'node:net';
import { subnetToCidr } from '../../protocol/src/ipAddress.js';
import { type LogLevel, parseLogLevel } from '../../common/src/log/jsonLogger.js';
import { parseAllowedCidr } from './tunnel/destinationPolicy.js';

export interface ManagerConfig {
  /** Namespace the manager runs in; '' means "read the service account's". */
  namespace: string;
  /** The daemons' gRPC port, on the pod's loopback only (they come through a port-forward). */
  grpcPort: number;
  /** The agents' gRPC port, on every address (the Service's `agent` port). */
  agentPort: number;
  healthPort: number;
  logLevel: LogLevel;
  sessionTtlMs: number;
  /** How long a SIGTERM lets tunnels finish before they are disconnected. */
  drainMs: number;
  /** The admission webhook's HTTPS port; 0 turns the webhook off. */
  webhookPort: number;
  /** The image the webhook gives the traffic-agent. */
  agentImage: string;
  /**
   * TELEPATH_TUNNEL_ALLOW: CIDRs tunnels may reach beyond the cluster's subnets and DNS answers
   * (destinationPolicy.ts), each in its canonical form.
   */
  tunnelAllow: string[];
  /** The pod's addresses from the downward API (POD_IPS, POD_IP); tunnels never reach them. */
  podIps: string[];
  /** TELEPATH_POD_CIDR_STRATEGY: where the pod subnets come from (clusterInfoSource.ts). */
  podCidrStrategy: PodCidrStrategy;
  /**
   * TELEPATH_POD_CIDRS: the pod subnets, canonical; when any is given they are used as they are
   * and podCidrStrategy is not consulted.
   */
  podCidrs: string[];
  /**
   * TELEPATH_AGENT_IDLE_TIMEOUT: remove an agent whose workload had no intercept this long
   * (agents/idleAgents.ts); 0 leaves agents alone.
   */
  agentIdleTimeoutMs: number;
}

/**
 * `nodes`: the nodes' spec.podCIDRs. `pods`: CIDRs covering the pods' addresses
 * (podSubnetCover.ts), for CNIs that leave spec.podCIDR empty or unused. `auto`: `nodes` while
 * the nodes have pod CIDRs (clusterInfo.ts nodesHavePodCidrs), `pods` otherwise.
 */
export type PodCidrStrategy = 'auto' | 'nodes' | 'pods';
const POD_CIDR_STRATEGIES: readonly PodCidrStrategy[] = ['auto', 'nodes', 'pods'];

/** The shortest idle timeout: shorter would race the rollout that installed the agent and the daemons' reconnect. */
export const MIN_AGENT_IDLE_TIMEOUT_MS = 10_000;
/** The longest: 30 days, well inside what a timer can wait. */
export const MAX_AGENT_IDLE_TIMEOUT_MS = 30 * 24 * 3600_000;

export const DEFAULT_CONFIG: ManagerConfig = {
  namespace: '',
  grpcPort: 8081,
  agentPort: 8083,
  healthPort: 8082,
  logLevel: 'info',
  sessionTtlMs: 60_000,
  drainMs: 5_000,
  webhookPort: 443,
  agentImage: 'docker.io/library/node:20-alpine',
  tunnelAllow: [],
  podIps: [],
  podCidrStrategy: 'auto',
  podCidrs: [],
  agentIdleTimeoutMs: 0,
};

export function readConfig(env: NodeJS.ProcessEnv): { config: ManagerConfig; problems: string[] } {
  const problems: string[] = [];
  const int = (key: string, fallback: number, min: number, max: number): number => {
    const text = env[key];
    if (text === undefined || text === '') return fallback;
    const n = Number(text);
    if (Number.isInteger(n) && n >= min && n <= max) return n;
    problems.push(`${key}=${JSON.stringify(text)} is not an integer in [${min}, ${max}]; using ${fallback}`);
    return fallback;
  };
  const level = env.TELEPATH_LOG_LEVEL;
  const logLevel = parseLogLevel(level, DEFAULT_CONFIG.logLevel);
  if (level && parseLogLevel(level, 'error') !== logLevel) {
    problems.push(`TELEPATH_LOG_LEVEL=${JSON.stringify(level)} is not debug|info|warn|error; using ${logLevel}`);
  }
  return {
    config: {
      namespace: env.TELEPATH_NAMESPACE?.trim() ?? '',
      grpcPort: int('TELEPATH_GRPC_PORT', DEFAULT_CONFIG.grpcPort, 1, 65535),
      agentPort: int('TELEPATH_AGENT_PORT', DEFAULT_CONFIG.agentPort, 1, 65535),
      healthPort: int('TELEPATH_HEALTH_PORT', DEFAULT_CONFIG.healthPort, 1, 65535),
      logLevel,
      sessionTtlMs: int('TELEPATH_SESSION_TTL_MS', DEFAULT_CONFIG.sessionTtlMs, 1000, 24 * 3600_000),
      drainMs: int('TELEPATH_DRAIN_MS', DEFAULT_CONFIG.drainMs, 0, 600_000),
      webhookPort: int('TELEPATH_WEBHOOK_PORT', DEFAULT_CONFIG.webhookPort, 0, 65535),
      agentImage: env.TELEPATH_AGENT_IMAGE?.trim() || DEFAULT_CONFIG.agentImage,
      tunnelAllow: cidrListOf('TELEPATH_TUNNEL_ALLOW', env.TELEPATH_TUNNEL_ALLOW, problems),
      podIps: podIpsOf(env, problems),
      podCidrStrategy: podCidrStrategyOf(env.TELEPATH_POD_CIDR_STRATEGY, problems),
      podCidrs: cidrListOf('TELEPATH_POD_CIDRS', env.TELEPATH_POD_CIDRS, problems, true),
      agentIdleTimeoutMs: idleTimeoutOf(env.TELEPATH_AGENT_IDLE_TIMEOUT, problems),
    },
    problems,
  };
}

/**
 * CIDRs in canonical form; a bare address means that address alone unless `needPrefix`. A bad
 * entry is reported and left out; the others still apply.
 */
function cidrListOf(key: string, text: string | undefined, problems: string[], needPrefix = false): string[] {
  const out: string[] = [];
  for (const entry of commaList(text)) {
    try {
      if (needPrefix && !entry.includes('/')) throw new Error(`${JSON.stringify(entry)} is not a CIDR (like 10.244.0.0/16)`);
      out.push(subnetToCidr(parseAllowedCidr(entry)));
    } catch (e) {
      problems.push(`${key}: ${e instanceof Error ? e.message : String(e)}; ignored`);
    }
  }
  return [...new Set(out)];
}

function podCidrStrategyOf(text: string | undefined, problems: string[]): PodCidrStrategy {
  const value = text?.trim().toLowerCase() ?? '';
  if (value === '') return DEFAULT_CONFIG.podCidrStrategy;
  const known = POD_CIDR_STRATEGIES.find((s) => s === value);
  if (known) return known;
  problems.push(`TELEPATH_POD_CIDR_STRATEGY=${JSON.stringify(text)} is not ${POD_CIDR_STRATEGIES.join('|')}; using ${DEFAULT_CONFIG.podCidrStrategy}`);
  return DEFAULT_CONFIG.podCidrStrategy;
}

function podIpsOf(env: NodeJS.ProcessEnv, problems: string[]): string[] {
  const out: string[] = [];
  for (const key of ['POD_IPS', 'POD_IP']) {
    for (const ip of commaList(env[key])) {
      if (isIP(ip)) out.push(ip);
      else problems.push(`${key}: ${JSON.stringify(ip)} is not an IP address; ignored`);
    }
  }
  return [...new Set(out)];
}

/** Off (0) when unset, 0, or not a duration in range; the last two are reported. */
function idleTimeoutOf(text: string | undefined, problems: string[]): number {
  if (text === undefined || text.trim() === '') return 0;
  const setting = `TELEPATH_AGENT_IDLE_TIMEOUT=${JSON.stringify(text)}`;
  const ms = parseDuration(text);
  if (ms === undefined) {
    problems.push(`${setting} is not a duration like 30m, 2h, 1h30m, 20s or milliseconds; idle agents are not removed`);
    return 0;
  }
  if (ms !== 0 && (ms < MIN_AGENT_IDLE_TIMEOUT_MS || ms > MAX_AGENT_IDLE_TIMEOUT_MS)) {
    const bare = /^\d+$/.test(text.trim()) ? ` (a bare number is milliseconds: did you mean ${text.trim()}m?)` : '';
    problems.push(`${setting} is not between 10s and 720h${bare}; idle agents are not removed`);
    return 0;
  }
  return ms;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3600_000 };

/**
 * Milliseconds of `30m`, `2h`, `1h30m`, `20s`, `1500ms`, or of a bare integer (milliseconds);
 * undefined when it is none of those.
 */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t);
  if (!/^(\d+(ms|s|m|h))+$/.test(t)) return undefined;
  let ms = 0;
  for (const [, n, unit] of t.matchAll(/(\d+)(ms|s|m|h)/g)) ms += Number(n) * DURATION_UNITS[unit!]!;
  return Number.isSafeInteger(ms) ? ms : undefined;
}

function commaList(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
