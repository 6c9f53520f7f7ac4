/**
 * Test helper, not a test: the process that holds a TUN device inside a test's network namespace
 * (`ip netns exec <ns> node --import tsx tunTestChild.ts`), since the test process cannot switch
 * namespaces. It does what the test asks, one JSON command per stdin line, and reports on stdout:
 *   → {"id":1,"op":"open","name":"tptest0","mtu":1500}   ← {"id":1,"ok":true,"result":{...}}
 *   ← {"event":"packets","packets":["4500…"]}  ← {"event":"udp","port":5000,"from":"10.99.0.2:7","data":"…"}
 * The assertions live in the test; this file only relays. After "close" it lets go of everything,
 * so the process exits by itself unless the device still holds the event loop.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { openTun } from './openTun.js';
import type { TunDevice } from './tunDevice.js';

interface Command {
  id: number;
  op: string;
  name?: string;
  mtu?: number;
  offload?: boolean;
  cidr?: string;
  address?: string;
  port?: number;
  hex?: string;
  hexes?: string[];
  count?: number;
}

let tun: TunDevice | undefined;
const sockets: Socket[] = [];

function send(message: object): void {
  process.stdout.write(JSON.stringify(message) + '\n');
}

function closeAll(): void {
  tun?.close();
  for (const s of sockets.splice(0)) s.close();
}

function device(): TunDevice {
  if (!tun) throw new Error('no device: send "open" first');
  return tun;
}

async function run(cmd: Command): Promise<unknown> {
  switch (cmd.op) {
    case 'open': {
      const t = openTun({ name: cmd.name, mtu: cmd.mtu, checksumOffload: cmd.offload });
      tun = t;
      t.onError((err) => send({ event: 'error', message: err.message }));
      return cmd.offload === undefined ? { name: t.name, mtu: t.mtu } : { name: t.name, mtu: t.mtu, offload: t.checksumOffload };
    }
    case 'read':
      device().onPackets((packets) => send({ event: 'packets', packets: packets.map((p) => p.toString('hex')) }));
      return null;
    case 'pause':
      device().pause();
      return null;
    case 'resume':
      device().resume();
      return null;
    case 'addAddress':
      return device().addAddress(String(cmd.cidr));
    case 'addRoute':
      return device().addRoute(String(cmd.cidr));
    case 'removeRoute':
      return device().removeRoute(String(cmd.cidr));
    case 'write':
      device().write(Buffer.from(String(cmd.hex), 'hex'));
      return null;
    case 'writeBatch':
      device().writeBatch((cmd.hexes ?? []).map((h) => Buffer.from(h, 'hex')));
      return null;
    case 'udpBind': {
      const s = createSocket('udp4');
      sockets.push(s);
      s.on('message', (data, rinfo) =>
        send({ event: 'udp', port: cmd.port, from: `${rinfo.address}:${rinfo.port}`, data: data.toString('hex') }),
      );
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(cmd.port ?? 0, cmd.address, () => resolve());
      });
      return { port: s.address().port };
    }
    case 'udpSend': {
      const s = createSocket('udp4');
      sockets.push(s);
      const data = Buffer.from(String(cmd.hex), 'hex');
      for (let i = 0; i < (cmd.count ?? 1); i++) {
        await new Promise<void>((resolve, reject) =>
          s.send(data, cmd.port, cmd.address, (err) => (err ? reject(err) : resolve())),
        );
      }
      return { port: s.address().port };
    }
    case 'close':
      closeAll();
      process.stdin.destroy();
      return null;
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const cmd = JSON.parse(line) as Command;
  run(cmd).then(
    (result) => send({ id: cmd.id, ok: true, result: result ?? null }),
    (err: unknown) => {
      const e = err as { message?: string; code?: string; written?: number };
      send({ id: cmd.id, ok: false, error: String(e.message ?? err), code: e.code, written: e.written });
    },
  );
});
// The test went away without "close": do not outlive it.
lines.on('close', closeAll);
send({ event: 'ready' });
