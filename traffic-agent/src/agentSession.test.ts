/**
 * The agent's arrival as the manager sees it: a grpc-js server on a unix socket that plays the
 * manager's agent port (ArriveAsAgent and WatchAgentIntercepts only), and a real AgentSession.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import type { AgentInfo, InterceptInfo } from '../../protocol/src/gen/telepath/manager/v1/manager.js';
import { type ManagerServer, managerService } from '../../protocol/src/manager/managerService.js';
import { silentLogger } from '../../common/src/log/jsonLogger.js';
import { AgentSession } from './agentSession.js';

const info: AgentInfo = {
  namespace: 'samples',
  workloadKind: 'Deployment',
  workloadName: 'echo',
  podName: 'echo-1',
  podIp: new Uint8Array([10, 244, 0, 9]),
  container: 'echo',
  ports: [],
  environment: {},
  version: '0.2.0',
  apiLevel: 2,
  minApiLevel: 1,
  sftpPort: 0,
  environmentWithheld: '',
};

test('the agent sends its pod token as a bearer token, read afresh at each arrival, and retries after a refusal', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'telepath-agent-session-'));
  const address = `unix:${path.join(dir, 'agents.sock')}`;
  const seen: (string | undefined)[] = [];
  const server = new Server();
  const manager: Partial<ManagerServer> = {
    arriveAsAgent: (call, callback) => {
      const auth = call.metadata.get('authorization')[0];
      seen.push(typeof auth === 'string' ? auth : undefined);
      if (auth !== 'Bearer renewed-token') return callback({ code: status.UNAUTHENTICATED, details: 'the API server did not accept the token' });
      callback(null, { session: { sessionId: 'agent-session' }, ttlMs: 60_000 });
    },
    watchAgentIntercepts: (call) => {
      assert.equal(call.request.session?.sessionId, 'agent-session');
      call.write({ intercepts: [], volumeKeys: [] });
    },
  };
  server.addService(managerService, manager as ManagerServer);
  await new Promise<void>((resolve, reject) => server.bindAsync(address, ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));

  // The kubelet renews the file: the first read finds the old token, the next ones the new one;
  // a file that cannot be read at all is retried like a refusal.
  const tokens = ['expired-token', 'renewed-token'];
  let reads = 0;
  const updates: InterceptInfo[][] = [];
  let watching!: () => void;
  const watched = new Promise<void>((resolve) => (watching = resolve));
  const session = new AgentSession({
    address,
    info,
    readToken: () => {
      reads++;
      if (reads === 1) throw new Error("ENOENT: no such file or directory, open '/var/run/secrets/telepath.io/token'");
      return tokens.shift() ?? 'renewed-token';
    },
    logger: silentLogger,
    onIntercepts: (i) => {
      updates.push(i);
      if (seen.length === 2) watching();
    },
  });
  try {
    session.start();
    await watched;
    assert.deepEqual(seen, ['Bearer expired-token', 'Bearer renewed-token']);
    assert.equal(reads, 3);
    // [] at each failure (everything to the app), then the watch's first message.
    assert.deepEqual(updates, [[], [], []]);
  } finally {
    await session.close();
    server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  }
});
