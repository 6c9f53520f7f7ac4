import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { coalesceWrites } from './coalescedWrites.js';

/** A loopback connection: the client end (coalesced) and everything the server end receives. */
async function pair(): Promise<{ client: net.Socket; received: () => Promise<string>; close: () => void }> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  const [peer] = (await accepted) as [net.Socket];
  let text = '';
  peer.on('data', (d: Buffer) => (text += d.toString()));
  const ended = once(peer, 'end');
  coalesceWrites(client);
  return {
    client,
    received: async () => {
      await ended;
      return text;
    },
    close: () => {
      peer.destroy();
      server.close();
    },
  };
}

test('writes of one turn wait corked and leave together at the check phase, in order', async () => {
  const { client, received, close } = await pair();
  try {
    client.write('length|');
    client.write('ciphertext|');
    client.write('tag|');
    assert.equal(client.writableCorked, 1, 'corked once, not once per write');
    assert.equal(client.writableLength, 'length|ciphertext|tag|'.length, 'nothing sent yet');
    await new Promise((r) => setImmediate(r));
    assert.equal(client.writableCorked, 0);
    // A later turn corks again.
    client.write('next|');
    assert.equal(client.writableCorked, 1);
    // end() while corked sends what waits.
    client.end('last');
    assert.equal(await received(), 'length|ciphertext|tag|next|last');
  } finally {
    close();
  }
});
