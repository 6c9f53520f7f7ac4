/**
 * Which traffic-agent a workload runs, and when a daemon must roll it with another (docs/upgrades.md).
 * Agents are not replaced with the manager: an agent keeps working with every manager whose API
 * levels overlap its own, and only a workload whose agent falls outside the manager's range is
 * rolled, by a daemon, with the user's credentials (the manager may not change workloads).
 *
 * The agent's code comes from the ConfigMap of its namespace, which pods load when they start, so
 * a pod that restarts later runs whatever the ConfigMap holds then. The ConfigMap is therefore
 * never replaced by an older agent: what a template's annotations name is the oldest agent its
 * pods can run.
 */
import { AGENT_API_LEVELS_ANNOTATION, AGENT_INJECT_LABEL, AGENT_INJECT_VALUE, AGENT_VERSION_ANNOTATION } from '../../../../protocol/src/agent/agentConfig.js';
import { apiCompatible, compareSemver, formatApiRange, parseApiRange, type ApiRange } from '../../../../protocol/src/version.js';

/** One build of the agent. An empty version is one from before 0.2.0, which named none. */
export interface AgentBuild {
  version: string;
  api: ApiRange;
}

type Metadata = { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined;

/** The annotations that name `agent` on a pod template. */
export function agentAnnotations(agent: AgentBuild): Record<string, string> {
  return { [AGENT_VERSION_ANNOTATION]: agent.version, [AGENT_API_LEVELS_ANNOTATION]: formatApiRange(agent.api) };
}

/** The agent a pod template (or a pod, which copies it) asks for; undefined when it is not marked. */
export function agentOf(metadata: Metadata): AgentBuild | undefined {
  if (metadata?.labels?.[AGENT_INJECT_LABEL] !== AGENT_INJECT_VALUE) return undefined;
  return { version: metadata.annotations?.[AGENT_VERSION_ANNOTATION] ?? '', api: parseApiRange(metadata.annotations?.[AGENT_API_LEVELS_ANNOTATION]) };
}

/** Whether a pod runs the agent its template now names (both unnamed counts as the same). */
export function sameAgent(pod: Metadata, template: Metadata): boolean {
  const a = pod?.annotations ?? {};
  const b = template?.annotations ?? {};
  return a[AGENT_VERSION_ANNOTATION] === b[AGENT_VERSION_ANNOTATION] && a[AGENT_API_LEVELS_ANNOTATION] === b[AGENT_API_LEVELS_ANNOTATION];
}

/**
 * Why a marked workload's agent must be rolled before the manager serves it, or '' when it need
 * not: an agent whose levels do not overlap the manager's is refused by it (FAILED_PRECONDITION)
 * and sends all traffic to the app.
 */
export function agentRollReason(template: Metadata, manager: { version: string; api: ApiRange }): string {
  const agent = agentOf(template);
  if (!agent || apiCompatible(agent.api, manager.api)) return '';
  return (
    `its traffic-agent ${agent.version || '(before 0.2.0)'} speaks API levels ${formatApiRange(agent.api)}, ` +
    `which the traffic-manager ${manager.version} (${formatApiRange(manager.api)}) no longer serves`
  );
}

/**
 * The agent a rollout puts into the namespace's ConfigMap: this client's, unless the ConfigMap
 * already holds a newer one that the manager serves (never downgrade an agent).
 */
export function chooseAgent(inConfigMap: AgentBuild | undefined, ours: AgentBuild, managerApi: ApiRange): 'ours' | 'theirs' {
  if (!inConfigMap || !apiCompatible(inConfigMap.api, managerApi)) return 'ours';
  return (compareSemver(inConfigMap.version, ours.version) ?? -1) > 0 ? 'theirs' : 'ours';
}
