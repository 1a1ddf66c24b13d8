/** Small statistics for benchmarks: medians of samples in milliseconds, tables. */
import { percentile } from '../src/view/stats.ts';

export const median = (s: readonly number[]): number => percentile(s, 50);

export function fmt(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
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
