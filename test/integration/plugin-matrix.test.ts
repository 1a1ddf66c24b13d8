/**
 * The fault matrix (RELIABILITY.md), rows that need root, real plugins or the installed
 * executable: journal faults mid-write, a 100 MB flood on stdout and stderr, 100 concurrent
 * ADD+DEL and same-container races against the bare chain, path-like delegate types and
 * CNI_PATH symlink loops, an unsafe journal directory, and fuzzed input through the executable.
 * Every row compares with the bare chain where there is one.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { wrapConflist } from '../../src/cli/conflist.ts';
import type { JsonObject } from '../../src/config/wrapper-entry.ts';
import { InvocationIndex } from '../../src/journal/invocations.ts';
import { followJournal, readJournal, type ReadStats } from '../../src/journal/reader.ts';
import { agentOnce, CLI } from '../support/agent-process.ts';
import { subnetFor } from '../support/chains.ts';
import { runDriver, type DriverCall, type DriverRun } from '../support/driver.ts';
import { DEBIAN_CNI, installCniTrace, installFixtures } from '../support/fixtures.ts';
import { comparableRun, ipamFiles, normalise } from '../support/observe.ts';
import { OtlpReceiver } from '../support/otlp-receiver.ts';
import { hostLinks, iptablesState, keepSysctl, restoreIptables, Sandbox } from '../support/sandbox.ts';

const sb = new Sandbox('faults');
const bin = join(sb.dir, 'bin');
let seq = 0;

before(async () => {
  installCniTrace(bin);
  installFixtures(bin, ['fx-ok', 'fx-huge', 'fx-canary']);
  const restoreForward = await keepSysctl('net.ipv4.ip_forward');
  const ipt = await iptablesState();
  sb.onCleanup(async () => { await restoreIptables(ipt); await restoreForward(); });
});
after(() => sb.cleanup());

/** Bare and wrapped conflist files for `plugins`; returns both and the wrapped form's journal. */
function lists(plugins: JsonObject[], entry: JsonObject = {}): { bare: string; wrapped: string; journal: string } {
  const n = seq++;
  const journal = (entry.journalDir as string | undefined) ?? join(sb.dir, `journal-${n}`);
  const list: JsonObject = { cniVersion: '1.0.0', name: sb.name(`ctf${n}`), plugins };
  const wrapped = wrapConflist(list, { journalDir: journal }) as { plugins: JsonObject[] };
  const files = { bare: join(sb.dir, `f${n}.bare.conflist`), wrapped: join(sb.dir, `f${n}.wrapped.conflist`), journal };
  writeFileSync(files.bare, JSON.stringify(list));
  writeFileSync(files.wrapped, JSON.stringify({ ...wrapped, plugins: [{ ...wrapped.plugins[0]!, ...entry }] }));
  return files;
}

const call = (conflist: string, id: string, extra: Partial<DriverCall> = {}): DriverCall => ({
  conflist, id, netns: '/var/run/netns/cnitrace-unused', path: [bin, DEBIAN_CNI], cacheDir: join(sb.dir, `cache-${id}`), ...extra,
});

const comparable = (r: DriverRun): unknown => normalise(comparableRun(r));

