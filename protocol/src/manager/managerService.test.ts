/**
 * The generated Manager service definitions, end to end through a real grpc-js server and client
 * on a unix socket. The handlers are the least that proves the contract (a DNS table, an echo
 * tunnel); they are a protocol test, not a fake of the traffic-manager.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { credentials, Server, ServerCredentials, type ServiceError, status } from '@grpc/grpc-js';
import {
  type ArriveAsClientResponse,
  type ClusterInfo,
  type LookupDNSResponse,
  ManagerClient as GeneratedManagerClient,
  type RemainResponse,
  type VersionResponse,
} from '../gen/telepath/manager/v1/manager.js';
import { DialOutcome, Protocol, type TunnelMessage } from '../gen/telepath/tunnel/v1/tunnel.js';
import { ipFromBytes, ipToBytes, subnetFromCidr, subnetToCidr } from '../ipAddress.js';
import { ManagerClient, type ManagerServer, managerService } from './managerService.js';

const SESSION = 's-1';
const ECHO_PORT = 7;
const CLOSED_PORT = 9;

function sessionError(): Partial<ServiceError> {
  return { code: status.NOT_FOUND, details: 'unknown session' };
}

/** Intercepts are tested against the real manager (traffic-manager/src/intercepts). */
function unimplemented(): Partial<ServiceError> {
  return { code: status.UNIMPLEMENTED, details: 'not in this test' };
}

const handlers: ManagerServer = {
  version: (_call, callback) => callback(null, { version: '0.1.0', name: 'traffic-manager', apiLevel: 0, minApiLevel: 0 }),
  arriveAsClient: (_call, callback) => callback(null, { session: { sessionId: SESSION }, ttlMs: 60_000, joinSecret: 'j' }),
  joinSession: (_call, callback) => callback(unimplemented()),
  authorizeVolumes: (_call, callback) => callback(unimplemented()),
  remain: (call, callback) =>
    call.request.session?.sessionId === SESSION ? callback(null, {}) : callback(sessionError()),
  depart: (_call, callback) => callback(null, {}),
  watchClusterInfo: (call) => {
    const info: ClusterInfo = {
      serviceSubnets: [subnetFromCidr('10.96.0.0/12')],
      podSubnets: [subnetFromCidr('10.244.0.0/24')],
      dnsIp: ipToBytes('10.96.0.10'),
      clusterDomain: 'cluster.local',
      managerNamespace: 'telepath',
    };
    call.write(info);
    // A node joined: the whole info again, with one more pod subnet.
    call.write({ ...info, podSubnets: [...info.podSubnets, subnetFromCidr('10.244.1.0/24')] });
    call.end();
  },
  lookupDns: (call, callback) => {
    const { session, name, qtype } = call.request;
    if (session?.sessionId !== SESSION) callback(sessionError());
    else if (name !== 'web.shop.svc.cluster.local') callback(null, { rcode: 3, answers: [] });
    else if (qtype !== 1) callback(null, { rcode: 0, answers: [] });
    else {callback(null, {
        rcode: 0,
        answers: [{ name, type: 1, ttl: 5, data: { $case: 'ip', value: ipToBytes('10.96.3.4') } }],
      });}
  },
  createIntercept: (_call, callback) => callback(unimplemented()),
  removeIntercept: (_call, callback) => callback(unimplemented()),
  listIntercepts: (_call, callback) => callback(unimplemented()),
  listAgents: (_call, callback) => callback(unimplemented()),
  watchDials: (call) => call.emit('error', unimplemented()),
  arriveAsAgent: (_call, callback) => callback(unimplemented()),
  watchAgentIntercepts: (call) => call.emit('error', unimplemented()),
  tunnel: (call) => {
    let opened = false;
    const onOpen = (msg: TunnelMessage['message']): void => {
      if (msg?.$case !== 'open') {
        call.emit('error', { code: status.INVALID_ARGUMENT, details: 'open first' });
      } else if (msg.value.sessionId !== SESSION) {
        call.emit('error', sessionError());
      } else if (msg.value.destinationPort !== ECHO_PORT) {
        const dest = `${ipFromBytes(msg.value.destinationIp)}:${msg.value.destinationPort}`;
        const refused = { outcome: DialOutcome.REFUSED, message: `connect ECONNREFUSED ${dest}` };
        call.write({ message: { $case: 'dialResult', value: refused } });
        call.end();
      } else {
        opened = true;
        call.write({ message: { $case: 'dialResult', value: { outcome: DialOutcome.OK, message: '' } } });
      }
    };
    call.on('data', (m: TunnelMessage) => {
      const msg = m.message;
      if (!opened) onOpen(msg);
      else if (msg?.$case === 'data') call.write({ message: { $case: 'data', value: msg.value } });
      else if (msg?.$case === 'closeSend') {
        call.write({ message: { $case: 'closeSend', value: {} } });
        call.end();
      }
    });
  },
};

let dir: string;
let address: string;
let server: Server;
let client: ManagerClient;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'telepath-grpc-'));
  address = `unix:${path.join(dir, 'manager.sock')}`;
  server = new Server();
  server.addService(managerService, handlers);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(address, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()))
  );
  client = new ManagerClient(address, credentials.createInsecure());
});

