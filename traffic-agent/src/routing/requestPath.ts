/**
 * The path of a request target, as path-prefix rules and preview links see it: without query or
 * fragment; an absolute-form target (`http://host/p?q`, sent to proxies) gives its path.
 */
export function requestPath(target: string): string {
  let t = target;
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.exec(t);
  if (scheme) {
    const slash = t.indexOf('/', scheme[0].length);
    t = slash < 0 ? '/' : t.slice(slash);
  }
  const end = t.search(/[?#]/);
  return end < 0 ? t : t.slice(0, end);
}