describe('row 1: the journal fails while a call writes it', () => {
  test('missing: the directory and its parents are made (0700); the call is unchanged', async () => {
    const journalDir = join(sb.dir, 'not', 'there', 'yet');
    const f = lists([{ type: 'fx-ok' }], { journalDir });
    const [bare, wrapped] = [await runDriver('add', call(f.bare, 'miss')), await runDriver('add', call(f.wrapped, 'miss'))];
    assert.deepEqual(comparable(wrapped), comparable(bare));
    assert.equal(statSync(journalDir).mode & 0o777, 0o700);
    assert.equal(readJournal(journalDir).length, 4);
  });

  test('full mid-write (ENOSPC on a small tmpfs): the bare outcome, one degraded line, and every reader skips the torn line', async () => {
    const mnt = join(sb.dir, 'small');
    mkdirSync(mnt);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'cnitrace-small', mnt]);
    try {
      const journalDir = join(mnt, 'journal');
      mkdirSync(journalDir, { mode: 0o700 });
      // Leave one 4 KiB page: the begin record fits, the first step.end (its 6 KB result excerpt) does not.
      await execa('dd', ['if=/dev/zero', `of=${join(mnt, 'filler')}`, 'bs=1024', 'count=60'], { reject: false });
      const f = lists([{ type: 'fx-huge', fx: { mode: 'huge', stream: 'stdout', bytes: 6000 } }, { type: 'fx-ok' }], { journalDir });
      const bare = await runDriver('add', call(f.bare, 'full'));
      const wrapped = await runDriver('add', call(f.wrapped, 'full'));
      assert.deepEqual(comparable(wrapped), comparable(bare), 'byte for byte the bare outcome');
      const lines = wrapped.stderr.split('\n').filter((l) => l.includes('tracing degraded'));
      assert.equal(lines.length, 1, wrapped.stderr);
      assert.match(lines[0]!, /ENOSPC/);
      // Whatever was written is readable; a torn last line (a short write) is skipped, not fatal.
      const text = readFileSync(join(journalDir, 'journal.jsonl'), 'utf8');
      assert.ok(text.startsWith('{"rec":"invocation.begin"'), 'the begin record made it');
      const stats: ReadStats = { records: 0, skipped: 0 };
      const recs = readJournal(journalDir, stats);
      assert.ok(recs.length >= 1 && recs.every((r) => typeof r.rec === 'string'));
      assert.equal(stats.skipped, text.endsWith('\n') ? 0 : 1, 'a torn last line is counted as skipped');
    } finally {
      await execa('umount', [mnt]);
    }
  });

  test('a torn last line is detected and skipped by tail, show, stats, follow and the agent', async () => {
    const f = lists([{ type: 'fx-ok' }]);
    assert.equal((await runDriver('add', call(f.wrapped, 'torn'))).outcome.ok, true);
    const whole = readJournal(f.journal);
    appendFileSync(join(f.journal, 'journal.jsonl'), whole[0] ? JSON.stringify(whole[0]).slice(0, 57) : '{"rec":"invoc');
    const tail = await execa(process.execPath, [CLI, 'tail', '--journal', f.journal, '--json'], { reject: false });
    assert.equal(tail.exitCode, 0, tail.stderr);
    assert.equal(tail.stdout.trim().split('\n').length, 1);
    const traceId = (JSON.parse(tail.stdout) as { traceId: string }).traceId;
    assert.equal((await execa(process.execPath, [CLI, 'show', traceId, '--journal', f.journal], { reject: false })).exitCode, 0);
    assert.equal((await execa(process.execPath, [CLI, 'stats', '--journal', f.journal, '--json'], { reject: false })).exitCode, 0);
    const followed: string[] = [];
    const stop = followJournal({ dir: f.journal, intervalMs: 20, onRecord: (r) => followed.push(r.rec) });
    await new Promise((r) => setTimeout(r, 200));
    stop();
    assert.deepEqual(followed, whole.map((r) => r.rec), 'follow (tail -f, the TUI) gives the whole records only');
    const receiver = new OtlpReceiver();
    await receiver.start();
    try {
      const agent = (): ReturnType<typeof agentOnce> => agentOnce(['--journal', f.journal, '--state-dir', join(sb.dir, 'state-torn')], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
      const first = await agent();
      assert.equal(first.exitCode, 0, first.stderr);
      assert.equal(receiver.spans.length, 2, 'the whole invocation (root and step); the torn tail is not exported');
      // The next wrapper appends after the torn bytes, on the same line: its record is recovered.
      assert.equal((await runDriver('add', call(f.wrapped, 'torn2'))).outcome.ok, true);
      const second = await agent();
      assert.equal(second.exitCode, 0, second.stderr);
      assert.equal(receiver.spans.length, 4, 'the next invocation arrives whole, the torn bytes before it skipped');
      assert.equal(new Set(receiver.spans.map((x) => x.spanId)).size, 4);
    } finally {
      await receiver.stop();
    }
  });
});

