/**
 * Finds and loads `tun.node`, the native half of the Linux TUN device (daemon/native/tun.c).
 *
 * It is loaded with `process.dlopen`, not `require`: webpack leaves that call alone, and it works the
 * same from the TypeScript sources (tests, under tsx) and from a bundle in `dist/`. The file is the
 * first that exists of:
 *   1. an explicit path (`TunOptions.addonPath`);
 *   2. `$TELEPATH_TUN_ADDON`;
 *   3. relative to the addon directory — by default the directory of the running code (`__dirname`:
 *      `daemon/src/network/tun` from sources, `dist` in a bundle; webpack keeps `__dirname` a runtime value),
 *      or whatever `setTunAddonDirectory()` set — `tun.node`, `native/tun.node`, then the build
 *      output `daemon/native/build/Release/tun.node` seen from the sources and from `dist/`.
 */
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import path from 'node:path';

export const TUN_ADDON_ENV = 'TELEPATH_TUN_ADDON';

/** What tun.c exports. */
export interface NativeTunModule {
  /** `offload`: checksum offload (IFF_VNET_HDR + TUN_F_CSUM), see tun.c. */
  Tun: new (name?: string, offload?: boolean) => NativeTun;
  setMtu(name: string, mtu: number): void;
  getMtu(name: string): number;
  setUp(name: string): void;
  readonly defaultMaxBatch: number;
}

/** A batch: the packets back to back in `batch`, their lengths in the `lengths` array given to
 * start(); or a read error, after which reading has stopped. */
export type NativeBatchCallback = (err: Error | null, batch?: Buffer | Buffer[], count?: number) => void;

export interface NativeTun {
  readonly name: string;
  readonly fd: number;
  readonly offload: boolean;
  /** `separate` (for the benchmark only): deliver an array of Buffers instead of one. */
  start(callback: NativeBatchCallback, lengths: Uint32Array, separate?: boolean): void;
  pause(): void;
  resume(): void;
  ref(): void;
  unref(): void;
  write(packet: Uint8Array): void;
  writeBatch(packets: readonly Uint8Array[]): number;
  close(): void;
}

let addonDirectory: string | undefined = typeof __dirname === 'string' ? __dirname : undefined;
const loaded = new Map<string, NativeTunModule>();

/** Sets the directory the addon is looked for in (e.g. where an installer put `tun.node`). */
export function setTunAddonDirectory(dir: string): void {
  addonDirectory = path.resolve(dir);
}

/** The paths tried, in order. */
export function tunAddonCandidates(explicit?: string, env: NodeJS.ProcessEnv = process.env): string[] {
  if (explicit) return [path.resolve(explicit)];
  const fromEnv = env[TUN_ADDON_ENV];
  if (fromEnv) return [path.resolve(fromEnv)];
  if (!addonDirectory) return [];
  const dir = addonDirectory;
  return [
    path.join(dir, 'tun.node'),
    path.join(dir, 'native', 'tun.node'),
    path.resolve(dir, '..', '..', '..', 'native', 'build', 'Release', 'tun.node'),
    path.resolve(dir, '..', 'daemon', 'native', 'build', 'Release', 'tun.node'),
  ];
}

/** The addon's path, or undefined when none of the candidates exists. */
export function findTunAddon(explicit?: string): string | undefined {
  return tunAddonCandidates(explicit).find((p) => existsSync(p));
}

export function loadTunAddon(explicit?: string): NativeTunModule {
  const file = findTunAddon(explicit);
  if (!file) {
    const tried = tunAddonCandidates(explicit);
    throw new Error(
      `The TUN addon (tun.node) was not found; tried ${tried.length ? tried.join(', ') : 'nothing'}. ` +
        `Build it with daemon/native/build.sh, or point ${TUN_ADDON_ENV} at it.`,
    );
  }
  const cached = loaded.get(file);
  if (cached) return cached;
  const mod: { exports: unknown } = { exports: {} };
  process.dlopen(mod, file, constants.dlopen.RTLD_NOW);
  const m = mod.exports as Partial<NativeTunModule>;
  if (typeof m.Tun !== 'function' || typeof m.setMtu !== 'function' || typeof m.setUp !== 'function') {
    throw new Error(`${file} is not Telepath's TUN addon`);
  }
  const addon = m as NativeTunModule;
  loaded.set(file, addon);
  return addon;
}
