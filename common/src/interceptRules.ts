/**
 * Which intercepts may share an agent port: a global intercept takes every connection, so it
 * excludes any other; personal intercepts coexist as long as they do not match the same requests.
 * Pure, so the messages a refused user reads are tested as text.
 */
import type { InterceptSpec } from '../../protocol/src/gen/telepath/manager/v1/manager.js';

export interface HeldIntercept {
  spec: InterceptSpec;
  /** ClientInfo.name of the holder. */
  holder: string;
  /** Held by the client that asks. */
  mine: boolean;
}

/** Why a spec cannot be served at all, or undefined. */
export function specProblem(spec: InterceptSpec): string | undefined {
  if (!spec.name) return 'the intercept needs a name';
  if (!spec.namespace || !spec.workloadName || !spec.workloadKind) return 'the intercept needs a namespace, workload kind and workload name';
  if (!Number.isInteger(spec.agentPort) || spec.agentPort < 1 || spec.agentPort > 65535) return `bad agent port ${spec.agentPort}`;
  if (spec.global && (spec.headers.length > 0 || spec.pathPrefix || spec.previewToken)) {
    return 'a global intercept takes every request; it cannot also match headers, a path prefix or a preview token';
  }
  if (!spec.global && spec.headers.length === 0 && !spec.pathPrefix) {
    return 'a personal intercept needs at least one header or a path prefix to match; with neither it matches every request, so it is global — intercept globally instead';
  }
  for (const h of spec.headers) {
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/i.test(h.name)) return `bad header name ${JSON.stringify(h.name)}`;
  }
  if (spec.pathPrefix && !spec.pathPrefix.startsWith('/')) return `a path prefix starts with "/", not ${JSON.stringify(spec.pathPrefix)}`;
  return undefined;
}

/** The conflict that keeps `spec` from joining `others` (intercepts on the same agent port), or undefined. */
export function interceptConflict(spec: InterceptSpec, others: HeldIntercept[]): string | undefined {
  if (others.length === 0) return undefined;
  const port = `port ${spec.agentPort} of ${spec.workloadKind.toLowerCase()} ${spec.namespace}/${spec.workloadName}`;
  const global = others.find((o) => takesEverything(o.spec));
  if (global) {
    const how = global.spec.global ? `globally by ${who(global)} (intercept ${global.spec.name})` : `by ${who(global)} (intercept ${global.spec.name}, which matches every request, so it is global)`;
    return `${port} is intercepted ${how}; nothing else can be intercepted there until it is left`;
  }
  if (takesEverything(spec)) {
    const list = others.map((o) => `${who(o)} (${describeMatch(o.spec, !o.mine)})`).join(', ');
    const why = spec.global ? 'a global intercept' : `intercept ${spec.name} matches every request, so it is global, and a global intercept`;
    return `${port} has personal intercepts: ${list}; ${why} needs the port to itself — use a personal intercept (--http-header) instead, or ask them to leave`;
  }
  const same = others.find((o) => sameMatch(o.spec, spec));
  if (same) {
    return `${who(same)} already intercepts the same requests on ${port} (${describeMatch(same.spec, !same.mine)}); choose another --http-header value`;
  }
  return undefined;
}

/**
 * Whether a spec takes every request on its port: a global one, or a personal one with no header
 * to match and no path prefix beyond "/". Such a personal intercept follows global's rules, or it
 * would be a global intercept that slips past them.
 */
export function takesEverything(spec: InterceptSpec): boolean {
  return spec.global || (spec.headers.length === 0 && (!spec.pathPrefix || spec.pathPrefix === '/'));
}

/**
 * The requests a spec takes, as a user would write them. `hidden`: the spec is another client's,
 * whose header values the manager blanked (see redactSpec), so they are not shown as empty.
 */
export function describeMatch(spec: InterceptSpec, hidden = false): string {
  if (spec.global) return 'all traffic';
  if (takesEverything(spec)) return `every request (path ${spec.pathPrefix || '/'}*)`;
  const parts = spec.headers.map((h) => `${h.name}=${hidden ? HIDDEN : h.value}`);
  if (spec.pathPrefix) parts.push(`path ${spec.pathPrefix}*`);
  return parts.join(', ');
}

/** How a blanked header value reads in listings. */
export const HIDDEN = '(hidden)';

/**
 * Another client's intercept as a caller may see it: header names, path prefix and the workload
 * stay, so listings say what kind of route it is; header values, the preview token and the
 * holder's workstation port are blanked, since the values and token are what join a personal
 * route (send them and your requests go to that developer's machine).
 */
export function redactSpec(spec: InterceptSpec): InterceptSpec {
  return { ...spec, headers: spec.headers.map((h) => ({ name: h.name, value: '' })), previewToken: '', localPort: 0 };
}

export function sameSpec(a: InterceptSpec, b: InterceptSpec): boolean {
  return (
    a.name === b.name &&
    a.namespace === b.namespace &&
    a.workloadKind === b.workloadKind &&
    a.workloadName === b.workloadName &&
    a.agentPort === b.agentPort &&
    a.localPort === b.localPort &&
    a.previewToken === b.previewToken &&
    sameMatch(a, b)
  );
}

function sameMatch(a: InterceptSpec, b: InterceptSpec): boolean {
  if (a.global !== b.global) return false;
  if (a.global) return true;
  return (a.pathPrefix ?? '') === (b.pathPrefix ?? '') && headerKey(a) === headerKey(b);
}

function headerKey(s: InterceptSpec): string {
  return s.headers
    .map((h) => `${h.name.toLowerCase()}\u0000${h.value}`)
    .sort()
    .join('\u0001');
}

function who(o: HeldIntercept): string {
  return o.mine ? 'you' : o.holder;
}
