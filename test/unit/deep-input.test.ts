/**
 * Hostile input through the dispatcher (the exec boundary faked, so each case is about input
 * handling): configs nested as deep as Go's decoder takes (10,000 levels) and one level more,
 * a bad env together with a deep config, a parse error that must not quote the config, and a
 * fault after the answer was written. Each must give exactly one document on stdout.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { goDecodeErrorStructError, goSyntaxError, GO_MAX_DEPTH } from '../../src/cni/go-json.ts';
import { stringifyIteratively, stringifyJson } from '../../src/cni/json-text.ts';
import { TOO_DEEP } from '../../src/config/redact.ts';
import type { ExecOutcome, ExecRequest, PluginExec } from '../../src/invoke/exec.ts';
import { InvocationIndex } from '../../src/journal/invocations.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { runPlugin } from '../../src/plugin/dispatch.ts';
import { nested } from '../support/fuzz.ts';
import { cniEnv } from '../support/run-plugin.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-deep-'));
after(() => rmSync(root, { recursive: true, force: true }));

const RESULT = Buffer.from('{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],"ips":[]}');
const OK: ExecOutcome = { exitCode: 0, signal: null, stdout: RESULT, stderr: Buffer.alloc(0), stderrBytes: 0, spawnError: null, pid: 1, startMono: 0n, endMono: 0n };

interface Run { code: number; stdout: string; stderr: string; delegateStdin: string[] }

async function run(stdin: string, env: Record<string, string | undefined>, exec?: PluginExec, writeStderr?: (d: string | Buffer) => void): Promise<Run> {
  const delegateStdin: string[] = [];
  let stdout = '';
  let stderr = '';
  const code = await runPlugin({
    env, readStdin: async () => Buffer.from(stdin),
    writeStdout: (d) => { stdout += d.toString(); },
    writeStderr: writeStderr ?? ((d) => { stderr += d.toString(); }),
    exec: exec ?? { run: async (req: ExecRequest) => { delegateStdin.push(req.stdin); return OK; } },
  });
  return { code, stdout, stderr, delegateStdin };
}

/** stdout holds exactly one JSON document (JSON.parse refuses two). */
function oneDocument(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout) as Record<string, unknown>;
}

/** A wrapper entry whose only delegate carries `deep` under "deep"; its own depth is that plus 3. */
function entry(journal: string, deep: string): string {
  return `{"cniVersion":"1.0.0","name":"deepnet","type":"cni-trace","journalDir":${JSON.stringify(journal)},"delegates":[{"type":"sh","deep":${deep}}]}`;
}

const ENV = cniEnv('ADD', '/bin', { CNI_PATH: '/bin' });

for (const depth of [2_000, GO_MAX_DEPTH]) {
  for (const shape of ['objects', 'arrays'] as const) {
    test(`a delegate config ${depth} levels deep (${shape}) runs the chain, answers its result, and is journaled with a placeholder`, async () => {
      const journal = join(root, `j-${depth}-${shape}`);
      // The entry adds 3 levels (entry, delegates, delegate): the whole stdin is `depth` deep.
      const deep = nested(depth - 3, shape);
      const r = await run(entry(journal, deep), ENV);
      assert.equal(r.code, 0, r.stdout);
      assert.deepEqual(oneDocument(r.stdout), JSON.parse(RESULT.toString()));
      assert.equal(r.delegateStdin.length, 1);
      assert.ok(r.delegateStdin[0]!.includes(`"deep":${deep}`), 'the delegate got the whole value');
      const index = new InvocationIndex();
      for (const rec of readJournal(journal)) index.add(rec);
      const inv = index.list()[0]!;
      assert.equal(inv.status, 'ok');
      assert.ok(JSON.stringify(inv.stdin).includes(TOO_DEEP));
      assert.ok(JSON.stringify(inv.steps[0]!.stdin).includes(TOO_DEEP));
      assert.equal(r.stderr, '', 'tracing was not degraded');
    });
  }
}

test('stdin one level deeper than Go decodes: code 6 with Go\'s words, as a Go plugin answers', async () => {
  const r = await run(entry(join(root, 'j-over'), nested(GO_MAX_DEPTH - 2, 'objects')), ENV);
  assert.equal(r.code, 1);
  assert.deepEqual(oneDocument(r.stdout), { cniVersion: '1.1.0', code: 6, msg: 'error unmarshall network config: invalid character \'{\' exceeded max depth' });
  assert.deepEqual(r.delegateStdin, []);
});

for (const depth of [2_000, GO_MAX_DEPTH]) {
  test(`a bad env with a config ${depth} deep: exactly one error document (code 4), journaled`, async () => {
    const journal = join(root, `j-env-${depth}`);
    const r = await run(entry(journal, nested(depth - 3, 'objects')), { ...ENV, CNI_IFNAME: undefined });
    assert.equal(r.code, 1);
    assert.deepEqual(oneDocument(r.stdout), { cniVersion: '1.0.0', code: 4, msg: 'required env variables [CNI_IFNAME] missing' });
    const recs = readJournal(journal);
    assert.deepEqual(recs.map((x) => x.rec), ['invocation.begin', 'invocation.end']);
  });
}

