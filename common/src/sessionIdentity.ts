/**
 * Who holds a manager session, as the cluster proved it (issue #14, docs/security.md "Who you
 * are"). The manager's client API is reached through a port-forward, which tells the manager
 * nothing about the user behind it. So after ArriveAsClient the daemon writes, with the user's own
 * credentials, a Session object (`sessions.telepath.dev`) in the manager's namespace, named after
 * the SHA-256 of its session id, that holds who the user is (a SelfSubjectReview's answer). A
 * ValidatingAdmissionPolicy in the API server admits it only when that identity is exactly the
 * user sending it, and never lets it change. The manager reads the object of a session and asks
 * the API server (SubjectAccessReview) whether that user has the right an RPC needs, in the
 * namespace it acts on.
 *
 * The session id itself is never written anywhere: the object carries its hash, so reading
 * Session objects does not hand out sessions.
 */
import { createHash } from 'node:crypto';

export const TELEPATH_API_GROUP = 'telepath.dev';
export const SESSION_API_VERSION = 'v1alpha1';
export const SESSION_KIND = 'Session';
export const SESSION_RESOURCE = 'sessions';
/** The object's name is this prefix and the session's hash; the admission policy insists on it. */
export const SESSION_NAME_PREFIX = 'tp-';

/** A user as the API server authenticated them (SelfSubjectReview's status.userInfo). */
export interface SessionUser {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface SessionObject {
  apiVersion: string;
  kind: typeof SESSION_KIND;
  metadata: { name: string; namespace: string; labels?: Record<string, string>; creationTimestamp?: string; uid?: string };
  spec: {
    /** Lowercase hex SHA-256 of the session id. */
    sessionHash: string;
    user: SessionUser;
    /** ClientInfo.name ("alice@laptop"), for `kubectl get sessions`. */
    client?: string;
  };
}

export function sessionHash(sessionId: string): string {
  return createHash('sha256').update(sessionId, 'utf8').digest('hex');
}

export function sessionObjectName(sessionId: string): string {
  return SESSION_NAME_PREFIX + sessionHash(sessionId);
}

/** A short, non-secret handle of a session for logs: the first 12 hex digits of its hash. */
export function sessionHandle(sessionId: string): string {
  return sessionHash(sessionId).slice(0, 12);
}

export function sessionObject(namespace: string, sessionId: string, user: SessionUser, client: string): SessionObject {
  return {
    apiVersion: `${TELEPATH_API_GROUP}/${SESSION_API_VERSION}`,
    kind: SESSION_KIND,
    metadata: { name: sessionObjectName(sessionId), namespace, labels: { 'app.kubernetes.io/part-of': 'telepath' } },
    spec: { sessionHash: sessionHash(sessionId), user: withoutEmpty(user), client: client.slice(0, 256) },
  };
}

/**
 * The user as the object must carry it: the admission policy compares absent and empty alike, but
 * the CRD's schema has no room for nulls, so empty fields are left out.
 */
function withoutEmpty(u: SessionUser): SessionUser {
  const out: SessionUser = { username: u.username };
  if (u.uid) out.uid = u.uid;
  if (u.groups?.length) out.groups = [...u.groups];
  if (u.extra && Object.keys(u.extra).length) out.extra = Object.fromEntries(Object.entries(u.extra).map(([k, v]) => [k, [...v]]));
  return out;
}

/**
 * The rights the manager checks, as RBAC resource attributes in the namespace acted on. They are
 * not objects anyone stores: RBAC grants verbs on any resource name, and the manager asks the API
 * server with a SubjectAccessReview. An admin grants them with the Roles of docs/security.md.
 */
export const RIGHTS = {
  /** Route a workload's traffic to one's workstation (CreateIntercept; an intercept lives only while this holds). */
  intercept: { verb: 'create', group: TELEPATH_API_GROUP, resource: 'intercepts', subresource: '' },
  /** Read an intercepted container's environment (AgentInfo.environment). */
  environment: { verb: 'get', group: TELEPATH_API_GROUP, resource: 'intercepts', subresource: 'environment' },
  /** Mount an intercepted container's volumes. */
  volumes: { verb: 'get', group: TELEPATH_API_GROUP, resource: 'intercepts', subresource: 'volumes' },
} as const;

export type RightName = keyof typeof RIGHTS;

/** How a right reads in messages and docs: "create intercepts.telepath.dev" or "get intercepts.telepath.dev/environment". */
export function describeRight(right: RightName): string {
  const r = RIGHTS[right];
  return `${r.verb} ${r.resource}.${r.group}${r.subresource ? `/${r.subresource}` : ''}`;
}
