/**
 * `npm test`'s test run: node's runner over the unit and integration tests, one file at a time,
 * its spec reporter on stdout (CI reads node's closing lines) and the counting reporter
 * (scripts/test-count.ts) into a file; then the verdict — fewer tests than test/floor.json, or
 * any skip while CI is set, fails the run even though node's runner passed it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scriptArgs } from './script-args.ts';
import { readFloor, verdict, type TestCount } from './test-count.ts';

const USAGE = `
Usage: node scripts/test-run.ts [FILE-OR-GLOB...]
Runs the unit and integration tests (or only the given files, without the floor), then fails
when fewer tests were counted than test/floor.json says, or when CI is set and a test skipped.
`;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SUITE = ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'];

const { positionals } = scriptArgs('test-run', USAGE, {}, true);
const patterns = positionals.length > 0 ? positionals : SUITE;
const floor = positionals.length > 0 ? null : readFloor(join(ROOT, 'test/floor.json'));
const ci = Boolean(process.env.CI) && process.env.CI !== 'false';

const dir = mkdtempSync(join(tmpdir(), 'cnitrace-test-count-'));
const countFile = join(dir, 'count.json');
let status: number;
let count: TestCount | null = null;
try {
  const run = spawnSync(process.execPath, [
    '--test', '--test-concurrency=1',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    `--test-reporter=${join(ROOT, 'scripts/test-count.ts')}`, `--test-reporter-destination=${countFile}`,
    ...patterns,
  ], { cwd: ROOT, stdio: 'inherit' });
  status = run.status ?? 1;
  if (existsSync(countFile)) count = JSON.parse(readFileSync(countFile, 'utf8')) as TestCount;
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const problems = count ? verdict(count, floor, ci) : ['the test run left no count (the runner died?)'];
for (const p of problems) process.stderr.write(`test-run: ${p}\n`);
process.exit(status !== 0 ? status : problems.length > 0 ? 1 : 0);
