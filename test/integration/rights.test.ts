/**
 * What a developer may do through Telepath in a namespace is what the cluster's RBAC says (issue
 * #14, docs/security.md "Who you are, and what you may do"). Real users with their own client
 * certificates:
 * - alice may connect, edit samples (the built-in `edit` ClusterRole, for the agent install), and
 *   has the Telepath roles "may intercept" and "may read env and volumes" in samples;
 * - bob may connect and may intercept in team-b only; his attacks use a gRPC client of his own
 *   through his own port-forward, skipping the daemon;
 * - eve may connect and nothing else; she tries a session id of bob's on her own connection.
 * The manager is installed by an admin first, as on a shared cluster.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { GRPC_PORT } from '../../common/src/install/managerManifests.js';
import { generateEd25519KeyPair } from '../../common/src/sshKeys.js';
import {
  buildBundles,
  ensureCluster,
  stateDir,
  fromClientPod,
  kubectlPortForward,
  repoRoot,
  userKubeconfig,
  ws,
  wsSpawn,
  type KubectlPortForward,
} from '../cluster/harness.js';
import type { Outcome } from './probes/rightsAttacker.js';
import { adminEnv, asUser, CONNECT_ROLE, connectBindings, INTERCEPT_ROLES, roleBinding } from './users.js';

const telepath = path.join(repoRoot, 'dist/telepath.js');
const samples = path.join(repoRoot, '.cluster/build/samples.js');
const attacker = path.join(repoRoot, 'test/integration/probes/rightsAttacker.ts');

const grants = `${CONNECT_ROLE}---${INTERCEPT_ROLES}---${connectBindings('alice')}---${connectBindings('bob')}---${connectBindings('eve')}---
apiVersion: v1
kind: Namespace
metadata: {name: team-b}
---${roleBinding('alice-edit', 'samples', 'edit', 'alice')}---${roleBinding('bob-intercept', 'team-b', 'telepath-intercept', 'bob')}`;
const aliceIntercept = roleBinding('alice-intercept', 'samples', 'telepath-intercept', 'alice');
const aliceEnv = roleBinding('alice-env', 'samples', 'telepath-env-volumes', 'alice');

function kubectlApply(yaml: string): void {
  const r = ws(['kubectl', 'apply', '-f', '-'], { input: yaml });
  assert.equal(r.code, 0, r.stderr);
}

function kubectlDelete(yaml: string): void {
  ws(['kubectl', 'delete', '--ignore-not-found', '--wait=false', '-f', '-'], { input: yaml });
}

/** A user's own client (rightsAttacker.ts) through their port-forward, with their kubeconfig for the Session object. */
function attackerArgs(user: string, port: number, steps: unknown[]): string[] {
  return ['env', `KUBECONFIG=${userKubeconfig(user)}`, 'node', '--import', 'tsx', attacker, `127.0.0.1:${port}`, JSON.stringify(steps)];
}

function outcomes(stdout: string): Outcome[] {
  const out = JSON.parse(stdout) as Outcome[];
  assert.ok(!out.some((o) => o.code === 'CRASH'), stdout);
  return out;
}

