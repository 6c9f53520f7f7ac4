/**
 * The daemons' listener is on loopback only and the agents' on every address, seen from this
 * machine's own addresses (a pod's are its loopback and its pod IP).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import os from 'node:os';
import { credentials } from '@grpc/grpc-js';
import type { VersionResponse } from '../../protocol/src/gen/telepath/manager/v1/manager.js';
import { ManagerClient } from '../../protocol/src/manager/managerService.js';
import { silentLogger } from '../../common/src/log/jsonLogger.js';
import { listenDualStack, listenLoopback } from './listeners.js';
import { startTestManager, unary } from './testing/managerHarness.js';

/** Whether a TCP connection to host:port is accepted. */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 2000 });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

function nonLoopbackAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((a) => a && !a.internal && !a.address.startsWith('fe80'))
    .map((a) => a!.address);
}

test('the client listener answers on 127.0.0.1 and ::1 only; the agent listener on every address', async (t) => {
  const m = await startTestManager();
  try {
    const clientPort = await listenLoopback(m.host, 'client', 0, silentLogger);
    const agentPort = await listenDualStack(m.host, 'agent', 0, silentLogger);
    for (const target of [`127.0.0.1:${clientPort}`, `[::1]:${clientPort}`, `127.0.0.1:${agentPort}`]) {
      const c = new ManagerClient(target, credentials.createInsecure());
      try {
        assert.equal((await unary<VersionResponse>((cb) => c.version({}, cb))).name, 'traffic-manager', target);
      } finally {
        c.close();
      }
    }
    const others = nonLoopbackAddresses();
    if (others.length === 0) return t.skip('this machine has no address but loopback');
    for (const address of others) {
      assert.equal(await connects(address, clientPort), false, `the client port must not answer on ${address}`);
      assert.equal(await connects(address, agentPort), true, `the agent port answers on ${address}`);
    }
  } finally {
    await m.close();
  }
});
