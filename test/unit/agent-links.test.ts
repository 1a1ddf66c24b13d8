/**
 * A DEL's link to the ADD it undoes (src/agent/links.ts): the latest ADD per container and
 * interface, a bounded memory of them, and the ADDs before a checkpoint learned again after a
 * restart — over hand-built records and a real journal in a temp dir.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { AddLinks } from '../../src/agent/links.ts';
import { JournalSource } from '../../src/agent/source.ts';
import type { InvocationBegin, JournalRecord } from '../../src/journal/record.ts';
import { Journal } from '../../src/journal/writer.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-links-'));
after(() => rmSync(root, { recursive: true, force: true }));

let seq = 0;
function begin(command: 'ADD' | 'DEL' | 'CHECK', containerId: string, ifname = 'eth0', pad = 0): InvocationBegin {
  const n = ++seq;
  return {
    rec: 'invocation.begin', v: 1, traceId: n.toString(16).padStart(32, '0'), spanId: n.toString(16).padStart(16, '0'), traceFlags: '01',
    command, containerId, netns: '/var/run/netns/x', ifname, network: 'net', cniVersion: '1.0.0', pod: {}, startNs: String(n),
    env: {}, stdin: { pad: 'x'.repeat(pad) }, delegates: ['bridge'], pid: 1,
  };
}
const ref = (r: InvocationBegin): { traceId: string; spanId: string } => ({ traceId: r.traceId, spanId: r.spanId });

test('rule: a DEL links to the latest ADD of the same container and interface, and only a DEL gets a link', () => {
  const links = new AddLinks();
  const add1 = begin('ADD', 'c1');
  const add2 = begin('ADD', 'c1');
  assert.equal(links.see(add1), undefined, 'an ADD links to nothing');
  assert.equal(links.see(add2), undefined);
  assert.equal(links.see(begin('CHECK', 'c1')), undefined, 'a CHECK neither links nor replaces');
  assert.deepEqual(links.see(begin('DEL', 'c1')), ref(add2), 'the latest ADD');
  assert.equal(links.see(begin('DEL', 'c1', 'eth1')), undefined, 'another interface: no ADD known');
  assert.equal(links.see(begin('DEL', 'c2')), undefined, 'another container: no ADD known');
  const stepOfAdd: JournalRecord = { rec: 'step.begin', v: 1, traceId: add1.traceId, invocationSpanId: add1.spanId, spanId: 'f'.repeat(16), index: 0, plugin: 'p', command: 'ADD', path: null, startNs: '1', stdin: {} };
  assert.equal(links.see(stepOfAdd), undefined, 'only an invocation\'s begin counts');
  assert.equal(links.see({ ...stepOfAdd, command: 'DEL' }), undefined, 'a DEL\'s step links to nothing');
  assert.deepEqual(links.see(begin('DEL', 'c1')), ref(add2), 'still the latest ADD');
});

test('rule: at most 20,000 ADDs are remembered, the least recently added forgotten first', () => {
  const links = new AddLinks();
  const first = begin('ADD', 'k0');
  links.see(first);
  const second = begin('ADD', 'k1');
  links.see(second);
  for (let i = 2; i < 20_000; i++) links.see(begin('ADD', `k${i}`));
  const again = begin('ADD', 'k0'); // added again: now the newest
  links.see(again);
  links.see(begin('ADD', 'k20000'));
  assert.deepEqual(links.see(begin('DEL', 'k0')), ref(again), 'an ADD seen again is kept as the newest');
  assert.equal(links.see(begin('DEL', 'k1')), undefined, 'the oldest is forgotten past 20,000');
  assert.notEqual(links.see(begin('DEL', 'k2')), undefined, 'the next oldest is still there');
});

test('rule: after a restart, the ADDs before the checkpoint are learned from the journal, across reads of more than one chunk, and none after it', () => {
  const dir = join(root, 'scan');
  const journal = new Journal({ dir, maxFileBytes: 64 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  const early = begin('ADD', 'early');
  journal.append(early);
  for (let i = 0; i < 300; i++) journal.append(begin('CHECK', `filler${i}`, 'eth0', 5000)); // ~1.5 MB: more than one poll
  const late = begin('ADD', 'late');
  journal.append(late);
  const cut = begin('DEL', 'before-cut');
  journal.append(cut);
  const after = begin('ADD', 'after');
  journal.append(after);
  const read: Array<{ rec: JournalRecord; file: string; at: number }> = [];
  const source = new JournalSource(dir, {}, () => {});
  for (let batch = source.poll(1 << 30); batch.length > 0; batch = source.poll(1 << 30)) for (const p of batch) read.push(p);
  const at = read.find((p) => p.rec === cut || (p.rec.rec === 'invocation.begin' && p.rec.spanId === cut.spanId))!;
  const links = new AddLinks();
  links.scan(dir, { [at.file]: at.at });
  assert.deepEqual(links.see(begin('DEL', 'early')), ref(early), 'an ADD in the first chunk');
  assert.deepEqual(links.see(begin('DEL', 'late')), ref(late), 'an ADD past the first chunk, before the checkpoint');
  assert.equal(links.see(begin('DEL', 'after')), undefined, 'past the checkpoint: ingest sees it, not the scan');
  const none = new AddLinks();
  none.scan(dir, {});
  assert.equal(none.see(begin('DEL', 'early')), undefined, 'a file the checkpoint does not name: nothing before it');
});
