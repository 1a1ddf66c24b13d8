/**
 * Nested tracing over the real Debian plugins in real network namespaces, driven by libcni:
 * the IPAM call a delegate makes through CNI_PATH becomes a step under the delegate's step;
 * a failing nested call fails its caller exactly as without tracing (differential against the
 * bare chain); a fixture chain two levels deep; plugins added later; concurrent invocations;
 * a killed wrapper; nesting turned off or impossible; command tracing (`commands`): portmap's
 * and firewall's iptables calls under their steps, the outcome and rules the bare chain's.
 * Every test leaves runDir empty.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { wrapConflist } from '../../src/cli/conflist.ts';
import type { JsonObject } from '../../src/config/wrapper-entry.ts';
import { InvocationIndex, type Invocation, type Step } from '../../src/journal/invocations.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { subnetFor } from '../support/chains.ts';
import { runDriver, type DriverCall, type DriverRun } from '../support/driver.ts';
import { DEBIAN_CNI, installCniTrace, installFixtures } from '../support/fixtures.ts';
import { comparableRun, normalise } from '../support/observe.ts';
import { iptablesState, keepSysctl, restoreIptables, Sandbox } from '../support/sandbox.ts';

const sb = new Sandbox('nested');
const bin = join(sb.dir, 'bin');
const runDir = join(sb.dir, 'run');
let seq = 0;

before(async () => {
  installCniTrace(bin);
  installFixtures(bin, ['fx-top', 'fx-mid', 'fx-leaf', 'fx-hang']);
  const restoreForward = await keepSysctl('net.ipv4.ip_forward');
  const ipt = await iptablesState();
  sb.onCleanup(async () => { await restoreIptables(ipt); await restoreForward(); });
});
after(() => sb.cleanup());

/** Writes a conflist (wrapped with its own journal and runDir unless bare); returns its path and journal. */
function conflist(plugins: JsonObject[], opts: { bare?: boolean; entry?: JsonObject; name?: string } = {}): { file: string; journal: string } {
  const n = seq++;
  const journal = join(sb.dir, `journal-${n}`);
  const list: JsonObject = { cniVersion: '1.0.0', name: opts.name ?? sb.name(`ctn${n}`), plugins };
  let json = list;
  if (!opts.bare) {
    const wrapped = wrapConflist(list, { journalDir: journal });
    const entry = (wrapped.plugins as JsonObject[])[0]!;
    json = { ...wrapped, plugins: [{ ...entry, runDir, ...opts.entry }] };
  }
  const file = join(sb.dir, `net-${n}.conflist`);
  writeFileSync(file, JSON.stringify(json));
  return { file, journal };
}

function invocations(journal: string): Invocation[] {
  const index = new InvocationIndex();
  for (const r of readJournal(journal)) index.add(r);
  return index.list();
}

function stepOf(inv: Invocation, plugin: string): Step {
  const s = inv.steps.find((x) => x.plugin === plugin);
  assert.ok(s, `${inv.command} has a ${plugin} step (steps: ${inv.steps.map((x) => x.plugin).join(', ')})`);
  return s;
}

/** The nested step sits under its caller: parent, depth, and the caller's time covers it. */
function assertNestedUnder(child: Step, caller: Step): void {
  assert.equal(child.parentSpanId, caller.spanId, `${child.plugin} is nested under ${caller.plugin}`);
  assert.equal(child.depth, caller.depth + 1);
  assert.ok(BigInt(child.startNs!) >= BigInt(caller.startNs!), `${child.plugin} starts inside ${caller.plugin}`);
  assert.ok(BigInt(child.endNs!) <= BigInt(caller.endNs!), `${child.plugin} ends inside ${caller.plugin}`);
  assert.ok(caller.durationMs! >= child.durationMs!, `${caller.plugin}'s duration covers ${child.plugin}'s`);
}

