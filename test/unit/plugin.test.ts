/**
 * The plugin's CNI behaviour per spec version and command, with the fixture plugin as
 * delegates (real processes, recorded calls): ordering, prevResult threading, config
 * derivation, error passthrough, STATUS and GC, bad input, journal and trace context.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { InvocationIndex } from '../../src/journal/invocations.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { installFixtures } from '../support/fixtures.ts';
import { callPlugin, cniEnv } from '../support/run-plugin.ts';

const VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
const root = mkdtempSync(join(tmpdir(), 'cnitrace-plugin-'));
const bin = join(root, 'bin');
const records = join(root, 'records');
let journal = '';
let n = 0;

before(() => installFixtures(bin, ['fx-a', 'fx-b', 'fx-c', 'fx-v11-a', 'fx-v11-b']));
after(() => rmSync(root, { recursive: true, force: true }));
beforeEach(() => {
  journal = join(root, `journal-${n++}`);
  rmSync(records, { recursive: true, force: true });
  readdirSync(root); // keep the root
  mkdirp(records);
});

function mkdirp(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
}

interface Recorded { plugin: string; command: string; env: Record<string, string>; stdin: Record<string, unknown> }

/** The delegate calls the fixture recorded, in call order. */
function recorded(): Recorded[] {
  return readdirSync(records).sort((a, b) => Number(a.split('-')[0]) - Number(b.split('-')[0]) || a.localeCompare(b))
    .map((f) => JSON.parse(readFileSync(join(records, f), 'utf8')) as Recorded);
}

function entry(version: string, delegates: object[], extra: object = {}): Record<string, unknown> {
  return { cniVersion: version, name: 'testnet', type: 'cni-trace', journalDir: journal, delegates, ...extra };
}

const env = (command: string, extra: Record<string, string | undefined> = {}) => cniEnv(command, bin, { FX_RECORD_DIR: records, ...extra });

