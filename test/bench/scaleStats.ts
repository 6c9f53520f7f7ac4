/**
 * The arithmetic of the scale benchmark (scaleBench.ts): percentiles of samples, and how a figure
 * grows with the number of Services. Pure.
 */

/** The q-quantile (0 ≤ q ≤ 1) of the samples by nearest rank, as the other benchmarks take p50/p99; NaN for none. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}

/** The middle sample (the mean of the two middle ones for an even count); NaN for none. */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface Growth {
  /** Each value divided by the first (NaN where that means nothing). */
  ratios: number[];
  /** k in value ∝ size^k between the first and the last point: 0 flat, 1 linear; NaN when unknown. */
  exponent: number;
  /** In words: "roughly flat", "slower than linear", "linear", "faster than linear", or "unknown". */
  label: string;
}

/** An exponent below this reads as flat: over 100 → 3000 Services, at most about 40 % more. */
const FLAT_BELOW = 0.1;

/**
 * How `values` grow with `sizes` (both in step order, sizes increasing). The exponent of a power
 * law through the first and last points says it in one number; the ratios show each step.
 */
export function growth(sizes: readonly number[], values: readonly number[]): Growth {
  const first = values[0];
  const usable = first !== undefined && Number.isFinite(first) && first > 0;
  const ratios = values.map((v) => (usable && Number.isFinite(v) ? v / first : NaN));
  const last = values.length - 1;
  const exponent =
    usable && last > 0 && values[last]! > 0 && sizes[last]! > sizes[0]! ? Math.log(values[last]! / first) / Math.log(sizes[last]! / sizes[0]!) : NaN;
  return { ratios, exponent, label: growthLabel(exponent) };
}

export function growthLabel(exponent: number): string {
  if (!Number.isFinite(exponent)) return 'unknown';
  if (Math.abs(exponent) < FLAT_BELOW) return 'roughly flat';
  if (exponent < 0) return 'falls';
  if (exponent < 0.7) return 'slower than linear';
  if (exponent <= 1.3) return 'linear';
  return 'faster than linear';
}

/** "×1.00" style, or "–" for a ratio that means nothing. */
export function formatRatio(r: number): string {
  return Number.isFinite(r) ? `×${r.toFixed(2)}` : '–';
}

/** "roughly flat (k = 0.03)": the label with its exponent, for the summary lines. */
export function describeGrowth(g: Growth): string {
  return Number.isFinite(g.exponent) ? `${g.label} (k = ${g.exponent.toFixed(2)})` : g.label;
}
