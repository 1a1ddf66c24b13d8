/**
 * Nested tracing against a local attacker and hostile plugins (issue 17, defects 1 and 4),
 * through the installed executable and the libcni driver, over bridge + host-local:
 *  - 17.1: a runDir the attacker owns, that is root's but world-writable, that is a symlink to
 *    the attacker's directory, or whose parent the attacker owns. The attacker (an unprivileged
 *    user made by the test) watches runDir and swaps each new invocation directory for its own,
 *    holding a `host-local` that touches a marker as root. The wrapper must refuse the runDir:
 *    ADD and DEL give the bare chain's outcome, the marker never appears, one stderr line says
 *    why, and the journal has the calls without nested steps. A good runDir under a root-owned
 *    sticky directory (as /tmp) works.
 *  - 17.4: a nested plugin exiting 137, 143, 147, 150 is an exit status to its caller and in the
 *    journal; one killed by SIGTERM or SIGKILL is a death by that signal (147-150 used to stop
 *    the shim and hang the call: the driver's deadline bounds the test).
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { wrapConflist } from '../../src/cli/conflist.ts';
import type { JsonObject } from '../../src/config/wrapper-entry.ts';
import { InvocationIndex, type Invocation } from '../../src/journal/invocations.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { subnetFor } from '../support/chains.ts';
import { runDriver, type DriverCall, type DriverRun } from '../support/driver.ts';
import { DEBIAN_CNI, installCniTrace, installFixtures } from '../support/fixtures.ts';
import { LocalUser } from '../support/local-user.ts';
import { comparableRun, normalise } from '../support/observe.ts';
import { iptablesState, keepSysctl, restoreIptables, Sandbox } from '../support/sandbox.ts';

const sb = new Sandbox('hostile');
const bin = join(sb.dir, 'bin');
let user: LocalUser;
let seq = 0;

/** The attacker: swaps every new <16 hex> entry of runDir for its own dir with a planted host-local. */
const ATTACK = `
import os, sys, time
run, marker, stop = sys.argv[1:4]
st = os.lstat(run)
if not os.path.islink(run) and st.st_uid != os.getuid() and not st.st_mode & 0o002:
    # root's runDir in a directory we own: put our own in its place
    os.rename(run, run + '.root')
    os.mkdir(run, 0o755)
seen = set(os.listdir(run))
deadline = time.time() + 120
while time.time() < deadline and not os.path.exists(stop):
    for n in os.listdir(run):
        if n in seen:
            continue
        seen.add(n)
        if len(n) != 16 or not set(n) <= set('0123456789abcdef'):
            continue
        p = os.path.join(run, n)
        # Let the wrapper finish its set-up in there first: bin/ and calls/ make 4 links, then its shims.
        t = time.time()
        while time.time() < t + 0.05 and os.path.exists(p) and os.lstat(p).st_nlink < 4:
            time.sleep(0.0001)
        time.sleep(0.002)
        try:
            os.rename(p, p + '.gone')
            seen.add(n + '.gone')
            os.makedirs(os.path.join(p, 'bin'))
            f = os.path.join(p, 'bin', 'host-local')
            with open(f, 'w') as fh:
                fh.write('#!/bin/sh\\ntouch %s\\nexec ${DEBIAN_CNI}/host-local "$@"\\n' % marker)
            for q in (f, os.path.join(p, 'bin'), p):
                os.chmod(q, 0o755)
            print(n, flush=True)
        except OSError as e:
            print('failed', n, e, flush=True)
    time.sleep(0.0002)
`;

before(async () => {
  installCniTrace(bin);
  installFixtures(bin, ['fx-top', 'fx-leaf']);
  user = await LocalUser.create();
  sb.onCleanup(() => user.remove());
  chmodSync(sb.dir, 0o755); // the attacker must reach the directories it attacks
  writeFileSync(join(sb.dir, 'attack.py'), ATTACK, { mode: 0o644 });
  const restoreForward = await keepSysctl('net.ipv4.ip_forward');
  const ipt = await iptablesState();
  sb.onCleanup(async () => { await restoreIptables(ipt); await restoreForward(); });
});
after(() => sb.cleanup());

function invocations(journal: string): Invocation[] {
  const index = new InvocationIndex();
  for (const r of readJournal(journal)) index.add(r);
  return index.list();
}

