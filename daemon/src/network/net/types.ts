/**
 * Vocabulary shared by the packet code: flow identities, endpoints, the injected logger and the
 * reasons a flow ends. Nothing here does I/O.
 */

/** Identifies one TCP connection or UDP flow for its whole life; never reused by a stack. */
export type FlowId = number;

/** One side of a flow, in the text form that sockets and logs use ("10.96.0.10", "fd00::1"). */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** The logger the packet code writes to (tagged `net` by whoever injects it). */
export interface NetLogger {
  debug(msg: string): void;
  warn(msg: string): void;
}

export const silentLogger: NetLogger = { debug: () => {}, warn: () => {} };

/** Why a parse gave up. Parsers return this instead of throwing: their input is untrusted. */
export interface ParseFailure {
  readonly ok: false;
  readonly reason: string;
}

/** How the daemon turns a connection attempt down after its dial failed: `refused` answers the
 * SYN with a RST ("connection refused"), `unreachable` with ICMP host/address unreachable
 * ("no route to host"). */
export type RefuseReason = 'refused' | 'unreachable';

/**
 * Why a TCP connection ended, as reported by `tcpClosed`:
 * - `normal`: both sides sent FIN and the last one was acknowledged (or is in TIME_WAIT);
 * - `reset`: the local program reset it (or closed it with unread data);
 * - `timeout`: the local program stopped acknowledging (retransmission limit reached);
 * - `aborted`: the daemon called `tcpAbort`;
 * - `refused` / `unreachable`: the daemon refused the connection attempt;
 * - `connectTimeout`: the daemon answered neither `accept` nor `refuse` in time;
 * - `overflow`: the daemon wrote far past the send buffer limit, ignoring backpressure.
 */
export type TcpCloseReason =
  | 'normal'
  | 'reset'
  | 'timeout'
  | 'aborted'
  | 'refused'
  | 'unreachable'
  | 'connectTimeout'
  | 'overflow';
