/**
 * The agent's findings gauge (cni.findings): every kind observed (0 when none), judged over the
 * last hour's invocations, again only when something new arrived or something aged out.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FINDINGS_KEEP, FINDINGS_WINDOW_MS, RecentFindings } from '../../src/agent/metrics.ts';
import type { Invocation } from '../../src/journal/invocations.ts';

const NOW = 1_790_000_000_000;

function failedAdd(pod: string, atMs: number, msg = 'no'): Invocation {
  const startNs = String(BigInt(atMs) * 1_000_000n);
  return {
    traceId: 't', spanId: pod, command: 'ADD', containerId: `c-${pod}`, netns: '/var/run/netns/x', ifname: 'eth0', network: 'n', cniVersion: '1.0.0',
    pod: { namespace: 'd', name: pod }, pid: 1, startNs, endNs: startNs, durationMs: 10, exitCode: 1, status: 'error', error: { code: 11, msg },
    env: {}, stdin: {}, stdout: undefined, steps: [],
  };
}

test('findings by kind over the window: every kind present, errors grouped, old invocations age out', () => {
  const f = new RecentFindings(() => false);
  assert.deepEqual(Object.fromEntries(f.byKind(NOW)), { slow: 0, errors: 0, leaked: 0, retried: 0, abandoned: 0, ipam: 0 });
  f.add(failedAdd('a', NOW - FINDINGS_WINDOW_MS - 1000));
  f.add(failedAdd('b', NOW - 1000));
  f.add(failedAdd('c', NOW - 500));
  assert.equal(f.byKind(NOW).get('errors'), 1, 'one plugin, one message: one finding');
  const same = f.byKind(NOW);
  assert.equal(f.byKind(NOW), same, 'not judged again when nothing changed');
  assert.equal(f.byKind(NOW + FINDINGS_WINDOW_MS).get('errors'), 0, 'an hour later the failures are out of the window');
});

test('rule: findings are judged over the latest FINDINGS_KEEP invocations', () => {
  const f = new RecentFindings(() => false);
  f.add(failedAdd('a', NOW - 3000, 'first'));
  f.add(failedAdd('b', NOW - 2000, 'second'));
  for (let i = 0; i < FINDINGS_KEEP - 1; i++) f.add({ ...failedAdd(`ok-${i}`, NOW - 1000), status: 'ok', exitCode: 0, error: undefined } as Invocation);
  assert.equal(f.byKind(NOW).get('errors'), 1, 'the oldest failure fell out; the second is among the latest 5000');
});

test('rule: an invocation exactly an hour old is still in the window; one without a start stays and breaks nothing', () => {
  const edge = new RecentFindings(() => false);
  edge.add(failedAdd('edge', NOW - FINDINGS_WINDOW_MS, 'edge'));
  assert.equal(edge.byKind(NOW).get('errors'), 1);
  const unstarted = new RecentFindings(() => false);
  unstarted.add({ ...failedAdd('nostart', NOW - 10, 'unstarted'), startNs: null });
  assert.equal(unstarted.byKind(NOW).get('errors'), 1);
});
