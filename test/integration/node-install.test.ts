/**
 * `cni-trace install --conf-dir` / `uninstall` against a temporary conf dir, as on a node whose
 * CNI provider owns the conflist: the file the runtime loads is chosen as libcni orders them,
 * wrapped with its original kept byte for byte, idempotently; `--watch` wraps it again each time
 * a simulated provider installer rewrites it (new delegates included) without flapping, and
 * stops fighting a watcher that rewrites it back; `uninstall` restores the original exactly.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { isWrapped } from '../../src/cli/conflist.ts';
import type { JsonObject } from '../../src/config/wrapper-entry.ts';
import { CLI } from '../support/agent-process.ts';
import { Sandbox } from '../support/sandbox.ts';

const sb = new Sandbox('nodeinstall');
after(() => sb.cleanup());
let n = 0;

const cli = (args: string[]) => execa(process.execPath, [CLI, ...args], { reject: false });

/** A provider's conflist, pretty-printed its own way (so "exactly" is tested on bytes, not JSON). */
function providerConflist(delegates: string[], tag = ''): string {
  return `{\n    "name": "k8s-pod-network", "cniVersion": "0.3.1",\n    "plugins": [\n${delegates.map((t) => `      {"type": "${t}", "log_level": "info"${tag}}`).join(',\n')}\n    ]\n}\n`;
}

function dirs(): { bin: string; conf: string } {
  const d = { bin: join(sb.dir, `bin-${n}`), conf: join(sb.dir, `net.d-${n}`) };
  n++;
  mkdirSync(d.conf, { recursive: true });
  return d;
}

