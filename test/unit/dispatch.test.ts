/**
 * The dispatcher (src/plugin/dispatch.ts) in-process with a fake exec (no process runs): what it
 * answers before any delegate runs and in which order it checks, which refusals it journals and
 * how, exactly one document on stdout, and what it sets up around the chain (journal, nested
 * tracing, the reaper).
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { LATEST_VERSION, SUPPORTED_VERSIONS, versionInfoJson } from '../../src/cni/version.ts';
import type { ExecOutcome, ExecRequest, PluginExec } from '../../src/invoke/exec.ts';
import type { DelegateGuard } from '../../src/invoke/reaper.ts';
import { ACTIVE_FILE } from '../../src/journal/writer.ts';
import { runPlugin, type PluginIO } from '../../src/plugin/dispatch.ts';
import { PRODUCT, VERSION } from '../../src/product.ts';
import { ensureShim } from '../../scripts/build-shim.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-dispatch-'));
after(() => rmSync(root, { recursive: true, force: true }));
// The delegate's binary: only looked up (the exec is fake), in a directory of its own so the shim
// directory nested tracing builds for CNI_PATH stays small.
const BIN = join(root, 'bin');
mkdirSync(BIN);
writeFileSync(join(BIN, 'sh'), '');

const RESULT = '{"cniVersion":"1.0.0","ips":[]}';
const OK: ExecOutcome = { exitCode: 0, signal: null, stdout: Buffer.from(RESULT), stderr: Buffer.alloc(0), stderrBytes: 0, spawnError: null, pid: 1, startMono: 0n, endMono: 0n };
const ENV = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'ctr1', CNI_NETNS: '/var/run/netns/x', CNI_IFNAME: 'eth0', CNI_ARGS: '', CNI_PATH: BIN };

let seq = 0;
const journalDir = (): string => join(root, `j-${seq++}`);

interface Out { code: number; stdout: string[]; stderr: string; calls: ExecRequest[] }
async function call(stdin: string | object, env: Record<string, string | undefined> = ENV, io: Partial<PluginIO> = {}): Promise<Out> {
  const stdout: string[] = [];
  let stderr = '';
  const calls: ExecRequest[] = [];
  const exec: PluginExec = { run: async (req) => { calls.push(req); return OK; } };
  const code = await runPlugin({
    env, readStdin: async () => Buffer.from(typeof stdin === 'string' ? stdin : JSON.stringify(stdin)),
    writeStdout: (d) => { stdout.push(d.toString()); }, writeStderr: (d) => { stderr += d.toString(); }, exec, ...io,
  });
  return { code, stdout, stderr, calls };
}

function entry(dir: string, extra: object = {}): Record<string, unknown> {
  return { cniVersion: '1.0.0', name: 'net', type: 'cni-trace', journalDir: dir, delegates: [{ type: 'sh' }], ...extra };
}

function records(dir: string): Array<Record<string, unknown>> {
  const file = join(dir, ACTIVE_FILE);
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l) as Record<string, unknown>) : [];
}

const doc = (version: string, code: number, msg: string, details?: string): string[] => [JSON.stringify({ cniVersion: version, code, msg, ...(details ? { details } : {}) })];

test('rule: VERSION is answered at once, whatever else the env and stdin hold; no CNI_COMMAND prints the plugin\'s name and versions on stderr and exits 0', async () => {
  const v = await call('not json', { CNI_COMMAND: 'VERSION', CNI_NETNS: 'dummy' });
  assert.deepEqual([v.code, v.stdout, v.stderr, v.calls], [0, [versionInfoJson()], '', []]);
  const bare = await call('{}', { CNI_COMMAND: undefined });
  assert.deepEqual([bare.code, bare.stdout, bare.stderr], [0, [], `CNI plugin ${PRODUCT} v${VERSION}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`]);
  assert.equal((await call('{}', { CNI_COMMAND: '' })).code, 0);
});

test('rule: the env is checked before the config, the config before its version, the version before the entry; each refusal answers in the config\'s version when it has one', async () => {
  const badEnv = { ...ENV, CNI_IFNAME: undefined };
  assert.deepEqual((await call('not json', badEnv)).stdout, doc(LATEST_VERSION, 4, 'required env variables [CNI_IFNAME] missing'));
  assert.deepEqual((await call({ cniVersion: '0.4.0', name: 'n' }, badEnv)).stdout, doc('0.4.0', 4, 'required env variables [CNI_IFNAME] missing'));
  assert.deepEqual((await call({ cniVersion: '', name: 'n' }, badEnv)).stdout, doc(LATEST_VERSION, 4, 'required env variables [CNI_IFNAME] missing'));
  assert.deepEqual((await call({ cniVersion: 4 }, badEnv)).stdout, doc(LATEST_VERSION, 4, 'required env variables [CNI_IFNAME] missing'));
  const decode = (msg: string): string[] => doc(LATEST_VERSION, 6, `error unmarshall network config: ${msg}`);
  assert.deepEqual((await call('[1]')).stdout, decode('not a JSON object'));
  assert.deepEqual((await call('null')).stdout, decode('not a JSON object'));
  assert.deepEqual((await call('"s"')).stdout, decode('not a JSON object'));
  assert.deepEqual((await call({ name: 5 })).stdout, decode('name must be a string'));
  assert.deepEqual((await call({ name: 'n', cniVersion: 1 })).stdout, doc(LATEST_VERSION, 6, 'decoding version from network config: cniVersion must be a string'));
  assert.equal(JSON.parse((await call({ cniVersion: '1.0.0', name: 'bad name' })).stdout[0]!).code, 7, 'an invalid network name');
  assert.deepEqual((await call({ cniVersion: '0.4.0' })).stdout, doc('0.4.0', 7, 'missing network name'), 'in the config\'s version, as every refusal of a readable config');
  assert.deepEqual((await call({})).stdout, doc(LATEST_VERSION, 7, 'missing network name'));
  assert.deepEqual((await call('{"name":')).stdout, decode('unexpected end of JSON input at line 1, column 9'));
  assert.deepEqual((await call(`${'['.repeat(10_001)}${']'.repeat(10_001)}`)).stdout, decode('invalid character \'[\' exceeded max depth'));
  // No cniVersion is libcni's 0.1.0, which this plugin does not speak.
  assert.deepEqual((await call({ name: 'n' })).stdout, doc(LATEST_VERSION, 1, 'incompatible CNI versions', `config is "0.1.0", plugin supports [${SUPPORTED_VERSIONS.map((v) => `"${v}"`).join(' ')}]`));
  assert.deepEqual((await call({ cniVersion: '9.9.9', name: 'n' })).stdout, doc('9.9.9', 1, 'incompatible CNI versions', `config is "9.9.9", plugin supports [${SUPPORTED_VERSIONS.map((v) => `"${v}"`).join(' ')}]`));
  const r = await call({ cniVersion: '1.0.0', name: 'n', type: 'cni-trace' });
  assert.deepEqual(r.stdout, doc('1.0.0', 7, 'invalid cni-trace config: delegates: missing: the wrapper needs at least one delegate plugin'));
  assert.deepEqual(r.calls, []);
});

test('rule: CHECK needs a config of 0.4.0 or later, STATUS and GC 1.1.0; ADD and DEL any supported version', async () => {
  for (const [command, version, allowed] of [
    ['CHECK', '0.3.1', false], ['CHECK', '0.4.0', true], ['STATUS', '1.0.0', false], ['STATUS', '1.1.0', true],
    ['GC', '1.0.0', false], ['GC', '1.1.0', true], ['ADD', '0.3.0', true], ['DEL', '0.3.0', true],
  ] as const) {
    const r = await call(entry(journalDir(), { cniVersion: version, prevResult: { cniVersion: version } }), { ...ENV, CNI_COMMAND: command });
    if (allowed) assert.equal(r.code, 0, `${command} ${version}: ${r.stdout.join('')}`);
    else assert.deepEqual([r.code, r.stdout], [1, doc(version, 1, `config version does not allow ${command}`)], `${command} ${version}`);
  }
});

test('rule: a refusal is journaled (begin and end, no steps) where the config says, redacted with its own list, with the env as it came; not when the config is unreadable or its journalDir relative', async () => {
  const dir = journalDir();
  const conf = { cniVersion: '0.4.0', name: 'net', journalDir: dir, redact: ['mykey', 7], mykey: 's3cret', delegates: [{ type: 'bridge' }, null, { type: 5 }] };
  const r = await call(conf, { ...ENV, CNI_IFNAME: undefined, CNI_COMMAND: 'DEL', CNI_ARGS: 'K8S_POD_NAME=p' }, { pid: 4321 });
  assert.equal(r.code, 1);
  const [begin, end] = records(dir);
  assert.deepEqual([begin!.containerId, begin!.netns], ['ctr1', '/var/run/netns/x'], 'the env as it came');
  assert.deepEqual([begin!.rec, begin!.command, begin!.ifname, begin!.network, begin!.cniVersion, begin!.delegates, begin!.pid], ['invocation.begin', 'DEL', '', 'net', '0.4.0', ['bridge', '', '5'], 4321]);
  assert.equal((begin!.stdin as Record<string, unknown>).mykey, '[REDACTED]');
  assert.deepEqual(begin!.pod, { name: 'p' });
  assert.deepEqual([end!.rec, end!.exitCode, end!.status, (end!.stdout as { text: string }).text], ['invocation.end', 1, 'error', r.stdout[0]]);
  // An entry that fails its own checks is journaled too (the default journalDir when none is given is not tested: /var/log).
  const bad = journalDir();
  await call(entry(bad, { nested: 'yes' }));
  assert.deepEqual(records(bad).map((x) => x.rec), ['invocation.begin', 'invocation.end']);
  // So is a config whose network name is refused (code 7).
  const badName = journalDir();
  await call({ ...entry(badName), name: 'bad name' });
  assert.deepEqual(records(badName).map((x) => [x.rec, x.network, (x.error as { code?: number } | undefined)?.code]), [['invocation.begin', 'bad name', undefined], ['invocation.end', undefined, 7]]);
  const relative = 'relative-journal';
  const cwd = process.cwd();
  process.chdir(root);
  try {
    await call(entry(relative, { cniVersion: '9.9.9' }));
    assert.equal(existsSync(join(root, relative)), false);
  } finally {
    process.chdir(cwd);
  }
  const listed = readdirSync(root).length;
  for (const [stdin, env] of [['not json', { ...ENV, CNI_IFNAME: undefined }], [{ journalDir: join(root, 'never'), cniVersion: 1 }, ENV], [entry('relative', { cniVersion: '9.9.9' }), ENV]] as const) {
    const refused = await call(stdin, env);
    assert.deepEqual([refused.code, refused.stdout.length, refused.stderr], [1, 1, ''], 'refused quietly: one document, nothing on stderr');
  }
  assert.equal(readdirSync(root).length, listed, 'nothing journaled without a readable config');
  // Without delegates or a redact list, the begin still says what it can.
  const plain = journalDir();
  await call({ cniVersion: '9.9.9', name: 'net', journalDir: plain, password: 'pw' });
  await call({ cniVersion: '9.9.9', name: 'net', journalDir: plain }, { CNI_COMMAND: 'ADD' });
  const [b2, , b3] = records(plain);
  assert.deepEqual([b3!.command, b3!.containerId, b3!.netns, b3!.ifname], ['ADD', '', '', ''], 'what the runtime did not set is empty');
  assert.deepEqual([b2!.delegates, (b2!.stdin as Record<string, unknown>).password, b2!.pid], [[], '[REDACTED]', process.pid]);
});

test('rule: a call runs its chain traced: the answer once, the journal\'s begin and end around the steps, the reaper released', async () => {
  const dir = journalDir();
  const events: string[] = [];
  let made: DelegateGuard | undefined;
  const guard = (): DelegateGuard => (made = { removeOnDeath: (p: string) => events.push(`remove ${p}`), release: () => events.push('release') } as unknown as DelegateGuard);
  mkdirSync(dir, { mode: 0o700 });
  chmodSync(dir, 0o755);
  const asked: ExecRequest[] = [];
  const exec: PluginExec = { run: async (req) => { asked.push(req); req.onStderr?.(Buffer.from('from the delegate\n')); return OK; } };
  const r = await call(entry(dir), ENV, { guard, pid: 77, exec });
  assert.equal(r.stderr, `cni-trace: journal repaired: ${dir} was mode 755; set to 700\nfrom the delegate\n`);
  assert.deepEqual(records(dir)[0]!.delegates, ['sh']);
  assert.deepEqual([r.code, r.stdout], [0, [RESULT]]);
  assert.equal(asked[0]!.reaper, made, 'the delegates run under the call\'s guard');
  assert.deepEqual(events, ['release'], 'no nested tracing asked for: nothing to remove on death');
  assert.deepEqual(records(dir).map((x) => x.rec), ['invocation.begin', 'step.begin', 'step.end', 'invocation.end']);
  const plain = await call(entry(journalDir()));
  assert.deepEqual([plain.code, plain.stderr], [0, ''], 'a journal of the right mode: nothing said');
  assert.equal(records(dir)[0]!.pid, 77);
  // A journal that cannot be written: one stderr line, the call unaffected.
  const file = join(root, 'a-file');
  writeFileSync(file, '');
  const degraded = await call(entry(join(file, 'j')));
  assert.deepEqual([degraded.code, degraded.stdout], [0, [RESULT]]);
  assert.match(degraded.stderr, /^cni-trace: tracing degraded, the network operation is unaffected: cannot write journal in .*a-file\/j: ENOTDIR/);
  assert.equal(degraded.stderr.split('\n').length, 2, 'said once');
});

test('rule: nested tracing is set up only when the entry asks, the exec allows and the journal works; its directory is removed after the call and on the wrapper\'s death', async () => {
  ensureShim();
  const runDir = join(root, 'run');
  const events: string[] = [];
  const guard = (): DelegateGuard => ({ removeOnDeath: (p: string) => events.push(`remove ${p}`), release: () => events.push('release') }) as unknown as DelegateGuard;
  // Without a guard (unit tests with fakes), nesting still works.
  assert.equal((await call(entry(journalDir(), { runDir }), ENV, { nestedTracing: true })).code, 0);
  const r = await call(entry(journalDir(), { runDir }), ENV, { guard, nestedTracing: true });
  assert.equal(r.code, 0);
  const cniPath = r.calls[0]!.env.CNI_PATH!;
  assert.match(cniPath, new RegExp(`^${runDir}/[0-9a-f]{16}/bin:${BIN}$`));
  const dir = cniPath.slice(0, -`/bin:${BIN}`.length);
  assert.deepEqual(events, [`remove ${dir}`, 'release']);
  assert.equal(existsSync(dir), false, 'the invocation\'s directory is gone after the call');
  for (const [extra, io] of [[{ runDir, nested: false }, { nestedTracing: true }], [{ runDir }, { nestedTracing: false }], [{ runDir }, {}]] as const) {
    const off = await call(entry(journalDir(), extra), ENV, io);
    assert.equal(off.calls[0]!.env.CNI_PATH, BIN);
  }
  // A journal already degraded: no nested tracing either.
  const file = join(root, 'b-file');
  writeFileSync(file, '');
  const degraded = await call(entry(join(file, 'j'), { runDir }), ENV, { nestedTracing: true });
  assert.equal(degraded.calls[0]!.env.CNI_PATH, BIN);
  // A runDir that cannot be used: one stderr line, the delegates run with CNI_PATH as given.
  const refused = await call(entry(journalDir(), { runDir: join(file, 'run') }), ENV, { nestedTracing: true });
  assert.deepEqual([refused.code, refused.calls[0]!.env.CNI_PATH], [0, BIN]);
  assert.match(refused.stderr, /^cni-trace: nested tracing off for this call, the network operation is unaffected: cannot prepare nested tracing in .*b-file\/run: ENOTDIR\n$/);
});

test('rule: an internal fault gives one CNI error document (code 999, no stack) and is journaled; a fault after the answer leaves the answer and its exit code', async () => {
  const dir = journalDir();
  const boom: PluginExec = { run: () => { throw new TypeError('x is undefined'); } };
  const r = await call(entry(dir), ENV, { exec: boom });
  assert.deepEqual([r.code, r.stdout], [1, doc('1.0.0', 999, 'cni-trace internal error: x is undefined')]);
  assert.deepEqual(records(dir).at(-1)!.error, { code: 999, msg: 'cni-trace internal error: x is undefined' });
  const thrownString: PluginExec = { run: () => { throw 'plain'; } };
  assert.deepEqual((await call(entry(journalDir()), ENV, { exec: thrownString })).stdout, doc('1.0.0', 999, 'cni-trace internal error: plain'));
  const thrownNothing: PluginExec = { run: () => { throw undefined; } };
  assert.deepEqual((await call(entry(journalDir()), ENV, { exec: thrownNothing })).stdout, doc('1.0.0', 999, 'cni-trace internal error: undefined'));
  const nothingRead = await call('', ENV, { readStdin: async () => { throw undefined; } });
  assert.deepEqual(nothingRead.stdout, doc(LATEST_VERSION, 999, 'cni-trace internal error: undefined'));
  // Stdin that cannot be read: before any config, in the latest version.
  const unread = await call('', ENV, { readStdin: async () => { throw new Error('EIO'); } });
  assert.deepEqual([unread.code, unread.stdout], [1, doc(LATEST_VERSION, 999, 'cni-trace internal error: EIO')]);
  // The answer went out, then the journal's end could not be written and stderr throws as well.
  let wrote = 0;
  const late = await call(entry(journalDir()), ENV, {
    writeStdout: () => { wrote++; throw new Error('stdout closed'); },
    writeStderr: () => { throw new Error('stderr closed'); },
  });
  assert.deepEqual([late.code, wrote], [0, 1], 'the answer\'s exit code stands, nothing written twice');
  let said = '';
  const told = await call(entry(journalDir()), ENV, { writeStdout: () => { throw new Error('stdout closed'); }, writeStderr: (d) => { said += d.toString(); } });
  assert.equal(told.code, 0);
  assert.equal(said, 'cni-trace: cni-trace internal error: stdout closed (after the answer was written; it stands)\n');
});
