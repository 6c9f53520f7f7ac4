/**
 * Runs `work(i)` for each i in [from, to), at most `limit` at a time, in order of i; after the
 * first failure no new work starts, and that failure is thrown once the running ones are done.
 */
export async function inFlight(from: number, to: number, limit: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = from;
  let failed: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < to && !failed) {
      const i = next++;
      try {
        await work(i);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(0, Math.min(limit, to - from)) }, worker));
  if (failed) throw failed.err;
}
