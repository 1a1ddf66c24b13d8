import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyFileAtomic, writeFileAtomic } from '../../src/fs/atomic-write.ts';
import { isWrapped, parseConflist, PLUGIN_TYPE, unwrapConflist, wrapConflist } from '../../src/cli/conflist.ts';
import { restoreConfDir, wrapInConfDir } from '../../src/cli/conf-dir.ts';
import { stringifyJson } from '../../src/cni/json-text.ts';
import type { JsonObject } from '../../src/config/wrapper-entry.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-'));
after(() => rmSync(root, { recursive: true, force: true }));

const calicoText = readFileSync(new URL('../../test/fixtures/conflists/10-calico.conflist', import.meta.url), 'utf8');

function calico(): JsonObject {
  return parseConflist(calicoText, '10-calico.conflist');
}

/** Types a plugin list as JSON (object literals of different shapes do not unify to Json). */
function pluginList(...plugins: JsonObject[]): JsonObject[] {
  return plugins;
}

const CONFLISTS: Record<string, () => JsonObject> = {
  'the calico fixture': calico,
  'a bridge + portmap 1.0.0 list': () => ({
    cniVersion: '1.0.0',
    name: 'podman',
    plugins: pluginList(
      { type: 'bridge', bridge: 'cni-podman0', isGateway: true, ipMasq: true, hairpinMode: true,
        ipam: { type: 'host-local', routes: [{ dst: '0.0.0.0/0' }], ranges: [[{ subnet: '10.88.0.0/16', gateway: '10.88.0.1' }]] } },
      { type: 'portmap', capabilities: { portMappings: true } },
      { type: 'firewall' },
      { type: 'tuning' },
    ),
  }),
  'a single loopback 0.3.1 list': () => ({ cniVersion: '0.3.1', name: 'lo', plugins: [{ type: 'loopback' }] }),
  'a list with extra top-level keys in unusual order': () => ({
    plugins: pluginList({ type: 'ptp', ipMasq: true, ipam: { type: 'host-local', subnet: '10.1.0.0/24' } }, { type: 'bandwidth', capabilities: { bandwidth: true, other: false } }),
    cniVersion: '1.1.0',
    disableCheck: true,
    disableGC: false,
    name: 'extra',
    cniVersions: ['1.0.0', '1.1.0'],
  }),
};

test('wrapConflist on the calico fixture: one cni-trace entry with the capability union and the original plugins verbatim', () => {
  const original = calico();
  const before = structuredClone(original);
  const wrapped = wrapConflist(original);
  assert.deepEqual(original, before, 'input not mutated');
  assert.deepEqual(Object.keys(wrapped), Object.keys(original));
  assert.equal(wrapped.name, 'k8s-pod-network');
  assert.equal(wrapped.cniVersion, '0.3.1');
  const plugins = wrapped.plugins as JsonObject[];
  assert.equal(plugins.length, 1);
  assert.deepEqual(plugins[0], {
    type: PLUGIN_TYPE,
    capabilities: { bandwidth: true, portMappings: true },
    delegates: JSON.parse(calicoText).plugins,
  });
  assert.equal(isWrapped(wrapped), true);
  assert.equal(isWrapped(original), false);
});

test('wrapConflist writes journalDir only when given', () => {
  const entry = (wrapConflist(calico(), { journalDir: '/run/cni-trace' }).plugins as JsonObject[])[0]!;
  assert.equal(entry.journalDir, '/run/cni-trace');
  assert.equal('journalDir' in (wrapConflist(calico()).plugins as JsonObject[])[0]!, false);
});

test('wrapConflist leaves out capabilities when no plugin has any enabled', () => {
  const entry = (wrapConflist({ name: 'lo', cniVersion: '1.0.0', plugins: [{ type: 'loopback', capabilities: { x: false } }] }).plugins as JsonObject[])[0]!;
  assert.equal('capabilities' in entry, false);
});