/** Writes the bare or wrapped (with this runDir) form of a conflist. */
function conflist(plugins: JsonObject[], name: string, wrapped: { runDir: string; journal: string } | null): string {
  const n = seq++;
  const list: JsonObject = { cniVersion: '1.0.0', name, plugins };
  let json = list;
  if (wrapped) {
    const w = wrapConflist(list, { journalDir: wrapped.journal });
    json = { ...w, plugins: [{ ...(w.plugins as JsonObject[])[0]!, runDir: wrapped.runDir }] };
  }
  const file = join(sb.dir, `net-${n}.conflist`);
  writeFileSync(file, JSON.stringify(json));
  return file;
}

const call = (file: string, id: string, extra: Partial<DriverCall> = {}): DriverCall => ({
  conflist: file, id, netns: '/var/run/netns/cnitrace-unused', path: [bin, DEBIAN_CNI], cacheDir: join(sb.dir, `cache-${id}`), ...extra,
});

/** ADD then DEL of a bridge + host-local network, bare and wrapped; returns both and the wrapped runs. */
async function addDel(label: string, runDir: string, journal: string): Promise<{ bare: unknown[]; wrapped: unknown[]; runs: DriverRun[] }> {
  const br = sb.name(`cth${label}`);
  sb.ownLink(br);
  const out: Record<string, unknown[]> = {};
  let runs: DriverRun[] = [];
  for (const form of ['bare', 'wrapped'] as const) {
    const plugins = [{ type: 'bridge', bridge: br, ipam: { type: 'host-local', ranges: [[{ subnet: subnetFor(sb, 60) }]], dataDir: join(sb.dir, `ipam-${form}-${label}`) } }];
    const file = conflist(plugins, sb.name(`cth${label}`), form === 'wrapped' ? { runDir, journal } : null);
    const netns = await sb.netns(`${label}${form[0]}`);
    const c = call(file, `hostile-${label}`, { netns, cacheDir: join(sb.dir, `cache-${label}-${form}`) });
    const r = [await runDriver('add', c), await runDriver('del', c)];
    out[form] = r.map((x) => normalise(comparableRun(x)));
    if (form === 'wrapped') runs = r;
  }
  return { bare: out.bare!, wrapped: out.wrapped!, runs };
}

/** A directory owned by the attacker. */
function usersDir(path: string): string {
  mkdirSync(path, { mode: 0o755 });
  chownSync(path, user.uid, user.gid);
  return path;
}

const cases: Array<[label: string, setUp: () => { runDir: string; watch: string }, reason: RegExp]> = [
  ['a', () => { const d = usersDir(join(sb.dir, 'run-a')); return { runDir: d, watch: d }; }, /run-a is owned by uid \d+, not by this process \(uid 0\): refused/],
  ['b', () => {
    const d = join(sb.dir, 'run-b');
    mkdirSync(d);
    chmodSync(d, 0o777);
    return { runDir: d, watch: d };
  }, /run-b is writable by group or others \(mode 777\): refused/],
  ['c', () => {
    const target = usersDir(join(sb.dir, 'user-c'));
    symlinkSync(target, join(sb.dir, 'run-c'));
    return { runDir: join(sb.dir, 'run-c'), watch: target };
  }, /run-c is a symbolic link: refused/],
  ['d', () => {
    const parent = usersDir(join(sb.dir, 'user-d'));
    mkdirSync(join(parent, 'run'), { mode: 0o700 });
    return { runDir: join(parent, 'run'), watch: join(parent, 'run') };
  }, /user-d is owned by uid \d+, not by root: refused/],
];

for (const [label, setUp, reason] of cases) {
  test(`17.1 (${label}): a runDir an unprivileged user can write is refused; its planted host-local never runs`, { timeout: 120_000 }, async () => {
    const { runDir, watch } = setUp();
    const marker = join(sb.dir, `planted-ran-${label}`);
    const home = usersDir(join(sb.dir, `attacker-${label}`));
    const stop = join(home, 'stop');
    const attacker = user.run('/usr/bin/python3', [join(sb.dir, 'attack.py'), watch, marker, stop]);
    try {
      await new Promise((r) => setTimeout(r, 300)); // the attacker is watching
      const journal = join(sb.dir, `journal-${label}`);
      const { bare, wrapped, runs } = await addDel(label, runDir, journal);
      assert.equal(existsSync(marker), false, 'the planted host-local never ran as root');
      assert.deepEqual(wrapped, bare, 'ADD and DEL as the bare chain');
      for (const r of runs) {
        const lines = r.stderr.split('\n').filter((l) => l.includes('nested tracing off'));
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0]!, /^cni-trace: nested tracing off for this call, the network operation is unaffected: cannot prepare nested tracing in /);
        assert.match(lines[0]!, reason);
      }
      const invs = invocations(journal);
      assert.deepEqual(invs.map((i) => [i.command, i.status, i.steps.map((s) => s.plugin)]), [['ADD', 'ok', ['bridge']], ['DEL', 'ok', ['bridge']]], 'journaled, without nested steps');
    } finally {
      writeFileSync(stop, '');
      const res = await attacker;
      console.log(`# 17.1 (${label}): attacker exit ${res.exitCode}; swapped: ${String(res.stdout ?? "").trim() || 'nothing'} ${String(res.stderr ?? "").trim()}`);
    }
  });
}