/** Runs the installed executable directly with a pipe reader as fast as libcni's; samples its peak RSS. */
async function runHuge(stream: 'stdout' | 'stderr', bytes: number): Promise<{ code: number | null; stdoutSha: string; stdoutBytes: number; stderrBytes: number; peakMb: number; nodePeakMb: number; journal: string }> {
  const journal = join(sb.dir, `journal-huge-${stream}`);
  const conf = { cniVersion: '1.0.0', name: 'hugenet', type: 'cni-trace', journalDir: journal, delegates: [{ type: 'fx-huge', fx: { mode: 'huge', stream, bytes } }] };
  const child = spawn(join(bin, 'cni-trace'), [], {
    env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: `huge-${stream}`, CNI_NETNS: '/var/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: bin, PATH: '/usr/bin:/bin' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end(JSON.stringify(conf));
  const hash = createHash('sha256');
  let stdoutBytes = 0;
  let stderrBytes = 0;
  child.stdout.on('data', (c: Buffer) => { hash.update(c); stdoutBytes += c.length; });
  child.stderr.on('data', (c: Buffer) => { stderrBytes += c.length; });
  let peak = 0;
  let nodePeak = 0;
  // The front the runtime execs and the Node part it starts: neither may grow with the flood.
  const hwm = (pid: number | string): number => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]) / 1024);
      return m ? Number(m[1]) / 1024 : 0;
    } catch { return 0; /* exited */ }
  };
  const sampler = setInterval(() => {
    hwm(child.pid!);
    try {
      for (const t of readdirSync(`/proc/${child.pid}/task`)) {
        for (const c of readFileSync(`/proc/${child.pid}/task/${t}/children`, 'utf8').split(' ').filter((x) => x.trim() !== '')) {
          if (readlinkSync(`/proc/${c.trim()}/exe`).endsWith('/cni-trace-node')) nodePeak = Math.max(nodePeak, hwm(c.trim()));
        }
      }
    } catch { /* exited */ }
  }, 10);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(sampler);
  return { code, stdoutSha: hash.digest('hex'), stdoutBytes, stderrBytes, peakMb: peak, nodePeakMb: nodePeak, journal };
}

describe('row 4: a delegate prints 100 MB', () => {
  const MB100 = 100_000_000;
  test('on stderr: all of it forwarded, the wrapper stays small, the journal keeps a marked excerpt', async () => {
    const r = await runHuge('stderr', MB100);
    assert.equal(r.code, 0);
    assert.equal(r.stderrBytes, MB100, 'forwarded whole');
    assert.ok(r.peakMb > 0 && r.peakMb < 160, `peak RSS ${r.peakMb.toFixed(0)} MB`);
    assert.ok(r.nodePeakMb > 0, 'the Node part was sampled too');
    console.log(`# 100 MB on stderr: peak RSS ${r.peakMb.toFixed(0)} MB (the Node part ${r.nodePeakMb.toFixed(0)} MB)`);
    const inv = new InvocationIndex();
    for (const rec of readJournal(r.journal)) inv.add(rec);
    const step = inv.list()[0]!.steps[0]!;
    assert.deepEqual([step.stderr?.bytes, step.stderr?.truncated, step.stderr!.text.length <= 65536], [MB100, true, true]);
  });

  test('on stdout (its result): passed on whole, byte for byte, memory a small multiple of the result', async () => {
    const r = await runHuge('stdout', MB100);
    assert.equal(r.code, 0);
    // The fixture's own output, for comparison.
    const direct = await execa(join(bin, 'fx-huge'), [], { env: { CNI_COMMAND: 'ADD', CNI_IFNAME: 'eth0' }, input: JSON.stringify({ cniVersion: '1.0.0', name: 'hugenet', type: 'fx-huge', fx: { mode: 'huge', stream: 'stdout', bytes: MB100 } }), encoding: 'buffer', maxBuffer: 2e8 });
    assert.equal(r.stdoutBytes, MB100);
    assert.equal(r.stdoutSha, createHash('sha256').update(direct.stdout).digest('hex'), 'the delegate\'s own result');
    assert.ok(r.peakMb < 5 * MB100 / 1e6, `peak RSS ${r.peakMb.toFixed(0)} MB`);
    const inv = new InvocationIndex();
    for (const rec of readJournal(r.journal)) inv.add(rec);
    const got = inv.list()[0]!;
    assert.deepEqual([got.stdout?.bytes, got.stdout?.truncated], [MB100, true], 'the journal holds a marked excerpt');
    console.log(`# 100 MB: stdout peak RSS ${r.peakMb.toFixed(0)} MB`);
  });
});

