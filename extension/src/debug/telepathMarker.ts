/**
 * The `telepath` property that marks a launch configuration as Telepath's: which intercept to
 * start before the debuggee runs. It is what the user may edit in launch.json, so it is checked
 * and explained, not trusted.
 */
import type { HeaderMatch, InterceptParams } from '../../../protocol/src/daemon';
import { formatHeaderSetting, type InterceptMode } from '../intercept/interceptOptions.js';

export interface TelepathMarker {
  /** As for `telepath intercept`: "echo", or "statefulset/web". */
  workload: string;
  namespace: string;
  /** The Service port: "http", "8080" or "svc/http"; may be left out when the workload has one. */
  port?: string;
  /** Where the debuggee listens. */
  localPort: number;
  mode: 'personal' | 'global';
  /** Personal: "NAME=VALUE"; absent: the daemon generates x-telepath-intercept. */
  header?: string;
  /** Personal: also a preview link. */
  preview?: boolean;
  /** The intercept's name; default the workload's name. */
  name?: string;
}

export const MARKER_PROPERTY = 'telepath';

export function makeMarker(o: {
  workload: string;
  namespace: string;
  port?: string;
  localPort: number;
  mode: InterceptMode;
  header?: HeaderMatch;
  name?: string;
}): TelepathMarker {
  // Keys in reading order: they are written to launch.json as they are.
  return {
    workload: o.workload,
    namespace: o.namespace,
    ...(o.port ? { port: o.port } : {}),
    localPort: o.localPort,
    mode: o.mode === 'global' ? 'global' : 'personal',
    ...(o.mode !== 'global' && o.header ? { header: formatHeaderSetting(o.header) } : {}),
    ...(o.mode === 'preview' ? { preview: true } : {}),
    ...(o.name && o.name !== workloadName(o.workload) ? { name: o.name } : {}),
  };
}

/** The marker of a configuration, or a sentence saying what is wrong with it. */
export function parseMarker(value: unknown): TelepathMarker | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return '"telepath" must be an object such as { "workload": "echo", "namespace": "samples", "localPort": 8080, "mode": "personal" }';
  }
  const v = value as Record<string, unknown>;
  const problems: string[] = [];
  const str = (k: string, required: boolean): string | undefined => {
    const x = v[k];
    if (x === undefined && !required) return undefined;
    if (typeof x !== 'string' || x.trim() === '') {
      problems.push(`"${k}" must be a non-empty string`);
      return undefined;
    }
    return x.trim();
  };
  const workload = str('workload', true);
  const namespace = str('namespace', true);
  const port = v.port === undefined ? undefined : typeof v.port === 'number' ? String(v.port) : str('port', false);
  const name = str('name', false);
  const header = str('header', false);
  const localPort = v.localPort;
  if (typeof localPort !== 'number' || !Number.isInteger(localPort) || localPort < 1 || localPort > 65535) {
    problems.push('"localPort" must be a port number from 1 to 65535');
  }
  const mode = v.mode ?? 'personal';
  if (mode !== 'personal' && mode !== 'global') problems.push('"mode" must be "personal" or "global"');
  if (v.preview !== undefined && typeof v.preview !== 'boolean') problems.push('"preview" must be true or false');
  if (header !== undefined && !/^[^=\s]+=.+$/.test(header)) problems.push('"header" must be NAME=VALUE');
  if (mode === 'global' && (header !== undefined || v.preview === true)) problems.push('a global intercept takes all traffic: "header" and "preview" need "mode": "personal"');
  if (problems.length > 0) return `The "telepath" property of this launch configuration is invalid: ${problems.join('; ')}.`;
  const m: TelepathMarker = { workload: workload!, namespace: namespace!, localPort: localPort as number, mode: mode as TelepathMarker['mode'] };
  if (port) m.port = port;
  if (header) m.header = header;
  if (v.preview === true) m.preview = true;
  if (name) m.name = name;
  return m;
}

/** "statefulset/web" → "web". */
export function workloadName(ref: string): string {
  return ref.slice(ref.indexOf('/') + 1);
}

export function markerInterceptName(m: TelepathMarker): string {
  return m.name ?? workloadName(m.workload);
}

export function markerHeader(m: TelepathMarker): HeaderMatch | undefined {
  if (!m.header) return undefined;
  const eq = m.header.indexOf('=');
  return { name: m.header.slice(0, eq).trim(), value: m.header.slice(eq + 1).trim() };
}

export function markerParams(m: TelepathMarker, headersOverride?: HeaderMatch[]): InterceptParams {
  const p: InterceptParams = {
    workload: m.workload,
    namespace: m.namespace,
    localPort: m.localPort,
    name: markerInterceptName(m),
    mode: m.mode,
  };
  if (m.port) p.servicePort = m.port;
  const header = markerHeader(m);
  if (m.mode === 'personal') {
    if (header) p.headers = [header];
    else if (headersOverride?.length) p.headers = headersOverride;
    if (m.preview) p.preview = true;
  }
  return p;
}

/** Whether two markers stand for the same intercept (the same workload in the same namespace). */
export function sameIntercept(a: Pick<TelepathMarker, 'workload' | 'namespace'>, b: Pick<TelepathMarker, 'workload' | 'namespace'>): boolean {
  return workloadName(a.workload) === workloadName(b.workload) && a.namespace === b.namespace;
}