for (const ver of VERSIONS) {
  describe(`[${ver}]`, () => {
    test(`[${ver}] ADD runs delegates in order, threading each result into the next as prevResult`, async () => {
      const res = await callPlugin({
        env: env('ADD'),
        stdin: entry(ver, [{ type: 'fx-a', keep: { nested: [1, 2] } }, { type: 'fx-b', cniVersion: '0.0.1', name: 'ignored' }]),
      });
      assert.equal(res.code, 0, res.stdout);
      const calls = recorded();
      assert.deepEqual(calls.map((c) => [c.plugin, c.command]), [['fx-a', 'ADD'], ['fx-b', 'ADD']]);
      assert.equal(calls[0]!.stdin.prevResult, undefined, 'the first delegate gets no prevResult');
      assert.deepEqual(calls[0]!.stdin.keep, { nested: [1, 2] }, 'other keys pass through');
      for (const c of calls) {
        assert.equal(c.stdin.name, 'testnet');
        assert.equal(c.stdin.cniVersion, ver);
      }
      const first = JSON.parse(readFileSync(join(records, readdirSync(records).sort()[0]!), 'utf8')) as Recorded;
      void first;
      assert.deepEqual(calls[1]!.stdin.prevResult, { cniVersion: ver, interfaces: [{ name: 'eth0' }], ips: [], dns: {} });
      assert.deepEqual(res.json, { cniVersion: ver, interfaces: [{ name: 'eth0' }], ips: [], dns: {} }, 'the last result is what the runtime gets');
    });

    test(`[${ver}] runtimeConfig reaches only the delegates whose capabilities ask for it, without a capabilities key`, async () => {
      const res = await callPlugin({
        env: env('ADD'),
        stdin: entry(ver, [
          { type: 'fx-a', capabilities: { portMappings: true } },
          { type: 'fx-b', capabilities: { bandwidth: true, portMappings: false } },
          { type: 'fx-c', runtimeConfig: { own: true } },
        ], { capabilities: { portMappings: true, bandwidth: true }, runtimeConfig: { portMappings: [{ hostPort: 8080 }], bandwidth: { ingressRate: 1 } } }),
      });
      assert.equal(res.code, 0, res.stdout);
      const [a, b, c] = recorded();
      assert.deepEqual(a!.stdin.runtimeConfig, { portMappings: [{ hostPort: 8080 }] });
      assert.deepEqual(b!.stdin.runtimeConfig, { bandwidth: { ingressRate: 1 } });
      assert.deepEqual(c!.stdin.runtimeConfig, { own: true }, 'a delegate without capabilities keeps its own runtimeConfig');
      for (const call of [a, b, c]) assert.equal('capabilities' in call!.stdin, false);
    });

    test(`[${ver}] DEL runs delegates in reverse, each with the prevResult the wrapper received`, async () => {
      const cached = { cniVersion: ver, interfaces: [{ name: 'eth0' }], ips: [{ address: '10.1.2.3/24' }] };
      const res = await callPlugin({ env: env('DEL', { CNI_NETNS: undefined }), stdin: entry(ver, [{ type: 'fx-a' }, { type: 'fx-b' }, { type: 'fx-c' }], { prevResult: cached }) });
      assert.equal(res.code, 0, res.stdout);
      assert.equal(res.stdout, '');
      const calls = recorded();
      assert.deepEqual(calls.map((c) => c.plugin), ['fx-c', 'fx-b', 'fx-a']);
      for (const c of calls) assert.deepEqual(c.stdin.prevResult, cached);
    });

    test(`[${ver}] CHECK ${ver < '0.4.0' ? 'is refused with code 1 before any delegate runs' : 'runs delegates in order with the received prevResult'}`, async () => {
      const cached = { cniVersion: ver, interfaces: [], ips: [] };
      const res = await callPlugin({ env: env('CHECK'), stdin: entry(ver, [{ type: 'fx-a' }, { type: 'fx-b' }], { prevResult: cached }) });
      if (ver < '0.4.0') {
        assert.equal(res.code, 1);
        assert.equal(res.json?.code, 1);
        assert.equal(res.json?.msg, 'config version does not allow CHECK');
        assert.deepEqual(recorded(), []);
      } else {
        assert.equal(res.code, 0, res.stdout);
        assert.deepEqual(recorded().map((c) => [c.plugin, c.stdin.prevResult]), [['fx-a', cached], ['fx-b', cached]]);
      }
    });

    test(`[${ver}] a delegate's error JSON is passed through unchanged with its exit code, and later delegates do not run`, async () => {
      const res = await callPlugin({ env: env('ADD'), stdin: entry(ver, [{ type: 'fx-a' }, { type: 'fx-b', fx: { mode: 'fail', code: 117, exit: 5, msg: 'no room', details: 'pool empty' } }, { type: 'fx-c' }]) });
      assert.equal(res.code, 5);
      assert.equal(res.stdout, JSON.stringify({ cniVersion: ver, code: 117, msg: 'no room', details: 'pool empty' }));
      assert.deepEqual(recorded().map((c) => c.plugin), ['fx-a', 'fx-b']);
    });

    test(`[${ver}] STATUS and GC ${ver === '1.1.0' ? 'reach every delegate in order, as libcni 1.3.1 sends them to every plugin of the list' : 'are refused with code 1'}`, async () => {
      for (const command of ['STATUS', 'GC']) {
        rmSync(records, { recursive: true, force: true });
        mkdirp(records);
        const attachments = [{ containerID: 'c1', ifname: 'eth0' }];
        const res = await callPlugin({ env: env(command, { CNI_CONTAINERID: undefined, CNI_NETNS: undefined, CNI_IFNAME: undefined }), stdin: entry(ver, [{ type: 'fx-v11-a' }, { type: 'fx-a' }, { type: 'fx-v11-b' }], { 'cni.dev/valid-attachments': attachments }) });
        if (ver !== '1.1.0') {
          assert.equal(res.json?.code, 1, command);
          assert.equal(res.json?.msg, `config version does not allow ${command}`);
          continue;
        }
        assert.equal(res.code, 0, res.stdout);
        const calls = recorded().filter((c) => c.command === command);
        assert.deepEqual(calls.map((c) => c.plugin), ['fx-v11-a', 'fx-a', 'fx-v11-b'], command);
        if (command === 'GC') for (const c of calls) {
          assert.deepEqual(c.stdin['cni.dev/valid-attachments'], attachments);
          assert.deepEqual(c.stdin['cni.dev/attachments'], attachments);
        }
      }
    });
  });
}