describe('row 5: concurrency', () => {
  /** host-local's reservations (one file per address held); its last_reserved_ip bookmark is not one. */
  const ipamOf = (dir: string): Record<string, string> => Object.fromEntries(Object.entries(ipamFiles(dir)).filter(([k]) => !k.includes('last_reserved_ip')));

  test('100 concurrent ADD+DEL on different containers: every invocation journaled once, uncorrupted; outcomes equal the bare chain\'s', async () => {
    const outcomes: Record<string, unknown[]> = {};
    let journal = '';
    for (const form of ['bare', 'wrapped'] as const) {
      const br = sb.name(`ctcc${form[0]}`);
      sb.ownLink(br);
      const ipam = join(sb.dir, `ipam-cc-${form}`);
      const f = lists([{ type: 'bridge', bridge: br, ipam: { type: 'host-local', ranges: [[{ subnet: subnetFor(sb, 70) }]], dataDir: ipam } }],
        { journalMaxFileBytes: 64 * 1024, journalMaxFiles: 1000 });
      if (form === 'wrapped') journal = f.journal;
      const nses = await Promise.all(Array.from({ length: 100 }, (_, i) => sb.netns(`c${form[0]}${i}`)));
      const runs = await Promise.all(nses.map(async (netns, i) => {
        const c = call(form === 'bare' ? f.bare : f.wrapped, `cc-${i}`, { netns, cacheDir: join(sb.dir, `cache-cc-${form}`) });
        const add = await runDriver('add', c);
        const del = await runDriver('del', c);
        return { add: add.outcome.ok, del: del.outcome.ok, ip: (add.outcome.result as { ips?: Array<{ address: string }> } | undefined)?.ips?.[0]?.address ?? null };
      }));
      outcomes[form] = runs.map((r) => [r.add, r.del, r.ip !== null]);
      assert.deepEqual(ipamOf(ipam), {}, `${form}: every address released`);
      for (const ns of nses) await execa('ip', ['netns', 'del', ns.split('/').pop()!], { reject: false });
    }
    assert.deepEqual(outcomes.wrapped, outcomes.bare);
    assert.ok((outcomes.bare as boolean[][]).every(([a, d, ip]) => a && d && ip));
    const stats: ReadStats = { records: 0, skipped: 0 };
    const index = new InvocationIndex();
    for (const rec of readJournal(journal, stats)) index.add(rec);
    assert.equal(stats.skipped, 0, 'no torn or interleaved line');
    const invs = index.list();
    assert.equal(invs.length, 200, 'each of the 200 calls journaled once');
    assert.ok(invs.every((i) => i.status === 'ok' && i.steps.length === 2), 'complete: bridge and its host-local call');
    assert.equal(new Set(invs.map((i) => `${i.command} ${i.containerId}`)).size, 200);
  });

  test('ADD and DEL of one container racing, as a runtime does when it gives up on an ADD: the same end state as bare, every call journaled once', async () => {
    const state: Record<string, unknown> = {};
    let journal = '';
    for (const form of ['bare', 'wrapped'] as const) {
      const br = sb.name(`ctcr${form[0]}`);
      sb.ownLink(br);
      const ipam = join(sb.dir, `ipam-race-${form}`);
      const f = lists([{ type: 'bridge', bridge: br, ipam: { type: 'host-local', ranges: [[{ subnet: subnetFor(sb, 71) }]], dataDir: ipam } }]);
      if (form === 'wrapped') journal = f.journal;
      const linksBefore = await hostLinks();
      await Promise.all(Array.from({ length: 20 }, async (_, i) => {
        const netns = await sb.netns(`r${form[0]}${i}`);
        const c = call(form === 'bare' ? f.bare : f.wrapped, `race-${i}`, { netns, cacheDir: join(sb.dir, `cache-race-${form}`) });
        const add = runDriver('add', c);
        await new Promise((r) => setTimeout(r, i % 5));
        await Promise.all([add, runDriver('del', c)]);
        await runDriver('del', c); // the runtime's final clean-up DEL
        await execa('ip', ['netns', 'del', netns.split('/').pop()!], { reject: false });
      }));
      state[form] = { ipam: ipamOf(ipam), veths: (await hostLinks()).filter((l) => !linksBefore.includes(l) && l.startsWith('veth')).length };
    }
    assert.deepEqual(state.wrapped, state.bare);
    assert.deepEqual(state.bare, { ipam: {}, veths: 0 }, 'nothing left behind');
    const stats: ReadStats = { records: 0, skipped: 0 };
    const index = new InvocationIndex();
    for (const rec of readJournal(journal, stats)) index.add(rec);
    assert.equal(stats.skipped, 0);
    assert.equal(index.list().length, 60, '20 × (ADD, racing DEL, final DEL), each once');
    assert.ok(index.list().every((i) => i.status === 'ok' || i.status === 'error'), 'every call ended');
  });
});

