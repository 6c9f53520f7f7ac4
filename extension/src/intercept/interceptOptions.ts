/**
 * From the user's choices and settings to the daemon's InterceptParams, and from its
 * InterceptResult to what the user is told. Pure: randomness comes in as a function.
 */
import type { HeaderMatch, InterceptInfo, InterceptParams, InterceptResult } from '../../../protocol/src/daemon';
import type { InterceptTarget } from './interceptTarget.js';

/** personal: by header; preview: personal plus a preview link; global: all traffic. */
export type InterceptMode = 'personal' | 'preview' | 'global';

export const DEFAULT_HEADER_NAME = 'x-telepath-intercept';

export class InterceptOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InterceptOptionError';
  }
}

/** An HTTP header name (RFC 9110 token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The `telepath.defaultHeader` setting: "NAME=VALUE"; a NAME alone gets a generated value (so the
 * value stays the same in a launch configuration); empty lets the daemon pick
 * x-telepath-intercept with a value of its own.
 */
export function headerFromSetting(setting: string, generateValue: () => string): HeaderMatch | undefined {
  const s = setting.trim();
  if (s === '') return undefined;
  const eq = s.indexOf('=');
  const name = (eq < 0 ? s : s.slice(0, eq)).trim();
  if (!TOKEN.test(name)) {
    throw new InterceptOptionError(`the header "${name}" in telepath.defaultHeader is not an HTTP header name; use NAME or NAME=VALUE, e.g. x-dev=alice`);
  }
  const value = eq < 0 ? generateValue() : s.slice(eq + 1).trim();
  if (value === '') throw new InterceptOptionError(`telepath.defaultHeader "${s}" has an empty value; use NAME or NAME=VALUE`);
  return { name, value };
}

/** "NAME=VALUE", the way the setting and the launch.json marker write a header. */
export function formatHeaderSetting(h: HeaderMatch): string {
  return `${h.name}=${h.value}`;
}

/** A value people can tell apart: the user's name and random hex digits (48 bits from the caller: the value is what joins the route, and a refused create confirms a guess). */
export function generatedHeaderValue(user: string, randomHex: string): string {
  const who = user.toLowerCase().replace(/[^a-z0-9-]/g, '') || 'dev';
  return `${who}-${randomHex}`;
}

/** The workload as the daemon takes it: "echo" for a Deployment, else "statefulset/web". */
export function workloadRef(target: Pick<InterceptTarget, 'workloadKind' | 'workload'>): string {
  return target.workloadKind === 'Deployment' ? target.workload : `${target.workloadKind.toLowerCase()}/${target.workload}`;
}

/**
 * The intercept's name: the workload's, unless I already hold an intercept of that name on
 * another port or namespace; then the port is added.
 */
export function interceptName(target: InterceptTarget, mine: readonly InterceptInfo[]): string {
  const base = target.workload;
  const taken = mine.find((i) => i.name === base);
  if (!taken || (taken.namespace === target.namespace && taken.servicePort === target.portLabel)) return base;
  const port = target.servicePort.replace(/[^a-z0-9-]/gi, '-').toLowerCase();
  return `${base}-${port}`;
}

export interface InterceptRequest {
  target: InterceptTarget;
  localPort: number;
  mode: InterceptMode;
  /** Personal modes: the header to match; absent lets the daemon generate one. */
  header?: HeaderMatch;
  name: string;
}

export function interceptParams(r: InterceptRequest): InterceptParams {
  const params: InterceptParams = {
    workload: workloadRef(r.target),
    namespace: r.target.namespace,
    localPort: r.localPort,
    servicePort: r.target.servicePort,
    name: r.name,
    mode: r.mode === 'global' ? 'global' : 'personal',
  };
  if (r.mode !== 'global' && r.header) params.headers = [r.header];
  if (r.mode === 'preview') params.preview = true;
  return params;
}

/** A local port: a whole number from 1 to 65535, else why not. */
export function checkLocalPort(text: string): string | undefined {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return 'A port number from 1 to 65535';
  const n = Number(t);
  return n >= 1 && n <= 65535 ? undefined : 'A port number from 1 to 65535';
}

export interface InterceptSummary {
  /** One message for a notification. */
  message: string;
  /** "name: value" lines to send, for a Copy button; personal intercepts only. */
  headers?: string;
  previewPath?: string;
}

/** What the user must know after an intercept started: where traffic goes and which header to send. */
export function interceptSummary(info: InterceptInfo, result?: Pick<InterceptResult, 'mountProblem'>): InterceptSummary {
  const head = `Intercepting ${info.servicePort} of ${info.workload} (${info.namespace}) → localhost:${info.localPort}.`;
  let message: string;
  let headers: string | undefined;
  if (info.mode === 'global') {
    message = `${head} All its traffic comes to you.`;
  } else {
    const lines = info.headers.map((h) => `${h.name}: ${h.value}`);
    headers = lines.length ? lines.join('\n') : undefined;
    const what = [
      lines.length ? `header ${lines.map((l) => `"${l}"`).join(' and ')}` : '',
      info.pathPrefix ? `path prefix ${info.pathPrefix}` : '',
    ].filter(Boolean).join(' and ');
    message = `${head} Personal: only requests with ${what || 'your header'} come to you; everyone else reaches the pods.`;
  }
  if (info.mountPoint) message += ` Volumes are under ${info.mountPoint} (TELEPATH_ROOT).`;
  if (result?.mountProblem) message += ` The volumes are not mounted: ${result.mountProblem}`;
  return { message, ...(headers ? { headers } : {}), ...(info.previewPath ? { previewPath: info.previewPath } : {}) };
}

/** The link a teammate opens: the workload's URL (through its Service or ingress) plus the preview path. */
export function previewLink(baseUrl: string, previewPath: string): string {
  return `${baseUrl.replace(/\/+$/, '')}${previewPath}`;
}

/** A first guess at the base URL: the Service's cluster DNS name, which works where cluster names resolve. */
export function defaultPreviewBase(target: Pick<InterceptTarget, 'portLabel' | 'namespace' | 'port'>): string {
  const service = target.portLabel.slice(0, target.portLabel.indexOf(':'));
  return `http://${service}.${target.namespace}:${target.port}`;
}
