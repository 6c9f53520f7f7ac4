import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeGrowth, formatRatio, growth, median, quantile } from './scaleStats.js';

test('quantile takes the nearest rank, as the other benchmarks do, and p99 of 100 samples is the 100th', () => {
  const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.equal(quantile(samples, 0.5), 51);
  assert.equal(quantile(samples, 0.99), 100);
  assert.equal(quantile([7], 0.99), 7);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

test('median of an odd count is the middle one, of an even count the mean of the two middle ones', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test('growth: flat, linear and quadratic figures over 100, 1000 and 3000 Services', () => {
  const sizes = [100, 1000, 3000];
  const flat = growth(sizes, [60, 61, 62]);
  assert.equal(flat.label, 'roughly flat');
  assert.deepEqual(flat.ratios.map((r) => r.toFixed(3)), ['1.000', '1.017', '1.033']);
  const linear = growth(sizes, [1, 10, 30]);
  assert.equal(linear.label, 'linear');
  assert.ok(Math.abs(linear.exponent - 1) < 1e-9);
  assert.equal(growth(sizes, [1, 100, 900]).label, 'faster than linear');
  assert.equal(growth(sizes, [10, 20, 40]).label, 'slower than linear');
  assert.equal(growth(sizes, [40, 20, 10]).label, 'falls');
});

test('growth of a figure that starts at zero or is missing is unknown, not a division by zero', () => {
  const g = growth([100, 1000], [0, 5]);
  assert.equal(g.label, 'unknown');
  assert.equal(formatRatio(g.ratios[1]!), '–');
  assert.equal(describeGrowth(g), 'unknown');
  assert.equal(growth([100, 1000], [NaN, 5]).label, 'unknown');
  assert.equal(describeGrowth(growth([100, 3000], [2, 60])), 'linear (k = 1.00)');
});