describe('row 9: nothing runs outside CNI_PATH', () => {
  test('a delegate type that is a path is refused with code 7, and nothing runs', async () => {
    const canaryLog = join(sb.dir, 'canary-ran');
    writeFileSync(join(sb.dir, 'canary'), `#!/bin/sh\ntouch ${canaryLog}\n`, { mode: 0o755 });
    for (const type of ['../canary', join(sb.dir, 'canary'), '../../bin/sh', './fx-ok']) {
      const f = lists([{ type }]);
      const r = await runDriver('add', call(f.wrapped, 'path'));
      assert.equal(r.outcome.ok, false);
      assert.equal(r.outcome.error?.code, 7, type);
      assert.match(r.outcome.error?.msg ?? '', /delegates\[0\]\.type: invalid plugin name .*must be a name in CNI_PATH, not a path/);
    }
    assert.equal(existsSync(canaryLog), false, 'the canary never ran');
  });

  test('a CNI_PATH entry that is a symlink loop is skipped as libcni skips it; a plugin only there is not found, with libcni\'s message', async () => {
    const loop = join(sb.dir, 'loop');
    symlinkSync(loop, loop);
    const f = lists([{ type: 'fx-ok' }]);
    const ok = [await runDriver('add', call(f.bare, 'loop', { path: [loop, bin] })), await runDriver('add', call(f.wrapped, 'loop', { path: [loop, bin] }))];
    assert.deepEqual(comparable(ok[1]!), comparable(ok[0]!));
    assert.equal(ok[1]!.outcome.ok, true);
    const missing = lists([{ type: 'fx-nowhere' }]);
    const r = await runDriver('add', call(missing.wrapped, 'loop2', { path: [loop, bin] }));
    assert.equal(r.outcome.error?.msg, `failed to find plugin "fx-nowhere" in path [${loop} ${bin}]`);
  });
});

