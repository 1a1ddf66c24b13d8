/**
 * CNI versions (src/cni/version.ts) and the version defaults the dispatcher applies: a config
 * without cniVersion is "0.1.0", as libcni and skel read it — too old for a conflist — so the
 * call is refused with code 1 and nothing runs; an error answer carries the config's version,
 * or the latest when the config has none.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LATEST_VERSION, parseVersion, SUPPORTED_VERSIONS, versionAtLeast, versionInfoJson } from '../../src/cni/version.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { installFixtures } from '../support/fixtures.ts';
import { callPlugin, cniEnv } from '../support/run-plugin.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-versions-'));
const bin = join(root, 'bin');
const records = join(root, 'records');
before(() => {
  installFixtures(bin, ['fx-a']);
  mkdirSync(records);
});
after(() => rmSync(root, { recursive: true, force: true }));

const SUPPORTED_TEXT = '["0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]';
let n = 0;

async function add(cniVersion: unknown): Promise<{ json: Record<string, unknown> | undefined; code: number; journal: string }> {
  const journal = join(root, `journal-${n++}`);
  const stdin: Record<string, unknown> = { name: 'vnet', type: 'cni-trace', journalDir: journal, delegates: [{ type: 'fx-a' }] };
  if (cniVersion !== undefined) stdin.cniVersion = cniVersion;
  const r = await callPlugin({ env: cniEnv('ADD', bin, { FX_RECORD_DIR: records }), stdin });
  return { json: r.json, code: r.code, journal };
}

test('rule: a config without cniVersion is version 0.1.0 (libcni\'s default) and is refused with code 1; nothing runs', async () => {
  for (const missing of [undefined, '']) {
    const r = await add(missing);
    assert.equal(r.code, 1, `cniVersion ${JSON.stringify(missing)} is 0.1.0: refused, not run`);
    assert.deepEqual(r.json, {
      cniVersion: LATEST_VERSION, code: 1, msg: 'incompatible CNI versions', details: `config is "0.1.0", plugin supports ${SUPPORTED_TEXT}`,
    }, `cniVersion ${JSON.stringify(missing)}: read as "0.1.0", not as a supported version`);
    assert.deepEqual(readJournal(r.journal).filter((rec) => rec.rec === 'step.begin'), [], 'no step journaled');
  }
  assert.deepEqual(readdirSync(records), [], 'no delegate ran');
});

test('an unsupported version is refused naming it; the error answer carries the config\'s own version', async () => {
  for (const v of ['0.1.0', '0.2.0', '0.3', '1.2.0', 'v1.0.0']) {
    const r = await add(v);
    assert.deepEqual(r.json, { cniVersion: v, code: 1, msg: 'incompatible CNI versions', details: `config is "${v}", plugin supports ${SUPPORTED_TEXT}` });
  }
  const wrongType = await add(1);
  assert.deepEqual(wrongType.json, { cniVersion: LATEST_VERSION, code: 6, msg: 'decoding version from network config: cniVersion must be a string' });
});

test('every supported version runs an ADD', async () => {
  for (const v of SUPPORTED_VERSIONS) {
    const r = await add(v);
    assert.equal(r.code, 0, `${v}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json?.cniVersion, v);
  }
});

test('parseVersion reads x.y.z only; versionAtLeast compares each part as a number', () => {
  assert.deepEqual(parseVersion('1.10.0'), [1, 10, 0]);
  assert.deepEqual(parseVersion('0.0.0'), [0, 0, 0]);
  assert.deepEqual(parseVersion('10.20.30'), [10, 20, 30], 'every part may have several digits');
  for (const bad of ['', '1', '1.0', '1.0.0.0', 'v1.0.0', '1.0.0-rc1', ' 1.0.0', '1.0.x']) assert.equal(parseVersion(bad), null, bad);
  const cases: Array<[string, string, boolean]> = [
    ['1.1.0', '1.1.0', true], ['1.1.0', '1.0.0', true], ['1.0.0', '1.1.0', false], ['0.4.0', '0.3.1', true], ['0.3.1', '0.4.0', false],
    ['1.0.0', '0.4.0', true], ['0.4.0', '1.0.0', false], ['0.10.0', '0.9.0', true], ['0.3.1', '0.3.0', true], ['0.3.0', '0.3.1', false],
    ['2.0.0', '1.9.9', true], ['10.0.0', '9.0.0', true], ['1.0.10', '1.0.9', true], ['1.0.9', '1.0.10', false], ['x', '0.1.0', false], ['1.0.0', 'x', false],
  ];
  for (const [a, b, want] of cases) assert.equal(versionAtLeast(a, b), want, `${a} >= ${b}`);
});

test('VERSION answers the latest version and every supported one', () => {
  assert.deepEqual(JSON.parse(versionInfoJson()), { cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  assert.equal(LATEST_VERSION, SUPPORTED_VERSIONS.at(-1));
});
