/**
 * Which intercept, if any, a request belongs to. Pure: the HTTP/1 and HTTP/2 routers call it once
 * per request with the rules of that moment.
 */
import type { HeaderMultimap } from './headerMultimap.js';
import { previewCookieTokens } from './previewLink.js';

export interface InterceptRule {
  /** The intercept's id; requests that match go to the workstation holding it. */
  id: string;
  /** Every connection and request goes to this intercept. */
  global: boolean;
  /** Personal: all must match (name case-insensitive, value exact; any value of a repeated header). */
  headers: { name: string; value: string }[];
  /** Personal: the request path (without query) starts with this; ANDed with `headers`. */
  pathPrefix?: string;
  /** A browser holding the cookie set by `/.telepath/preview/<token>` matches too. */
  previewToken?: string;
}

export interface RoutedRequest {
  method: string;
  /** Without query or fragment (see requestPath). */
  path: string;
  headers: HeaderMultimap;
}

/**
 * The id of the intercept that `request` goes to, or undefined for the app.
 * Personal rules are tried first, in order, because they are the more specific; then the first
 * global rule. A personal rule with neither headers nor a path prefix matches only through its
 * preview cookie, so a half-filled rule never captures everyone's traffic.
 */
export function matchRule(rules: readonly InterceptRule[], request: RoutedRequest): string | undefined {
  let previewTokens: Set<string> | undefined;
  for (const rule of rules) {
    if (rule.global) continue;
    if (conditionsHold(rule, request)) return rule.id;
    if (rule.previewToken) {
      previewTokens ??= previewCookieTokens(request.headers.get('cookie'));
      if (previewTokens.has(rule.previewToken)) return rule.id;
    }
  }
  return rules.find((r) => r.global)?.id;
}

/** The first global rule's id: where a connection that is not HTTP goes. */
export function globalInterceptId(rules: readonly InterceptRule[]): string | undefined {
  return rules.find((r) => r.global)?.id;
}

function conditionsHold(rule: InterceptRule, request: RoutedRequest): boolean {
  if (rule.headers.length === 0 && !rule.pathPrefix) return false;
  if (rule.pathPrefix && !request.path.startsWith(rule.pathPrefix)) return false;
  return rule.headers.every((h) => request.headers.get(h.name).includes(h.value));
}
