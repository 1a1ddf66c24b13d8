/**
 * `npm run mutate [-- MODULE-OR-FILE...]`: mutation testing of the core modules with StrykerJS
 * and its TAP runner (each test file run by node, one "test" per file). On demand, never in
 * CI: on two cores a module takes minutes to an hour. Each module's mutants run only the unit
 * test files that exercise that module (the table below), and of those only the ones that
 * cover the mutant (coverage per test file). Reports go to reports/mutation/<module>.{html,json};
 * incremental mode keeps earlier results for code and tests that did not change.
 *   npm run mutate                      every core module
 *   npm run mutate -- src/cni           one module
 *   npm run mutate -- src/cni/go-json.ts one file, with its module's tests
 *   npm run mutate -- src/config/derive.ts --tests derive,conflist   one file, only these tests
 * Narrowing the tests to the files that exercise the target makes a mutant cost seconds: every
 * listed file that covers a mutant runs for it, and a slow one (plugin.test.ts) dominates.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scriptArgs, usageError, wholeNumber } from './script-args.ts';

const USAGE = `
Usage: npm run mutate -- [MODULE-OR-FILE...] [--tests NAME[,NAME...]] [--concurrency N] [--fresh]
Mutation testing of the core modules (src/cni, src/config, src/trace, src/journal, src/plugin,
src/agent) or of the given modules or files, with each module's unit tests, or only the unit
test files named by --tests (test/unit/NAME.test.ts, or a path; repeatable, comma-separated).
Reports in reports/mutation/. --fresh ignores the incremental results of earlier runs.`;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Each core module and the unit test files that run its code in-process. */
const MODULE_TESTS: Readonly<Record<string, readonly string[]>> = {
  'src/cni': ['go-json', 'env', 'go-format', 'versions', 'wrapper-entry', 'deep-input', 'plugin'],
  'src/config': ['derive', 'redact', 'wrapper-entry', 'conflist', 'agent-redact', 'plugin'],
  'src/trace': ['trace-ids', 'plugin'],
  'src/journal': ['journal', 'journal-lines', 'journal-reader', 'journal-stream', 'journal-files', 'record-shapes', 'nesting', 'agent-source', 'agent-pending', 'cli-views', 'spans', 'plugin'],
  'src/plugin': ['versions', 'run-dir', 'deep-input', 'nested', 'nested-commands', 'nested-tracer', 'shim-dir', 'recorder', 'chain', 'dispatch', 'plugin'],
  // Not collector-config: it reads metrics.ts's text, which the sandbox holds instrumented.
  'src/agent': ['spans', 'agent-source', 'agent-links', 'agent-pending', 'agent-export', 'agent-exporter', 'agent-run', 'agent-metrics', 'agent-findings', 'agent-config', 'agent-redact', 'record-shapes', 'journal-files'],
};

const { values, positionals } = scriptArgs('mutate', USAGE, {
  concurrency: { type: 'string', default: '2' },
  fresh: { type: 'boolean' },
  tests: { type: 'string', multiple: true },
}, true);
const concurrency = wholeNumber('mutate', USAGE, '--concurrency', values.concurrency);
const targets = positionals.length > 0 ? positionals : Object.keys(MODULE_TESTS);
const testPath = (t: string): string => (t.includes('/') ? t : `test/unit/${t}.test.ts`);
const onlyTests = values.tests?.flatMap((t) => t.split(',')).filter((t) => t !== '').map(testPath);
for (const t of onlyTests ?? []) if (!existsSync(join(ROOT, t))) usageError('mutate', USAGE, `--tests: no test file ${t}`);

for (const target of targets) {
  const module = Object.keys(MODULE_TESTS).find((m) => target === m || target.startsWith(`${m}/`));
  if (!module) usageError('mutate', USAGE, `${target} is not a core module or a file in one`);
  const name = target.replace(/\.ts$/, '').replaceAll('/', '-');
  const config = {
    testRunner: 'tap',
    plugins: ['@stryker-mutator/tap-runner'],
    tap: { testFiles: onlyTests ?? MODULE_TESTS[module]!.map(testPath), nodeArgs: ['--test-reporter=tap'], forceBail: true },
    coverageAnalysis: 'perTest',
    mutate: [target === module ? `${module}/**/*.ts` : target],
    concurrency,
    // A test file takes seconds (node's start, real processes): allow for a slow, shared machine.
    timeoutMS: 20_000,
    reporters: ['clear-text', 'progress', 'json', 'html'],
    jsonReporter: { fileName: `reports/mutation/${name}.json` },
    htmlReporter: { fileName: `reports/mutation/${name}.html` },
    incremental: true,
    incrementalFile: `reports/mutation/${name}.incremental.json`,
    force: values.fresh === true,
    ignorePatterns: ['dist', '.cache', 'reports', '*.log'],
    tempDirName: '.stryker-tmp',
    cleanTempDir: 'always',
  };
  const file = join(ROOT, 'reports/mutation', `${name}.config.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(config, null, 2));
  process.stdout.write(`mutate: ${target} with ${config.tap.testFiles.length} test files\n`);
  const r = spawnSync(join(ROOT, 'node_modules/.bin/stryker'), ['run', file], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