after(() => {
  client.close();
  server.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

/** Promise of a unary call: `unary<R>((cb) => client.method(request, cb))`. */
function unary<Res>(start: (cb: (err: ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => start((err, res) => (err ? reject(err) : resolve(res))));
}

function open(port: number, sessionId = SESSION): TunnelMessage {
  return {
    message: {
      $case: 'open',
      value: {
        protocol: Protocol.TCP,
        destinationIp: ipToBytes('10.96.3.4'),
        destinationPort: port,
        sourceIp: ipToBytes('100.64.0.2'),
        sourcePort: 40000,
        sessionId,
        dialTimeoutMs: 1000,
        interceptId: '',
      },
    },
  };
}

test('Version, ArriveAsClient and Remain answer; Remain with an unknown session is NOT_FOUND', async () => {
  assert.deepEqual(await unary<VersionResponse>((cb) => client.version({}, cb)), {
    version: '0.1.0',
    name: 'traffic-manager',
    apiLevel: 0,
    minApiLevel: 0,
  });
  const arrived = await unary<ArriveAsClientResponse>((cb) =>
    client.arriveAsClient(
      { client: { name: 'alice@laptop', installId: 'i-1', namespace: 'shop', version: '0.1.0', heartbeatMs: 0, apiLevel: 0, minApiLevel: 0 } },
      cb,
    )
  );
  assert.equal(arrived.session?.sessionId, SESSION);
  await unary<RemainResponse>((cb) => client.remain({ session: { sessionId: SESSION } }, cb));
  await assert.rejects(
    unary<RemainResponse>((cb) => client.remain({ session: { sessionId: 'gone' } }, cb)),
    { code: status.NOT_FOUND },
  );
});

test('WatchClusterInfo streams complete snapshots', async () => {
  const seen: string[][] = [];
  for await (const info of client.watchClusterInfo({ session: { sessionId: SESSION } })) {
    const ci = info as ClusterInfo;
    seen.push(ci.podSubnets.map(subnetToCidr));
    assert.equal(ipFromBytes(ci.dnsIp), '10.96.0.10');
  }
  assert.deepEqual(seen, [['10.244.0.0/24'], ['10.244.0.0/24', '10.244.1.0/24']]);
});

test('LookupDNS answers A records, and tells NXDOMAIN from no-data', async () => {
  const lookup = (name: string, qtype: number) =>
    unary<LookupDNSResponse>((cb) => client.lookupDns({ session: { sessionId: SESSION }, name, qtype }, cb));
  const a = await lookup('web.shop.svc.cluster.local', 1);
  assert.equal(a.rcode, 0);
  assert.deepEqual(
    a.answers.map((r) => [r.name, r.type, r.data?.$case === 'ip' ? ipFromBytes(r.data.value) : undefined]),
    [['web.shop.svc.cluster.local', 1, '10.96.3.4']],
  );
  assert.deepEqual(await lookup('web.shop.svc.cluster.local', 28), { rcode: 0, answers: [] });
  assert.deepEqual(await lookup('nope.shop.svc.cluster.local', 1), { rcode: 3, answers: [] });
});

/** Runs one tunnel stream: sends `open`, then `chunks` and a close-send once dialled. */
async function runTunnel(c: GeneratedManagerClient, first: TunnelMessage, chunks: Buffer[]) {
  const call = c.tunnel();
  call.write(first);
  const received: TunnelMessage[] = [];
  for await (const m of call) {
    const msg = (m as TunnelMessage).message;
    received.push(m as TunnelMessage);
    if (msg?.$case === 'dialResult' && msg.value.outcome === DialOutcome.OK) {
      for (const chunk of chunks) call.write({ message: { $case: 'data', value: chunk } });
      call.write({ message: { $case: 'closeSend', value: {} } });
    }
    if (msg?.$case === 'closeSend') call.end();
  }
  call.end();
  return received;
}

test('Tunnel: dial OK, data both ways, close-send each way', async () => {
  const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(16 * 1024, i));
  const received = await runTunnel(client, open(ECHO_PORT), chunks);
  assert.deepEqual(received[0]?.message, { $case: 'dialResult', value: { outcome: DialOutcome.OK, message: '' } });
  assert.equal(received.at(-1)?.message?.$case, 'closeSend');
  const echoed = Buffer.concat(
    received.flatMap((m) => (m.message?.$case === 'data' ? [m.message.value] : [])),
  );
  assert.equal(echoed.length, 1024 * 1024);
  assert.equal(Buffer.compare(echoed, Buffer.concat(chunks)), 0);
});

test('Tunnel: a refused dial comes back as REFUSED with the reason, then the stream ends', async () => {
  const received = await runTunnel(client, open(CLOSED_PORT), [Buffer.from('never sent')]);
  assert.deepEqual(received.map((m) => m.message), [
    { $case: 'dialResult', value: { outcome: DialOutcome.REFUSED, message: 'connect ECONNREFUSED 10.96.3.4:9' } },
  ]);
});

test('Tunnel: an unknown session ends the stream with NOT_FOUND, not a dial result', async () => {
  await assert.rejects(runTunnel(client, open(ECHO_PORT, 'gone'), []), { code: status.NOT_FOUND });
});

test('the plain generated client interoperates with the tunnel codec', async () => {
  const plain = new GeneratedManagerClient(address, credentials.createInsecure());
  try {
    const received = await runTunnel(plain, open(ECHO_PORT), [Buffer.from('ping')]);
    assert.deepEqual(
      received.map((m) => m.message?.$case),
      ['dialResult', 'data', 'closeSend'],
    );
  } finally {
    plain.close();
  }
});
