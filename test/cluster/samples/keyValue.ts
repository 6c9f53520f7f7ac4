/** A `k=v` flag value such as `--header x-a=1` or `--metadata k=v`. */
export type KeyValue = readonly [key: string, value: string];

export function parseKeyValue(text: string, flag: string): KeyValue {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new Error(`${flag} wants key=value, got "${text}"`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}