/** Writes like an installer that replaces the file atomically. */
function providerWrite(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

const parsed = (file: string): JsonObject => JSON.parse(readFileSync(file, 'utf8')) as JsonObject;
const delegatesOf = (file: string): string[] => ((parsed(file).plugins as JsonObject[])[0]!.delegates as JsonObject[]).map((d) => d.type as string);

test('install wraps the conflist the runtime loads (the lexically first loadable), keeps the original, and is idempotent; uninstall restores it exactly', async () => {
  const d = dirs();
  writeFileSync(join(d.conf, '00-broken.conflist'), '{ not json');
  writeFileSync(join(d.conf, '05-notes.txt'), 'not a config');
  const original = providerConflist(['calico', 'bandwidth', 'portmap']);
  writeFileSync(join(d.conf, '10-calico.conflist'), original, { mode: 0o644 });
  writeFileSync(join(d.conf, '20-other.conflist'), providerConflist(['bridge']));
  const first = await cli(['install', '--bin-dir', d.bin, '--conf-dir', d.conf]);
  assert.equal(first.exitCode, 0, first.stderr);
  assert.match(first.stdout, /wrapped .*10-calico\.conflist \(original kept in .*\.cni-trace\)/);
  const target = join(d.conf, '10-calico.conflist');
  assert.ok(isWrapped(parsed(target)));
  assert.deepEqual(delegatesOf(target), ['calico', 'bandwidth', 'portmap']);
  assert.equal(readFileSync(join(d.conf, '.cni-trace', '10-calico.conflist'), 'utf8'), original, 'the original, byte for byte');
  assert.equal(readFileSync(join(d.conf, '20-other.conflist'), 'utf8'), providerConflist(['bridge']), 'other files untouched');
  assert.equal(statSync(target).mode & 0o777, 0o644, 'the mode kept');
  assert.ok(existsSync(join(d.bin, 'cni-trace')));
  assert.ok(existsSync(join(d.bin, 'cni-trace-node')), 'the Node part beside the front');

  const wrappedBytes = readFileSync(target);
  const mtime = statSync(target).mtimeMs;
  const again = await cli(['install', '--bin-dir', d.bin, '--conf-dir', d.conf]);
  assert.equal(again.exitCode, 0);
  assert.match(again.stdout, /is already wrapped/);
  assert.deepEqual(readFileSync(target), wrappedBytes);
  assert.equal(statSync(target).mtimeMs, mtime, 'not even rewritten');
  assert.equal(readFileSync(join(d.conf, '.cni-trace', '10-calico.conflist'), 'utf8'), original, 'the backup is still the original');

  const un = await cli(['uninstall', '--bin-dir', d.bin, '--conf-dir', d.conf]);
  assert.equal(un.exitCode, 0, un.stderr);
  assert.equal(readFileSync(target, 'utf8'), original, 'restored byte for byte');
  assert.equal(existsSync(join(d.conf, '.cni-trace')), false);
  assert.equal(existsSync(join(d.bin, 'cni-trace')), false);
  assert.equal(existsSync(join(d.bin, 'cni-trace-node')), false);
});

test('a symlinked conflist: install replaces the link with the wrapped file, leaving the file it points to alone; uninstall puts the link back exactly', async () => {
  const d = dirs();
  const provider = join(sb.dir, `provider-${n}`);
  mkdirSync(provider);
  const original = providerConflist(['calico', 'portmap']);
  writeFileSync(join(provider, 'calico.conflist'), original, { mode: 0o644 });
  const linkText = `../provider-${n}/calico.conflist`; // relative, as a provider's installer may write it
  const conf = join(d.conf, '10-calico.conflist');
  symlinkSync(linkText, conf);
  const install = await cli(['install', '--bin-dir', d.bin, '--conf-dir', d.conf]);
  assert.equal(install.exitCode, 0, install.stderr);
  assert.ok(!lstatSync(conf).isSymbolicLink() && isWrapped(parsed(conf)), 'the link is replaced by the wrapped conflist');
  assert.deepEqual(delegatesOf(conf), ['calico', 'portmap']);
  assert.equal(readFileSync(join(provider, 'calico.conflist'), 'utf8'), original, 'the file it pointed to is untouched');
  assert.equal(readlinkSync(join(d.conf, '.cni-trace', '10-calico.conflist')), linkText, 'the backup is the link');
  const uninstall = await cli(['uninstall', '--bin-dir', d.bin, '--conf-dir', d.conf]);
  assert.equal(uninstall.exitCode, 0, uninstall.stderr);
  assert.ok(lstatSync(conf).isSymbolicLink(), 'the link is back');
  assert.equal(readlinkSync(conf), linkText, 'with its exact text');
  assert.equal(readFileSync(conf, 'utf8'), original);
  assert.equal(readFileSync(join(provider, 'calico.conflist'), 'utf8'), original);
  assert.ok(!existsSync(join(d.conf, '.cni-trace')));
});

test('--conflist names the file; a single-plugin .conf first in line is refused with how to fix it', async () => {
  const d = dirs();
  writeFileSync(join(d.conf, '10-bridge.conf'), '{"cniVersion":"0.3.1","name":"b","type":"bridge"}');
  writeFileSync(join(d.conf, '20-net.conflist'), providerConflist(['ptp']));
  const refused = await cli(['install', '--bin-dir', d.bin, '--conf-dir', d.conf]);
  assert.notEqual(refused.exitCode, 0);
  assert.match(refused.stderr, /10-bridge\.conf is a single-plugin \.conf; cni-trace wraps conflists: convert it/);
  const named = await cli(['install', '--bin-dir', d.bin, '--conf-dir', d.conf, '--conflist', '20-net.conflist', '--journal-dir', '/var/log/x']);
  assert.equal(named.exitCode, 0, named.stderr);
  assert.equal((parsed(join(d.conf, '20-net.conflist')).plugins as JsonObject[])[0]!.journalDir, '/var/log/x');
});

/** `install --watch` as a process; its output lines so far. */
function watcher(d: { bin: string; conf: string }): { proc: ResultPromise; lines: () => string[] } {
  const proc = execa(process.execPath, [CLI, 'install', '--bin-dir', d.bin, '--conf-dir', d.conf, '--watch'], { reject: false, buffer: false });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  return { proc, lines: () => out.split('\n').filter(Boolean) };
}

async function until(ok: () => boolean, what: string, ms = 5000): Promise<void> {
  for (const start = Date.now(); !ok(); await sleep(50)) if (Date.now() - start > ms) assert.fail(`timed out waiting for ${what}`);
}

test('--watch: each rewrite by the provider\'s installer is wrapped again, new delegates included, once each; uninstall then restores the provider\'s latest', { timeout: 60_000 }, async () => {
  const d = dirs();
  const file = join(d.conf, '10-calico.conflist');
  providerWrite(file, providerConflist(['calico', 'portmap']));
  const w = watcher(d);
  try {
    await until(() => existsSync(file) && isWrapped(parsed(file)), 'the first wrap');
    const versions = [['calico', 'portmap'], ['calico', 'bandwidth', 'portmap'], ['calico', 'bandwidth', 'portmap', 'tuning'], ['calico']];
    for (const [k, delegates] of versions.entries()) {
      const text = providerConflist(delegates, `, "rev": ${k}`);
      providerWrite(file, text);
      await until(() => { try { return isWrapped(parsed(file)) && delegatesOf(file).join() === delegates.join(); } catch { return false; } }, `rewrite ${k} wrapped`);
      assert.equal(readFileSync(join(d.conf, '.cni-trace', '10-calico.conflist'), 'utf8'), text, 'the backup follows the provider');
    }
    // A non-atomic rewrite, in two steps: only the finished file is wrapped.
    const last = providerConflist(['calico', 'tuning'], ', "rev": 9');
    writeFileSync(file, last.slice(0, 30));
    await sleep(60);
    writeFileSync(file, last);
    await until(() => { try { return isWrapped(parsed(file)) && delegatesOf(file).join() === 'calico,tuning'; } catch { return false; } }, 'the non-atomic rewrite wrapped');
    await sleep(1500);
    const wraps = w.lines().filter((l) => l.includes('rewritten by another installer'));
    assert.equal(wraps.length, versions.length + 1, `one wrap per rewrite, no flapping:\n${w.lines().join('\n')}`);
  } finally {
    w.proc.kill('SIGTERM');
    await w.proc;
  }
  const un = await cli(['uninstall', '--bin-dir', d.bin, '--conf-dir', d.conf]);
  assert.equal(un.exitCode, 0);
  assert.equal(readFileSync(file, 'utf8'), providerConflist(['calico', 'tuning'], ', "rev": 9'), 'the provider\'s latest, exactly');
});

test('--watch against a watcher that rewrites the file back each time: it stops fighting after a few rounds, with a warning', { timeout: 60_000 }, async () => {
  const d = dirs();
  const file = join(d.conf, '10-flannel.conflist');
  const theirs = providerConflist(['flannel', 'portmap']);
  providerWrite(file, theirs);
  // The other side: whenever the file is not their text, put their text back.
  const fighter = execa(process.execPath, ['-e', `
    const fs = require('node:fs');
    let n = 0;
    setInterval(() => {
      let t = '';
      try { t = fs.readFileSync(${JSON.stringify(file)}, 'utf8'); } catch {}
      if (t !== ${JSON.stringify(theirs)}) { fs.writeFileSync(${JSON.stringify(file)} + '.x', ${JSON.stringify(theirs)}); fs.renameSync(${JSON.stringify(file)} + '.x', ${JSON.stringify(file)}); console.log('restored', ++n); }
    }, 100);`], { reject: false, buffer: false });
  let fights = 0;
  fighter.stdout!.on('data', (c: Buffer) => { fights += c.toString().split('\n').filter(Boolean).length; });
  const w = watcher(d);
  try {
    await until(() => w.lines().some((l) => l.includes('another process rewrites it back')), 'the warning', 15_000);
    const at = fights;
    await sleep(3000);
    assert.ok(fights - at <= 1, `no more tug of war once it backed off (${fights - at} more rounds)`);
    assert.ok(w.lines().filter((l) => l.includes('rewritten by another installer')).length <= 4, w.lines().join('\n'));
  } finally {
    w.proc.kill('SIGTERM');
    fighter.kill('SIGTERM');
    await Promise.all([w.proc, fighter]);
  }
});