describe('row 11: an unsafe journal directory', () => {
  const once = async (journalDir: string): Promise<{ same: boolean; stderr: string }> => {
    const f = lists([{ type: 'fx-ok' }], { journalDir });
    const [bare, wrapped] = [await runDriver('add', call(f.bare, 'unsafe')), await runDriver('add', call(f.wrapped, 'unsafe'))];
    return { same: JSON.stringify(comparable(bare)) === JSON.stringify(comparable(wrapped)), stderr: wrapped.stderr };
  };

  test('a symlink planted as the journal directory is refused, naming it; nothing is written through it', async () => {
    const target = join(sb.dir, 'elsewhere');
    mkdirSync(target, { mode: 0o700 });
    const link = join(sb.dir, 'journal-link');
    symlinkSync(target, link);
    const r = await once(link);
    assert.ok(r.same);
    assert.match(r.stderr, new RegExp(`tracing degraded.*${link} is a symlink: refused`));
    assert.deepEqual(readdirSync(target), []);
  });

  test('a directory owned by another user is refused', async () => {
    const dir = join(sb.dir, 'journal-foreign');
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, 65534, 65534);
    const r = await once(dir);
    assert.ok(r.same);
    assert.match(r.stderr, /tracing degraded.*is owned by uid 65534, not by this process \(uid 0\): refused/);
  });

  test('a world-writable directory and journal file are repaired to 0700 and 0600, with a line saying so', async () => {
    const dir = join(sb.dir, 'journal-open');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    writeFileSync(join(dir, 'journal.jsonl'), '');
    chmodSync(join(dir, 'journal.jsonl'), 0o666);
    const r = await once(dir);
    assert.ok(r.same);
    assert.match(r.stderr, /cni-trace: journal repaired: .*journal-open was mode 777; set to 700/);
    assert.match(r.stderr, /cni-trace: journal repaired: .*journal\.jsonl was mode 666; set to 600/);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, 'journal.jsonl')).mode & 0o777, 0o600);
    assert.equal(readJournal(dir).length, 4, 'and the call is journaled');
  });
});

test('row 8: fuzzed stdin and env through the installed executable: a valid CNI error JSON with the right code, or the chain\'s outcome; never a stack trace', { timeout: 120_000 }, async () => {
  const { fuzzCases } = await import('../support/fuzz.ts');
  const SEED = 7;
  const journalDir = join(sb.dir, 'journal-fuzz-exe');
  const env = { PATH: '/usr/bin:/bin', CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'fuzz', CNI_NETNS: '/var/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: bin, CNI_ARGS: 'IgnoreUnknown=1' };
  const valid = { cniVersion: '1.0.0', name: 'fuzznet', type: 'cni-trace', journalDir, nested: false, delegates: [{ type: 'fx-ok' }] };
  // An environment variable cannot hold a NUL byte: such cases cannot reach a real process.
  const cases = fuzzCases(SEED, 400, valid, env, sb.dir).filter((c) => Object.values(c.env).every((v) => !v?.includes('\u0000'))).slice(0, 300);
  let refused = 0;
  for (const [i, c] of cases.entries()) {
    const r = await execa(join(bin, 'cni-trace'), [], { env: Object.fromEntries(Object.entries(c.env).filter(([, v]) => v !== undefined)) as Record<string, string>, extendEnv: false, input: c.stdin, reject: false });
    const where = `case ${i} (seed ${SEED}, ${c.kind}): ${JSON.stringify(c.stdin.toString('utf8').slice(0, 120))}`;
    assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at .+[(:]\d/, where);
    assert.ok(r.exitCode !== null && r.signal === undefined, `${where}: exited normally`);
    if (r.exitCode === 0) {
      assert.ok(c.expect.success, `${where}: succeeded where a refusal was due`);
      continue;
    }
    refused++;
    const err = JSON.parse(r.stdout) as { code: number; msg: string };
    assert.ok(c.expect.codes.includes(err.code), `${where}: code ${err.code} (${err.msg})`);
  }
  assert.ok(cases.length >= 250 && refused > 100);
  console.log(`# fuzz through the executable, seed ${SEED}: ${cases.length} cases, ${refused} refused with the expected code, the rest succeeded`);
});
