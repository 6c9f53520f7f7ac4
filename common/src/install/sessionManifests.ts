/**
 * The cluster objects that let the manager know who holds a session (common/src/sessionIdentity.ts):
 * the Session CustomResourceDefinition, and the ValidatingAdmissionPolicy that admits a Session
 * only when the identity it carries is exactly the user who sends it. The policy runs inside the
 * API server (CEL), so no caller can skip it, and no webhook that a pod could imitate is involved.
 */
import type { ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding } from 'kubernetes-types/admissionregistration/v1';
import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1';
import { SESSION_API_VERSION, SESSION_KIND, SESSION_NAME_PREFIX, SESSION_RESOURCE, TELEPATH_API_GROUP } from '../sessionIdentity.js';

export const SESSION_CRD_NAME = `${SESSION_RESOURCE}.${TELEPATH_API_GROUP}`;

/** Cluster-scoped, so named after the manager's namespace: two installs keep two policies. */
export function sessionPolicyName(namespace: string): string {
  return `${namespace}-telepath-session-identity`;
}

const stringList = { type: 'array', items: { type: 'string' }, maxItems: 256 } as const;

export function sessionManifests(
  namespace: string,
  labels: Record<string, string>,
): [CustomResourceDefinition, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding] {
  const crd: CustomResourceDefinition = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: SESSION_CRD_NAME, labels },
    spec: {
      group: TELEPATH_API_GROUP,
      scope: 'Namespaced',
      names: { plural: SESSION_RESOURCE, singular: 'session', kind: SESSION_KIND, listKind: `${SESSION_KIND}List` },
      versions: [
        {
          name: SESSION_API_VERSION,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: "A Telepath client session's proof of who holds it; written by the daemon with the user's credentials.",
              required: ['spec'],
              properties: {
                spec: {
                  type: 'object',
                  required: ['sessionHash', 'user'],
                  properties: {
                    sessionHash: { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'SHA-256 (hex) of the session id.' },
                    client: { type: 'string', maxLength: 256 },
                    user: {
                      type: 'object',
                      required: ['username'],
                      properties: {
                        username: { type: 'string', maxLength: 1024 },
                        uid: { type: 'string', maxLength: 1024 },
                        groups: stringList,
                        extra: { type: 'object', additionalProperties: stringList },
                      },
                    },
                  },
                },
              },
            },
          },
          additionalPrinterColumns: [
            { name: 'User', type: 'string', jsonPath: '.spec.user.username' },
            { name: 'Client', type: 'string', jsonPath: '.spec.client' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
        },
      ],
    },
  };
  const policyName = sessionPolicyName(namespace);
  // has() tests presence: the API server leaves out an empty uid, groups or extra, and so does
  // the daemon (sessionObject), so absent and empty compare equal on both sides.
  const field = (obj: string, name: string, empty: string): string => `(has(${obj}.${name}) ? ${obj}.${name} : ${empty})`;
  const policy: ValidatingAdmissionPolicy = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: policyName, labels },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
        resourceRules: [
          { apiGroups: [TELEPATH_API_GROUP], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: [SESSION_RESOURCE] } as never,
        ],
      },
      validations: [
        {
          expression: "request.operation == 'CREATE' || object.spec == oldObject.spec",
          message: 'a Session never changes: delete it and create another',
          reason: 'Forbidden',
        },
        {
          expression: `object.metadata.name == '${SESSION_NAME_PREFIX}' + object.spec.sessionHash`,
          message: `a Session is named ${SESSION_NAME_PREFIX}<spec.sessionHash>`,
          reason: 'Invalid',
        },
        {
          expression: 'object.spec.user.username == request.userInfo.username',
          messageExpression: "'spec.user.username must be the user who sends the Session: ' + request.userInfo.username",
          reason: 'Forbidden',
        },
        {
          expression: `${field('object.spec.user', 'uid', "''")} == ${field('request.userInfo', 'uid', "''")}`,
          message: 'spec.user.uid must be the uid of the user who sends the Session',
          reason: 'Forbidden',
        },
        {
          expression: `${field('object.spec.user', 'groups', '[]')} == ${field('request.userInfo', 'groups', '[]')}`,
          message: 'spec.user.groups must be the groups of the user who sends the Session, in order',
          reason: 'Forbidden',
        },
        {
          expression: `${field('object.spec.user', 'extra', '{}')} == ${field('request.userInfo', 'extra', '{}')}`,
          message: 'spec.user.extra must be the extra of the user who sends the Session',
          reason: 'Forbidden',
        },
      ],
    },
  };
  const binding: ValidatingAdmissionPolicyBinding = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: policyName, labels },
    spec: { policyName, validationActions: ['Deny'] },
  };
  return [crd, policy, binding];
}
