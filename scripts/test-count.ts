/**
 * Counting a test run and judging the count (issue 22): a `node --test` reporter that writes one
 * JSON line — node's own summary counts and every skipped test — and the verdict `npm test`
 * draws from it. node's runner exits 0 on a pattern that matches no file ("tests 0"), and a
 * test that skips is reported but green; so a moved test folder, or a CI machine whose podman
 * install broke, would pass. The verdict fails both: fewer tests than the floor kept in
 * test/floor.json, or any skip while CI is set (CI has every real part installed).
 */
import { readFileSync } from 'node:fs';

export interface Skip {
  readonly file: string;
  readonly name: string;
  readonly reason: string;
}

/** What one run counted (node's closing summary) and which tests it skipped. */
export interface TestCount {
  readonly tests: number;
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  readonly todo: number;
  readonly cancelled: number;
  readonly skips: readonly Skip[];
}

export interface Floor {
  /** The least number of tests (run or skipped) the full suite may count. */
  readonly tests: number;
  readonly why: string;
}

interface ReporterEvent {
  readonly type: string;
  readonly data: {
    readonly name?: string;
    readonly file?: string;
    readonly skip?: boolean | string;
    readonly details?: { readonly type?: string };
    readonly counts?: Omit<TestCount, 'skips'>;
  };
}

/** The reporter: `--test-reporter=./scripts/test-count.ts --test-reporter-destination=FILE`. */
export default async function* testCount(source: AsyncIterable<ReporterEvent>): AsyncGenerator<string> {
  const skips: Skip[] = [];
  let counts: Omit<TestCount, 'skips'> | null = null;
  for await (const { type, data } of source) {
    if ((type === 'test:pass' || type === 'test:fail') && data.details?.type !== 'suite' && data.skip !== undefined && data.skip !== false) {
      skips.push({ file: data.file ?? '?', name: data.name ?? '?', reason: typeof data.skip === 'string' ? data.skip : '' });
    }
    // One summary per file, then the run's own (without a file): that one is the total.
    if (type === 'test:summary' && data.file === undefined && data.counts) counts = data.counts;
  }
  const c = counts ?? { tests: 0, passed: 0, failed: 0, skipped: 0, todo: 0, cancelled: 0 };
  const out: TestCount = { tests: c.tests, passed: c.passed, failed: c.failed, skipped: c.skipped, todo: c.todo, cancelled: c.cancelled, skips };
  yield `${JSON.stringify(out)}\n`;
}

export function readFloor(path: string): Floor {
  const floor = JSON.parse(readFileSync(path, 'utf8')) as Floor;
  if (!Number.isInteger(floor.tests) || floor.tests < 1) throw new Error(`${path}: "tests" must be a whole number ≥ 1`);
  return floor;
}

/**
 * What is wrong with a run that node's runner itself passed: each problem as one line (none:
 * the run stands). `floor` is null for a run of chosen files, which has no floor.
 */
export function verdict(count: TestCount, floor: Floor | null, ci: boolean): string[] {
  const problems: string[] = [];
  if (count.tests === 0) problems.push('no test ran: the files or patterns given match nothing');
  else if (floor && count.tests < floor.tests) {
    problems.push(`the run counted ${count.tests} tests, fewer than the floor of ${floor.tests} in test/floor.json: a test folder moved or renamed, a pattern matching nothing, or a file that no longer registers its tests? (If tests were removed on purpose, lower the floor in the same commit.)`);
  }
  if (ci && count.skipped > 0) {
    problems.push(`${count.skipped} test${count.skipped === 1 ? '' : 's'} skipped while CI is set; CI installs every real part, so a skip is a broken set-up:`);
    for (const s of count.skips) problems.push(`  ${s.file}: ${s.name}${s.reason ? ` (${s.reason})` : ''}`);
  }
  return problems;
}
