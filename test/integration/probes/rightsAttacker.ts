/**
 * A developer's own hand-written Manager client, for rights.test.ts: it reaches the manager
 * through a port-forward that the user's own kubeconfig opened, skips the daemon (and its early
 * checks), and tries to do in a namespace what the cluster does not let that user do. It runs the
 * steps of a plan in order, on one gRPC connection, and prints one JSON array of outcomes:
 *
 *   node --import tsx rightsAttacker.ts 127.0.0.1:PORT '<steps JSON>'   (KUBECONFIG: the user's)
 *
 * Steps: {op:'arrive'}; {op:'prove', claim?: SessionUser} writes the Session object of the current
 * session with the user's credentials, naming who the API server says they are, or `claim`
 * instead (a forgery); {op:'createIntercept', namespace, workload, name?}; {op:'removeIntercept',
 * name}; {op:'authorizeVolumes', name, publicKey}; {op:'listAgents', namespace}; {op:'listIntercepts', namespace}; {op:'sleep', ms}; {op:'announce', file} writes
 * the session id to `file`; {op:'steal', file} waits for `file` and uses the session id in it from
 * now on (on this process's own connection). Outcome: {op, code,
 * details, ...} (code as grpc-js names it, or the API server's HTTP status for 'prove').
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ApiException, AuthenticationV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { credentials, type ServiceError, status } from '@grpc/grpc-js';
import type { AgentInfo, InterceptInfo, InterceptSpec } from '../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { ManagerClient } from '../../../protocol/src/manager/managerService.js';
import { SESSION_API_VERSION, SESSION_RESOURCE, sessionObject, TELEPATH_API_GROUP, type SessionUser } from '../../../common/src/sessionIdentity.js';

type Step =
  | { op: 'arrive' }
  | { op: 'prove'; claim?: SessionUser }
  | { op: 'createIntercept'; namespace: string; workload: string; name?: string }
  | { op: 'removeIntercept'; name: string }
  | { op: 'authorizeVolumes'; name: string; publicKey: string }
  | { op: 'listAgents'; namespace: string }
  | { op: 'listIntercepts'; namespace: string }
  | { op: 'sleep'; ms: number }
  | { op: 'announce'; file: string }
  | { op: 'steal'; file: string };

export interface Outcome {
  op: string;
  code: string;
  details: string;
  agents?: { namespace: string; podName: string; environment: Record<string, string>; environmentWithheld: string }[];
  intercepts?: { name: string; namespace: string; clientName: string; headers: { name: string; value: string }[]; mine: boolean }[];
}

const MANAGER_NAMESPACE = 'telepath';

function call<R>(op: string, start: (cb: (err: ServiceError | null, res: R) => void) => void): Promise<{ outcome: Outcome; res?: R }> {
  return new Promise((resolve) =>
    start((err, res) =>
      resolve(err ? { outcome: { op, code: status[err.code] ?? String(err.code), details: err.details } } : { outcome: { op, code: 'OK', details: '' }, res }),
    ),
  );
}

function spec(s: Extract<Step, { op: 'createIntercept' }>): InterceptSpec {
  return {
    name: s.name ?? s.workload,
    namespace: s.namespace,
    workloadKind: 'Deployment',
    workloadName: s.workload,
    agentPort: 9900,
    global: true,
    headers: [],
    pathPrefix: '',
    previewToken: '',
    localPort: 3000,
  };
}

async function prove(sessionId: string, claim: SessionUser | undefined): Promise<Outcome> {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  try {
    const me = (await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } }))
      .status!.userInfo!;
    const user: SessionUser = claim ?? { username: me.username!, ...(me.uid ? { uid: me.uid } : {}), groups: me.groups, extra: me.extra };
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: TELEPATH_API_GROUP,
      version: SESSION_API_VERSION,
      namespace: MANAGER_NAMESPACE,
      plural: SESSION_RESOURCE,
      body: sessionObject(MANAGER_NAMESPACE, sessionId, user, 'attacker@probe'),
    });
    return { op: 'prove', code: 'OK', details: user.username };
  } catch (e) {
    if (e instanceof ApiException) {
      const body = typeof e.body === 'string' ? e.body : JSON.stringify(e.body);
      return { op: 'prove', code: String(e.code), details: (JSON.parse(body) as { message?: string }).message ?? body };
    }
    return { op: 'prove', code: 'ERROR', details: e instanceof Error ? e.message : String(e) };
  }
}

async function main(target: string, steps: Step[]): Promise<Outcome[]> {
  const client = new ManagerClient(target, credentials.createInsecure());
  const out: Outcome[] = [];
  let sessionId = '';
  const session = () => ({ sessionId });
  try {
    for (const s of steps) {
      switch (s.op) {
        case 'arrive': {
          const r = await call<{ session?: { sessionId: string } }>('arrive', (cb) =>
            client.arriveAsClient({ client: { name: 'attacker@probe', installId: `probe-${process.pid}`, namespace: 'samples', version: '0.0.0', heartbeatMs: 0, apiLevel: 0, minApiLevel: 0 } }, cb),
          );
          sessionId = r.res?.session?.sessionId ?? '';
          out.push(r.outcome);
          break;
        }
        case 'prove':
          out.push(await prove(sessionId, s.claim));
          break;
        case 'announce':
          // The session id, for another process to steal (rights.test.ts).
          writeFileSync(s.file, sessionId);
          out.push({ op: 'announce', code: 'OK', details: '' });
          break;
        case 'steal': {
          const deadline = Date.now() + 60_000;
          while (!existsSync(s.file) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
          sessionId = readFileSync(s.file, 'utf8');
          out.push({ op: 'steal', code: sessionId ? 'OK' : 'NOTHING', details: '' });
          break;
        }
        case 'sleep':
          await new Promise((r) => setTimeout(r, s.ms));
          out.push({ op: 'sleep', code: 'OK', details: '' });
          break;
        case 'createIntercept':
          out.push((await call('createIntercept', (cb) => client.createIntercept({ session: session(), spec: spec(s) }, cb as never))).outcome);
          break;
        case 'authorizeVolumes':
          out.push(
            (await call('authorizeVolumes', (cb) => client.authorizeVolumes({ session: session(), interceptName: s.name, publicKey: s.publicKey }, cb as never))).outcome,
          );
          break;
        case 'removeIntercept':
          out.push((await call('removeIntercept', (cb) => client.removeIntercept({ session: session(), name: s.name }, cb as never))).outcome);
          break;
        case 'listAgents': {
          const r = await call<{ agents: AgentInfo[] }>('listAgents', (cb) => client.listAgents({ session: session(), namespace: s.namespace, workloadName: '' }, cb));
          if (r.res) r.outcome.agents = r.res.agents.map((a) => ({ namespace: a.namespace, podName: a.podName, environment: a.environment, environmentWithheld: a.environmentWithheld }));
          out.push(r.outcome);
          break;
        }
        case 'listIntercepts': {
          const r = await call<{ intercepts: InterceptInfo[] }>('listIntercepts', (cb) => client.listIntercepts({ session: session(), namespace: s.namespace }, cb));
          if (r.res) {
            r.outcome.intercepts = r.res.intercepts.map((i) => ({
              name: i.spec!.name,
              namespace: i.spec!.namespace,
              clientName: i.clientName,
              headers: i.spec!.headers.map((h) => ({ name: h.name, value: h.value })),
              mine: i.mine,
            }));
          }
          out.push(r.outcome);
          break;
        }
      }
    }
  } finally {
    client.close();
  }
  return out;
}

const [target, plan] = process.argv.slice(2);
main(target ?? '', JSON.parse(plan ?? '[]') as Step[]).then(
  (o) => process.stdout.write(`${JSON.stringify(o)}\n`, () => process.exit(0)),
  (e: unknown) => process.stdout.write(`${JSON.stringify([{ op: 'crash', code: 'CRASH', details: e instanceof Error ? e.stack : String(e) }])}\n`, () => process.exit(0)),
);
