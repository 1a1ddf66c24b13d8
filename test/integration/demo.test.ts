/**
 * The README's first command, run non-interactively for a bounded time (no terminal: it prints
 * `tail --follow` lines instead of opening the TUI): a stream of pods through a real chain and
 * runtime, with the slow plugin and the failure to find, and nothing left behind — also when it
 * is interrupted half-way with Ctrl-C.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { ensureTools } from '../support/backends.ts';
import { ROOT } from '../support/fixtures.ts';
import { hostDelta, hostState } from '../support/observe.ts';
import { OtlpReceiver } from '../support/otlp-receiver.ts';
import { containerdAvailable } from '../support/containerd.ts';

const netnses = (): string[] => { try { return readdirSync('/run/netns').sort(); } catch { return []; } };
const demoDirs = (): string[] => readdirSync('/tmp').filter((d) => d.startsWith('cnitrace-demo-'));

test('the demo runs a stream of pods with a slow call and a failure to find, then leaves no namespace, link, rule or file behind', { timeout: 180_000 }, async () => {
  const [before, nsBefore, dirsBefore] = [await hostState(), netnses(), demoDirs()];
  const r = await execa(process.execPath, [join(ROOT, 'scripts/demo.ts'), '--pods', '8', '--no-tui'], { reject: false, timeout: 150_000, env: { NO_COLOR: '1' } });
  assert.equal(r.exitCode, 0, r.stderr + r.stdout.slice(-2000));
  const lines = r.stdout.split('\n');
  assert.equal(lines.filter((l) => /^\d\d:\d\d:\d\d\.\d+ {2}(ADD|DEL) /.test(l)).length, 17, 'an ADD and a DEL per pod, and the planted leak\'s ADD');
  assert.match(lines[0]!, /firewall chain \(v\d+\.\d+\.\d+ plugins\)/, 'the current upstream plugins (setup.sh builds them)');
  assert.ok(lines.some((l) => /ADD +ok .*demo\/web-0 .*bridge \S+ › host-local \S+ · portmap \S+ \[iptables×\d+ \S+\]/.test(l)), 'the full chain, with the nested IPAM call and portmap\'s iptables calls');
  assert.match(r.stdout, /- the slowest pod start: ADD of demo\/web-3, \d+\.\d+s, most of it in demo-slow-policy/);
  assert.match(r.stdout, /- the failure: ADD of demo\/web-6, in host-local \(called by bridge\): failed to allocate for range 0: no IP addresses available/);
  assert.match(r.stdout, /Cleaned up: namespaces, links, iptables rules and temp files are gone\./);
  const kept = /The journal is kept in (\S+) /.exec(r.stdout)?.[1];
  assert.ok(kept?.startsWith('/tmp/cni-trace-demo-journal-'), r.stdout);
  try {
    // Every command the demo prints, run verbatim (from another directory, PATH as the user has it).
    const commands = lines.filter((l) => l.startsWith('    $ ')).map((l) => l.slice(6));
    assert.equal(commands.length, 6, r.stdout);
    const out: string[] = [];
    for (const [i, c] of commands.entries()) {
      const run = await execa('sh', ['-c', c], { reject: false, cwd: '/', env: { NO_COLOR: '1' } });
      assert.equal(run.exitCode, i === 5 ? 1 : 0, `${c}\n${run.stderr}`); // diagnose: 1, it finds something
      out.push(run.stdout);
    }
    // diagnose names web-3's slow plugin, web-6's exhausted range and the planted leak (run again now: the same findings).
    assert.match(out[5]!, /\[ipam\] network \S+: host-local range \S+ \(\S+\) is exhausted: 0 of 1 address held, 1 ADD refused\n.*ADD demo\/web-6 failed: failed to allocate/);
    assert.match(out[5]!, /when it was refused the range was held by demo\/web-5/);
    assert.match(out[5]!, /\[leaked\] 1 attachment was ADDed and never DELeted.*\n.*ADD demo\/stray-0 .* no longer exists/);
    assert.match(out[5]!, /\[slow\] ADD of demo\/web-3 took \S+, \S+ of it in demo-slow-policy/);
    assert.ok(!/\[leaked\][^\n]*\n[^\n]*web-\d/.test(out[5]!), 'the pods that were DELeted are not leaks');
    assert.match(r.stdout, /What is wrong here[^\n]*\n.*diagnose --journal[^\n]*\n {2}\d+ findings in 17 invocations:/);
    assert.match(out[0]!, /^ADD ok \d+\.\d+s {2}pod demo\/web-3 /, 'show --pod gives web-3\'s ADD');
    assert.match(out[0]!, /\ndemo-slow-policy +│/);
    assert.match(out[0]!, /\ncni-trace +│/, 'cni-trace\'s own time is a named row');
    assert.match(out[0]!, /other operations of this pod \(newest first\): DEL ok /);
    assert.match(out[1]!, /^ADD error \S+ {2}pod demo\/web-6 /, 'show --pod gives web-6\'s failed ADD, not its DEL');
    assert.match(out[2]!, /demo\/web-3 /, 'tail --status slow names web-3');
    assert.equal(out[2]!.split('\n').filter((l) => / ADD +ok /.test(l)).length, out[2]!.split('\n').length, 'only ADDs');
    assert.match(out[3]!, /ADD +error .*demo\/web-6 /);
    assert.match(out[4]!, /demo-slow-policy +ADD /);
    assert.match(out[4]!, /cni-trace +ADD /);
  } finally {
    if (kept) rmSync(kept, { recursive: true, force: true });
  }
  const after = hostDelta(before, await hostState());
  assert.deepEqual([after.links, after.iptables, netnses(), demoDirs()], [[], [], nsBefore, dirsBefore]);
});

test('--runtime containerd: the same pods through the kubelet\'s CRI calls, and nothing left behind', { skip: containerdAvailable() ?? false, timeout: 180_000 }, async () => {
  const [before, nsBefore, dirsBefore, runBefore] = [await hostState(), netnses(), demoDirs(), existsSync('/run/containerd/s')];
  const r = await execa(process.execPath, [join(ROOT, 'scripts/demo.ts'), '--pods', '8', '--no-tui', '--runtime', 'containerd'], { reject: false, timeout: 150_000, env: { NO_COLOR: '1' } });
  assert.equal(r.exitCode, 0, r.stderr + r.stdout.slice(-2000));
  assert.match(r.stdout, /driven by containerd's CRI/);
  const lines = r.stdout.split('\n');
  const count = (cmd: string): number => lines.filter((l) => new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d+ {2}${cmd} `).test(l)).length;
  // StopPodSandbox and RemovePodSandbox each tear the network down; web-6's refused ADD is undone at once.
  assert.deepEqual([count('ADD'), count('DEL')], [8, 7 * 2 + 1]);
  const kept = /The journal is kept in (\S+) /.exec(r.stdout)?.[1];
  if (kept?.startsWith('/tmp/cni-trace-demo-journal-')) rmSync(kept, { recursive: true, force: true });
  assert.match(r.stdout, /- the slowest pod start: ADD of demo\/web-3, \d\.\d+s, most of it in demo-slow-policy/);
  assert.match(r.stdout, /- the failure: ADD of demo\/web-6, in host-local \(called by bridge\): failed to allocate for range 0: no IP addresses available/);
  // What appeared and stayed (other work on the machine may remove its own meanwhile).
  const after = hostDelta(before, await hostState());
  const added = (now: string[], then: string[]): string[] => now.filter((x) => !then.includes(x));
  assert.deepEqual([after.links, after.iptables, added(netnses(), nsBefore), added(demoDirs(), dirsBefore), existsSync('/run/containerd/s') && !runBefore], [[], [], [], [], false]);
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

test('with OTEL_EXPORTER_OTLP_ENDPOINT set, the demo\'s pods arrive at the collector as traces, nested IPAM calls and the failure included, and metrics', { timeout: 180_000 }, async () => {
  const receiver = new OtlpReceiver();
  await receiver.start();
  try {
    const r = await execa(process.execPath, [join(ROOT, 'scripts/demo.ts'), '--pods', '7', '--no-tui'], { reject: false, timeout: 150_000, env: { NO_COLOR: '1', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint } });
    const kept = /The journal is kept in (\S+) /.exec(r.stdout)?.[1];
    if (kept?.startsWith('/tmp/cni-trace-demo-journal-')) rmSync(kept, { recursive: true, force: true });
    assert.equal(r.exitCode, 0, r.stderr + r.stdout.slice(-2000));
    assert.match(r.stdout, new RegExp(`Exporting traces and metrics to ${receiver.endpoint.replaceAll('.', '\\.')}`));
    const roots = receiver.spans.filter((s) => s.parentSpanId === '' || s.name.startsWith('CNI '));
    const pods = (cmd: string): string[] => roots.filter((s) => s.name === `CNI ${cmd}`).map((s) => String(s.attributes['k8s.pod.name'])).sort();
    const all = Array.from({ length: 7 }, (_, i) => `web-${i}`);
    assert.deepEqual([pods('ADD'), pods('DEL')], [[...all, 'stray-0'].sort(), all], 'every pod\'s ADD and DEL, the last ones too (stray-0: the planted leak, never DELeted)');
    assert.ok(receiver.spans.some((s) => s.name === 'host-local ADD' && receiver.spans.find((p) => p.spanId === s.parentSpanId)?.name === 'bridge ADD'), 'host-local under bridge');
    const failed = roots.find((s) => s.name === 'CNI ADD' && s.attributes['k8s.pod.name'] === 'web-6');
    assert.equal(failed?.status.code, 2);
    assert.match(String(failed?.status.message), /no IP addresses available/);
    assert.ok(receiver.metrics.some((m) => m.name === 'cni.plugin.duration'), 'metrics pushed');
    assert.ok([...receiver.counts().values()].every((n) => n === 1), 'each span once');
  } finally {
    await receiver.stop();
  }
});

test('with --jaeger the demo runs the collector and Jaeger, prints the slow and the failed pod\'s trace ids, which Jaeger has, and stops both', { timeout: 600_000 }, async () => {
  await ensureTools();
  const r = await execa(process.execPath, [join(ROOT, 'scripts/demo.ts'), '--pods', '7', '--no-tui', '--jaeger'], { reject: false, timeout: 240_000, env: { NO_COLOR: '1' } });
  const kept = /The journal is kept in (\S+) /.exec(r.stdout)?.[1];
  if (kept?.startsWith('/tmp/cni-trace-demo-journal-')) rmSync(kept, { recursive: true, force: true });
  assert.equal(r.exitCode, 0, r.stderr + r.stdout.slice(-2000));
  const jaegerUrl = /Jaeger v2 at (http:\/\/127\.0\.0\.1:\d+)/.exec(r.stdout)?.[1];
  assert.ok(jaegerUrl, r.stdout.slice(0, 2000));
  assert.match(r.stdout, new RegExp(`Jaeger \\(${jaegerUrl.replaceAll('.', '\\.')}\\) has 15 of the 15 traces`));
  const slow = /- the slow pod, (?:ADD|DEL) of demo\/web-3: trace ([0-9a-f]{32})/.exec(r.stdout)?.[1];
  const failed = /- the failed pod, ADD of demo\/web-6: trace ([0-9a-f]{32})/.exec(r.stdout)?.[1];
  assert.ok(slow && failed, r.stdout.slice(-2000));
  // The demo is over: Jaeger and the collector with it.
  await assert.rejects(fetch(`${jaegerUrl}/api/services`));
  const running = (await execa('pgrep', ['-f', join(ROOT, '.cache/tools/bin/')], { reject: false })).stdout.trim();
  assert.equal(running, '', 'no collector or Jaeger of ours left running');
});

test('--runtime containerd --jaeger: containerd 2.x traced too, the slow pod\'s start printed as one trace from RunPodSandbox to each plugin, which Jaeger has; nothing left behind', { timeout: 600_000 }, async () => {
  await ensureTools();
  const [before, nsBefore, dirsBefore, runBefore] = [await hostState(), netnses(), demoDirs(), existsSync('/run/containerd/s')];
  const r = await execa(process.execPath, [join(ROOT, 'scripts/demo.ts'), '--pods', '7', '--no-tui', '--runtime', 'containerd', '--jaeger'], { reject: false, timeout: 300_000, env: { NO_COLOR: '1' } });
  const kept = /The journal is kept in (\S+) /.exec(r.stdout)?.[1];
  if (kept?.startsWith('/tmp/cni-trace-demo-journal-')) rmSync(kept, { recursive: true, force: true });
  assert.equal(r.exitCode, 0, r.stderr + r.stdout.slice(-2000));
  const jaegerUrl = /Jaeger v2 at (http:\/\/127\.0\.0\.1:\d+)/.exec(r.stdout)?.[1];
  assert.ok(jaegerUrl, r.stdout.slice(0, 2000));
  const slow = /- the slow pod, ADD of demo\/web-3: trace ([0-9a-f]{32})/.exec(r.stdout)?.[1];
  assert.ok(slow, r.stdout.slice(-2000));
  const one = /One trace from the kubelet's call to each plugin: RunPodSandbox of demo\/web-3, trace ([0-9a-f]{32})\n {2}(\d+) spans from (.+): runtime\.v1\.RuntimeService\/RunPodSandbox → /.exec(r.stdout);
  assert.ok(one, r.stdout.slice(-2000));
  assert.equal(one[1], slow, 'the slow pod\'s start is that one trace');
  // containerd's RPC, cri.sandbox.run, cni.setup_pod_network, cni.Setup, go-cni's two attach spans; cni-trace's ADD and its 3 plugins (bridge's host-local among them).
  assert.ok(Number(one[2]) >= 6 + 1 + 4, `${one[2]} spans`);
  assert.deepEqual(one[3]!.split(' and ').sort(), ['cni-trace', 'containerd']);
  await assert.rejects(fetch(`${jaegerUrl}/api/services`), 'Jaeger stopped with the demo');
  const running = (await execa('pgrep', ['-f', join(ROOT, '.cache/tools/bin/')], { reject: false })).stdout.trim();
  assert.equal(running, '', 'no collector, Jaeger or containerd of ours left running');
  const after = hostDelta(before, await hostState());
  const added = (now: string[], then: string[]): string[] => now.filter((x) => !then.includes(x));
  assert.deepEqual([after.links, after.iptables, added(netnses(), nsBefore), added(demoDirs(), dirsBefore), existsSync('/run/containerd/s') && !runBefore], [[], [], [], [], false]);
});
