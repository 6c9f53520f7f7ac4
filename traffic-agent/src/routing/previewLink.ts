/**
 * Preview links: `/.telepath/preview/<token>` sets a cookie that routes a browser's later requests
 * to the intercept holding that token, so a teammate can see a change through the normal ingress.
 * Pure: parsing, whether the token is live, and the answer's headers.
 *
 * The cookie is `HttpOnly` (no script on the page reads it), `SameSite=Lax` (another site's
 * subrequests do not carry it), `Path=/`, and `Secure` when the browser came over HTTPS — to the
 * agent itself over TLS, or through a proxy that says so (`X-Forwarded-Proto: https`, `Forwarded:
 * proto=https`, HTTP/2's `:scheme`) — so it is never sent in clear afterwards. It lives no longer
 * than the intercept: `Max-Age` is the intercept's remaining life when the agent knows it
 * (InterceptRule.expiresAt); today's intercepts have no set end (they last as long as their
 * client's session, which the agent does not know), so the cookie is a session cookie, gone when
 * the browser closes, and a cookie whose intercept ended routes nowhere (its token matches no rule).
 */
import type { HeaderMultimap } from './headerMultimap.js';
import type { InterceptRule } from './matchRule.js';
import { requestPath } from './requestPath.js';

export const PREVIEW_PATH_PREFIX = '/.telepath/preview/';
export const PREVIEW_COOKIE = 'telepath-preview';

/** Tokens are cookie values and path segments, so only characters safe in both are accepted. */
const TOKEN = /^[A-Za-z0-9._~-]{1,200}$/;

export interface PreviewRequest {
  token: string;
  /** Where the agent's 302 points: `/` or the request's safe `?to=`. */
  location: string;
}

/**
 * The preview request carried by `method` and `target`, or undefined when this is not one
 * (then it is an ordinary request, routed like any other).
 */
export function parsePreviewRequest(method: string, target: string): PreviewRequest | undefined {
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  const path = requestPath(target);
  if (!path.startsWith(PREVIEW_PATH_PREFIX)) return undefined;
  const token = path.slice(PREVIEW_PATH_PREFIX.length);
  if (!TOKEN.test(token)) return undefined;
  return { token, location: redirectTarget(queryParam(target, 'to')) };
}

export interface PreviewCookie {
  /** The browser reached the site over HTTPS (cameOverHttps). */
  secure: boolean;
  /** Seconds left of the intercept's life; absent when unknown (a session cookie). */
  maxAgeSeconds?: number;
}

/** The request as the agent saw it. */
export interface PreviewRequestContext {
  method: string;
  /** The request target (HTTP/1) or `:path` (HTTP/2). */
  target: string;
  headers: HeaderMultimap;
  /** The connection to the agent is TLS. */
  encrypted: boolean;
}

/**
 * The agent's answer (status 302) to a preview link of a live intercept: its headers. Undefined
 * when the request is not one, or its token belongs to no intercept: then it is an ordinary
 * request, routed like any other.
 */
export function previewAnswer(rules: readonly InterceptRule[], request: PreviewRequestContext, now = Date.now()): [string, string][] | undefined {
  const preview = parsePreviewRequest(request.method, request.target);
  const rule = preview && rules.find((r) => r.previewToken === preview.token);
  if (!preview || !rule) return undefined;
  return previewResponseHeaders(preview, { secure: cameOverHttps(request.headers, request.encrypted), maxAgeSeconds: remainingSeconds(rule.expiresAt, now) });
}

/** The preview answer's headers (besides the status, 302). */
export function previewResponseHeaders(preview: PreviewRequest, cookie: PreviewCookie): [string, string][] {
  const attributes = ['Path=/', 'HttpOnly', 'SameSite=Lax', ...(cookie.secure ? ['Secure'] : []), ...(cookie.maxAgeSeconds !== undefined ? [`Max-Age=${cookie.maxAgeSeconds}`] : [])];
  return [
    ['Location', preview.location],
    ['Set-Cookie', [`${PREVIEW_COOKIE}=${preview.token}`, ...attributes].join('; ')],
    // A cached redirect would skip the agent, and with it the cookie, next time.
    ['Cache-Control', 'no-store'],
    ['Content-Length', '0'],
  ];
}

/**
 * Did the browser reach the site over HTTPS? Over TLS to the agent itself; else as the proxy in
 * front of it says: the first (client-side) entry of X-Forwarded-Proto or of Forwarded's `proto`,
 * or HTTP/2's `:scheme`. A client can claim HTTPS falsely, but that only makes its own cookie
 * `Secure`: it cannot take `Secure` away from anyone else's.
 */
export function cameOverHttps(headers: HeaderMultimap, encrypted: boolean): boolean {
  if (encrypted) return true;
  const first = (name: string): string => (headers.get(name)[0] ?? '').split(',')[0]!.trim();
  if (first('x-forwarded-proto').toLowerCase() === 'https') return true;
  if (first(':scheme').toLowerCase() === 'https') return true;
  for (const pair of first('forwarded').split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim().toLowerCase() !== 'proto') continue;
    return pair.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase() === 'https';
  }
  return false;
}

/** Whole seconds from `now` to `expiresAt` (both ms since the epoch), rounded down so the cookie
 * never outlives the intercept; undefined when there is no end. */
export function remainingSeconds(expiresAt: number | undefined, now: number): number | undefined {
  if (expiresAt === undefined || !Number.isFinite(expiresAt)) return undefined;
  return Math.max(0, Math.floor((expiresAt - now) / 1000));
}

/** Every preview token found in the request's Cookie header values. */
export function previewCookieTokens(cookieHeaders: readonly string[]): Set<string> {
  const tokens = new Set<string>();
  for (const header of cookieHeaders) {
    for (const pair of header.split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0 || pair.slice(0, eq).trim() !== PREVIEW_COOKIE) continue;
      let value = pair.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      if (value) tokens.add(value);
    }
  }
  return tokens;
}

/**
 * `to` when it is a path on this site; anything else could turn the link into an open redirect
 * (`//evil.example` and `/\evil.example` are other hosts to a browser), so it becomes `/`.
 */
export function redirectTarget(to: string | undefined): string {
  if (to === undefined || !to.startsWith('/') || to[1] === '/' || to[1] === '\\') return '/';
  return /^[\x21-\x7e]+$/.test(to) ? to : '/';
}

function queryParam(target: string, name: string): string | undefined {
  const q = target.indexOf('?');
  if (q < 0) return undefined;
  const hash = target.indexOf('#', q);
  try {
    return new URLSearchParams(target.slice(q + 1, hash < 0 ? undefined : hash)).get(name) ?? undefined;
  } catch {
    return undefined;
  }
}
