import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planRoutes } from './routePlan.js';

test('cluster subnets with no local route are routed; the default route does not count', () => {
  const plan = planRoutes(['10.96.0.0/16', '10.244.0.0/24'], [{ dst: 'default', dev: 'eth0' }, { dst: '192.168.1.0/24', dev: 'eth0' }]);
  assert.deepEqual(plan.route, ['10.96.0.0/16', '10.244.0.0/24']);
  assert.deepEqual(plan.unrouted, []);
});

test('a subnet a local route covers is reachable, not routed', () => {
  const plan = planRoutes(['10.244.0.0/24'], [{ dst: '10.244.0.0/16', dev: 'cni0' }]);
  assert.deepEqual(plan.route, []);
  assert.equal(plan.unrouted[0]!.reason, 'reachable');
  assert.match(plan.unrouted[0]!.message, /10\.244\.0\.0\/16 dev cni0/);
});

test('a partial overlap is a conflict, reported and not routed', () => {
  const plan = planRoutes(['10.96.0.0/12'], [{ dst: '10.100.0.0/16', dev: 'vpn0' }]);
  assert.deepEqual(plan.route, []);
  assert.equal(plan.unrouted[0]!.reason, 'conflict');
  assert.match(plan.unrouted[0]!.message, /10\.100\.0\.0\/16 dev vpn0/);
});

test("the TUN device's own routes and other families are ignored", () => {
  const plan = planRoutes(['10.96.0.0/16', 'fd00:10:96::/112'], [{ dst: '10.96.0.0/16', dev: 'tel0' }], 'tel0');
  assert.deepEqual(plan.route, ['10.96.0.0/16', 'fd00:10:96::/112']);
  const v6 = planRoutes(['fd00:10:96::/112'], [{ dst: '10.0.0.0/8' }]);
  assert.deepEqual(v6.route, ['fd00:10:96::/112']);
  assert.equal(planRoutes(['10.0.0.1/32'], [{ dst: '10.0.0.1' }]).unrouted[0]?.reason, 'reachable');
});
