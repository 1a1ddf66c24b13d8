/**
 * Deep input through the installed executable and a real libcni runtime (test/driver): a
 * delegate config nested thousands of levels deep gives the bare chain's outcome for ADD,
 * CHECK and DEL and is journaled; at the depth libcni refuses, bare and wrapped are refused
 * alike. Run directly, the executable writes exactly one JSON document on stdout, also when
 * the env is bad as well.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { wrapConflist } from '../../src/cli/conflist.ts';
import { GO_MAX_DEPTH } from '../../src/cni/go-json.ts';
import { TOO_DEEP } from '../../src/config/redact.ts';
import { InvocationIndex } from '../../src/journal/invocations.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { runDriver, type DriverCall } from '../support/driver.ts';
import { DEBIAN_CNI, installCniTrace } from '../support/fixtures.ts';
import { nested } from '../support/fuzz.ts';
import { comparableRun, normalise } from '../support/observe.ts';
import { Sandbox } from '../support/sandbox.ts';

const sb = new Sandbox('deep');
const bin = join(sb.dir, 'bin');
let plugin = '';
let n = 0;

before(() => { plugin = installCniTrace(bin); });
after(() => sb.cleanup());

/** The deepest nesting in JSON text (strings skipped). */
function depthOf(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) { if (c === '\\') i++; else if (c === '"') inString = false; } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') max = Math.max(max, ++depth);
    else if (c === '}' || c === ']') depth--;
  }
  return max;
}

/** Bare and wrapped conflist texts for loopback carrying `levels` nested objects under "deep". */
function conflists(levels: number, journalDir: string): { bare: string; wrapped: string } {
  const conflist = { cniVersion: '1.0.0', name: sb.name(`ctdeep${n}`), plugins: [{ type: 'loopback', deep: 'DEEP-VALUE' }] };
  const deep = nested(levels, 'objects');
  const text = (v: object): string => JSON.stringify(v).replace('"DEEP-VALUE"', deep);
  return { bare: text(conflist), wrapped: text(wrapConflist(conflist, { journalDir })) };
}

interface Observed { add: unknown; check: unknown; del: unknown }

/**
 * ADD, CHECK, DEL of one conflist text through libcni; a conflist libcni cannot load is
 * observed as the driver's refusal (it exits before any plugin runs).
 */
