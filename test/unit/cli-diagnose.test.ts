/**
 * `cni-trace diagnose` over hand-built journals, read through the streaming core: each finding
 * (slow call and slow plugin or command, errors grouped, a leaked attachment and a DEL without
 * an ADD, a retried sandbox, an abandoned call, an exhausted range) with its evidence and next
 * step — and nothing at all in a clean run.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { diagnoseReport, renderDiagnosis } from '../../src/cli/diagnose.ts';
import type { Json } from '../../src/config/wrapper-entry.ts';
import type { JournalRecord, StepEnd } from '../../src/journal/record.ts';
import type { Finding } from '../../src/view/findings.ts';
import { ns } from '../support/records.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-diagnose-'));
after(() => rmSync(root, { recursive: true, force: true }));
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const DEAD_PID = 2 ** 22 + 17; // above pid_max's default: no such process

interface StepSpec { plugin: string; ms: number; status?: StepEnd['status']; msg?: string; argv?: string[]; parent?: number; stderr?: string }
interface CallSpec {
  command?: 'ADD' | 'DEL'; pod: string; container?: string; netns?: string; network?: string; at: number; ms?: number;
  steps?: StepSpec[]; ips?: string[]; error?: string; ended?: boolean; subnet?: string; rangeStart?: string; rangeEnd?: string;
}

let spans = 0;
const span = (): string => (++spans).toString(16).padStart(16, '0');

/** One invocation's records, as the wrapper writes them. */
function call(c: CallSpec): JournalRecord[] {
  const id = span();
  const command = c.command ?? 'ADD';
  const steps = c.steps ?? [{ plugin: 'bridge', ms: 20 }, { plugin: 'portmap', ms: 50 }];
  const ms = c.ms ?? steps.filter((s) => s.parent === undefined && !s.argv).reduce((a, s) => a + s.ms, 5);
  const ipam = { type: 'host-local', ranges: [[{ subnet: c.subnet ?? '10.9.0.0/24', ...(c.rangeStart ? { rangeStart: c.rangeStart, rangeEnd: c.rangeEnd! } : {}) }]] };
  const out: JournalRecord[] = [{
    rec: 'invocation.begin', v: 1, traceId: TRACE, spanId: id, traceFlags: '01', command, containerId: c.container ?? `ctr-${c.pod}`,
    netns: c.netns ?? `/var/run/netns/${c.pod}`, ifname: 'eth0', network: c.network ?? 'main', cniVersion: '1.0.0',
    pod: { namespace: 'demo', name: c.pod }, startNs: ns(c.at), env: {}, pid: DEAD_PID,
    stdin: { name: c.network ?? 'main', delegates: [{ type: 'bridge', ipam }, { type: 'portmap' }] } as unknown as Json, delegates: ['bridge', 'portmap'],
  }];
  let t = c.at + 1;
  const ids: string[] = [];
  for (const [i, s] of steps.entries()) {
    const sid = span();
    ids.push(sid);
    const key = { v: 1 as const, traceId: TRACE, invocationSpanId: id, spanId: sid, index: i, plugin: s.plugin, command };
    const start = s.parent !== undefined || s.argv ? t - 0.5 : t;
    out.push({ rec: 'step.begin', ...key, path: `/usr/lib/cni/${s.plugin}`, startNs: ns(start), stdin: s.argv ? null : {}, ...(s.parent !== undefined ? { parentSpanId: ids[s.parent]! } : {}), ...(s.argv ? { argv: s.argv } : {}) });
    const error = s.msg ? { code: 11, msg: s.msg } : undefined;
    const text = (x: string): { text: string; bytes: number; truncated: boolean } => ({ text: x, bytes: x.length, truncated: false });
    out.push({
      rec: 'step.end', ...key, endNs: ns(start + s.ms), durationNs: String(s.ms * 1e6), pid: null, exitCode: s.status === 'error' ? 1 : 0, signal: null,
      status: s.status ?? 'ok', ...(error ? { error } : {}), stdout: text('{}'), stderr: text(s.stderr ?? ''),
    });
    if (s.parent === undefined && !s.argv) t += s.ms;
  }
  if (c.ended === false) return out;
  const failed = c.error !== undefined;
  const result = JSON.stringify({ cniVersion: '1.0.0', ips: (c.ips ?? []).map((a) => ({ address: `${a}/24` })) });
  out.push({
    rec: 'invocation.end', v: 1, traceId: TRACE, spanId: id, command, endNs: ns(c.at + ms), durationNs: String(ms * 1e6),
    exitCode: failed ? 1 : 0, status: failed ? 'error' : 'ok', ...(failed ? { error: { code: 11, msg: c.error! } } : {}),
    stdout: { text: command === 'ADD' && !failed ? result : '', bytes: 0, truncated: false },
  });
  return out;
}

