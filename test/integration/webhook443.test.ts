/**
 * A control plane that may reach pods only on port 443, as on GKE private clusters (issue #16):
 * the cluster's profile `webhook-443` makes the node reject every connection it starts through a
 * Service to another pod port, which is how the API server calls a webhook. The manager serves its
 * webhook on 443 in the pod, so the agent is still injected and a personal intercept works.
 * Afterwards the next test file's ensureCluster() brings the default cluster back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildBundles, ensureCluster, fromClientPod, inNode, kubectl, profileWorkstation, until, ws, type RunResult } from '../cluster/harness.js';

const LOCAL_PORT = 18141;
const { tp, startLaptop, cleanUp } = profileWorkstation('webhook443', LOCAL_PORT);

before(() => {
  ensureCluster('webhook-443');
  buildBundles('telepath', 'traffic-manager', 'traffic-agent');
  startLaptop();
});

after(cleanUp);

describe('a control plane that reaches pods only on port 443', () => {
  test('the profile is real: from the node, a Service is refused on a pod port other than 443', () => {
    const ip = kubectl('-n', 'samples', 'get', 'service', 'echo', '-o', 'jsonpath={.spec.clusterIP}').trim();
    const r = inNode(['curl', '-sS', '--max-time', '5', `http://${ip}:8080/`]);
    assert.notEqual(r.code, 0, 'the echo Service answered the node on 8080');
    assert.match(r.stderr, /reset|refused|couldn't connect/i);
  });

  test("connect and DNS; the manager's webhook is called on 443: the agent is injected and a personal intercept routes by header", async () => {
    const c = tp(['connect', '--namespace', 'samples']);
    assert.equal(c.code, 0, c.stderr);
    const byName = ws(['curl', '-sS', '--max-time', '10', 'http://echo.samples:8080/']);
    assert.equal(byName.code, 0, `connect and DNS: ${byName.stderr}`);
    // The webhook answers the node through its Service on 443 (any HTTP status: it is there),
    // once kube-proxy has the new manager pod's endpoint.
    const svc = kubectl('-n', 'telepath', 'get', 'service', 'traffic-manager', '-o', 'jsonpath={.spec.clusterIP}').trim();
    const probe = (): RunResult => inNode(['curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', `https://${svc.includes(':') ? `[${svc}]` : svc}:443/`]);
    await until('the webhook to answer on 443', 10_000, () => probe().code === 0, () => probe().stderr);
    const i = tp(['intercept', 'echo', '--namespace', 'samples', '--port', String(LOCAL_PORT), '--http-header', 'x-gke=private', '--mount=false']);
    assert.equal(i.code, 0, i.stderr);
    const withHeader = fromClientPod(['http-get', 'http://echo.samples:8080/', '--header', 'x-gke=private', '--count', '3', '--timeout', '5000']);
    assert.equal(withHeader.code, 0, withHeader.stderr);
    for (const line of withHeader.stdout.trim().split('\n')) assert.equal((JSON.parse(line) as { pod: string }).pod, 'laptop');
    const l = tp(['leave', 'echo']);
    assert.equal(l.code, 0, l.stderr);
  });
});