async function observe(kind: 'bare' | 'wrapped', text: string): Promise<Observed | { refused: string }> {
  const i = n++;
  const file = join(sb.dir, `deep-${kind}-${i}.conflist`);
  writeFileSync(file, text);
  const call: DriverCall = {
    conflist: file, netns: await sb.netns(`d${i}`), id: `ctr-deep-${sb.id}`,
    args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=deep`, path: [bin, DEBIAN_CNI], cacheDir: join(sb.dir, `cache-${kind}-${i}`),
  };
  try {
    const add = comparableRun(await runDriver('add', call));
    const check = comparableRun(await runDriver('check', call));
    const del = comparableRun(await runDriver('del', call));
    return normalise({ add, check, del }) as Observed;
  } catch (e) {
    return { refused: (e as Error).message };
  }
}

// Delegate configs of 2,000 levels, and the deepest libcni hands on: the wrapped conflist is
// two levels deeper than the bare one (the entry and its delegates list), so it reaches Go's
// 10,000 when the delegate's config is 9,996 deep.
for (const delegateDepth of [2_000, GO_MAX_DEPTH - 4]) {
  test(`a delegate config ${delegateDepth} levels deep: ADD, CHECK and DEL as bare, and journaled`, { timeout: 120_000 }, async () => {
    const journal = join(sb.dir, `journal-${delegateDepth}`);
    const texts = conflists(delegateDepth - 1, journal);
    assert.equal(depthOf(texts.bare), delegateDepth + 2);
    assert.equal(depthOf(texts.wrapped), delegateDepth + 4);
    const bare = await observe('bare', texts.bare);
    const wrapped = await observe('wrapped', texts.wrapped);
    assert.equal('add' in bare && (bare.add as { ok: boolean }).ok, true, JSON.stringify(bare));
    assert.deepEqual(wrapped, bare);
    const index = new InvocationIndex();
    for (const rec of readJournal(journal)) index.add(rec);
    const invs = index.list();
    assert.deepEqual(invs.map((i) => [i.command, i.status]), [['ADD', 'ok'], ['CHECK', 'ok'], ['DEL', 'ok']]);
    for (const inv of invs) {
      assert.ok(JSON.stringify(inv.stdin).includes(TOO_DEEP), 'the journal keeps a placeholder below 100 levels');
      assert.deepEqual(inv.steps.map((s) => [s.plugin, s.status]), [['loopback', 'ok']]);
    }
  });
}

test('deeper than Go decodes: libcni refuses bare and wrapped alike before any plugin runs; the two levels the entry adds are a limit', { timeout: 120_000 }, async () => {
  const journal = join(sb.dir, 'journal-over');
  const over = conflists(GO_MAX_DEPTH - 1, journal); // a delegate config 10,000 deep
  const bare = await observe('bare', over.bare);
  const wrapped = await observe('wrapped', over.wrapped);
  assert.deepEqual(wrapped, bare);
  assert.match(JSON.stringify(bare), /error parsing configuration list: invalid character '\{' exceeded max depth/);
  // Bare fits in 10,000, wrapped does not: libcni refuses the wrapped conflist itself.
  const edge = conflists(GO_MAX_DEPTH - 4, journal);
  assert.equal(depthOf(edge.bare), GO_MAX_DEPTH - 1);
  const edgeBare = await observe('bare', edge.bare);
  assert.equal('add' in edgeBare && (edgeBare.add as { ok: boolean }).ok, true);
  assert.match(JSON.stringify(await observe('wrapped', edge.wrapped)), /exceeded max depth/);
  assert.deepEqual(readJournal(journal), [], 'no plugin ran');
});

test('the executable run directly: one JSON document on stdout with a 10,000-deep config, with a bad env too, and past Go\'s depth', { timeout: 60_000 }, async () => {
  const journal = join(sb.dir, 'journal-direct');
  const netns = await sb.netns('dx');
  const entry = (levels: number): string => `{"cniVersion":"1.0.0","name":"deepdirect","type":"cni-trace","journalDir":${JSON.stringify(journal)},"delegates":[{"type":"loopback","deep":${nested(levels, 'objects')}}]}`;
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: `ctr-direct-${sb.id}`, CNI_NETNS: netns, CNI_IFNAME: 'lo', CNI_PATH: DEBIAN_CNI };
  const call = async (stdin: string, extra: Record<string, string> = {}): Promise<{ code: number; doc: Record<string, unknown> }> => {
    const r = await execa(plugin, [], { input: stdin, env: { ...env, ...extra }, extendEnv: false, reject: false });
    return { code: r.exitCode ?? -1, doc: JSON.parse(r.stdout) as Record<string, unknown> }; // JSON.parse refuses two documents
  };
  assert.equal(depthOf(entry(GO_MAX_DEPTH - 3)), GO_MAX_DEPTH);
  const ok = await call(entry(GO_MAX_DEPTH - 3));
  assert.equal(ok.code, 0, JSON.stringify(ok.doc));
  assert.ok(Array.isArray(ok.doc.ips));
  const badEnv = await call(entry(GO_MAX_DEPTH - 3), { CNI_IFNAME: '' });
  assert.deepEqual([badEnv.code, badEnv.doc.code], [1, 4]);
  const over = await call(entry(GO_MAX_DEPTH - 2));
  assert.deepEqual([over.code, over.doc], [1, { cniVersion: '1.1.0', code: 6, msg: 'error unmarshall network config: invalid character \'{\' exceeded max depth' }]);
  const index = new InvocationIndex();
  for (const rec of readJournal(journal)) index.add(rec);
  assert.deepEqual(index.list().map((i) => [i.command, i.status, i.error?.code ?? null]), [['ADD', 'ok', null], ['ADD', 'error', 4]]);
});