let journals = 0;
function diagnose(calls: CallSpec[], gone: (path: string) => boolean = () => true): { findings: Finding[]; text: string } {
  const dir = join(root, `j${++journals}`);
  rmSync(dir, { recursive: true, force: true });
  const { mkdirSync } = process.getBuiltinModule('node:fs');
  mkdirSync(dir);
  writeFileSync(join(dir, 'journal.jsonl'), calls.flatMap(call).map((r) => JSON.stringify(r)).join('\n') + '\n');
  const report = diagnoseReport(dir, undefined, gone);
  return { findings: [...report.findings], text: renderDiagnosis(report, false) };
}

/** A clean node: pods started and stopped, every call alike, addresses to spare. */
function clean(n = 10, from = 0): CallSpec[] {
  return Array.from({ length: n }, (_, i) => [
    { pod: `web-${from + i}`, at: (from + i) * 1000, ips: [`10.9.0.${from + i + 2}`] },
    { command: 'DEL' as const, pod: `web-${from + i}`, at: (from + i) * 1000 + 500, steps: [{ plugin: 'portmap', ms: 40 }, { plugin: 'bridge', ms: 20 }] },
  ]).flat();
}

test('a clean run: nothing found, and the text says over what', () => {
  const { findings, text } = diagnose(clean());
  assert.deepEqual(findings, []);
  assert.equal(text, 'nothing found in 20 invocations');
});

test('a slow call: named with the step that took the time; a plugin and a command slower than their own baseline', () => {
  const calls = [
    ...clean(8),
    { pod: 'web-3x', network: 'slow', at: 9000, ips: ['10.9.0.40'], steps: [{ plugin: 'bridge', ms: 20 }, { plugin: 'demo-slow-policy', ms: 1500 }] },
    { command: 'DEL' as const, pod: 'web-3x', network: 'slow', at: 11000 },
    { pod: 'web-9', at: 12000, ips: ['10.9.0.41'], steps: [{ plugin: 'bridge', ms: 20 }, { plugin: 'portmap', ms: 400 }, { plugin: 'iptables', ms: 380, parent: 1, argv: ['/usr/sbin/iptables', '-t', 'nat', '-A', 'CNI-HOSTPORT-DNAT', '--wait'], stderr: 'Another app is currently holding the xtables lock; waiting (1s) for it to exit...\n' }] },
    { command: 'DEL' as const, pod: 'web-9', at: 13000 },
    // portmap's iptables calls elsewhere take 10 ms: its baseline (20 runs and more: a p95 that is not just the slowest).
    ...Array.from({ length: 12 }, (_, i) => ({ pod: `api-${i}`, at: 14000 + i * 100, ips: [`10.9.0.${50 + i}`], steps: [{ plugin: 'bridge', ms: 20 }, { plugin: 'portmap', ms: 50 }, { plugin: 'iptables', ms: 10, parent: 1, argv: ['/usr/sbin/iptables', '-t', 'nat', '-S'] }, { plugin: 'iptables', ms: 12, parent: 1, argv: ['/usr/sbin/iptables', '-t', 'nat', '-N', 'X'] }] })),
    ...Array.from({ length: 12 }, (_, i) => ({ command: 'DEL' as const, pod: `api-${i}`, at: 16000 + i * 100 })),
  ];
  const { findings, text } = diagnose(calls);
  assert.ok(findings.every((f) => f.kind === 'slow'), JSON.stringify(findings.map((f) => f.title)));
  const titles = findings.map((f) => f.title);
  assert.ok(titles.some((t) => /^ADD of demo\/web-3x took 1\.52s, 1\.50s of it in demo-slow-policy/.test(t)), titles.join('\n'));
  const portmap = findings.find((f) => f.title.startsWith('plugin portmap ADD'))!;
  assert.match(portmap.title, /slower than its own baseline in 1 call: up to 400\.0ms against a median of 50\.0ms \(p95 50\.0ms, 21 runs\)/);
  assert.match(portmap.evidence[0]!, /demo\/web-9: portmap 400\.0ms/);
  const iptables = findings.find((f) => f.title.startsWith('command iptables'))!;
  assert.match(iptables.evidence[0]!, /iptables 380\.0ms {2}\/usr\/sbin\/iptables -t nat -A CNI-HOSTPORT-DNAT --wait {2}stderr: Another app is currently holding the xtables lock/);
  assert.match(iptables.next, /it waited on the xtables lock/);
  assert.match(text, /^\d findings in 44 invocations:/);
  assert.match(text, /→ cni-trace show --pod demo\/web-3x/);
});