test('a delegate result as deep as Go decodes is passed on; one level more fails with libcni\'s words', async () => {
  for (const [levels, ok] of [[GO_MAX_DEPTH, true], [GO_MAX_DEPTH + 1, false]] as const) {
    const result = Buffer.from(`{"cniVersion":"1.0.0","x":${nested(levels - 1, 'arrays')}}`);
    const exec: PluginExec = { run: async () => ({ ...OK, stdout: result }) };
    const r = await run(entry(join(root, `j-res-${levels}`), '1'), ENV, exec);
    if (ok) {
      assert.equal(r.code, 0);
      assert.equal(r.stdout, result.toString());
    } else {
      assert.equal(r.code, 1);
      assert.deepEqual(oneDocument(r.stdout), { cniVersion: '1.0.0', code: 999, msg: 'failed to unmarshal raw result: invalid character \'[\' exceeded max depth' });
    }
  }
});

test('undecodable stdin: the message names the kind of error and its line and column, never the config\'s bytes', async () => {
  const secret = 'hunter2-in-a-broken-config';
  const r = await run(`{"cniVersion":"1.0.0",\n  "password":"${secret}" "x"}`, ENV);
  assert.equal(r.code, 1);
  const doc = oneDocument(r.stdout);
  assert.equal(doc.code, 6);
  assert.equal(doc.msg, 'error unmarshall network config: invalid character after object key:value pair at line 2, column 43');
  assert.ok(!(r.stdout + r.stderr).includes(secret));
  const eof = oneDocument((await run('{"password":"abc', ENV)).stdout);
  assert.equal(eof.msg, 'error unmarshall network config: unexpected end of JSON input at line 1, column 17');
});

test('a fault after the answer was written never adds a second document: the answer and its exit code stand', async () => {
  // The journal cannot be written (its directory is a file) and stderr throws when told so.
  const file = join(root, 'not-a-dir');
  writeFileSync(file, '');
  const throwing = (): void => { throw new Error('stderr is gone'); };
  const ok = await run(entry(join(file, 'j'), '1'), ENV, undefined, throwing);
  assert.equal(ok.code, 0);
  assert.deepEqual(oneDocument(ok.stdout), JSON.parse(RESULT.toString()));
  const refused = await run(entry(join(file, 'j'), '1'), { ...ENV, CNI_IFNAME: undefined }, undefined, throwing);
  assert.equal(refused.code, 1);
  assert.equal(oneDocument(refused.stdout).code, 4);
  assert.equal(readFileSync(file, 'utf8'), '');
});

test('the Go reader and the iterative writer handle 10,000 levels; the reader refuses 10,001 as Go does', () => {
  for (const shape of ['objects', 'arrays'] as const) {
    const text = nested(GO_MAX_DEPTH, shape);
    assert.equal(goSyntaxError(text), null);
    assert.equal(goSyntaxError(nested(GO_MAX_DEPTH + 1, shape))?.message, `invalid character '${shape === 'objects' ? '{' : '['}' exceeded max depth`);
    assert.equal(stringifyJson(JSON.parse(text)), text);
    assert.equal(stringifyIteratively(JSON.parse(text)), text);
  }
  // As encoding/json into libcni's types.Error (checked against Go 1.26): an unknown field is skipped but counted.
  assert.equal(goDecodeErrorStructError(`{"code":7,"msg":"m","x":${nested(GO_MAX_DEPTH - 1, 'arrays', '')}}`), null);
  assert.equal(goDecodeErrorStructError(`{"code":7,"msg":"m","x":${nested(GO_MAX_DEPTH, 'arrays', '')}}`), 'invalid character \'[\' exceeded max depth');
  // The iterative writer gives JSON.stringify's text for plain data.
  const sample = { b: 1, a: [null, 'x"\u2028', { 2: true, 1: -0, z: undefined }, [], {}], e: 1e21, u: undefined };
  assert.equal(stringifyIteratively(sample), JSON.stringify(sample));
});

test('the iterative writer gives JSON.stringify\'s text for what JSON.stringify drops or replaces: undefined, functions, symbols', () => {
  const odd = { a: [undefined, () => 1, Symbol('s'), 1], f: () => 1, s: Symbol('t'), u: undefined, n: null };
  assert.equal(stringifyIteratively(odd), JSON.stringify(odd));
  assert.equal(stringifyIteratively(odd), '{"a":[null,null,null,1],"n":null}');
  assert.equal(stringifyIteratively([[undefined]]), '[[null]]');
});