describe('failures without a CNI error reach the runtime as libcni words them', () => {
  test('a delegate that dies with only stderr gives "netplugin failed: <Go-quoted stderr>", code 0, its exit code', async () => {
    const res = await callPlugin({ env: env('ADD'), stdin: entry('1.0.0', [{ type: 'fx-a', fx: { mode: 'die', stderr: 'boom: "x"\n\tat line 2', exit: 4 } }]) });
    assert.equal(res.code, 4);
    assert.deepEqual(res.json, { cniVersion: '1.0.0', code: 0, msg: 'netplugin failed: "boom: \\"x\\"\\n\\tat line 2"' });
    assert.match(res.stderr, /boom: "x"/, 'the delegate\'s stderr is forwarded');
  });

  test('a delegate that dies silently gives "netplugin failed with no error message: exit status N"', async () => {
    const res = await callPlugin({ env: env('ADD'), stdin: entry('1.0.0', [{ type: 'fx-a', fx: { mode: 'die', exit: 9 } }]) });
    assert.equal(res.code, 9);
    assert.equal(res.json?.msg, 'netplugin failed with no error message: exit status 9');
  });

  test('a delegate printing garbage gives libcni\'s "error parsing its diagnostic message"', async () => {
    const res = await callPlugin({ env: env('ADD'), stdin: entry('1.0.0', [{ type: 'fx-a', fx: { mode: 'garbage', stdout: 'oops', exit: 1 } }]) });
    assert.equal(res.json?.msg, 'netplugin failed but error parsing its diagnostic message "oops": invalid character \'o\' looking for beginning of value');
  });

  test('a missing delegate gives libcni\'s "failed to find plugin" message naming the path', async () => {
    const res = await callPlugin({ env: env('ADD'), stdin: entry('1.0.0', [{ type: 'fx-a' }, { type: 'nosuch' }]) });
    assert.equal(res.code, 1);
    assert.equal(res.json?.msg, `failed to find plugin "nosuch" in path [${bin}]`);
  });

  test('huge stderr is forwarded whole and journaled as a bounded, marked excerpt', async () => {
    const res = await callPlugin({ env: env('ADD'), stdin: entry('1.0.0', [{ type: 'fx-a', fx: { mode: 'huge', bytes: 3_000_000 } }], { captureMaxBytes: 1000 }) });
    assert.equal(res.code, 0);
    assert.equal(res.stderr.length, 3_000_000);
    const end = readJournal(journal).find((r) => r.rec === 'step.end');
    assert.ok(end && end.rec === 'step.end');
    assert.deepEqual([end.stderr.text.length, end.stderr.bytes, end.stderr.truncated], [1000, 3_000_000, true]);
  });
});

test('a huge result is passed on whole and journaled as a bounded, marked excerpt', async () => {
  const res = await callPlugin({ env: env('ADD'), stdin: entry('1.0.0', [{ type: 'fx-a' }, { type: 'fx-b', fx: { mode: 'huge', stream: 'stdout', bytes: 5_000_000 } }], { captureMaxBytes: 2000 }) });
  assert.equal(res.code, 0);
  assert.equal(res.stdout.length, 5_000_000, 'the runtime gets the delegate\'s own result');
  assert.equal((res.json?.padding as string).length > 4_000_000, true);
  const ends = readJournal(journal).filter((r) => r.rec === 'step.end' || r.rec === 'invocation.end');
  for (const r of ends.slice(1)) {
    assert.ok(r.rec === 'step.end' || r.rec === 'invocation.end');
    assert.deepEqual([r.stdout.text.length, r.stdout.bytes, r.stdout.truncated], [2000, 5_000_000, true]);
  }
});

