/**
 * Whether an ArriveAsAgent comes from the agent it claims to be, as a pure decision over what the
 * API server said: the TokenReview of the token the caller sent, then the pod that token is bound
 * to. The I/O (and its cache) is agentVerifier.ts.
 *
 * A token proves "a process that reads this pod's projected token"; the webhook mounts that token
 * in the agent container only. The pod then has to be one the webhook injected, and its agent
 * config (written by a user allowed to patch the workload) has to name the workload the caller
 * claims. Whoever may create pods in a namespace can build such a pod by hand; see
 * docs/security.md.
 */
import type { TokenReviewStatus } from 'kubernetes-types/authentication/v1';
import type { Pod } from 'kubernetes-types/core/v1';
import { AGENT_CONFIG_ANNOTATION, AGENT_CONTAINER_NAME, parseAgentConfig } from '../../../protocol/src/agent/agentConfig.js';
import type { AgentInfo } from '../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { AGENT_INJECTED_ANNOTATION } from '../webhook/mutatePod.js';

/** The UserInfo.extra keys the API server sets for a token bound to a pod. */
export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
export const POD_UID_EXTRA = 'authentication.kubernetes.io/pod-uid';
const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';

/** What an arriving agent says it is. */
export type AgentClaim = Pick<AgentInfo, 'namespace' | 'workloadKind' | 'workloadName' | 'podName' | 'container'>;

/** UNAUTHENTICATED: the token proves nothing. PERMISSION_DENIED: it proves someone else. */
export interface Refusal {
  code: 'unauthenticated' | 'permissionDenied';
  reason: string;
}

/** Who the API server says the token belongs to. */
export interface TokenIdentity {
  namespace: string;
  serviceAccount: string;
  podName: string;
  podUid: string;
}

/** The identity in a TokenReview's status, if the token is a pod's token for `audience` and is the claimed pod's. */
export function identityOfReview(review: TokenReviewStatus | undefined, audience: string, claim: AgentClaim): TokenIdentity | Refusal {
  const unauthenticated = (reason: string): Refusal => ({ code: 'unauthenticated', reason });
  const denied = (reason: string): Refusal => ({ code: 'permissionDenied', reason });
  if (!review?.authenticated) return unauthenticated(`the API server did not accept the token${review?.error ? `: ${review.error}` : ''}`);
  // An empty list means a token for the API server itself (TokenReviewStatus.audiences).
  if (!review.audiences?.includes(audience)) {
    return unauthenticated(`the token is not for ${audience} (its audiences: ${review.audiences?.join(', ') || "the API server's"})`);
  }
  const username = review.user?.username ?? '';
  const parts = username.startsWith(SERVICE_ACCOUNT_PREFIX) ? username.slice(SERVICE_ACCOUNT_PREFIX.length).split(':') : [];
  if (parts.length !== 2 || !parts[0] || !parts[1]) return denied(`the token is not a service account's (user ${JSON.stringify(username)})`);
  const [namespace, serviceAccount] = parts as [string, string];
  if (namespace !== claim.namespace) return denied(`the token is of namespace ${namespace}, but the agent claims namespace ${claim.namespace}`);
  const podName = single(review.user?.extra?.[POD_NAME_EXTRA]);
  const podUid = single(review.user?.extra?.[POD_UID_EXTRA]);
  if (!podName || !podUid) return denied(`the token of ${username} is not bound to a pod`);
  if (podName !== claim.podName) return denied(`the token is pod ${namespace}/${podName}'s, but the agent claims pod ${claim.podName}`);
  return { namespace, serviceAccount, podName, podUid };
}

/** Why `pod` (as the API server has it now) does not back the claim; undefined when it does. */
export function podRefusal(pod: Pod | undefined, identity: TokenIdentity, claim: AgentClaim): Refusal | undefined {
  const denied = (reason: string): Refusal => ({ code: 'permissionDenied', reason });
  const where = `pod ${identity.namespace}/${identity.podName}`;
  if (!pod) return denied(`${where} does not exist`);
  if (pod.metadata?.uid !== identity.podUid) return denied(`${where} is not the pod the token was issued to (uid ${pod.metadata?.uid ?? 'none'}, not ${identity.podUid})`);
  const podAccount = pod.spec?.serviceAccountName || 'default';
  if (podAccount !== identity.serviceAccount) return denied(`${where} runs as service account ${podAccount}, not ${identity.serviceAccount}`);
  const annotations = pod.metadata?.annotations ?? {};
  const hasAgent = (pod.spec?.containers ?? []).some((c) => c.name === AGENT_CONTAINER_NAME);
  if (!hasAgent || annotations[AGENT_INJECTED_ANNOTATION] === undefined) return denied(`${where} has no traffic-agent injected by the webhook`);
  const json = annotations[AGENT_CONFIG_ANNOTATION];
  if (json === undefined) return denied(`${where} has no ${AGENT_CONFIG_ANNOTATION} annotation`);
  let config;
  try {
    config = parseAgentConfig(json);
  } catch (e) {
    return denied(`${where}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const { kind, name, namespace } = config.workload;
  if (kind !== claim.workloadKind || name !== claim.workloadName || namespace !== claim.namespace) {
    return denied(`${where} runs the agent of ${kind} ${namespace}/${name}, but the agent claims ${claim.workloadKind} ${claim.namespace}/${claim.workloadName}`);
  }
  if (config.container !== claim.container) return denied(`${where}'s agent takes container ${config.container}, but the agent claims ${claim.container}`);
  return undefined;
}

export function isRefusal(v: TokenIdentity | Refusal): v is Refusal {
  return 'code' in v;
}

function single(values: string[] | undefined): string | undefined {
  return values?.length === 1 ? values[0] : undefined;
}
