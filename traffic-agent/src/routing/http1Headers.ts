/**
 * HTTP/1 header lists for forwarding. Requests go to their destination exactly as they came; a
 * response's connection-scoped fields describe the agent's upstream connection, not the client's,
 * so they are dropped and Node frames the client's connection itself.
 */

export type HeaderPair = [name: string, value: string];

/** `rawHeaders`-style [n, v, n, v, …] as pairs, order and case kept. */
export function headerPairs(raw: readonly string[]): HeaderPair[] {
  const pairs: HeaderPair[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i]!, raw[i + 1]!]);
  return pairs;
}

/** Pairs back to the flat list that `writeHead` takes. */
export function flatHeaders(pairs: readonly HeaderPair[]): string[] {
  return pairs.flat();
}

/**
 * Groups pairs by name for `setHeader`, which keeps the first spelling of a name and its
 * insertion order; a repeated name is sent as consecutive lines with the same spelling.
 */
export function groupedHeaders(pairs: readonly HeaderPair[]): { name: string; values: string[] }[] {
  const byKey = new Map<string, { name: string; values: string[] }>();
  for (const [name, value] of pairs) {
    const key = name.toLowerCase();
    const entry = byKey.get(key);
    if (entry) entry.values.push(value);
    else byKey.set(key, { name, values: [value] });
  }
  return [...byKey.values()];
}

const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection']);
/** Message framing that Node must see to frame the body it relays; never dropped. */
const FRAMING: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding']);

/** A response's headers without Connection, Keep-Alive, Proxy-Connection and the fields Connection names. */
export function withoutHopByHop(pairs: readonly HeaderPair[]): HeaderPair[] {
  const named = new Set<string>();
  for (const [name, value] of pairs) {
    if (name.toLowerCase() !== 'connection') continue;
    for (const token of value.split(',')) {
      const t = token.trim().toLowerCase();
      if (t && !FRAMING.has(t)) named.add(t);
    }
  }
  return pairs.filter(([name]) => {
    const key = name.toLowerCase();
    return !HOP_BY_HOP.has(key) && !named.has(key);
  });
}
