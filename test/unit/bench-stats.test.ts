/**
 * The benchmarks' standard error (bench/stats.ts bootstrapSe): zero for an estimate that does
 * not depend on the runs drawn, σ/√n for a mean, and the same figure from the same samples.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootstrapSe } from '../../bench/stats.ts';

test('bootstrapSe: 0 for a constant estimate; about σ/√n for a mean; the same every time; runs drawn stay within 0..n-1', () => {
  assert.equal(bootstrapSe(30, () => 1.5), 0);
  // 0 and 10 alternating: σ = 5 (population), so the mean's standard error is 5/√40 ≈ 0.79.
  const xs = Array.from({ length: 40 }, (_, i) => (i % 2) * 10);
  const mean = (runs: readonly number[]): number => runs.reduce((a, i) => a + xs[i]!, 0) / runs.length;
  const se = bootstrapSe(xs.length, mean, 2000);
  assert.ok(Math.abs(se - 5 / Math.sqrt(40)) < 0.08, `se ${se}`);
  assert.equal(bootstrapSe(xs.length, mean, 2000), se);
  let seen = new Set<number>();
  bootstrapSe(7, (runs) => { seen = new Set([...seen, ...runs]); assert.equal(runs.length, 7); return 0; }, 200);
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4, 5, 6]);
});
