/**
 * Tells the manager who holds this daemon's session, in a way the manager can trust
 * (common/src/sessionIdentity.ts): asks the API server who the kubeconfig's user is (a
 * SelfSubjectReview, which every authenticated user may make), and writes that identity into a
 * Session object in the manager's namespace with the user's own credentials. The API server's
 * admission policy admits it only if the identity is the sender's, so the daemon cannot lie, and
 * the manager can then ask RBAC about that user.
 */
import { ApiException, AuthenticationV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { daemonError, ErrorCode } from '../../../../protocol/src/daemon';
import {
  SESSION_API_VERSION,
  SESSION_RESOURCE,
  sessionObject,
  TELEPATH_API_GROUP,
  type SessionUser,
} from '../../../../common/src/sessionIdentity.js';
import { kubeError, type KubeAccess } from '../kube/kubeAccess.js';

/** Who the kubeconfig's user is, as the API server authenticates them. */
export async function whoAmI(access: KubeAccess): Promise<SessionUser> {
  try {
    const review = await access.kc
      .makeApiClient(AuthenticationV1Api)
      .createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
    const u = review.status?.userInfo;
    if (!u?.username) throw new Error('the API server answered a SelfSubjectReview without a username');
    return { username: u.username, ...(u.uid ? { uid: u.uid } : {}), ...(u.groups ? { groups: u.groups } : {}), ...(u.extra ? { extra: u.extra } : {}) };
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) {
      throw daemonError(
        ErrorCode.ManagerInstallFailed,
        `the cluster of context "${access.context}" has no SelfSubjectReview API (authentication.k8s.io/v1, Kubernetes 1.28 and later), which Telepath needs to tell the traffic-manager who you are`,
      );
    }
    throw kubeError(err, 'asking the API server who you are (SelfSubjectReview)', access);
  }
}

/** Writes the Session object of `sessionId`; resolves with the user it names. */
export async function proveSession(access: KubeAccess, managerNamespace: string, sessionId: string, clientName: string): Promise<SessionUser> {
  const user = await whoAmI(access);
  const body = sessionObject(managerNamespace, sessionId, user, clientName);
  try {
    await access.kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: TELEPATH_API_GROUP,
      version: SESSION_API_VERSION,
      namespace: managerNamespace,
      plural: SESSION_RESOURCE,
      body,
    });
    return user;
  } catch (err) {
    if (err instanceof ApiException && err.code === 403) {
      throw kubeError(
        err,
        `the cluster does not let ${user.username} create ${SESSION_RESOURCE}.${TELEPATH_API_GROUP} in namespace ${managerNamespace}, which connecting needs ` +
          `(ask a cluster admin for the "may connect" role of docs/security.md)`,
        access,
      );
    }
    if (err instanceof ApiException && err.code === 404) {
      throw daemonError(
        ErrorCode.ManagerInstallFailed,
        `the cluster has no ${SESSION_RESOURCE}.${TELEPATH_API_GROUP} type: the traffic-manager in namespace ${managerNamespace} was installed by another version of Telepath; ask an admin to run "telepath connect" with this version to upgrade it`,
      );
    }
    throw kubeError(err, `writing this session's ${SESSION_RESOURCE}.${TELEPATH_API_GROUP} object in namespace ${managerNamespace}`, access);
  }
}
