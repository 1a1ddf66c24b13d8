/**
 * The fault matrix rows that run without root (RELIABILITY.md): an internal error, a fuzz run
 * of 10,000 seeded cases of stdin and env through the dispatcher (the exec boundary faked, so
 * every case is about input handling), control characters in pod names, args and stderr, and
 * a wrapper pid from an earlier boot, and a time-bounded fuzz of hostile input (depth, size,
 * credentials in any style).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { renderInvocation } from '../../src/cli/show.ts';
import { invocationJson, invocationLine } from '../../src/cli/tail.ts';
import type { ExecOutcome, PluginExec } from '../../src/invoke/exec.ts';
import { bootId } from '../../src/journal/boot.ts';
import { InvocationIndex } from '../../src/journal/invocations.ts';
import { readJournal } from '../../src/journal/reader.ts';
import type { JournalRecord } from '../../src/journal/record.ts';
import { runPlugin } from '../../src/plugin/dispatch.ts';
import { tabLines } from '../../tui/components/DetailTabs.ts';
import { installFixtures } from '../support/fixtures.ts';
import { GO_MAX_DEPTH } from '../../src/cni/go-json.ts';
import { configWithSecrets, credentialName, deepWithSecrets, fuzzCases, prng } from '../support/fuzz.ts';
import { callPlugin, cniEnv } from '../support/run-plugin.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-faults-'));
after(() => rmSync(root, { recursive: true, force: true }));

const STACK = /\n\s+at .+[(:]\d|Error: .*\n\s+at /;

test('row 2: an unexpected internal error gives code 999 without a stack trace, exits non-zero, and is journaled', async () => {
  const journal = join(root, 'journal-internal');
  const exec: PluginExec = { run: () => { throw new TypeError('Cannot read properties of undefined (reading \'x\')'); } };
  const r = await callPlugin({ env: cniEnv('ADD', '/nonexistent-bin', { CNI_PATH: '/bin' }), stdin: { cniVersion: '1.0.0', name: 'n', type: 'cni-trace', journalDir: journal, delegates: [{ type: 'sh' }] }, exec });
  assert.notEqual(r.code, 0);
  assert.deepEqual(r.json, { cniVersion: '1.0.0', code: 999, msg: 'cni-trace internal error: Cannot read properties of undefined (reading \'x\')' });
  assert.doesNotMatch(r.stdout + r.stderr, STACK);
  const index = new InvocationIndex();
  for (const rec of readJournal(journal)) index.add(rec);
  const inv = index.list()[0]!;
  assert.equal(inv.status, 'error');
  assert.equal(inv.error?.code, 999);
});

test('row 8: 10,000 fuzzed cases of stdin and CNI_* env: always a valid CNI error JSON with the right code, or the chain\'s outcome; never a crash or a stack trace', async () => {
  const SEED = 20261128;
  const journal = join(root, 'journal-fuzz');
  const result = Buffer.from('{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],"ips":[]}');
  const ok: ExecOutcome = { exitCode: 0, signal: null, stdout: result, stderr: Buffer.alloc(0), stderrBytes: 0, spawnError: null, pid: 1, startMono: 0n, endMono: 0n };
  const exec: PluginExec = { run: async (req) => ({ ...ok, stdout: JSON.parse(req.stdin).cniVersion ? result : Buffer.alloc(0) }) };
  const env = cniEnv('ADD', '/bin', { CNI_PATH: '/bin' });
  const valid = { cniVersion: '1.0.0', name: 'fuzznet', type: 'cni-trace', journalDir: journal, delegates: [{ type: 'sh', ipam: { type: 'host-local' } }] };
  const cases = fuzzCases(SEED, 10_000, valid, env, root);
  const tally = new Map<string, number>();
  for (const [i, c] of cases.entries()) {
    let stdout = '';
    let stderr = '';
    const code = await runPlugin({
      env: c.env, readStdin: async () => c.stdin, exec,
      writeStdout: (d) => { stdout += d.toString(); }, writeStderr: (d) => { stderr += d.toString(); },
    });
    const where = `case ${i} (seed ${SEED}, ${c.kind}): stdin ${JSON.stringify(c.stdin.toString('utf8').slice(0, 200))}`;
    assert.doesNotMatch(stdout + stderr, STACK, where);
    if (code === 0) {
      assert.ok(c.expect.success, `${where}: succeeded where a refusal was due`);
      tally.set('ok', (tally.get('ok') ?? 0) + 1);
      continue;
    }
    let err: { code?: unknown; msg?: unknown; cniVersion?: unknown };
    try {
      err = JSON.parse(stdout) as typeof err;
    } catch {
      assert.fail(`${where}: stdout is not JSON: ${stdout.slice(0, 200)}`);
    }
    assert.equal(typeof err.code, 'number', where);
    assert.equal(typeof err.msg, 'string', where);
    assert.equal(typeof err.cniVersion, 'string', where);
    const allowed = c.expect.codes;
    assert.ok(allowed.includes(err.code as number), `${where}: code ${String(err.code)} (${String(err.msg)}), expected one of ${allowed.join(', ')}`);
    tally.set(`code ${String(err.code)}`, (tally.get(`code ${String(err.code)}`) ?? 0) + 1);
  }
  assert.equal(cases.length, 10_000);
  console.log(`# fuzz seed ${SEED}: ${cases.length} cases: ${[...tally].sort().map(([k, v]) => `${k} ${v}`).join(', ')}`);
});

test('row 12: control characters in pod names, CNI_ARGS and stderr never reach the terminal raw (tail, show, TUI)', async () => {
  const bin = join(root, 'bin-ansi');
  installFixtures(bin, ['fx-noisy']);
  const journal = join(root, 'journal-ansi');
  await callPlugin({
    env: cniEnv('ADD', bin, { CNI_ARGS: 'K8S_POD_NAMESPACE=ns\u001b[31m;K8S_POD_NAME=pod\u001b]0:pwned\u0007;X=\u009b2J' }),
    stdin: { cniVersion: '1.0.0', name: 'ansinet', type: 'cni-trace', journalDir: journal, delegates: [{ type: 'fx-noisy', fx: { mode: 'die', stderr: 'boom \u001b[2J\u001b[H\r\n', exit: 1 } }] },
  });
  const index = new InvocationIndex();
  for (const rec of readJournal(journal)) index.add(rec);
  const inv = index.list()[0]!;
  assert.equal(inv.pod.name, 'pod\u001b]0:pwned\u0007', 'the journal keeps the text as it was');
  const shown = [
    invocationLine(inv, false), invocationLine(inv, true), renderInvocation(inv, { colour: false, width: 100 }),
    ...inv.steps.flatMap((_, k) => tabLines(inv, k, Date.now())), ...tabLines(inv, inv.steps.length, Date.now()),
  ].join('\n');
  const raw = shown.replace(/\u001b\[(?:3\dm|0m|2m)/g, ''); // the views' own colours
  assert.doesNotMatch(raw, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/, 'only escaped forms remain');
  assert.match(shown, /pod\\x1b\]0:pwned\\x07/);
  assert.match(shown, /boom \\x1b\[2J/);
  assert.ok(JSON.stringify(invocationJson(inv)).includes('\\u001b'), '--json escapes them as JSON does');
  // The TUI's list row, as Ink renders it (colour off).
  const React = (await import('react')).default;
  const { render, cleanup } = await import('ink-testing-library');
  const { InvocationRow, rowLayout } = await import('../../tui/components/InvocationRow.ts');
  const row = render(React.createElement(InvocationRow, { inv, layout: rowLayout(120, [inv]), nowMs: Date.now(), ticks: 0, slow: false, selected: false })).lastFrame() ?? '';
  cleanup();
  assert.doesNotMatch(row.replace(/\u001b\[[0-9;]*m/g, ''), /[\u0000-\u001f\u007f-\u009f]/);
  assert.match(row, /pod\\x1b/);
});

test('row 7: a begun call whose wrapper pid was recorded in an earlier boot is abandoned, not in flight, whoever has the pid now', () => {
  const begin = (spanId: string, boot: string): JournalRecord => ({
    rec: 'invocation.begin', v: 1, traceId: 'a'.repeat(32), spanId, traceFlags: '01', startNs: '1', command: 'ADD', containerId: 'c', netns: '', ifname: 'eth0',
    network: 'n', cniVersion: '1.0.0', pod: {}, env: {}, stdin: {}, delegates: [], pid: process.pid, bootId: boot,
  });
  const index = new InvocationIndex();
  index.add(begin('1111111111111111', 'an-earlier-boot'));
  index.add(begin('2222222222222222', bootId()));
  assert.deepEqual(index.list().map((i) => i.status), ['abandoned', 'in-flight']);
});

test('row 14: seeded fuzz of hostile input — depth up to 10,001, size up to 3 MB, credentials in random styles and places, in CNI_ARGS, in delegate stderr — one document with the bare outcome\'s code, no planted secret in stdout, stderr or the journal', async () => {
  const SEED = 20261201;
  const BUDGET_MS = 8_000;
  const r = prng(SEED);
  const secrets: string[] = [];
  let stderrSecret = '';
  const result = Buffer.from('{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],"ips":[]}');
  const exec: PluginExec = {
    run: async () => ({ exitCode: 0, signal: null, stdout: result, stderr: Buffer.from(`connecting with password=${stderrSecret} to https://u:${stderrSecret}@h/\n`), stderrBytes: 0, spawnError: null, pid: 1, startMono: 0n, endMono: 0n }),
  };
  const started = Date.now();
  const tally = new Map<string, number>();
  let cases = 0;
  let deepest = 0;
  let largest = 0;
  while (Date.now() - started < BUDGET_MS && cases < 400) {
    const tag = `h${cases}`;
    const journal = join(root, `journal-hostile-${cases}`);
    const { config, secrets: planted } = configWithSecrets(r, tag);
    // Depth: log-uniform up to one level past Go's limit for the whole stdin (3 levels are the entry's).
    const edge = r();
    const levels = edge < 0.05 ? GO_MAX_DEPTH - 3 : edge < 0.1 ? GO_MAX_DEPTH - 2 : Math.floor(Math.exp(r() * Math.log(GO_MAX_DEPTH)));
    const deep = deepWithSecrets(r, levels, tag);
    const padding = r() < 0.2 ? 'x'.repeat(Math.floor(r() * 3_000_000)) : '';
    const argSecret = `S3CR3T-${tag}-args`;
    stderrSecret = `S3CR3T-${tag}-stderr`;
    const badEnv = r() < 0.15;
    const env = cniEnv('ADD', '/bin', {
      CNI_PATH: '/bin', CNI_CONTAINERID: `hostile-${cases}`, ...(badEnv ? { CNI_IFNAME: '' } : {}),
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAME=p${cases};${credentialName(r)}=${argSecret};PROXY=http://u:${argSecret}@proxy:3128`,
    });
    const delegate = JSON.stringify({ type: 'sh', ...config, padding }).slice(0, -1) + `,"deep":${deep.text}}`;
    const stdin = `{"cniVersion":"1.0.0","name":"hostile","type":"cni-trace","journalDir":${JSON.stringify(journal)},"delegates":[${delegate}]}`;
    for (const s of [...planted, ...deep.secrets, argSecret, stderrSecret]) secrets.push(s);
    const depth = levels + 3;
    deepest = Math.max(deepest, depth);
    largest = Math.max(largest, stdin.length);
    // The bare outcome: skel checks the env first (4), then decodes (6 past Go's depth), then runs.
    const want = badEnv ? 4 : depth > GO_MAX_DEPTH ? 6 : 0;
    let stdout = '';
    let stderr = '';
    const code = await runPlugin({ env, readStdin: async () => Buffer.from(stdin), exec, writeStdout: (d) => { stdout += d.toString(); }, writeStderr: (d) => { stderr += d.toString(); } });
    const where = `case ${cases} (seed ${SEED}): depth ${depth}, ${stdin.length} bytes, env ${badEnv ? 'bad' : 'good'}`;
    const doc = JSON.parse(stdout) as { code?: number }; // exactly one document: JSON.parse refuses two
    assert.equal(code === 0 ? 0 : doc.code, want, `${where}: ${stdout.slice(0, 200)}`);
    assert.doesNotMatch(stdout + stderr, STACK, where);
    // The delegate's stderr is forwarded to the runtime as it was (transparency); the rest must hold no secret.
    const leaked = secrets.filter((s) => s !== stderrSecret && (stdout.includes(s) || stderr.includes(s)));
    assert.deepEqual(leaked, [], where);
    // This call's journal: no secret of its own (the only ones it could hold), and the call is there.
    const decodes = depth <= GO_MAX_DEPTH;
    const records = decodes ? readJournal(journal) : [];
    const journalText = !decodes ? '' : readdirSync(journal).map((f) => readFileSync(join(journal, f), 'utf8')).join('');
    assert.deepEqual([...planted, ...deep.secrets, argSecret, stderrSecret].filter((s) => journalText.includes(s)), [], `${where}: a secret in the journal`);
    assert.deepEqual(records.filter((x) => x.rec === 'invocation.end').length, decodes ? 1 : 0, `${where}: journaled when its config decodes`);
    rmSync(journal, { recursive: true, force: true });
    tally.set(want === 0 ? 'ok' : `code ${want}`, (tally.get(want === 0 ? 'ok' : `code ${want}`) ?? 0) + 1);
    cases++;
  }
  assert.ok(cases >= 50, `only ${cases} cases in ${BUDGET_MS} ms`);
  console.log(`# hostile fuzz seed ${SEED}: ${cases} cases in ${Date.now() - started} ms, ${secrets.length} secrets planted, deepest ${deepest}, largest ${largest} bytes: ${[...tally].sort().map(([k, v]) => `${k} ${v}`).join(', ')}`);
});
