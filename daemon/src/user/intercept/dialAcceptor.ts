/**
 * The workstation's side of an intercepted connection. The manager announces it on WatchDials; the
 * daemon opens a Tunnel that starts with Accept, receives the agent's Open, dials the intercept's
 * local port and answers with the DialResult, then relays bytes both ways until both sides close.
 * A local port where nothing listens answers REFUSED, so the agent can tell the cluster client.
 */
import net from 'node:net';
import { Metadata } from '@grpc/grpc-js';
import type { DialRequest } from '../../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { DialOutcome } from '../../../../protocol/src/gen/telepath/tunnel/v1/tunnel.js';
import type { ManagerClient } from '../../../../protocol/src/manager/managerService.js';
import { firstMessage, TunnelDuplex } from '../../../../protocol/src/tunnel/tunnelDuplex.js';
import type { Logger } from '../../../../common/src/log/fileLogger.js';

export interface AcceptTarget {
  host: string;
  port: number;
}

export interface DialStats {
  accepted: number;
  refused: number;
  active: number;
}

/** Takes one announced connection; resolves when it is relayed or refused (not when it ends). */
export async function acceptDial(
  client: ManagerClient,
  sessionId: string,
  dial: DialRequest,
  target: AcceptTarget,
  log: Logger,
  stats: DialStats,
): Promise<void> {
  const call = client.tunnel(new Metadata());
  call.on('error', (e) => log.debug(`intercepted connection ${dial.dialId}: ${e.message}`));
  call.write({ message: { $case: 'accept', value: { sessionId, dialId: dial.dialId } } });
  const first = await firstMessage(call, 10_000);
  if (first.message?.$case !== 'open') {
    call.cancel();
    throw new Error(`the manager answered ${first.message?.$case ?? 'nothing'} to Accept`);
  }
  const socket = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
  socket.setNoDelay(true);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
  } catch (e) {
    stats.refused++;
    const message = `nothing accepts connections on ${target.host}:${target.port} (${(e as Error).message}); is the local service running?`;
    log.warn(`intercept ${dial.interceptName}: ${message}`);
    call.write({ message: { $case: 'dialResult', value: { outcome: DialOutcome.REFUSED, message } } });
    call.end();
    return;
  }
  call.write({ message: { $case: 'dialResult', value: { outcome: DialOutcome.OK, message: '' } } });
  stats.accepted++;
  stats.active++;
  const tunnel = new TunnelDuplex(call);
  bridge(socket, tunnel, () => stats.active--);
}

/**
 * Pipes two byte streams both ways. An end in one direction becomes an end (FIN) in the other; an
 * error on either side destroys both (a reset); `onClose` runs once when both are done.
 */
export function bridge(a: net.Socket, b: TunnelDuplex, onClose: () => void): void {
  let closed = 0;
  const closedOne = (): void => {
    if (++closed === 2) onClose();
  };
  a.pipe(b);
  b.pipe(a);
  a.on('error', (e) => b.destroy(e));
  b.on('error', (e) => a.destroy(e));
  a.on('close', closedOne);
  b.on('close', closedOne);
}
