/**
 * Kill safety: the runtime's deadline fires while a delegate hangs, and libcni SIGKILLs the
 * wrapper (exec.CommandContext). No delegate — nor anything it spawned — may survive, the
 * journal must show the invocation as begun and never ended, and the next DEL and ADD for
 * the same container must work.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { wrapConflist } from '../../src/cli/conflist.ts';
import type { JsonObject } from '../../src/config/wrapper-entry.ts';
import { InvocationIndex } from '../../src/journal/invocations.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { runDriver, type DriverCall } from '../support/driver.ts';
import { DEBIAN_CNI, installCniTrace, installFixtures } from '../support/fixtures.ts';
import { Sandbox } from '../support/sandbox.ts';

const sb = new Sandbox('kill');
after(() => sb.cleanup());

/** Alive and not a zombie. */
function running(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return false;
  try {
    return readFileSync(stat, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

test('a wrapper killed at the runtime\'s deadline leaves no delegate behind, and the journal shows it begun', async () => {
  const bin = join(sb.dir, 'bin');
  installCniTrace(bin);
  installFixtures(bin, ['fx-slow']);
  const journalDir = join(sb.dir, 'journal');
  const pidFile = join(sb.dir, 'hang.pids');
  const netns = await sb.netns('k');
  const write = (mode: JsonObject): string => {
    const file = join(sb.dir, 'kill.conflist');
    writeFileSync(file, JSON.stringify(wrapConflist({
      cniVersion: '1.0.0', name: sb.name('ctkill'),
      plugins: [{ type: 'loopback' }, { type: 'fx-slow', fx: mode }],
    }, { journalDir })));
    return file;
  };
  const call: DriverCall = { conflist: write({ mode: 'hang', pidFile }), netns, id: `kill-${sb.id}`, path: [bin, DEBIAN_CNI], cacheDir: join(sb.dir, 'cache'), timeout: '3s' };

  const killed = await runDriver('add', call);
  assert.equal(killed.outcome.ok, false);
  assert.match(killed.outcome.error?.text ?? '', /signal: killed/, 'libcni killed the wrapper at its deadline');

  const pids = readFileSync(pidFile, 'utf8').trim().split(' ').map(Number);
  assert.equal(pids.length, 2, 'the hanging delegate and its child');
  for (let i = 0; i < 50 && pids.some(running); i++) await sleep(100);
  for (const pid of pids) assert.equal(running(pid), false, `process ${pid} was killed with the wrapper`);

  const index = new InvocationIndex();
  for (const r of readJournal(journalDir)) index.add(r);
  const [inv] = index.list();
  assert.ok(inv);
  assert.equal(inv.command, 'ADD');
  assert.equal(inv.endNs, null, 'never ended');
  assert.equal(inv.status, 'abandoned', 'its wrapper is gone');
  assert.deepEqual(inv.steps.map((s) => [s.plugin, s.status]), [['loopback', 'ok'], ['fx-slow', 'abandoned']]);

  // The runtime retries: DEL, then ADD again, with the delegate healthy now.
  const healed = { ...call, conflist: write({ mode: 'pass' }) };
  assert.equal((await runDriver('del', healed)).outcome.ok, true);
  assert.equal((await runDriver('add', healed)).outcome.ok, true);
  assert.equal((await runDriver('del', healed)).outcome.ok, true);
});