for (const [label, make] of Object.entries(CONFLISTS)) {
  test(`wrapping ${label} keeps the top-level keys in their order`, () => {
    assert.deepEqual(Object.keys(wrapConflist(make())), Object.keys(make()));
  });

  test(`wrapping ${label} twice is a no-op`, () => {
    const once = wrapConflist(make());
    const twice = wrapConflist(once);
    assert.deepEqual(twice, once);
    assert.equal(JSON.stringify(twice, null, 2), JSON.stringify(once, null, 2));
  });

  test(`unwrap(wrap(x)) gives ${label} back`, () => {
    const x = make();
    const back = unwrapConflist(wrapConflist(x, { journalDir: '/var/log/x' }));
    assert.deepEqual(back, make());
    assert.equal(JSON.stringify(back), JSON.stringify(make()));
  });

  test(`unwrapping ${label} that is not wrapped returns it unchanged`, () => {
    const x = make();
    assert.deepEqual(unwrapConflist(x), make());
  });

  test(`wrap then serialise then parse then unwrap gives ${label} back`, () => {
    const text = JSON.stringify(wrapConflist(make()), null, 2);
    assert.deepEqual(unwrapConflist(parseConflist(text, 'x.conflist')), make());
  });
}

test('parseConflist: text that is not JSON is refused naming the source', () => {
  assert.throws(() => parseConflist('{"name":', '/etc/cni/net.d/10-x.conflist'), /^Error: \/etc\/cni\/net\.d\/10-x\.conflist: not valid JSON: /);
});

test('parseConflist: a missing plugins key is refused naming plugins', () => {
  assert.throws(() => parseConflist('{"name":"n","cniVersion":"1.0.0"}', 'f'), /^Error: f: plugins: /);
});

test('parseConflist: an empty plugins list is refused', () => {
  assert.throws(() => parseConflist('{"name":"n","plugins":[]}', 'f'), /^Error: f: plugins: a conflist needs at least one plugin$/);
});

test('parseConflist: a plugin without a type is refused naming plugins.N.type', () => {
  assert.throws(() => parseConflist('{"name":"n","plugins":[{"bridge":"x"}]}', 'f'), /^Error: f: plugins\.0\.type: /);
  assert.throws(() => parseConflist('{"name":"n","plugins":[{"type":"a"},{"type":""}]}', 'f'), /^Error: f: plugins\.1\.type: type must be a non-empty plugin name$/);
});

test('parseConflist: a missing name and a non-object are refused', () => {
  assert.throws(() => parseConflist('{"plugins":[{"type":"a"}]}', 'f'), /^Error: f: name: /);
  assert.throws(() => parseConflist('[1]', 'f'), /^Error: f: \(top level\): /);
});

test('parseConflist returns the JSON as written, unknown keys included', () => {
  const text = '{"name":"n","plugins":[{"type":"a","z":1}],"disableCheck":true}';
  assert.deepEqual(parseConflist(text, 'f'), JSON.parse(text));
});

test('writeFileAtomic replaces the content, keeps the file\'s mode 0640 and leaves no temp file', () => {
  const dir = mkdtempSync(join(root, 'aw-'));
  const path = join(dir, '10-calico.conflist');
  writeFileSync(path, 'old content that is longer than the new one');
  chmodSync(path, 0o640);
  writeFileAtomic(path, '{"new":true}');
  assert.equal(readFileSync(path, 'utf8'), '{"new":true}');
  assert.equal(statSync(path).mode & 0o7777, 0o640);
  assert.deepEqual(readdirSync(dir), ['10-calico.conflist']);
  writeFileAtomic(path, Buffer.from('buffer'));
  assert.equal(readFileSync(path, 'utf8'), 'buffer');
  assert.equal(statSync(path).mode & 0o7777, 0o640);
  assert.deepEqual(readdirSync(dir), ['10-calico.conflist']);
});

