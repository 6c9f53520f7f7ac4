/**
 * The `--port <local>[:<service port>]` option of an intercept: parsing it, and picking the
 * Service port it means among those that reach the workload. The service port is a Service port's
 * name or number, or `<service>/<name or number>` when several Services use the same one.
 */
import { InterceptPlanError } from './interceptPlanError.js';
import { formatServicePort, type InterceptablePort } from './workloadPorts.js';

export interface PortSpec {
  localPort: number;
  /** `http`, `50051` or `svc/http` as given (numbers without leading zeros); absent: pick the only port. */
  servicePort?: string;
}

const USAGE = 'use --port <local port>[:<service port name or number>], e.g. --port 8080, --port 8080:http or --port 8080:echo/http';
/** A Service port name is a DNS-1123 label (unlike a container port name, it may exceed 15 characters). */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** Service names are DNS-1035 labels. */
const DNS1035_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function parsePortSpec(spec: string): PortSpec {
  const where = `--port ${JSON.stringify(spec)}`;
  const colon = spec.indexOf(':');
  const local = colon < 0 ? spec : spec.slice(0, colon);
  const localPort = portNumber(local);
  if (localPort === undefined) throw new InterceptPlanError(`${where}: the local port ${JSON.stringify(local)} is not a number from 1 to 65535; ${USAGE}`);
  if (colon < 0) return { localPort };
  const rest = spec.slice(colon + 1);
  if (rest === '') throw new InterceptPlanError(`${where}: nothing follows ":"; ${USAGE}`);
  if (rest.includes(':')) throw new InterceptPlanError(`${where}: only one ":" may separate the local port from the service port; ${USAGE}`);
  const slash = rest.indexOf('/');
  if (slash < 0) return { localPort, servicePort: servicePortId(where, rest) };
  const service = rest.slice(0, slash);
  if (!DNS1035_LABEL.test(service)) {
    throw new InterceptPlanError(`${where}: ${JSON.stringify(service)} is not a Service name (lowercase letters, digits and "-"); ${USAGE}`);
  }
  return { localPort, servicePort: `${service}/${servicePortId(where, rest.slice(slash + 1))}` };
}

/**
 * The port that `choice` (the part after ":" of --port) means. Without a choice the workload must
 * have one interceptable port — several Service ports landing on the same container port count as
 * one, since intercepting any of them intercepts that container port.
 */
export function resolvePortChoice(ports: readonly InterceptablePort[], choice?: string): InterceptablePort {
  if (ports.length === 0) {
    throw new InterceptPlanError('no Service port reaches this workload; Telepath intercepts traffic that arrives through a Service');
  }
  const tcp = ports.filter((p) => p.interceptable);
  if (choice === undefined) {
    if (tcp.length === 0) {
      throw new InterceptPlanError(`the workload receives no TCP traffic through its Services (${listing(ports)}); Telepath intercepts TCP ports only`);
    }
    if (targets(tcp) > 1) {
      throw new InterceptPlanError(
        `the workload has several ports: ${listing(tcp)}; choose one with --port <local port>:<service port name or number>`,
      );
    }
    return tcp[0];
  }
  const slash = choice.indexOf('/');
  const service = slash < 0 ? undefined : choice.slice(0, slash);
  const id = slash < 0 ? choice : choice.slice(slash + 1);
  const byNumber = /^\d+$/.test(id);
  const matches = ports.filter((p) => (service === undefined || p.service === service) && (byNumber ? p.port === Number(id) : p.portName === id));
  if (matches.length === 0) {
    const noService = service !== undefined && !ports.some((p) => p.service === service);
    const why = noService ? `Service ${service} does not select the workload` : `no Service port ${choice} reaches the workload`;
    throw new InterceptPlanError(`${why}; its ports are: ${listing(ports)}`);
  }
  const usable = matches.filter((p) => p.interceptable);
  if (usable.length === 0) {
    throw new InterceptPlanError(`${listing(matches)} cannot be intercepted: Telepath intercepts TCP ports only`);
  }
  if (targets(usable) > 1) {
    const example = `${usable[0].service}/${usable[0].portName || usable[0].port}`;
    throw new InterceptPlanError(
      `service port ${choice} is ambiguous: ${listing(usable)} lead to different container ports; ` +
        `name the Service too, as in --port <local port>:${example}`,
    );
  }
  return usable[0];
}

function listing(ports: readonly InterceptablePort[]): string {
  return ports.map((p) => (p.interceptable ? formatServicePort(p) : `${formatServicePort(p)} (${p.protocol})`)).join(', ');
}

/** How many distinct container ports the Service ports lead to. */
function targets(ports: readonly InterceptablePort[]): number {
  return new Set(ports.map((p) => `${p.container}/${p.containerPort}`)).size;
}

function servicePortId(where: string, id: string): string {
  if (/^\d+$/.test(id)) {
    const n = portNumber(id);
    if (n === undefined) throw new InterceptPlanError(`${where}: the service port ${id} is not a number from 1 to 65535; ${USAGE}`);
    return String(n);
  }
  if (!DNS1123_LABEL.test(id)) {
    throw new InterceptPlanError(`${where}: ${JSON.stringify(id)} is not a Service port name or number; ${USAGE}`);
  }
  return id;
}

function portNumber(s: string): number | undefined {
  if (!/^\d{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= 65535 ? n : undefined;
}
