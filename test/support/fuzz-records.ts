/**
 * Seeded mutations of journal records for the record-shape fuzz test: a real record with one
 * field (top-level or nested) set to another JSON type, dropped, or given a deep value, or with
 * an extra field added. Each mutant gets fresh ids, so it is an invocation of its own and can
 * never stand in for a good record's parts.
 */
import { prng } from './fuzz.ts';

type Obj = Record<string, unknown>;

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/** JSON text of arrays or objects nested `depth` deep (built as text: JSON.stringify overflows on it). */
export function deepJson(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? `${'['.repeat(depth)}0${']'.repeat(depth)}` : `${'{"d":'.repeat(depth)}0${'}'.repeat(depth)}`;
}

/** JSON text of some value: every type, edge numbers, odd strings, deep and large values. */
function valueJson(r: () => number): string {
  const depth = pick(r, [2, 64, 600, 5000]);
  return pick<() => string>(r, [
    ...[null, true, false, 0, -1, 1.5, 1e308, 2 ** 53 + 1, '', 'x', '12', '-5', '1e3', 'ok', 'error', 'ADD', '\u0000\u001b[2J', [], {}, [1, 'a', null], { text: 1 }]
      .map((v) => () => JSON.stringify(v)),
    () => JSON.stringify('y'.repeat(Math.floor(r() * 200_000))),
    () => deepJson(depth, 'array'), () => deepJson(depth, 'object'),
  ])();
}

const HOLE = '@@mutant-value@@';

/** Paths of every field of a record, nested ones as a.b. */
function fieldPaths(o: Obj, prefix = ''): string[][] {
  const out: string[][] = [];
  for (const [k, v] of Object.entries(o)) {
    out.push([...(prefix ? prefix.split('.') : []), k]);
    if (v && typeof v === 'object' && !Array.isArray(v) && k !== 'stdin') for (const path of fieldPaths(v as Obj, prefix ? `${prefix}.${k}` : k)) out.push(path);
  }
  return out;
}

function hex(r: () => number, n: number): string {
  let s = '';
  while (s.length < n) s += Math.floor(r() * 16).toString(16);
  return s;
}

export interface Mutant {
  readonly line: string;
  readonly how: string;
}

/** Endless mutants of `records` (real records, as parsed), deterministic from `seed`. */
export function* recordMutants(seed: number, records: readonly Obj[]): Generator<Mutant> {
  const r = prng(seed);
  for (;;) {
    const rec = structuredClone(pick(r, records));
    // Fresh ids: the mutant's invocation is not any good one's.
    const ids = { traceId: hex(r, 32), spanId: hex(r, 16), invocationSpanId: hex(r, 16) };
    for (const k of Object.keys(ids) as Array<keyof typeof ids>) if (k in rec) rec[k] = ids[k];
    const path = pick(r, fieldPaths(rec));
    const parent = path.slice(0, -1).reduce<Obj>((o, k) => o[k] as Obj, rec);
    const key = path.at(-1)!;
    const op = pick(r, ['type', 'type', 'type', 'drop', 'extra']);
    let how: string;
    let text = '';
    if (op === 'drop') {
      delete parent[key];
      how = `${rec.rec as string}: ${path.join('.')} dropped`;
    } else {
      text = valueJson(r);
      parent[op === 'extra' ? `extra${Math.floor(r() * 100)}` : key] = HOLE;
      how = `${rec.rec as string}: ${op === 'extra' ? `an extra field beside ${path.join('.')}` : path.join('.')} = ${text.slice(0, 40)}`;
    }
    yield { line: JSON.stringify(rec).replace(`"${HOLE}"`, () => text), how };
  }
}
