/**
 * The CLI as a node operator meets it at 3 a.m. (issue 21), as root and as an unprivileged user
 * this test creates: a root-only journal is a loud "permission denied, run as root" (never an
 * empty answer with exit 0), an absent one says "no journal", install names the path it cannot
 * write, doctor says why it cannot see the agent, flags are taken as people type them, and
 * every usage error is one line with the hint, exit 2.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { ROOT, installFixtures } from '../support/fixtures.ts';
import { LocalUser } from '../support/local-user.ts';
import { Sandbox } from '../support/sandbox.ts';

const CLI = join(ROOT, 'dist/cli.js');
const sb = new Sandbox('cliop');
let user: LocalUser;
let journal = '';
let bin = '';

const cli = (args: string[], env: Record<string, string> = {}) => execa(process.execPath, [CLI, ...args], { reject: false, env: { NO_COLOR: '1', ...env }, extendEnv: true });
const asUser = (args: string[]) => user.run(process.execPath, [CLI, ...args]);
const oneLine = (text: string): void => assert.equal(text.trim().split('\n').length, 1, `one line: ${text}`);

async function call(command: string, pod: string, delegates: object[], entry: object = {}): Promise<void> {
  await execa(join(bin, 'cni-trace'), [], {
    env: { CNI_COMMAND: command, CNI_CONTAINERID: `c-${pod}`, CNI_NETNS: '/proc/self/ns/net', CNI_IFNAME: 'eth0', CNI_PATH: bin, CNI_ARGS: `K8S_POD_NAMESPACE=ops;K8S_POD_NAME=${pod}` },
    extendEnv: false, reject: false,
    input: JSON.stringify({ cniVersion: '1.0.0', name: 'opsnet', type: 'cni-trace', journalDir: journal, delegates, ...entry }),
  });
}

before(async () => {
  user = await LocalUser.create();
  chmodSync(sb.dir, 0o755); // the user may reach the journal directory; the plugin keeps that one 0700
  bin = join(sb.dir, 'bin');
  assert.equal((await cli(['install', '--bin-dir', bin])).exitCode, 0);
  installFixtures(bin, ['fx-ok', 'fx-bad']);
  journal = join(sb.dir, 'journal');
  for (let i = 0; i < 6; i++) await call('ADD', `web-${i}`, [{ type: 'fx-ok' }]);
  await call('ADD', 'slow-1', [{ type: 'fx-ok', fx: { mode: 'sleep', ms: 600 } }]);
  await call('ADD', 'bad-1', [{ type: 'fx-ok' }, { type: 'fx-bad', fx: { mode: 'fail', code: 11, msg: 'no address' } }]);
  await call('DEL', 'bad-1', [{ type: 'fx-ok' }]);
});
after(async () => {
  await user?.remove();
  sb.cleanup();
});

test('as an unprivileged user, tail, stats, show and the TUI over a root-only journal fail loudly, naming the path and the fix', async () => {
  for (const cmd of [['tail'], ['stats'], ['show', '--pod', 'ops/bad-1'], ['tail', '--follow']]) {
    const r = await asUser([...cmd, '--journal', journal]);
    assert.equal(r.exitCode, 1, `${cmd.join(' ')}: ${r.stdout}`);
    oneLine(String(r.stderr));
    assert.match(String(r.stderr), new RegExp(`^cni-trace: ${cmd[0]}: cannot read the journal: ${journal}: permission denied \\(run as root: sudo (cni-trace|\\S+ \\S+) ${cmd.join(' ')} --journal ${journal}\\)$`));
    assert.equal(r.stdout, '');
  }
  // The directory open to all, the files root's (0600): the file is named.
  chmodSync(journal, 0o755);
  try {
    const r = await asUser(['stats', '--journal', journal]);
    assert.equal(r.exitCode, 1);
    assert.match(String(r.stderr), new RegExp(`cannot read the journal: ${journal}/journal\\.jsonl: permission denied`));
  } finally {
    chmodSync(journal, 0o700);
  }
});

test('as an unprivileged user, install names the path it cannot write and the fix; doctor says it cannot read the agent\'s status', async () => {
  const target = join(sb.dir, 'root-bin');
  mkdirSync(target, { mode: 0o755 });
  const r = await asUser(['install', '--bin-dir', target]);
  assert.equal(r.exitCode, 1);
  oneLine(String(r.stderr));
  assert.match(String(r.stderr), new RegExp(`^cni-trace: install: cannot \\w+ ${target}/\\S*: permission denied \\(run as root: sudo .* install --bin-dir ${target}\\)$`));
  assert.doesNotMatch(String(r.stderr), /EACCES|at .*\.js:\d+/);
  const state = join(sb.dir, 'state');
  mkdirSync(state, { mode: 0o700 });
  writeFileSync(join(state, 'status.json'), JSON.stringify({ pid: 1, updatedAt: new Date().toISOString() }), { mode: 0o600 });
  const d = await asUser(['doctor', '--state-dir', state, '--no-collector', '--journal', journal, '--bin-dir', bin, '--conf-dir', sb.dir]);
  assert.match(String(d.stdout), /FAIL agent +cannot read the agent's status in .*: permission denied/);
  assert.doesNotMatch(String(d.stdout), /the agent has not run here/);
});

test('an absent journal is "no journal at …", also for show; a typo of ours is one line with "did you mean", exit 2', async () => {
  const show = await cli(['show', 'abc', '--journal', '/nonexistent']);
  assert.equal(show.exitCode, 1);
  assert.match(show.stderr, /^cni-trace: show: no journal at \/nonexistent: nothing was recorded there/);
  const cases: Array<[string[], RegExp]> = [
    [['tail', '--journl', journal], /^cni-trace: tail: unknown flag --journl \(did you mean --journal\?\) \(see \S+ \S+ tail --help\)$/],
    [['tial'], /^cni-trace: unknown command "tial" \(did you mean "tail"\?\) \(see \S+ \S+ --help\)$/],
    [['tail', '--last', '-3', '--journal', journal], /^cni-trace: tail: --last must be a whole number, got "-3" \(see .* tail --help\)$/],
    [['tail', '--since', 'yesterday', '--journal', journal], /^cni-trace: tail: --since: not a duration or an RFC 3339 time: "yesterday"/],
    [['stats', '--status', 'slowish', '--journal', journal], /^cni-trace: stats: --status: "slowish" is not one of ok, error, slow, in-flight, abandoned/],
    [['tail', '-o', 'yaml', '--journal', journal], /^cni-trace: tail: -o: "yaml" is not one of text, wide, json/],
    [['show', '--journal'], /^cni-trace: show: --journal needs a value/],
    [['tail', '--command', 'START', '--journal', journal], /^cni-trace: tail: --command: "START" is not a CNI command/],
  ];
  for (const [args, want] of cases) {
    const r = await cli(args);
    assert.equal(r.exitCode, 2, `${args.join(' ')}: ${r.stderr}`);
    oneLine(r.stderr);
    assert.match(r.stderr, want);
  }
  for (const v of [['--version'], ['version']]) assert.match((await cli(v)).stdout, /^cni-trace \d+\.\d+\.\d+$/);
});

test('pod start first: --command, --status, --slower-than, -n, -o json and --since as an RFC 3339 time; show --pod gives the failed ADD', async () => {
  const lines = async (args: string[]): Promise<string[]> => {
    const r = await cli([...args, '--journal', journal]);
    assert.equal(r.exitCode, 0, r.stderr);
    return r.stdout.trim().split('\n').filter(Boolean);
  };
  assert.equal((await lines(['tail', '--command', 'ADD'])).length, 8);
  assert.equal((await lines(['tail', '--command', 'del'])).length, 1);
  // Slow relative to the other ADDs: slow-1 (600 ms among ~40 ms calls), and any other call only
  // by the same rule (a loaded machine can make one more an outlier).
  const adds = (await lines(['tail', '--command', 'ADD', '-o', 'json'])).map((l) => JSON.parse(l) as { pod: { name: string }; durationMs: number });
  const sorted = adds.map((a) => a.durationMs).sort((a, b) => a - b);
  const median = sorted[Math.ceil(sorted.length / 2) - 1]!;
  const slow = (await lines(['tail', '--status', 'slow', '-o', 'json'])).map((l) => JSON.parse(l) as { pod: { name: string }; durationMs: number });
  assert.ok(slow.some((i) => i.pod.name === 'slow-1'), 'slow-1 is slow');
  for (const i of slow) assert.ok(i.durationMs >= 3 * median, `${i.pod.name}: ${i.durationMs} ms is at least 3x the median ${median} ms`);
  assert.ok(slow.length <= 2, 'not every row is slow');
  assert.deepEqual((await lines(['tail', '--slower-than', '500ms'])).map((l) => /ops\/(\S+)/.exec(l)?.[1]), ['slow-1']);
  assert.equal((await lines(['tail', '-n', 'ops', '--status', 'error'])).length, 1);
  assert.equal((await lines(['tail', '-n', 'elsewhere'])).length, 0);
  const json = (await lines(['tail', '-o', 'json', '--command', 'ADD', '--status', 'error'])).map((l) => JSON.parse(l));
  assert.deepEqual(json.map((i) => i.pod.name), ['bad-1']);
  const start = json[0].start as string;
  assert.equal((await lines(['tail', '--since', start])).length, 2, 'the failed ADD and the DEL after it');
  assert.match((await lines(['tail', '-o', 'wide', '--last', '1']))[0]!, /trace [0-9a-f]{32}$/);
  const shown = await cli(['show', '--pod', 'ops/bad-1', '--journal', journal]);
  assert.equal(shown.exitCode, 0, shown.stderr);
  assert.match(shown.stdout, /^ADD error /, 'the failed ADD, not the later DEL');
  assert.match(shown.stdout, /\nother operations of this pod \(newest first\): DEL ok /);
  const byNs = await cli(['show', '--pod', 'bad-1', '-n', 'ops', '-o', 'json', '--journal', journal]);
  assert.equal(JSON.parse(byNs.stdout).command, 'ADD');
  const stats = JSON.parse((await cli(['stats', '--command', 'ADD', '-o', 'json', '--journal', journal])).stdout);
  assert.equal(stats.invocations, 8);
  assert.ok(stats.rows.some((r: { plugin: string }) => r.plugin === 'cni-trace'), 'cni-trace\'s own time has a row');
});

test('a typo in the wrapper entry fails the pod with code 7 and is journaled: tail shows it, doctor names the key it meant', async () => {
  const before = readdirSync(journal).length;
  await call('ADD', 'typo-1', [], { delegates: undefined, delegate: [{ type: 'fx-ok' }] });
  assert.ok(readdirSync(journal).length >= before);
  const r = await cli(['tail', '--journal', journal, '--last', '1']);
  assert.match(r.stdout, /ADD +error .*ops\/typo-1 .*error 7: invalid cni-trace config: delegate: unknown key \(did you mean "delegates"\?\)/);
  const conf = join(sb.dir, 'conf');
  mkdirSync(conf, { recursive: true });
  writeFileSync(join(conf, '10-ops.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'opsnet', plugins: [{ type: 'cni-trace', journalDir: journal, delegate: [{ type: 'fx-ok' }] }] }));
  const d = await cli(['doctor', '--conf-dir', conf, '--bin-dir', bin, '--journal', journal, '--no-collector']);
  assert.match(d.stdout, /FAIL conflist .*delegate: unknown key \(did you mean "delegates"\?\)/);
  assert.ok(readFileSync(join(journal, 'journal.jsonl'), 'utf8').includes('typo-1'));
});