test('17.1: a good runDir under a root-owned sticky directory (as /tmp) is used: host-local is a nested step', async () => {
  const sticky = join(sb.dir, 'sticky');
  mkdirSync(sticky);
  chmodSync(sticky, 0o1777);
  const journal = join(sb.dir, 'journal-sticky');
  const { bare, wrapped, runs } = await addDel('s', join(sticky, 'run'), journal);
  assert.deepEqual(wrapped, bare);
  assert.ok(runs.every((r) => !r.stderr.includes('nested tracing off')), runs.map((r) => r.stderr).join(''));
  for (const inv of invocations(journal)) {
    assert.deepEqual(inv.steps.map((s) => [s.plugin, s.depth, s.status]), [['bridge', 0, 'ok'], ['host-local', 1, 'ok']]);
  }
  assert.deepEqual(readdirSync(join(sticky, 'run')).filter((n) => !n.startsWith('shims-')), [], 'no invocation directory left');
});

/** fx-top calls fx-leaf, which ends as `leaf` says; bare and wrapped ADD compared. */
async function nestedEnding(label: string, leaf: JsonObject): Promise<{ bare: unknown; wrapped: unknown; inv: Invocation }> {
  const journal = join(sb.dir, `journal-end-${label}`);
  const plugins = [{ type: 'fx-top', fx: { mode: 'call', call: { type: 'fx-leaf', fx: leaf } } }];
  const out: Record<string, unknown> = {};
  for (const form of ['bare', 'wrapped'] as const) {
    const file = conflist(plugins, sb.name(`cte${label}`), form === 'wrapped' ? { runDir: join(sb.dir, 'run-good'), journal } : null);
    // A deadline, not a timing assertion: a stopped shim would otherwise hang the call for good.
    out[form] = normalise(comparableRun(await runDriver('add', call(file, `end-${label}-${form}`, { timeout: '20s' }))));
  }
  return { bare: out.bare, wrapped: out.wrapped, inv: invocations(journal)[0]! };
}

for (const code of [137, 143, 147, 150]) {
  test(`17.4: a nested plugin exiting ${code} is an exit status ${code} to its caller and in the journal`, { timeout: 60_000 }, async () => {
    const { bare, wrapped, inv } = await nestedEnding(`x${code}`, { mode: 'die', exit: code });
    assert.deepEqual(wrapped, bare, 'the caller saw what it sees without tracing');
    assert.match(JSON.stringify(bare), new RegExp(`exit status ${code}`));
    const [top, leaf] = inv.steps;
    assert.deepEqual([leaf?.plugin, leaf?.exitCode, leaf?.signal], ['fx-leaf', code, null], 'journaled as an exit status');
    assert.deepEqual([top?.plugin, top?.exitCode, top?.signal], ['fx-top', code, null], 'the caller got the exit status');
  });
}

for (const signal of ['SIGTERM', 'SIGKILL']) {
  test(`17.4: a nested plugin killed by ${signal} is a death by ${signal} to its caller and in the journal`, { timeout: 60_000 }, async () => {
    const { bare, wrapped, inv } = await nestedEnding(signal.toLowerCase(), { mode: 'signal', signal });
    assert.deepEqual(wrapped, bare);
    assert.match(JSON.stringify(bare), /signal: (terminated|killed)/);
    const [top, leaf] = inv.steps;
    assert.deepEqual([leaf?.plugin, leaf?.exitCode, leaf?.signal], ['fx-leaf', null, signal]);
    assert.deepEqual([top?.plugin, top?.exitCode, top?.signal], ['fx-top', null, signal], 'the caller saw the death by signal (and died of it)');
  });
}
