/**
 * The app container's environment as the agent reports it. The webhook copies the app container's
 * `env` and `envFrom` into the agent unchanged, so Kubernetes resolves them (ConfigMaps, Secrets,
 * fieldRefs, `$(VAR)` references) exactly as it does for the app; what the agent adds for itself
 * starts with AGENT_ENV_PREFIX, and a few variables come from its image rather than the spec.
 */
import { AGENT_ENV_PREFIX, IMAGE_ENV_KEYS } from '../../protocol/src/agent/agentConfig.js';

export function appEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || k.startsWith(AGENT_ENV_PREFIX) || IMAGE_ENV_KEYS.includes(k)) continue;
    out[k] = v;
  }
  return out;
}
