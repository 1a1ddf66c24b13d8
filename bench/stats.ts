/** Small statistics for benchmarks: medians of samples in milliseconds, tables. */
import { percentile } from '../src/view/stats.ts';

export const median = (s: readonly number[]): number => percentile(s, 50);

export function fmt(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

/**
 * The standard error of an estimate over `n` paired runs, by bootstrap: run indices drawn with
 * replacement `rounds` times and handed to `estimate`, which takes the same indices from every
 * form, so runs made side by side stay paired. A fixed seed: the same samples give the same table.
 */
export function bootstrapSe(n: number, estimate: (runs: readonly number[]) => number, rounds = 400): number {
  let seed = 0x9e3779b9;
  const random = (): number => { // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const xs: number[] = [];
  for (let r = 0; r < rounds; r++) xs.push(estimate(Array.from({ length: n }, () => Math.floor(random() * n))));
  const mean = xs.reduce((a, b) => a + b, 0) / rounds;
  return Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (rounds - 1));
}

/** A Markdown table from a header and rows. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The environment benchmarks run children in: NODE_EXTRA_CA_CERTS unset (it adds ~55 ms to every Node start here). */
export function benchEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'NODE_EXTRA_CA_CERTS') env[k] = v;
  return env;
}
