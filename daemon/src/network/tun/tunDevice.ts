/**
 * A TUN device: the network role's virtual interface. The kernel routes IP packets for the cluster's
 * subnets into it, and packets written to it arrive in the kernel as if received from a network.
 * Packets are raw IPv4/IPv6 with no link-layer or packet-info header. Implementations are chosen by
 * `openTun()`; today only Linux has one (`tun.linux.ts`).
 */

/** Receives what the kernel routed into the device, a batch per readiness event, in order. Each
 * Buffer holds one IP packet. On Linux the packets of a batch share one backing ArrayBuffer: copy
 * a packet you keep for long (e.g. an out-of-order TCP segment) so the batch can be freed. */
export type PacketListener = (packets: Buffer[]) => void;

/** A read failed (e.g. the device was deleted underneath); reading has stopped. */
export type TunErrorListener = (error: Error) => void;

export interface TunDevice {
  /** The interface name the kernel gave it, e.g. `telepath0`. */
  readonly name: string;
  /** The device MTU when it was opened. */
  readonly mtu: number;
  readonly closed: boolean;
  /** TCP/UDP checksums are left to the device (`TunOptions.checksumOffload`): packets read may
   * carry only the pseudo-header sum in their checksum field, and the checksum field of TCP/UDP
   * packets written is filled in by the device, whatever it held. */
  readonly checksumOffload: boolean;

  /** Sets the one packet listener (replacing any earlier one) and starts reading on first use.
   * Packets are not read before there is a listener; the kernel queues a few hundred meanwhile. */
  onPackets(listener: PacketListener): void;
  /** Sets the error listener. Without one, a read error is thrown as an uncaught exception. */
  onError(listener: TunErrorListener): void;

  /** Writes one IP packet (the kernel drops, silently, packets with a bad checksum or a source
   * that fails reverse-path filtering). Throws a system error (`code`: `EAGAIN`, `EINVAL`, …)
   * if the kernel refuses it; nothing is dropped silently on this side. */
  write(packet: Uint8Array): void;
  /** Writes the packets in order. On an error throws it, with `written` set to how many went out
   * before. */
  writeBatch(packets: readonly Uint8Array[]): void;

  /** Stops reading (backpressure): packets queue in the kernel, which drops what exceeds the
   * device's txqueuelen. */
  pause(): void;
  resume(): void;

  /** Closes the device. It disappears at once, with its addresses and routes; idempotent. */
  close(): void;

  /** Adds an address with its prefix, e.g. `10.99.0.1/24` (which also routes that subnet here). */
  addAddress(cidr: string, signal?: AbortSignal): Promise<void>;
  /** Routes a subnet into the device, e.g. `10.96.0.0/12` or `fd00:10:96::/112`. */
  addRoute(cidr: string, signal?: AbortSignal): Promise<void>;
  removeRoute(cidr: string, signal?: AbortSignal): Promise<void>;
}

export interface TunOptions {
  /** Interface name (at most 15 bytes); `%d` lets the kernel pick a number (`telepath%d`).
   * Default: the kernel's `tun%d`. */
  name?: string;
  /** MTU to set; default: the kernel's (1500). 68..65535. */
  mtu?: number;
  /** Leave TCP and UDP checksums to the device (Linux: IFF_VNET_HDR with TUN_F_CSUM; default
   * false). Neither side then sums payloads on the way between a local socket and the device:
   * the kernel hands over locally built packets unsummed, and takes packets written with the
   * checksum marked as still to be completed, which it never needs to for local delivery. */
  checksumOffload?: boolean;
  /** Most packets handed over per callback (default 256). */
  maxBatch?: number;
  /** Full path of the native addon; see `tunAddon.ts` for how it is found otherwise. */
  addonPath?: string;
}

/** The error `write`/`writeBatch` throw and read errors carry: a Node-style system error. */
export interface TunSystemError extends Error {
  code: string;
  errno?: number;
  syscall?: string;
  /** writeBatch only: packets written before the failure. */
  written?: number;
}