function bobsClient(port: number, steps: unknown[]): Outcome[] {
  const r = ws(attackerArgs('bob', port, steps), { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  return outcomes(r.stdout);
}

function podAnswering(header: string): string {
  const r = fromClientPod(['http-get', 'http://echo.samples:8080/', '--header', header, '--timeout', '3000']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout.trim().split('\n')[0]!) as { pod: string }).pod;
}

let server: ChildProcess | undefined;
let bobForward: KubectlPortForward | undefined;

before(async () => {
  ensureCluster();
  buildBundles('telepath', 'traffic-manager', 'traffic-agent');
  const installed = ws(['node', telepath, 'connect', '--namespace', 'samples'], { env: adminEnv, timeoutMs: 300_000 });
  assert.equal(installed.code, 0, installed.stderr);
  ws(['node', telepath, 'quit'], { env: adminEnv });
  kubectlApply(`${grants}---${aliceIntercept}---${aliceEnv}`);
  server = wsSpawn(['env', 'POD_NAME=alice-laptop', 'SAMPLE_GREETING=hello from alice', 'node', samples, 'http-echo', '--port', '18090']);
  server.stderr?.on('data', () => undefined);
  bobForward = await kubectlPortForward('telepath', 'deployment/traffic-manager', GRPC_PORT, 30_000, userKubeconfig('bob'));
});

after(() => {
  server?.kill();
  bobForward?.stop();
  for (const user of ['alice', 'bob', 'eve']) {
    asUser(user, ['quit']);
    rmSync(`/run/telepath-user-${user}`, { recursive: true, force: true });
  }
  rmSync('/run/telepath-user-admin', { recursive: true, force: true });
  // The agent alice installed goes with the admin's uninstall; the grants with their YAML.
  ws(['node', telepath, 'uninstall', '--agent', 'echo', '--namespace', 'samples'], { env: adminEnv, timeoutMs: 180_000 });
  ws(['node', telepath, 'quit'], { env: adminEnv });
  kubectlDelete(`${grants}---${aliceIntercept}---${aliceEnv}`);
});

describe('rights in a namespace are what RBAC gives the user', () => {
  test('alice, who may intercept and read the environment in samples, intercepts echo: her requests reach her, with the pod environment', () => {
    const c = asUser('alice', ['connect', '--namespace', 'samples']);
    assert.equal(c.code, 0, c.stderr);
    const r = asUser('alice', ['intercept', 'echo', '--port', '18090', '--http-header', 'x-dev=alice', '--mount', '/tmp/telepath-rights-alice', '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { environment: Record<string, string>; environmentProblem?: string; mountProblem?: string };
    assert.equal(result.environmentProblem, undefined);
    assert.equal(result.mountProblem, undefined, 'the volumes mount with the key the manager handed to the agent');
    assert.equal(ws(['cat', '/tmp/telepath-rights-alice/etc/sample/config.txt']).code, 0);
    assert.equal(result.environment.SAMPLE_SECRET, 's3cr3t-from-a-secret', 'the environment, Secret-sourced values too');
    assert.equal(podAnswering('x-dev=alice'), 'alice-laptop');
    assert.match(podAnswering('x-dev=nobody'), /^echo-/);
    // The manager knows who she is: her Session object names her, written by her.
    const sessions = ws(['kubectl', '-n', 'telepath', 'get', 'sessions.telepath.dev', '-o', 'jsonpath={.items[*].spec.user.username}']);
    assert.match(sessions.stdout, /\balice\b/);
  });

  test("bob's own client: no session object, no rights; his own identity cannot intercept in samples nor read its agents; he cannot claim to be alice", () => {
    const out = bobsClient(bobForward!.port, [
      { op: 'arrive' },
      { op: 'createIntercept', namespace: 'samples', workload: 'echo' },
      { op: 'prove', claim: { username: 'alice', groups: ['system:authenticated'] } },
      { op: 'createIntercept', namespace: 'samples', workload: 'echo' },
      { op: 'prove' },
      // The manager remembers "no Session object" for a second.
      { op: 'sleep', ms: 1100 },
      { op: 'createIntercept', namespace: 'samples', workload: 'echo' },
      { op: 'listAgents', namespace: '' },
      { op: 'listAgents', namespace: 'samples' },
      { op: 'listIntercepts', namespace: 'samples' },
      { op: 'createIntercept', namespace: 'team-b', workload: 'web' },
      { op: 'authorizeVolumes', name: 'web', publicKey: generateEd25519KeyPair().public },
      { op: 'removeIntercept', name: 'web' },
    ]);
    const [arrive, nobody, forged, stillNobody, proved, , denied, agentsAll, agentsSamples, listed, teamB, volumes, removed] = out;
    assert.equal(arrive!.code, 'OK');
    assert.equal(nobody!.code, 'PERMISSION_DENIED');
    assert.match(nobody!.details, /does not know who holds this session/);
    assert.equal(forged!.code, '403', forged!.details);
    assert.match(forged!.details, /ValidatingAdmissionPolicy .* denied request: spec\.user\.username must be the user who sends the Session: bob/);
    assert.equal(stillNobody!.code, 'PERMISSION_DENIED');
    assert.equal(proved!.code, 'OK', proved!.details);
    assert.equal(denied!.code, 'PERMISSION_DENIED');
    assert.match(denied!.details, /^bob may not create intercepts\.telepath\.dev in namespace samples/);
    assert.deepEqual(agentsAll!.agents, [], 'no agent of samples, so no environment');
    assert.deepEqual(agentsSamples!.agents, []);
    // He may see that alice intercepts (as `telepath list` shows), not her header value.
    assert.equal(listed!.code, 'OK');
    assert.deepEqual(
      listed!.intercepts!.map((i) => [i.name, i.headers]),
      [['echo', [{ name: 'x-dev', value: '' }]]],
    );
    assert.equal(teamB!.code, 'OK', `bob may intercept in team-b: ${teamB!.details}`);
    assert.equal(volumes!.code, 'PERMISSION_DENIED', 'but not mount volumes there');
    assert.match(volumes!.details, /^bob may not get intercepts\.telepath\.dev\/volumes in namespace team-b/);
    assert.equal(removed!.code, 'OK');
    // Nothing changed for alice.
    assert.equal(podAnswering('x-dev=alice'), 'alice-laptop');
  });

  test("a session id stolen from bob is unknown on eve's connection, while bob's own connection keeps using it", async () => {
    const file = path.join(stateDir, 'rights-stolen-session');
    rmSync(file, { force: true });
    const eveForward = await kubectlPortForward('telepath', 'deployment/traffic-manager', GRPC_PORT, 30_000, userKubeconfig('eve'));
    try {
      // bob arrives, proves who he is, hands his session id over (a leak), waits, then uses it.
      const bob = wsSpawn(attackerArgs('bob', bobForward!.port, [
        { op: 'arrive' },
        { op: 'prove' },
        { op: 'announce', file },
        { op: 'sleep', ms: 6000 },
        { op: 'createIntercept', namespace: 'team-b', workload: 'api' },
        { op: 'listIntercepts', namespace: 'team-b' },
      ]));
      let bobOut = '';
      bob.stdout!.on('data', (d: Buffer) => (bobOut += d.toString()));
      const bobDone = new Promise((resolve) => bob.once('exit', resolve));
      // eve, who may connect but intercept nowhere, uses bob's id on her own connection.
      const r = ws(attackerArgs('eve', eveForward.port, [
        { op: 'steal', file },
        { op: 'createIntercept', namespace: 'team-b', workload: 'api', name: 'eve' },
        { op: 'listIntercepts', namespace: 'team-b' },
      ]), { timeoutMs: 90_000 });
      assert.equal(r.code, 0, r.stderr);
      const [stolen, create, list] = outcomes(r.stdout);
      assert.equal(stolen!.code, 'OK');
      assert.equal(create!.code, 'NOT_FOUND', create!.details);
      assert.equal(list!.code, 'NOT_FOUND', list!.details);
      await bobDone;
      const [, , , , bobCreate, bobList] = outcomes(bobOut);
      assert.equal(bobCreate!.code, 'OK', bobCreate!.details);
      assert.deepEqual(bobList!.intercepts!.map((i) => [i.name, i.mine]), [['api', true]]);
    } finally {
      eveForward.stop();
      rmSync(file, { force: true });
    }
  });

  test("revoking alice's right ends her intercept within 30 s, without her daemon's help", async () => {
    const started = Date.now();
    kubectlDelete(`${aliceIntercept}---${aliceEnv}`);
    let ended = 0;
    while (Date.now() - started < 40_000) {
      if (/^echo-/.test(podAnswering('x-dev=alice'))) {
        ended = Date.now() - started;
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(ended > 0, 'the intercept still routes 40 s after the right was revoked');
    assert.ok(ended <= 30_000, `ended after ${ended} ms`);
    process.stdout.write(`# revocation took ${ended} ms\n`);
    // The mount's key went with the intercept: the agent ended its login, and lets it in no more.
    const deadline = Date.now() + 15_000;
    let read = ws(['timeout', '5', 'cat', '/tmp/telepath-rights-alice/etc/sample/config.txt']);
    while (read.code === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      read = ws(['timeout', '5', 'cat', '/tmp/telepath-rights-alice/etc/sample/config.txt']);
    }
    assert.notEqual(read.code, 0, 'the volumes are still readable after the right was revoked');
    // Her daemon was told, and tells her.
    const status = JSON.parse(asUser('alice', ['status', '--output', 'json']).stdout) as {
      intercepts: { name: string }[];
      endedIntercepts?: { name: string; workload?: string; reason: string }[];
    };
    assert.deepEqual(status.intercepts, []);
    assert.equal(status.endedIntercepts?.[0]?.name, 'echo');
    assert.equal(status.endedIntercepts?.[0]?.workload, 'deployment/echo');
    assert.match(status.endedIntercepts?.[0]?.reason ?? '', /^alice may not create intercepts\.telepath\.dev in namespace samples/);
    assert.match(asUser('alice', ['status']).stdout, /Ended: {7}echo deployment\/echo by the traffic-manager at .*: alice may not create/);
  });

  test('with "may intercept" back but not "may read env and volumes", alice intercepts again and is told the environment and volumes are withheld', async () => {
    kubectlApply(aliceIntercept);
    asUser('alice', ['leave', 'echo']);
    const r = asUser('alice', ['intercept', 'echo', '--port', '18090', '--http-header', 'x-dev=alice', '--mount', '/tmp/telepath-rights-alice', '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { environment: Record<string, string>; environmentProblem?: string; mountProblem?: string };
    assert.match(result.environmentProblem ?? '', /alice may not get intercepts\.telepath\.dev\/environment in namespace samples/);
    assert.match(result.mountProblem ?? '', /alice may not get intercepts\.telepath\.dev\/volumes in namespace samples.*"may read env and volumes" role/);
    assert.equal(result.environment.SAMPLE_SECRET, undefined);
    assert.equal(podAnswering('x-dev=alice'), 'alice-laptop');
    const human = asUser('alice', ['intercept', 'echo', '--name', 'echo-2', '--port', '18090', '--http-header', 'x-dev=alice2', '--mount=false']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stderr, /the pod's environment is not available: alice may not get intercepts\.telepath\.dev\/environment/);
    assert.equal(asUser('alice', ['leave', 'echo']).code, 0);
    assert.equal(asUser('alice', ['leave', 'echo-2']).code, 0);
  });
});
