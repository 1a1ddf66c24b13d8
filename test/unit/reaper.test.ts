/**
 * The watchdog starts only for a delegate still running after the delay (the integration kill
 * tests show it killing what a SIGKILLed wrapper left); a normal end ("bye") kills nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { OrphanReaper } from '../../src/invoke/reaper.ts';

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true; } catch { return false; }
};

test('a delegate that ends within the delay never starts the watchdog', async () => {
  const reaper = new OrphanReaper(200);
  reaper.track(999_999);
  await sleep(20);
  reaper.untrack(999_999);
  await sleep(250);
  assert.equal(reaper.watching, false);
  reaper.release();
});

test('a delegate still running after the delay starts it; "bye" leaves the delegate alone', async () => {
  const child = spawn('/bin/sleep', ['30'], { detached: true, stdio: 'ignore' });
  try {
    const reaper = new OrphanReaper(30);
    reaper.track(child.pid!);
    await sleep(150);
    assert.equal(reaper.watching, true);
    reaper.release();
    await sleep(150);
    assert.equal(alive(child.pid!), true, 'a normal end kills nothing');
  } finally {
    child.kill('SIGKILL');
  }
});
