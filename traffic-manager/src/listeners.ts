/**
 * Where the manager's two gRPC listeners bind (managerServer.ts says what each serves).
 */
import type { Logger } from '../../common/src/log/jsonLogger.js';
import type { Listener, ManagerServerHost } from './managerServer.js';

/**
 * The pod's loopback only, IPv4 and, where the pod has it, IPv6: a Kubernetes port-forward
 * reaches it (containerd dials localhost in the pod's network namespace, over IPv4 first, then
 * IPv6), the pod IP and the Service do not. Resolves with the port (the IPv4 one's, which the
 * IPv6 one then takes too when `port` is 0).
 */
export async function listenLoopback(host: ManagerServerHost, listener: Listener, port: number, logger: Logger): Promise<number> {
  const bound = await host.listen(listener, `127.0.0.1:${port}`);
  try {
    await host.listen(listener, `[::1]:${bound}`);
  } catch (e) {
    logger.info('no IPv6 loopback; listening on 127.0.0.1 only', { listener, port: bound, error: e instanceof Error ? e.message : String(e) });
  }
  return bound;
}

/** All addresses, IPv6 and IPv4 alike where the pod has IPv6, else IPv4 only. */
export async function listenDualStack(host: ManagerServerHost, listener: Listener, port: number, logger: Logger): Promise<number> {
  try {
    return await host.listen(listener, `[::]:${port}`);
  } catch (e) {
    logger.info('IPv6 unavailable; listening on IPv4 only', { listener, port, error: e instanceof Error ? e.message : String(e) });
    return host.listen(listener, `0.0.0.0:${port}`);
  }
}
