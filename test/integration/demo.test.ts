/**
 * The README's first command, run non-interactively for a bounded time (no terminal: it prints
 * `tail --follow` lines instead of opening the TUI): a stream of pods through a real chain and
 * runtime, with the slow plugin and the failure to find, and nothing left behind — also when it
 * is interrupted half-way with Ctrl-C.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { ROOT } from '../support/fixtures.ts';
import { hostDelta, hostState } from '../support/observe.ts';

const netnses = (): string[] => { try { return readdirSync('/run/netns').sort(); } catch { return []; } };
const demoDirs = (): string[] => readdirSync('/tmp').filter((d) => d.startsWith('cnitrace-demo-'));

test('the demo runs a stream of pods with a slow call and a failure to find, then leaves no namespace, link, rule or file behind', { timeout: 180_000 }, async () => {
  const [before, nsBefore, dirsBefore] = [await hostState(), netnses(), demoDirs()];
  const r = await execa(process.execPath, [join(ROOT, 'scripts/demo.ts'), '--pods', '8', '--no-tui'], { reject: false, timeout: 150_000, env: { NO_COLOR: '1' } });
  assert.equal(r.exitCode, 0, r.stderr + r.stdout.slice(-2000));
  const lines = r.stdout.split('\n');
  assert.equal(lines.filter((l) => /^\d\d:\d\d:\d\d\.\d+ {2}(ADD|DEL) /.test(l)).length, 16, 'an ADD and a DEL per pod');
  assert.ok(lines.some((l) => /ADD +ok .*demo\/web-0 .*bridge \S+ › host-local \S+ · portmap/.test(l)), 'the full chain, with the nested IPAM call');
  assert.match(r.stdout, /- the slowest: (ADD|DEL) of demo\/web-3, 1\.\d+s, most of it in demo-slow-policy/);
  assert.match(r.stdout, /- the failure: ADD of demo\/web-6, in host-local \(called by bridge\): failed to allocate for range 0: no IP addresses available/);
  assert.match(r.stdout, /Cleaned up: namespaces, links, iptables rules and temp files are gone\./);
  const after = hostDelta(before, await hostState());
  assert.deepEqual([after.links, after.iptables, netnses(), demoDirs()], [[], [], nsBefore, dirsBefore]);
});

test('Ctrl-C half-way through the demo stops it and cleans up all the same', { timeout: 120_000 }, async () => {
  const [before, nsBefore, dirsBefore] = [await hostState(), netnses(), demoDirs()];
  const demo = execa(process.execPath, [join(ROOT, 'scripts/demo.ts'), '--pods', '12', '--no-tui'], { reject: false, env: { NO_COLOR: '1' } });
  let out = '';
  await new Promise<void>((resolve) => {
    demo.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (/ADD +ok .*demo\/web-2 /.test(out)) resolve();
    });
    void demo.then(() => resolve());
  });
  demo.kill('SIGINT');
  const r = await demo;
  assert.equal(r.exitCode, 130, out);
  assert.match(r.stdout, /Stopped; cleaned up\./);
  const after = hostDelta(before, await hostState());
  assert.deepEqual([after.links, after.iptables, netnses(), demoDirs()], [[], [], nsBefore, dirsBefore]);
});