function runDirEmpty(): void {
  // The shim directories (shims-<hash>) are shared across invocations and stay; per-invocation ones go.
  assert.deepEqual(existsSync(runDir) ? readdirSync(runDir).filter((n) => !n.startsWith('shims-') && !n.startsWith('cmds-')) : [], [], 'no invocation directory outlives its invocation');
}

const baseCall = (file: string, id: string, extra: Partial<DriverCall> = {}): DriverCall => ({
  conflist: file, id, netns: '/var/run/netns/cnitrace-unused', path: [bin, DEBIAN_CNI], cacheDir: join(sb.dir, `cache-${id}`), ...extra,
});

for (const [label, main, links] of [
  ['bridge+host-local', (ipamDir: string, br: string): JsonObject => ({ type: 'bridge', bridge: br, ipam: { type: 'host-local', ranges: [[{ subnet: subnetFor(sb, 50) }]], dataDir: ipamDir, token: 's3cret-ipam-token' } }), true],
  ['ptp+host-local', (ipamDir: string): JsonObject => ({ type: 'ptp', ipam: { type: 'host-local', ranges: [[{ subnet: subnetFor(sb, 51) }]], dataDir: ipamDir, token: 's3cret-ipam-token' } }), false],
] as const) {
  test(`${label}: host-local is a step under its caller on ADD and DEL, recorded whole and redacted`, async () => {
    const br = sb.name(`ctnb${seq}`);
    if (links) sb.ownLink(br);
    const { file, journal } = conflist([main(join(sb.dir, `ipam-${seq}`), br)]);
    const netns = await sb.netns(`n${seq}`);
    const call = baseCall(file, `nested-${seq}`, { netns, args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=cart-9;SECRET_TOKEN=abc' });
    const add = await runDriver('add', call);
    assert.equal(add.outcome.ok, true, JSON.stringify(add.outcome.error));
    assert.equal((await runDriver('del', call)).outcome.ok, true);
    runDirEmpty();

    const [addInv, delInv] = invocations(journal) as [Invocation, Invocation];
    const caller = main('', br).type as string;
    for (const inv of [addInv, delInv]) {
      assert.deepEqual(inv.steps.map((s) => [s.plugin, s.depth, s.status]), [[caller, 0, 'ok'], ['host-local', 1, 'ok']]);
      const ipam = stepOf(inv, 'host-local');
      assertNestedUnder(ipam, stepOf(inv, caller));
      assert.equal(ipam.command, inv.command);
      assert.equal(ipam.path, '/usr/lib/cni/host-local');
      assert.equal(ipam.exitCode, 0);
      assert.equal(ipam.env?.CNI_COMMAND, inv.command);
      assert.equal(ipam.env?.CNI_CONTAINERID, call.id);
      assert.match(ipam.env?.CNI_ARGS ?? '', /SECRET_TOKEN=\[REDACTED\]/);
      assert.match(ipam.env?.TRACEPARENT ?? '', new RegExp(`^00-${inv.traceId}-${stepOf(inv, caller).spanId}-01$`), 'the caller\'s TRACEPARENT');
      const stdin = ipam.stdin as { name?: string; ipam?: { type?: string; token?: string } };
      assert.equal(stdin.name, sb.name(`ctn${seq - 1}`));
      assert.deepEqual([stdin.ipam?.type, stdin.ipam?.token], ['host-local', '[REDACTED]']);
    }
    const result = JSON.parse(stepOf(addInv, 'host-local').stdout!.text) as { ips: Array<{ address: string }> };
    assert.match(result.ips[0]!.address, /^10\.250\.\d+\.\d+\/24$/, 'host-local\'s own result');
    const text = readdirSync(journal).map((f) => readFileSync(join(journal, f), 'utf8')).join('');
    assert.ok(!text.includes('s3cret-ipam-token') && !text.includes('SECRET_TOKEN=abc'), 'no credential in the journal');
  });
}

test('a static-IPAM chain shows static under bridge', async () => {
  const br = sb.name('ctns');
  sb.ownLink(br);
  const { file, journal } = conflist([{ type: 'bridge', bridge: br, ipam: { type: 'static', addresses: [{ address: `${subnetFor(sb, 52).replace(/0\/24$/, '7')}/24` }] } }]);
  const call = baseCall(file, 'nested-static', { netns: await sb.netns('ns') });
  const add = await runDriver('add', call);
  assert.equal(add.outcome.ok, true, JSON.stringify(add.outcome.error));
  assert.equal((await runDriver('del', call)).outcome.ok, true);
  const [addInv] = invocations(journal) as [Invocation];
  assert.deepEqual(addInv.steps.map((s) => [s.plugin, s.depth]), [['bridge', 0], ['static', 1]]);
  assertNestedUnder(stepOf(addInv, 'static'), stepOf(addInv, 'bridge'));
  assert.match(stepOf(addInv, 'static').stdout!.text, /\.7\/24/);
  runDirEmpty();
});

/** Runs the same sequence through the bare and the wrapped form; returns both, normalised. */
async function differential(label: string, plugins: (form: string, br: string) => JsonObject[], steps: Array<[cmd: 'add' | 'del', id: string]>): Promise<{ bare: unknown[]; wrapped: unknown[]; journal: string }> {
  const out: Record<string, unknown[]> = {};
  let journal = '';
  for (const form of ['bare', 'wrapped'] as const) {
    const br = sb.name(`ct${label}`);
    sb.ownLink(br);
    const c = conflist(plugins(form, br), { bare: form === 'bare', name: sb.name(`ct${label}`) });
    if (form === 'wrapped') journal = c.journal;
    const runs: DriverRun[] = [];
    const nses: Record<string, string> = {};
    for (const [cmd, id] of steps) {
      nses[id] ??= await sb.netns(`${label}${form[0]}${Object.keys(nses).length}`);
      runs.push(await runDriver(cmd, baseCall(c.file, `${label}-${id}`, { netns: nses[id], cacheDir: join(sb.dir, `cache-${label}-${form}`) })));
    }
    out[form] = runs.map((r) => normalise(comparableRun(r)));
  }
  return { bare: out.bare!, wrapped: out.wrapped!, journal };
}

test('an exhausted range: the nested host-local error is the caller\'s error, exactly as without tracing', async () => {
  const subnet = subnetFor(sb, 53);
  const one = subnet.replace(/0\/24$/, '9');
  const { bare, wrapped, journal } = await differential('ex', (form, br) => [
    { type: 'bridge', bridge: br, ipam: { type: 'host-local', ranges: [[{ subnet, rangeStart: one, rangeEnd: one }]], dataDir: join(sb.dir, `ipam-${form}-ex`) } },
  ], [['add', 'a'], ['add', 'b'], ['del', 'b'], ['del', 'a']]);
  assert.deepEqual(wrapped, bare, 'same results, errors and exit codes');
  const failed = (bare[1] as { outcome?: { ok: boolean; error?: { msg: string } } });
  assert.match(JSON.stringify(failed), /no IP addresses available/, 'the second ADD did fail in the bare chain');

  const second = invocations(journal).filter((i) => i.command === 'ADD')[1]!;
  assert.equal(second.status, 'error');
  const bridge = stepOf(second, 'bridge');
  const ipam = stepOf(second, 'host-local');
  assertNestedUnder(ipam, bridge);
  assert.equal(ipam.status, 'error');
  assert.match(ipam.error?.msg ?? '', /no IP addresses available in range set/);
  assert.equal(bridge.status, 'error');
  assert.match(bridge.error?.msg ?? '', /no IP addresses available in range set/);
  runDirEmpty();
});

test('an IPAM plugin that is not in CNI_PATH stays not found, with the error the bare chain gives', async () => {
  const { bare, wrapped, journal } = await differential('nf', (_form, br) => [
    { type: 'bridge', bridge: br, ipam: { type: 'no-such-ipam' } },
  ], [['add', 'a'], ['del', 'a']]);
  assert.deepEqual(wrapped, bare);
  assert.match(JSON.stringify(bare[0]), /failed to find plugin \\+"no-such-ipam\\+" in path/);
  assert.ok(!JSON.stringify(wrapped).includes(runDir), 'the shim directory never shows in the error');
  const add = invocations(journal)[0]!;
  assert.deepEqual(add.steps.map((s) => s.plugin), ['bridge'], 'nothing nested was called');
  runDirEmpty();
});

/** fx-top → fx-mid → fx-leaf, each found through CNI_PATH by the one above. */
const deepChain = (leaf: JsonObject = { type: 'fx-leaf' }): JsonObject[] => [
  { type: 'fx-top', fx: { mode: 'call', call: { type: 'fx-mid', fx: { mode: 'call', call: leaf } } } },
];

test('a fixture chain two levels deep: each call nests under its caller and gets its own TRACEPARENT', async () => {
  const records = join(sb.dir, 'fx-records');
  mkdirSync(records);
  const { file, journal } = conflist(deepChain());
  for (const cmd of ['add', 'del'] as const) {
    const r = await runDriver(cmd, baseCall(file, 'deep', { env: { FX_RECORD_DIR: records } }));
    assert.equal(r.outcome.ok, true, JSON.stringify(r.outcome.error));
  }
  for (const inv of invocations(journal)) {
    assert.deepEqual(inv.steps.map((s) => [s.plugin, s.depth, s.status]), [['fx-top', 0, 'ok'], ['fx-mid', 1, 'ok'], ['fx-leaf', 2, 'ok']]);
    const [top, mid, leaf] = inv.steps as [Step, Step, Step];
    assertNestedUnder(mid, top);
    assertNestedUnder(leaf, mid);
  }
  // What the plugins themselves saw: a TRACEPARENT naming their own span, and the shims first in CNI_PATH.
  const seen = readdirSync(records).map((f) => JSON.parse(readFileSync(join(records, f), 'utf8')) as { plugin: string; command: string; env: Record<string, string> });
  const add = invocations(journal)[0]!;
  for (const step of add.steps) {
    const rec = seen.find((s) => s.plugin === step.plugin && s.command === 'ADD');
    assert.equal(rec?.env.TRACEPARENT, `00-${add.traceId}-${step.spanId}-01`, `${step.plugin} got a TRACEPARENT for its own span`);
    assert.ok(rec?.env.CNI_PATH?.endsWith(`:${bin}:${DEBIAN_CNI}`) && rec.env.CNI_PATH.startsWith(runDir), `${step.plugin} sees the shims first, then the original CNI_PATH`);
  }
  runDirEmpty();
});

test('a plugin added to the bin dir after an invocation is traced by the next one', async () => {
  const { file: bareFile } = conflist(deepChain({ type: 'fx-late' }), { bare: true });
  const { file, journal } = conflist(deepChain({ type: 'fx-late' }));
  const before0 = [await runDriver('add', baseCall(bareFile, 'late-bare')), await runDriver('add', baseCall(file, 'late'))];
  assert.deepEqual(normalise(comparableRun(before0[1]!)), normalise(comparableRun(before0[0]!)), 'not installed yet: the same error as bare');
  installFixtures(bin, ['fx-late']);
  assert.equal((await runDriver('add', baseCall(file, 'late'))).outcome.ok, true);
  const [first, second] = invocations(journal) as [Invocation, Invocation];
  assert.deepEqual(first.steps.map((s) => s.plugin), ['fx-top', 'fx-mid']);
  assert.deepEqual(second.steps.map((s) => [s.plugin, s.depth]), [['fx-top', 0], ['fx-mid', 1], ['fx-late', 2]]);
  runDirEmpty();
});

test('concurrent invocations keep their nested calls apart', async () => {
  const { file, journal } = conflist(deepChain());
  const runs = await Promise.all(Array.from({ length: 8 }, (_, k) => runDriver('add', baseCall(file, `conc-${k}`))));
  assert.ok(runs.every((r) => r.outcome.ok));
  const all = invocations(journal);
  assert.equal(all.length, 8);
  for (const inv of all) {
    assert.deepEqual(inv.steps.map((s) => [s.plugin, s.depth]), [['fx-top', 0], ['fx-mid', 1], ['fx-leaf', 2]], `${inv.containerId}`);
    assert.equal(new Set(inv.steps.map((s) => s.env?.CNI_CONTAINERID ?? inv.containerId)).size, 1, 'every nested call is this invocation\'s');
  }
  runDirEmpty();
});

test('a wrapper killed while a nested call hangs: the nested plugin and its child die, the shim directory goes', async () => {
  const pidFile = join(sb.dir, 'nested-hang.pids');
  const { file, journal } = conflist(deepChain({ type: 'fx-hang', fx: { mode: 'hang', pidFile } }));
  const killed = await runDriver('add', baseCall(file, 'hang', { timeout: '3s' }));
  assert.match(killed.outcome.error?.text ?? '', /signal: killed/);
  const pids = readFileSync(pidFile, 'utf8').trim().split(' ').map(Number);
  const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  for (let i = 0; i < 50 && (pids.some(alive) || readdirSync(runDir).some((n) => !n.startsWith('shims-'))); i++) await sleep(100);
  for (const pid of pids) assert.equal(alive(pid), false, `process ${pid} was killed with the wrapper`);
  runDirEmpty();
  const [inv] = invocations(journal) as [Invocation];
  assert.equal(inv.status, 'abandoned');
  // The next call for that container works.
  const { file: ok } = conflist(deepChain());
  assert.equal((await runDriver('del', baseCall(ok, 'hang'))).outcome.ok, true);
});

test('nested: false runs delegates with CNI_PATH as given; an unusable runDir degrades with one line', async () => {
  const records = join(sb.dir, 'fx-records-off');
  mkdirSync(records);
  const off = conflist(deepChain(), { entry: { nested: false } });
  const r = await runDriver('add', baseCall(off.file, 'off', { env: { FX_RECORD_DIR: records } }));
  assert.equal(r.outcome.ok, true);
  assert.deepEqual(invocations(off.journal)[0]!.steps.map((s) => s.plugin), ['fx-top']);
  for (const f of readdirSync(records)) {
    assert.equal((JSON.parse(readFileSync(join(records, f), 'utf8')) as { env: Record<string, string> }).env.CNI_PATH, `${bin}:${DEBIAN_CNI}`);
  }

  const blocked = conflist(deepChain(), { entry: { runDir: join(sb.dir, 'fx-records-off', readdirSync(records)[0]!, 'run') } });
  const degraded = await runDriver('add', baseCall(blocked.file, 'degraded'));
  assert.equal(degraded.outcome.ok, true, 'the network operation is unaffected');
  assert.match(degraded.stderr, /cni-trace: nested tracing off for this call, the network operation is unaffected: cannot prepare nested tracing in .*ENOTDIR/);
  assert.deepEqual(invocations(blocked.journal)[0]!.steps.map((s) => s.plugin), ['fx-top']);
});

/** The chain's iptables rules that name this network (portmap's and firewall's chains), sorted. */
function rulesOf(network: string): string[] {
  const out: string[] = [];
  for (const table of ['filter', 'nat']) {
    for (const l of execFileSync('iptables-save', ['-t', table], { encoding: 'utf8' }).split('\n')) if (l.includes(network)) out.push(l);
  }
  return out.map((l) => l.replace(/\[\d+:\d+\]/g, '')).sort();
}

/** The commands a step ran, in start order. */
function commandsUnder(inv: Invocation, step: Step): Step[] {
  return inv.steps.filter((s) => s.argv && s.parentSpanId === step.spanId);
}

test('portmap and firewall: their iptables calls are steps under them, with argv and times inside the step; the outcome is the bare chain\'s', async () => {
  const chain = (form: string, br: string, subnet: string): JsonObject[] => [
    { type: 'bridge', bridge: br, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet }]], dataDir: join(sb.dir, `ipam-${form}`) } },
    { type: 'portmap', capabilities: { portMappings: true } },
    { type: 'firewall', backend: 'iptables' },
  ];
  const results: Record<string, unknown[]> = {};
  const rules: Record<string, string[]> = {};
  let journal = '';
  // One network, bridge, container id and port for both forms, one after the other: the same rules.
  const br = sb.name('ctcm');
  sb.ownLink(br);
  const name = sb.name('ctcmnet');
  for (const form of ['bare', 'wrapped'] as const) {
    const c = conflist(chain(form, br, subnetFor(sb, 60)), { name, ...(form === 'wrapped' ? { entry: { commands: true } } : { bare: true }) });
    if (form === 'wrapped') journal = c.journal;
    const netns = await sb.netns(`cm${form[0]}`);
    const call: DriverCall = {
      conflist: c.file, id: 'cmds-pod', netns, path: [bin, DEBIAN_CNI], cacheDir: join(sb.dir, `cache-${form}`),
      capArgs: { portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }] },
    };
    const add = await runDriver('add', call);
    assert.equal(add.outcome.ok, true, JSON.stringify(add.outcome.error));
    rules[form] = rulesOf(name);
    const del = await runDriver('del', call);
    results[form] = [add, del].map((r) => normalise(comparableRun(r)));
  }
  assert.deepEqual(normalise(results.wrapped), normalise(results.bare), 'the same results and exit codes as the bare chain');
  assert.ok((rules.bare ?? []).length > 0, 'portmap and firewall did write rules for this network');
  assert.deepEqual(rules.wrapped, rules.bare, 'the same iptables rules as the bare chain');
  runDirEmpty();

  const [add, del] = invocations(journal) as [Invocation, Invocation];
  for (const inv of [add, del]) {
    for (const plugin of ['portmap', 'firewall']) {
      const step = inv.steps.find((s) => s.plugin === plugin && s.depth === 0)!;
      const cmds = commandsUnder(inv, step);
      assert.ok(cmds.length >= 2, `${inv.command}: ${plugin} ran iptables (${cmds.length} calls)`);
      let sum = 0;
      for (const c of cmds) {
        assert.match(c.plugin, /^ip6?tables(-restore|-save)?$/, `${plugin} runs iptables, not ${c.plugin}`);
        assert.ok(c.path?.startsWith('/usr/sbin/') || c.path?.startsWith('/sbin/'), `the real ${c.plugin} in PATH: ${c.path}`);
        assert.equal(c.argv?.[0], c.path, 'go-iptables passes LookPath\'s path as argv[0]: the real one');
        assert.equal(c.depth, 1);
        assert.equal(c.command, inv.command);
        assert.ok(c.exitCode !== null, 'it finished');
        assert.ok(BigInt(c.startNs!) >= BigInt(step.startNs!) && BigInt(c.endNs!) <= BigInt(step.endNs!), `${c.plugin} ${c.argv?.slice(1).join(' ')} runs inside ${plugin}'s step (${c.startNs}–${c.endNs} in ${step.startNs}–${step.endNs})`);
        sum += c.durationMs!;
      }
      assert.ok(sum <= step.durationMs!, `${plugin}'s commands (${sum} ms, one after another) fit in its ${step.durationMs} ms`);
    }
  }
  // What an operator wants to see: the DNAT rule for the pod's port, as portmap asked for it.
  const portmapAdd = commandsUnder(add, add.steps.find((s) => s.plugin === 'portmap')!);
  assert.ok(portmapAdd.some((c) => c.argv!.includes('--wait') && c.argv!.includes('nat')), `iptables -t nat … --wait among ${portmapAdd.map((c) => c.argv!.slice(1).join(' ')).join(' | ')}`);
  assert.ok(portmapAdd.some((c) => c.argv!.join(' ').includes('DNAT')), 'the DNAT rule or chain');
});
