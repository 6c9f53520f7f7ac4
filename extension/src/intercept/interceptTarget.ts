/**
 * One interceptable port of a workload, as the tree and the pickers hand it to the intercept
 * commands, and the Service-port choice the daemon needs to find it again unambiguously.
 */
import type { WorkloadInfo, WorkloadPort } from '../../../protocol/src/daemon';

export interface InterceptTarget {
  namespace: string;
  workloadKind: WorkloadInfo['kind'];
  workload: string;
  /** InterceptParams.servicePort: "http", "8080", or "svc/http" when two Services share the name. */
  servicePort: string;
  /** As the daemon writes it: "echo:http/8080". */
  portLabel: string;
  port: number;
  containerPort: number;
}

/** "echo:http/8080", the daemon's own notation (InterceptInfo.servicePort, `telepath list`). */
export function formatServicePort(p: Pick<WorkloadPort, 'service' | 'portName' | 'port'>): string {
  return p.portName ? `${p.service}:${p.portName}/${p.port}` : `${p.service}:${p.port}`;
}

export function interceptTarget(workload: WorkloadInfo, port: WorkloadPort): InterceptTarget {
  const id = port.portName || String(port.port);
  const ambiguous = workload.ports.some((p) => p.service !== port.service && (p.portName || String(p.port)) === id);
  return {
    namespace: workload.namespace,
    workloadKind: workload.kind,
    workload: workload.name,
    servicePort: ambiguous ? `${port.service}/${id}` : id,
    portLabel: formatServicePort(port),
    port: port.port,
    containerPort: port.containerPort,
  };
}

/** TCP is all an agent can take. */
export function isInterceptable(port: WorkloadPort): boolean {
  return port.protocol === 'TCP';
}

/** The reverse of formatServicePort: "echo:http/8080" → echo, http, 8080. */
export function parseServicePortLabel(label: string): { service: string; portName: string; port: number } | undefined {
  const m = /^([^:]+):(?:([^/]+)\/)?(\d+)$/.exec(label);
  if (!m) return undefined;
  return { service: m[1]!, portName: m[2] ?? '', port: Number(m[3]) };
}
