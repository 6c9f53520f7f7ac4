/**
 * spliceSpdy against a scripted SPDY server on loopback (the real API server is in
 * test/integration/portForward.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { PortForwardError } from './portForwardError.js';
import { ControlType, dataFrame, pingFrame, SpdyReader, type SpdyFrame } from './spdyFrames.js';
import { spliceSpdy } from './spdyPortForward.js';

/** A connected pair of TCP sockets on loopback. */
async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const a = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const [b] = (await once(server, 'connection')) as [net.Socket];
  await once(a, 'connect');
  server.close();
  return [a, b];
}

/** A forwarded connection: the app's socket, and the "API server" side with what it received. */
async function forward() {
  const [app, local] = await socketPair();
  const [remote, server] = await socketPair();
  const frames: SpdyFrame[] = [];
  const reader = new SpdyReader();
  server.on('data', (d: Buffer) => frames.push(...reader.push(d)));
  const spliced = spliceSpdy(local, { socket: remote, head: Buffer.alloc(0) }, 8080);
  const dataTo = (streamId: number) =>
    Buffer.concat(frames.flatMap((f) => (f.kind === 'data' && f.streamId === streamId ? [f.payload] : []))).toString();
  return { app, local, server, frames, spliced, dataTo };
}

const until = async (what: () => boolean) => {
  for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(what());
};

test('the app\'s bytes go out on the data stream, its end as FIN; the pod\'s bytes and FIN come back', async () => {
  const f = await forward();
  f.app.write('hello pod');
  await until(() => f.dataTo(3) === 'hello pod');
  // The error stream (1) is opened already closed from our side, then the data stream (3).
  const syn = f.frames.filter((x) => x.kind === 'other' && x.type === ControlType.SynStream);
  assert.equal(syn.length, 2);
  f.server.write(dataFrame(3, Buffer.from('hello app')));
  f.server.write(pingFrame(2));
  const [answer] = (await once(f.app, 'data')) as [Buffer];
  assert.equal(answer.toString(), 'hello app');
  await until(() => f.frames.some((x) => x.kind === 'ping' && x.id === 2));
  f.server.write(dataFrame(3, Buffer.alloc(0), true));
  await once(f.app, 'end');
  f.app.end();
  await until(() => f.frames.some((x) => x.kind === 'data' && x.streamId === 3 && x.fin));
  f.server.end();
  await f.spliced;
});

test('an error from the pod side (the error stream) breaks the app\'s connection with its text', async () => {
  const f = await forward();
  const broken = new Promise<Error>((resolve) => f.local.once('error', resolve));
  f.app.on('error', () => undefined);
  f.server.write(dataFrame(1, Buffer.from('failed to connect to localhost:8080: connection refused')));
  f.server.end();
  const err = await broken;
  assert.ok(err instanceof PortForwardError);
  assert.match(err.message, /connection refused/);
  await f.spliced;
});