test('writeFileAtomic keeps a group-writable mode (0664) whatever the umask', () => {
  const old = process.umask(0o022);
  try {
    const dir = mkdtempSync(join(root, 'aw-'));
    const path = join(dir, 'x.conflist');
    writeFileSync(path, 'a');
    chmodSync(path, 0o664);
    writeFileAtomic(path, 'b');
    assert.equal(statSync(path).mode & 0o7777, 0o664);
  } finally {
    process.umask(old);
  }
});

test('writeFileAtomic creates a new file with the given mode and no temp file left', () => {
  const old = process.umask(0o022);
  try {
    const dir = mkdtempSync(join(root, 'aw-'));
    const path = join(dir, 'new.conflist');
    writeFileAtomic(path, 'x', 0o600);
    assert.equal(readFileSync(path, 'utf8'), 'x');
    assert.equal(statSync(path).mode & 0o7777, 0o600);
    const other = join(dir, 'default.conflist');
    writeFileAtomic(other, 'y');
    assert.equal(statSync(other).mode & 0o7777, 0o644);
    assert.deepEqual(readdirSync(dir).sort(), ['default.conflist', 'new.conflist']);
  } finally {
    process.umask(old);
  }
});

test('writeFileAtomic into a missing directory throws and creates nothing', () => {
  const dir = join(root, 'missing-dir');
  assert.throws(() => writeFileAtomic(join(dir, 'x.conflist'), 'x'), /ENOENT/);
});

test('writeFileAtomic and copyFileAtomic never write through a temp name planted in advance (the old one was .NAME.PID.tmp)', () => {
  const dir = mkdtempSync(join(root, 'aw-'));
  const victim = join(root, `victim-${process.pid}`);
  writeFileSync(victim, 'victim\n', { mode: 0o600 });
  for (const name of ['x.conflist', 'cni-trace']) symlinkSync(victim, join(dir, `.${name}.${process.pid}.tmp`));
  writeFileAtomic(join(dir, 'x.conflist'), 'wrapped');
  copyFileAtomic(join(dir, 'x.conflist'), join(dir, 'cni-trace'));
  assert.equal(readFileSync(victim, 'utf8'), 'victim\n');
  assert.equal(statSync(victim).mode & 0o777, 0o600);
  assert.equal(readFileSync(join(dir, 'x.conflist'), 'utf8'), 'wrapped');
  assert.equal(statSync(join(dir, 'cni-trace')).mode & 0o777, 0o755);
  assert.equal(readdirSync(dir).filter((n) => n.endsWith('.tmp') && !n.includes(String(process.pid))).length, 0, 'no temp file of ours left');
});

test('writeFileAtomic removes its temp file when the rename fails', () => {
  const dir = mkdtempSync(join(root, 'aw-'));
  const path = join(dir, 'a-directory.conflist');
  mkdirSync(path);
  writeFileSync(join(path, 'keep'), '');
  assert.throws(() => writeFileAtomic(path, 'x'));
  assert.deepEqual(readdirSync(dir), ['a-directory.conflist']);
});

test('rule: install wraps a conflist nested deeper than JSON.stringify recurses (as deep as the runtime accepts), and uninstall restores it byte for byte', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cnitrace-deep-'));
  try {
    const depth = 8000;
    const text = `{"cniVersion":"1.0.0","name":"deep","plugins":[{"type":"bridge","x":${'{"a":'.repeat(depth)}{}${'}'.repeat(depth)}}]}`;
    writeFileSync(join(dir, '10-deep.conflist'), text);
    wrapInConfDir(dir, '10-deep.conflist');
    const wrapped = parseConflist(readFileSync(join(dir, '10-deep.conflist'), 'utf8'), 'wrapped');
    assert.ok(isWrapped(wrapped));
    assert.equal(stringifyJson(unwrapConflist(wrapped)), text, 'the original inside, whole'); // deepEqual recurses too
    restoreConfDir(dir);
    assert.equal(readFileSync(join(dir, '10-deep.conflist'), 'utf8'), text);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
