/**
 * Preview links: `/.telepath/preview/<token>` sets a cookie that routes a browser's later requests
 * to the intercept holding that token, so a teammate can see a change through the normal ingress.
 * Pure: parsing, whether the token is live, and the answer's headers.
 *
 * The cookie is `HttpOnly` (no script on the page reads it), `SameSite=Lax` (another site's
 * subrequests do not carry it), `Path=/`, and `Secure` when the browser came over HTTPS — to the
 * agent itself over TLS, or through a proxy that says so (`X-Forwarded-Proto: https`, `Forwarded:
 * proto=https`, HTTP/2's `:scheme`) — so it is never sent in clear afterwards. It has no `Max-Age`:
 * intercepts have no set end (they last as long as their client's session). Once its intercept is
 * gone, the agent removes it with the next answer it relays to that browser through the same port
 * (previewCookieRemoval), as long as the port still routes requests: while it has no intercepts it
 * is a plain pipe to the app, and the cookie stays until the browser closes, routing nothing.
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
export function previewAnswer(rules: readonly InterceptRule[], request: PreviewRequestContext): [string, string][] | undefined {
  const preview = parsePreviewRequest(request.method, request.target);
  if (!preview || !rules.some((r) => r.previewToken === preview.token)) return undefined;
  return previewResponseHeaders(preview, cameOverHttps(request.headers, request.encrypted));
}

/** The preview answer's headers (besides the status, 302); `secure`: the browser came over HTTPS. */
export function previewResponseHeaders(preview: PreviewRequest, secure: boolean): [string, string][] {
  return [
    ['Location', preview.location],
    ['Set-Cookie', [`${PREVIEW_COOKIE}=${preview.token}`, ...cookieAttributes(secure)].join('; ')],
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

/**
 * The Set-Cookie that removes the request's preview cookie once its intercept is gone: a token of
 * `ended` (this port's intercepts that are no more) and none of `rules`. Undefined otherwise,
 * tokens the port never had included: several workloads can sit behind one host, and the cookie of
 * another one's intercept is not this agent's to remove. The attributes are the cookie's own,
 * `Secure` by the same test: a browser ignores a `Secure` Set-Cookie that comes over plain HTTP.
 */
export function previewCookieRemoval(
  rules: readonly InterceptRule[],
  ended: ReadonlySet<string>,
  request: Pick<PreviewRequestContext, 'headers' | 'encrypted'>,
): string | undefined {
  if (ended.size === 0) return undefined;
  const tokens = previewCookieTokens(request.headers.get('cookie'));
  if (![...tokens].some((t) => ended.has(t)) || rules.some((r) => r.previewToken !== undefined && tokens.has(r.previewToken))) return undefined;
  return [`${PREVIEW_COOKIE}=`, ...cookieAttributes(cameOverHttps(request.headers, request.encrypted)), 'Max-Age=0'].join('; ');
}

/** The cookie's attributes, the same when it is set and when it is removed. */
function cookieAttributes(secure: boolean): string[] {
  return ['Path=/', 'HttpOnly', 'SameSite=Lax', ...(secure ? ['Secure'] : [])];
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
