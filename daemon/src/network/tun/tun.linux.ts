/**
 * The Linux TUN device: the native addon (daemon/native/tun.c) opens `/dev/net/tun`, sets the MTU,
 * brings the link up and reads packets in batches off the event loop's poller; addresses and routes
 * are set with iproute2's `ip`, in the network namespace of this process.
 */
import { execFile } from 'node:child_process';
import { formatCidr, parseCidr } from './cidr.js';
import { loadTunAddon, type NativeTun } from './tunAddon.js';
import type { PacketListener, TunDevice, TunErrorListener, TunOptions } from './tunDevice.js';

const IP_TIMEOUT_MS = 10_000;

export class LinuxTun implements TunDevice {
  private readonly lengths: Uint32Array;
  private listener: PacketListener | undefined;
  private errorListener: TunErrorListener | undefined;
  private started = false;
  private paused = false;
  private isClosed = false;

  private constructor(
    private readonly native: NativeTun,
    readonly name: string,
    readonly mtu: number,
    maxBatch: number,
  ) {
    this.lengths = new Uint32Array(maxBatch);
  }

  /** Creates (or attaches to) the device, sets its MTU and brings it up. */
  static open(options: TunOptions = {}): LinuxTun {
    const maxBatch = options.maxBatch ?? 256;
    if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > 1024) {
      throw new RangeError(`maxBatch must be an integer in 1..1024, not ${maxBatch}`);
    }
    const addon = loadTunAddon(options.addonPath);
    const native = new addon.Tun(options.name, options.checksumOffload ?? false);
    try {
      if (options.mtu !== undefined) addon.setMtu(native.name, options.mtu);
      const mtu = addon.getMtu(native.name);
      addon.setUp(native.name);
      return new LinuxTun(native, native.name, mtu, maxBatch);
    } catch (e) {
      native.close();
      throw e;
    }
  }

  get checksumOffload(): boolean {
    return this.native.offload;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  onPackets(listener: PacketListener): void {
    this.listener = listener;
    if (this.started || this.isClosed) return;
    this.native.start(this.onBatch, this.lengths);
    this.started = true;
    if (this.paused) this.native.pause();
  }

  onError(listener: TunErrorListener): void {
    this.errorListener = listener;
  }

  write(packet: Uint8Array): void {
    this.native.write(packet);
  }

  writeBatch(packets: readonly Uint8Array[]): void {
    this.native.writeBatch(packets);
  }

  pause(): void {
    this.paused = true;
    if (this.started) this.native.pause();
  }

  resume(): void {
    this.paused = false;
    if (this.started) this.native.resume();
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.listener = undefined;
    this.native.close();
  }

  addAddress(cidr: string, signal?: AbortSignal): Promise<void> {
    const c = parseCidr(cidr);
    return runIp([`-${c.family}`, 'addr', 'add', formatCidr(c), 'dev', this.name], signal);
  }

  addRoute(cidr: string, signal?: AbortSignal): Promise<void> {
    const c = parseCidr(cidr);
    return runIp([`-${c.family}`, 'route', 'add', formatCidr(c), 'dev', this.name], signal);
  }

  removeRoute(cidr: string, signal?: AbortSignal): Promise<void> {
    const c = parseCidr(cidr);
    return runIp([`-${c.family}`, 'route', 'del', formatCidr(c), 'dev', this.name], signal);
  }

  private readonly onBatch = (err: Error | null, batch?: Buffer | Buffer[], count?: number): void => {
    if (err) {
      if (!this.errorListener) throw err;
      this.errorListener(err);
      return;
    }
    const listener = this.listener;
    if (!listener || !batch || !count || Array.isArray(batch)) return;
    const packets = new Array<Buffer>(count);
    const lengths = this.lengths;
    let offset = 0;
    for (let i = 0; i < count; i++) {
      const end = offset + lengths[i];
      packets[i] = batch.subarray(offset, end);
      offset = end;
    }
    listener(packets);
  };
}

/** Runs `ip …`; rejects with its stderr (e.g. "RTNETLINK answers: File exists"). */
function runIp(args: string[], signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: IP_TIMEOUT_MS, signal }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const detail = String(stderr).trim() || err.message;
      reject(Object.assign(new Error(`ip ${args.join(' ')}: ${detail}`), { cause: err }));
    });
  });
}