describe('bad input gets a clear CNI error', () => {
  const cases: Array<[string, Record<string, string | undefined>, string | object, number, RegExp]> = [
    ['malformed stdin JSON', {}, '{"cniVersion": "1.0.0", ', 6, /^error unmarshall network config/],
    ['stdin that is not an object', {}, '[1,2]', 6, /not a JSON object/],
    ['missing CNI_CONTAINERID and CNI_IFNAME', { CNI_CONTAINERID: undefined, CNI_IFNAME: undefined }, {}, 4, /^required env variables \[CNI_CONTAINERID,CNI_IFNAME\] missing$/],
    ['an unknown CNI_COMMAND', { CNI_COMMAND: 'FROB' }, {}, 4, /^unknown CNI_COMMAND: FROB$/],
    ['an interface name over 15 bytes', { CNI_IFNAME: 'a-very-long-ifname' }, {}, 4, /^interface name is too long$/],
    ['a wrapper entry without delegates', {}, { delegates: undefined }, 7, /delegates: missing/],
    ['an empty delegates list', {}, { delegates: [] }, 7, /delegates: must be a non-empty array/],
    ['a delegate type with a path separator', {}, { delegates: [{ type: '../../bin/sh' }] }, 7, /delegates\[0\]\.type: invalid plugin name/],
    ['an absolute delegate path', {}, { delegates: [{ type: 'fx-a' }, { type: '/usr/lib/cni/bridge' }] }, 7, /delegates\[1\]\.type/],
    ['an unknown wrapper key', {}, { jounralDir: '/tmp/x' }, 7, /jounralDir: unknown key/],
    ['a mistyped wrapper key', {}, { journalMaxFiles: 'many' }, 7, /journalMaxFiles: must be a positive integer/],
    ['a missing network name', {}, { name: undefined }, 7, /^missing network name$/],
    ['an unsupported cniVersion', {}, { cniVersion: '0.2.0' }, 1, /^incompatible CNI versions$/],
    ['a cniVersion from the future', {}, { cniVersion: '2.0.0' }, 1, /^incompatible CNI versions$/],
  ];
  for (const [label, envOverrides, stdin, code, msg] of cases) {
    test(`${label} → code ${code}, nothing runs`, async () => {
      const body = typeof stdin === 'string' ? stdin : JSON.stringify({ ...entry('1.0.0', [{ type: 'fx-a' }]), ...stdin });
      const res = await callPlugin({ env: env('ADD', envOverrides), stdin: body });
      assert.equal(res.code, 1);
      assert.equal(res.json?.code, code, res.stdout);
      assert.match(String(res.json?.msg), msg);
      assert.equal(res.stdout.includes('    at '), false, 'no stack trace');
      assert.deepEqual(recorded(), [], 'no delegate ran');
    });
  }

  test('VERSION answers with no valid env (podman sends dummies) and ignores stdin', async () => {
    const res = await callPlugin({ env: { CNI_COMMAND: 'VERSION', CNI_NETNS: 'dummy', CNI_CONTAINERID: 'dummy', CNI_IFNAME: 'dummy', CNI_PATH: 'dummy' }, stdin: 'not even json' });
    assert.equal(res.code, 0);
    assert.deepEqual(res.json, { cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });
});

describe('journal and trace context', () => {
  test('each delegate gets a TRACEPARENT naming its own step span in the runtime\'s trace', async () => {
    const parent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const res = await callPlugin({ env: env('ADD', { TRACEPARENT: parent }), stdin: entry('1.0.0', [{ type: 'fx-a' }, { type: 'fx-b' }]) });
    assert.equal(res.code, 0);
    const index = new InvocationIndex();
    for (const r of readJournal(journal)) index.add(r);
    const [inv] = index.list();
    assert.ok(inv);
    assert.equal(inv.traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(inv.parentSpanId, 'b7ad6b7169203331');
    const seen = recorded().map((c) => c.env.TRACEPARENT);
    assert.deepEqual(seen, inv.steps.map((s) => `00-0af7651916cd43dd8448eb211c80319c-${s.spanId}-01`));
    assert.notEqual(inv.steps[0]!.spanId, inv.steps[1]!.spanId);
  });

  test('a call records pod identity, redacted config and the steps\' output', async () => {
    const res = await callPlugin({
      env: env('ADD', { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=cart-7f;K8S_POD_UID=u-1;K8S_POD_INFRA_CONTAINER_ID=ctr1;AUTH_TOKEN=s3cr3t' }),
      stdin: entry('1.0.0', [{ type: 'fx-a', password: 'hunter2', ipam: { apiKey: 'k-123', subnet: '10.0.0.0/8' } }], { redact: ['subnet'] }),
    });
    assert.equal(res.code, 0);
    const text = readFileSync(join(journal, 'journal.jsonl'), 'utf8');
    for (const secret of ['hunter2', 'k-123', 's3cr3t', '10.0.0.0/8']) assert.equal(text.includes(secret), false, `${secret} is redacted`);
    const index = new InvocationIndex();
    for (const r of readJournal(journal)) index.add(r);
    const [inv] = index.list();
    assert.deepEqual(inv?.pod, { namespace: 'shop', name: 'cart-7f', uid: 'u-1', infraContainerId: 'ctr1' });
    assert.equal(inv?.containerId, 'ctr1');
    assert.equal(inv?.steps[0]?.stdout?.text, res.stdout);
    assert.equal(inv?.status, 'ok');
    // The delegate itself still got the real values.
    assert.equal(recorded()[0]!.stdin.password, 'hunter2');
  });

  test('an unwritable journal leaves the outcome unchanged and says so once on stderr', async () => {
    const file = join(root, 'not-a-dir');
    writeFileSync(file, 'x');
    const res = await callPlugin({ env: env('ADD'), stdin: { ...entry('1.0.0', [{ type: 'fx-a' }, { type: 'fx-b' }]), journalDir: join(file, 'journal') } });
    assert.equal(res.code, 0);
    assert.deepEqual(res.json, { cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }], ips: [], dns: {} });
    const lines = res.stderr.split('\n').filter((l) => l.includes('tracing degraded'));
    assert.equal(lines.length, 1, res.stderr);
    assert.match(lines[0]!, /ENOTDIR/);
  });

  test('a refused call is journaled too, with its error', async () => {
    const res = await callPlugin({ env: env('ADD', { CNI_IFNAME: undefined }), stdin: entry('1.0.0', [{ type: 'fx-a' }]) });
    assert.equal(res.json?.code, 4);
    const index = new InvocationIndex();
    for (const r of readJournal(journal)) index.add(r);
    const [inv] = index.list();
    assert.equal(inv?.status, 'error');
    assert.deepEqual(inv?.error, { code: 4, msg: 'required env variables [CNI_IFNAME] missing' });
    assert.deepEqual(inv?.steps, []);
  });

  test('rule: a version the plugin does not speak is refused with code 1 and journaled, as a bad entry is', async () => {
    const res = await callPlugin({ env: env('ADD'), stdin: { ...entry('1.0.0', [{ type: 'fx-a' }]), cniVersion: '9.9.9' } });
    assert.equal(res.code, 1);
    assert.equal(res.json?.code, 1);
    const index = new InvocationIndex();
    for (const r of readJournal(journal)) index.add(r);
    const [inv] = index.list();
    assert.equal(inv?.status, 'error');
    assert.equal(inv?.error?.code, 1);
    assert.match(String(inv?.error?.msg), /incompatible CNI versions/);
    assert.deepEqual(inv?.steps, []);
  });

  test('a bad wrapper entry (a typo in its own key) is refused with code 7 and journaled, redacted, with the key it meant', async () => {
    const bad = { cniVersion: '1.0.0', name: 'testnet', type: 'cni-trace', journalDir: journal, delegate: [{ type: 'fx-a', password: 'hunter2' }] };
    const res = await callPlugin({ env: env('ADD'), stdin: bad });
    assert.equal(res.code, 1);
    assert.equal(res.json?.code, 7);
    assert.match(String(res.json?.msg), /delegate: unknown key \(did you mean "delegates"\?\)/);
    assert.equal(res.stdout.trim().split('\n').length, 1, 'one document on stdout');
    const index = new InvocationIndex();
    for (const r of readJournal(journal)) index.add(r);
    const [inv] = index.list();
    assert.equal(inv?.status, 'error');
    assert.equal(inv?.command, 'ADD');
    assert.equal(inv?.error?.code, 7);
    assert.match(JSON.stringify(inv?.stdin), /"delegate"/);
    assert.doesNotMatch(readdirSync(journal).map((f) => readFileSync(join(journal, f), 'utf8')).join(''), /hunter2/);
  });

  test('a bad wrapper entry with a journalDir that is not an absolute path is refused and journals nothing', async () => {
    const res = await callPlugin({ env: env('ADD'), stdin: { ...entry('1.0.0', [{ type: 'fx-a' }]), journalDir: 'relative/dir' } });
    assert.equal(res.json?.code, 7);
    assert.throws(() => readdirSync(journal), /ENOENT/);
  });
});
