/**
 * Polls `f` every 250 ms until it gives something other than undefined or false, and returns
 * that; throws after `ms`, with `describe()` (if given) saying what was seen last. On its own
 * (no imports) so that the extension-host suite, bundled apart, can use it too.
 */
export async function until<T>(what: string, ms: number, f: () => T | undefined | false | Promise<T | undefined | false>, describe?: () => string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${describe ? `; ${describe()}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
