/**
 * Preview links: `/.telepath/preview/<token>` sets a cookie that routes a browser's later requests
 * to the intercept holding that token, so a teammate can see a change through the normal ingress.
 * Pure: parsing and the answer's headers; the routers decide whether the token is live.
 */
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

/** The preview answer's headers (besides the status, 302). */
export function previewResponseHeaders(preview: PreviewRequest): [string, string][] {
  return [
    ['Location', preview.location],
    ['Set-Cookie', `${PREVIEW_COOKIE}=${preview.token}; Path=/; HttpOnly; SameSite=Lax`],
    // A cached redirect would skip the agent, and with it the cookie, next time.
    ['Cache-Control', 'no-store'],
    ['Content-Length', '0'],
  ];
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