test('errors grouped by the plugin that failed first and its message, with the first and the last pod', () => {
  const fail = (pod: string, at: number, msg: string): CallSpec => ({ pod, at, error: msg, steps: [{ plugin: 'bridge', ms: 20, status: 'error', msg: 'wrapped' }, { plugin: 'host-local', ms: 5, parent: 0, status: 'error', msg }] });
  const { findings } = diagnose([...clean(6), fail('a', 7000, 'failed to allocate'), fail('b', 8000, 'failed to allocate'), fail('c', 9000, 'disk full')]);
  const errors = findings.filter((f) => f.kind === 'errors');
  assert.deepEqual(errors.map((f) => [f.title, f.count]), [['host-local failed 2 times: failed to allocate', 2], ['host-local failed 1 time: disk full', 1]]);
  assert.match(errors[0]!.evidence[0]!, /^first: \S+ {2}ADD demo\/a$/);
  assert.match(errors[0]!.evidence[1]!, /^last: {2}\S+ {2}ADD demo\/b$/);
  assert.match(errors[0]!.next, /cni-trace show --pod demo\/b .*tail --status error --plugin host-local/);
});

test('a leaked attachment: ADDed, never DELeted, its netns gone; a pod still running is not one; a DEL without an ADD', () => {
  const calls = [...clean(4), { pod: 'leaky', at: 9000, ips: ['10.9.0.77'], netns: '/var/run/netns/gone' }, { pod: 'running', at: 9100, ips: ['10.9.0.78'], netns: '/var/run/netns/here' }, { command: 'DEL' as const, pod: 'ghost', at: 9500 }];
  const { findings } = diagnose(calls, (p) => p !== '/var/run/netns/here');
  const leaks = findings.filter((f) => f.kind === 'leaked');
  assert.equal(leaks.length, 2);
  assert.match(leaks[0]!.title, /^1 attachment was ADDed and never DELeted, and the pod's network namespace is gone/);
  assert.match(leaks[0]!.evidence[0]!, /ADD demo\/leaky container ctr-leaky eth0 on main: 10\.9\.0\.77; netns \/var\/run\/netns\/gone no longer exists/);
  assert.ok(!leaks[0]!.evidence.join().includes('running'));
  assert.match(leaks[1]!.title, /^1 DEL without an ADD in the window/);
  assert.match(leaks[1]!.evidence[0]!, /DEL demo\/ghost/);
});

test('a container ADDed again and again; calls abandoned at the deadline, with the step that was running', () => {
  const retry = (at: number): CallSpec => ({ pod: 'crashy', container: 'ctr-same', at, error: 'timeout', steps: [{ plugin: 'bridge', ms: 20, status: 'error', msg: 'timeout' }] });
  const { findings } = diagnose([...clean(4), retry(6000), retry(7000), retry(8000), { pod: 'stuck', at: 9000, ended: false, steps: [{ plugin: 'bridge', ms: 20 }] }]);
  const retried = findings.find((f) => f.kind === 'retried')!;
  assert.match(retried.title, /^demo\/crashy's sandbox ctr-same was ADDed 3 times: the runtime is retrying it/);
  assert.equal(retried.evidence.length, 3);
  const abandoned = findings.find((f) => f.kind === 'abandoned')!;
  assert.match(abandoned.title, /^1 call began and never ended/);
  assert.match(abandoned.evidence[0]!, /ADD demo\/stuck/);
});

test('an IPAM range at exhaustion: who holds it and whom it refused; near exhaustion at 90 %', () => {
  const tight = { network: 'tight', subnet: '10.8.0.0/24', rangeStart: '10.8.0.9', rangeEnd: '10.8.0.9' };
  const { findings } = diagnose([
    ...clean(4),
    { ...tight, pod: 'web-5', at: 6000, ips: ['10.8.0.9'], netns: '/here' },
    { ...tight, pod: 'web-6', at: 6500, error: 'failed to allocate for range 0: no IP addresses available in range set: 10.8.0.9-10.8.0.9', steps: [{ plugin: 'bridge', ms: 20, status: 'error', msg: 'x' }, { plugin: 'host-local', ms: 3, parent: 0, status: 'error', msg: 'failed to allocate for range 0: no IP addresses available in range set: 10.8.0.9-10.8.0.9' }] },
  ], (p) => p !== '/here');
  const ipam = findings.find((f) => f.kind === 'ipam')!;
  assert.equal(ipam.title, 'network tight: host-local range 10.8.0.0/24 (10.8.0.9–10.8.0.9) is exhausted: 1 of 1 address held, 1 ADD refused');
  assert.match(ipam.evidence[0]!, /^held by demo\/web-5 \(10\.8\.0\.9\) since /);
  assert.match(ipam.evidence[1]!, /ADD demo\/web-6 failed: failed to allocate for range 0: no IP addresses available/);
  // web-5 gone since (DELeted): the range is free now, and the finding says who held it then.
  const later = diagnose([
    { ...tight, pod: 'web-5', at: 6000, ips: ['10.8.0.9'] },
    { ...tight, pod: 'web-6', at: 6500, error: 'no IP addresses available in range set: 10.8.0.9-10.8.0.9', steps: [{ plugin: 'bridge', ms: 20, status: 'error', msg: 'no IP addresses available in range set: 10.8.0.9-10.8.0.9' }] },
    { ...tight, command: 'DEL', pod: 'web-5', at: 9000 },
  ]).findings.find((f) => f.kind === 'ipam')!;
  assert.match(later.title, /is exhausted: 0 of 1 address held, 1 ADD refused$/);
  assert.match(later.evidence.at(-1)!, /^when it was refused the range was held by demo\/web-5 \(10\.8\.0\.9\)$/);
  // 10.7.0.0/29: .2–.6 to give (.1 the gateway); 5 held of 5 … 4 of 5 is 80 %: nothing; a /28 with 12 of 13 is near.
  const near = Array.from({ length: 12 }, (_, i) => ({ network: 'n28', subnet: '10.7.0.0/28', pod: `p${i}`, at: 20000 + i, ips: [`10.7.0.${i + 2}`], netns: '/here' }));
  const r = diagnose(near, (p) => p !== '/here').findings.filter((f) => f.kind === 'ipam');
  assert.deepEqual(r.map((f) => f.title), ['network n28: host-local range 10.7.0.0/28 is nearly exhausted: 12 of 13 addresses held']);
  assert.deepEqual(diagnose(near.slice(0, 11), (p) => p !== '/here').findings.filter((f) => f.kind === 'ipam'), [], '11 of 13 is under 90 %');
});
