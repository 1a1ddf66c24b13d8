/**
 * The demo: a real chain (bridge + host-local, portmap, bandwidth, tuning, firewall) wrapped by
 * cni-trace, driven by a real CNI runtime (libcni, test/driver), with a stream of pods set up
 * and torn down in sandbox network namespaces — one of them on a network with a slow plugin,
 * one that fails because its IP range is used up — shown live in the TUI (on a terminal) or as
 * `cni-trace tail --follow` lines (in a pipe). Everything it creates is removed on exit, also
 * on Ctrl-C, except the journal: it is kept (in a new /tmp/cni-trace-demo-journal-* or DIR) so
 * that the commands it prints at the end run as printed.
 *   npm run demo -- [--pods N] [--no-tui] [--keep-journal DIR] [--runtime libcni|containerd] [--jaeger]
 * With --runtime containerd the same pods go through the kubelet's CRI calls to containerd
 * instances of the demo's own (test/support/containerd.ts), one per network: Debian's 1.6, or with
 * --jaeger the containerd 2.x scripts/tools.sh builds, tracing to the same collector, and the demo
 * prints the slow pod's start as one trace from its RunPodSandbox call down to each plugin.
 * With OTEL_EXPORTER_OTLP_ENDPOINT set (e.g. http://localhost:4318 with
 * collector-config/compose.yaml up), an agent exports the traces and metrics live. With --jaeger
 * the demo runs its own OpenTelemetry Collector (the shipped otel-collector.yaml) and Jaeger v2,
 * built by scripts/tools.sh on first need, sends the traces there and prints where to find the
 * slow pod's and the failed pod's; they stop with the demo.
 * Needs root and the packages scripts/setup.sh installs.
 */
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { wrapConflist } from '../src/cli/conflist.ts';
import { suggest } from '../src/cli/self.ts';
import { invocationLine } from '../src/cli/tail.ts';
import type { JsonObject } from '../src/config/wrapper-entry.ts';
import { InvocationIndex, type Invocation } from '../src/journal/invocations.ts';
import { followJournal, readJournal } from '../src/journal/reader.ts';
import { CLI } from '../test/support/agent-process.ts';
import { ensureTools, jaegerTrace, startCollector, startJaeger, toolsBuilt, waitForTraces, type Backend, type Jaeger } from '../test/support/backends.ts';
import { runDriver, type DriverCall } from '../test/support/driver.ts';
import { newestBuiltPlugins } from '../test/support/cni-plugins.ts';
import { installCniTrace, installFixtures } from '../test/support/fixtures.ts';
import { CONTAINERD2_BIN, Containerd, containerdAvailable } from '../test/support/containerd.ts';
import { fullBridgeChain, subnetFor } from '../test/support/chains.ts';
import { iptablesState, keepSysctl, restoreIptables, Sandbox } from '../test/support/sandbox.ts';
import { scriptArgs, usageError, wholeNumber } from './script-args.ts';
import { formatMs } from '../src/view/text.ts';

const USAGE = `
Usage: npm run demo -- [--pods N] [--no-tui] [--keep-journal DIR] [--runtime libcni|containerd] [--jaeger]   (as root)

Pods (N ≥ 7, default 12) set up and torn down through a traced bridge+host-local, portmap,
bandwidth, tuning, firewall chain, in sandbox namespaces, shown in the TUI (on a terminal) or as
tail lines (--no-tui, or in a pipe). The journal is kept for the commands printed at the end:
in a new /tmp/cni-trace-demo-journal-*, or in DIR with --keep-journal.
--runtime containerd drives the pods through containerd's CRI, as the kubelet does (default
libcni, the test driver); with --jaeger, through containerd 2.x with its tracing on: one trace
from the CRI call down to each plugin.
With OTEL_EXPORTER_OTLP_ENDPOINT set, an agent exports the traces and metrics as they happen.
--jaeger runs an OpenTelemetry Collector (collector-config/otel-collector.yaml) and Jaeger v2 for
the demo, exports to them and prints the slow and the failed pod's trace ids; the first time it
builds them and containerd 2.x from their Go modules into .cache/tools (scripts/tools.sh, minutes).`;
const { values } = scriptArgs('demo', USAGE, { pods: { type: 'string', default: '12' }, 'no-tui': { type: 'boolean' }, 'keep-journal': { type: 'string' }, runtime: { type: 'string', default: 'libcni' }, jaeger: { type: 'boolean' } });
const podCount = wholeNumber('demo', USAGE, '--pods', values.pods, 7);
if (values.runtime !== 'libcni' && values.runtime !== 'containerd') usageError('demo', USAGE, `--runtime is libcni or containerd, not ${values.runtime}`);
if (process.getuid?.() !== 0) {
  console.error('demo: run as root (it creates network namespaces, links and iptables rules, and removes them after)');
  process.exit(1);
}
// With --jaeger the demo's containerd is the 2.x scripts/tools.sh builds: checked once built.
const noContainerd = values.runtime === 'containerd' && !values.jaeger ? containerdAvailable() : null;
if (noContainerd) {
  console.error(`demo: --runtime containerd: ${noContainerd}`);
  process.exit(1);
}
const useTui = Boolean(process.stdout.isTTY && process.stdin.isTTY) && !values['no-tui'];
const colour = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const sb = new Sandbox('demo');
const restoreForward = await keepSysctl('net.ipv4.ip_forward');
const iptables = await iptablesState();
const children: ResultPromise[] = [];
/** With --runtime containerd: one containerd per network. */
const containerds: Partial<Record<NetName, Containerd>> = {};
const backends: Backend[] = [];
/** Ctrl-C: no new pod starts, each pod set up so far is torn down by the runtime, then clean-up. */
const stopping = new AbortController();
let lives: Array<Promise<void>> = [];
let cleaned = false;
async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  for (const c of children) c.kill('SIGTERM');
  await Promise.allSettled(children);
  for (const cd of Object.values(containerds)) {
    const errors = await cd.down();
    if (errors.length > 0) console.error(`containerd clean-up: ${errors.join('; ')}`);
  }
  await Promise.allSettled(backends.map((b) => b.stop()));
  await restoreIptables(iptables);
  await restoreForward();
  await sb.cleanup();
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    stopping.abort();
    void Promise.allSettled(lives).then(cleanup).then(() => { console.log('\nStopped; cleaned up.'); process.exit(130); });
  });
}

/** Waits, or returns early (false) once the demo is stopping. */
async function pause(ms: number): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal: stopping.signal });
    return true;
  } catch {
    return false;
  }
}

type NetName = 'main' | 'slow' | 'tight';

/** The networks: the full chain; the same with a slow plugin; bridge + host-local with one address to give. */
function networks(write: (name: NetName, list: JsonObject) => string): Record<NetName, { file: string; capArgs?: Record<string, unknown> }> {
  const main = fullBridgeChain(sb, join(sb.dir, 'ipam-main'));
  main.links.forEach((l) => sb.ownLink(l));
  const slowBridge = sb.name('ctds');
  const tightBridge = sb.name('ctdt');
  sb.ownLink(slowBridge);
  sb.ownLink(tightBridge);
  const one = subnetFor(sb, 90).replace(/0\/24$/, '10');
  const plugins = main.conflist.plugins as JsonObject[];
  return {
    main: { file: write('main', main.conflist), ...(main.capArgs ? { capArgs: main.capArgs } : {}) },
    slow: {
      file: write('slow', { cniVersion: '1.0.0', name: sb.name('ctslow'), plugins: [
        { ...plugins[0]!, bridge: slowBridge, ipam: { type: 'host-local', ranges: [[{ subnet: subnetFor(sb, 91) }]], dataDir: join(sb.dir, 'ipam-slow') } },
        { type: 'demo-slow-policy', fx: { mode: 'sleep', ms: 2500 } },
        { type: 'tuning', sysctl: { 'net.core.somaxconn': '512' } },
      ] }),
    },
    tight: {
      file: write('tight', { cniVersion: '1.0.0', name: sb.name('cttight'), plugins: [
        { type: 'bridge', bridge: tightBridge, ipam: { type: 'host-local', ranges: [[{ subnet: subnetFor(sb, 90), rangeStart: one, rangeEnd: one }]], dataDir: join(sb.dir, 'ipam-tight') } },
      ] }),
    },
  };
}

// The current upstream plugins when scripts/tools.sh has built them (setup.sh does), else Debian's.
const plugins = await newestBuiltPlugins();
try {
  const bin = join(sb.dir, 'bin');
  installCniTrace(bin);
  installFixtures(bin, ['demo-slow-policy']);
  const journal = join(sb.dir, 'journal');
  const lists: Partial<Record<NetName, JsonObject>> = {};
  const nets = networks((name, list) => {
    const file = join(sb.dir, `${name}.conflist`);
    const wrapped = wrapConflist(list, { journalDir: journal });
    // Command tracing on: the iptables calls under portmap and firewall say why they take the time they do.
    lists[name] = { ...wrapped, plugins: [{ ...(wrapped.plugins as JsonObject[])[0]!, commands: true }] };
    writeFileSync(file, JSON.stringify(lists[name]));
    return file;
  });
  const pods = podCount;
  console.log(`cni-trace demo — ${pods} pods through a wrapped bridge+host-local, portmap, bandwidth, tuning, firewall chain (${plugins.label} plugins),`);
  console.log(`driven by ${values.runtime === 'containerd' ? 'containerd\'s CRI (RunPodSandbox, StopPodSandbox, RemovePodSandbox, as the kubelet calls them)' : 'libcni in sandbox namespaces'}; web-3 is on a network with a slow plugin, web-6 finds no free address.\n`);

  let jaeger: Jaeger | null = null;
  let endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (values.jaeger) {
    if (!(await toolsBuilt())) console.log('Building the OpenTelemetry Collector, Jaeger and containerd 2.x into .cache/tools (once; scripts/tools.sh) …');
    await ensureTools();
    const missing = values.runtime === 'containerd' ? containerdAvailable(CONTAINERD2_BIN) : null;
    if (missing) throw new Error(`--runtime containerd: ${missing}`);
    jaeger = await startJaeger(sb.dir);
    backends.push(jaeger);
    const collector = await startCollector(sb.dir, { jaeger: jaeger.otlpGrpc, nodeName: 'demo-node' });
    backends.push(collector);
    endpoint = collector.otlpHttp;
    console.log(`Jaeger v2 at ${jaeger.queryUrl}, fed by an OpenTelemetry Collector running collector-config/otel-collector.yaml.\n`);
  }
  if (values.runtime === 'containerd') {
    // With Jaeger: containerd 2.x, tracing to the same collector, so each pod start is one trace
    // from its CRI call down to each plugin. Without: Debian's 1.6 (no build, no tracing of its own).
    const traced = endpoint && values.jaeger ? { binDir: CONTAINERD2_BIN, env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: 'containerd', OTEL_BSP_SCHEDULE_DELAY: '200' } } : {};
    for (const [name, conflist] of Object.entries(lists)) {
      containerds[name as NetName] = await Containerd.start({ dir: join(sb.dir, `cd-${name}`), conflist, pluginDirs: [bin, plugins.dir], ...traced });
    }
  }
  if (endpoint) {
    console.log(`Exporting traces and metrics to ${endpoint} (cni-trace agent) as they happen.\n`);
    const agent = execa(process.execPath, [CLI, 'agent', '--journal', journal, '--state-dir', join(sb.dir, 'agent-state'), '--interval', '200ms', '--status-every', '0', '--metric-interval', '5000'],
      { reject: false, stdio: ['ignore', 'inherit', 'inherit'], env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }, extendEnv: true });
    children.push(agent);
  }
  let stopFollow = (): void => {};
  let printed = -1; // invocation lines printed by the follower; -1: no follower (the TUI shows them)
  let tui: ResultPromise | null = null;
  if (useTui) {
    tui = execa(process.execPath, [CLI, 'tui', '--journal', journal], { reject: false, stdio: 'inherit' });
    children.push(tui);
  } else {
    const index = new InvocationIndex();
    printed = 0;
    stopFollow = followJournal({
      dir: journal, intervalMs: 100,
      onRecord: (rec) => {
        index.add(rec);
        if (rec.rec !== 'invocation.end') return;
        console.log(invocationLine(index.get(rec.spanId)!, colour));
        printed++;
      },
    });
  }

  // The stream: a pod every 400 ms (the first three together: portmap's and firewall's iptables
  // calls then run side by side), each living 1–2.5 s, then torn down.
  // web-6 asks only once web-5 has the tight network's address: a runtime slow to start web-5
  // (a containerd's first sandbox) must not let web-6 take it first.
  let tightHeld = (): void => {};
  const tightTaken = { promise: new Promise<void>((resolve) => { tightHeld = resolve; }), resolve: () => tightHeld() };
  lives = Array.from({ length: pods }, async (_, i) => {
    try {
      await life(i);
    } finally {
      if (i === 5) tightTaken.resolve();
    }
  });
  async function life(i: number): Promise<void> {
    if (!(await pause(i < 3 ? 0 : i * 400))) return;
    if (i === 6) await tightTaken.promise;
    const name: NetName = i === 3 ? 'slow' : i === 5 || i === 6 ? 'tight' : 'main';
    const net = nets[name];
    const linger = i === 5 ? 3000 : 1000 + (i % 4) * 500; // web-5 holds the tight network's one address while web-6 asks
    const cd = containerds[name];
    if (cd) {
      const run = await cd.run({
        name: `web-${i}`, namespace: 'demo', uid: `uid-${sb.id}-${i}`,
        portMappings: name === 'main' ? [{ protocol: 'TCP', containerPort: 80, hostPort: 31000 + i }] : [],
        annotations: { 'kubernetes.io/ingress-bandwidth': '8M', 'kubernetes.io/egress-bandwidth': '8M' },
      });
      if (i === 5) tightTaken.resolve();
      await pause(linger);
      if (run.id) {
        await cd.stop(run.id);
        await cd.remove(run.id);
      }
      return;
    }
    const id = `demo-${sb.id}-${i}`;
    const call: DriverCall = {
      conflist: net.file, netns: await sb.netns(`d${i}`), id,
      args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=web-${i};K8S_POD_UID=uid-${sb.id}-${i};K8S_POD_INFRA_CONTAINER_ID=${id}`,
      ...(net.capArgs ? { capArgs: { ...net.capArgs, portMappings: [{ hostPort: 31000 + i, containerPort: 80, protocol: 'tcp' }] } } : {}),
      path: [bin, plugins.dir], cacheDir: join(sb.dir, 'cache'),
    };
    await runDriver('add', call);
    if (i === 5) tightTaken.resolve();
    await pause(linger);
    await runDriver('del', call);
  }
  // A leaked attachment, planted: a pod set up, then its namespace deleted under it with no DEL,
  // as when a runtime crashes between the two. Its address stays allocated; diagnose says so.
  if (values.runtime !== 'containerd') lives.push(plantLeak(nets.main, bin));
  await Promise.all(lives);
  // Ctrl-C: the signal handler tears down, cleans up and exits; nothing is kept or suggested.
  if (stopping.signal.aborted) await new Promise(() => {});
  // The follower prints every call the journal holds before it stops: on a loaded machine its next
  // poll may come later than the last call's end (a fixed pause once dropped the last DEL).
  const ended = (): number => readJournal(journal).filter((rec) => rec.rec === 'invocation.end').length;
  for (let waited = 0; printed >= 0 && printed < ended() && waited < 10_000; waited += 100) await sleep(100);
  stopFollow();

  const index = new InvocationIndex();
  for (const rec of readJournal(journal)) index.add(rec);
  const invocations = index.list();
  if (tui) await tui; // the TUI owns the screen until q
  const kept = keepJournal(journal, values['keep-journal']);
  const found = thingsToFind(invocations, kept);
  await diagnoseHere(journal, kept);
  if (jaeger) await summaryForJaeger(jaeger, invocations, found.slowest, found.failed);
  else summaryForExport(invocations);
} finally {
  await cleanup();
}
process.stdout.write('\nCleaned up: namespaces, links, iptables rules and temp files are gone.\n');

/** stray-0 on the main network: ADDed, then its netns deleted without a DEL. */
async function plantLeak(net: { file: string; capArgs?: Record<string, unknown> }, bin: string): Promise<void> {
  if (!(await pause(1000))) return;
  const id = `demo-${sb.id}-stray`;
  const netns = await sb.netns('dstray');
  // bandwidth's host-side ifb device outlives the namespace (no DEL removes it): the clean-up does.
  const ifbs = async (): Promise<string[]> => (await execa('ip', ['-o', 'link', 'show'])).stdout.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter((n) => n.startsWith('bwp'));
  const before = new Set(await ifbs());
  await runDriver('add', {
    conflist: net.file, netns, id, path: [bin, plugins.dir], cacheDir: join(sb.dir, 'cache'),
    args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=stray-0;K8S_POD_INFRA_CONTAINER_ID=${id}`,
    ...(net.capArgs ? { capArgs: { ...net.capArgs, portMappings: [{ hostPort: 31099, containerPort: 80, protocol: 'tcp' }] } } : {}),
  });
  for (const link of await ifbs()) if (!before.has(link)) sb.ownLink(link);
  await execa('ip', ['netns', 'delete', netns.split('/').pop()!]);
}

/** What `cni-trace diagnose` says about the demo's journal (while the namespaces it judges are as they were), and the command. */
async function diagnoseHere(journal: string, kept: string): Promise<void> {
  const r = await execa(process.execPath, [CLI, 'diagnose', '--journal', journal], { reject: false, env: { NO_COLOR: colour ? '' : '1' } });
  process.stdout.write(`\nWhat is wrong here, with the evidence and a next step (exit status ${r.exitCode}: findings):\n    $ ${suggest(['diagnose', '--journal', kept], CLI)}\n${r.stdout.replace(/^/gm, '  ')}\n`);
}

/** The journal copied where it outlives the clean-up: DIR, or a new private dir in /tmp. */
function keepJournal(journal: string, dir: string | undefined): string {
  const kept = dir ?? mkdtempSync(join(tmpdir(), 'cni-trace-demo-journal-'));
  mkdirSync(kept, { recursive: true, mode: 0o700 });
  cpSync(journal, kept, { recursive: true });
  return kept;
}

/**
 * What to look at, pod start first (the slowest ADD, the failed ADD), each with the command that
 * shows it — as it runs from here, with this journal — and where the journal is.
 */
function thingsToFind(invocations: readonly Invocation[], kept: string): { slowest: Invocation | undefined; failed: Invocation | undefined } {
  const cmd = (...args: string[]): string => `    $ ${suggest([...args, '--journal', kept], CLI)}`;
  const adds = invocations.filter((i) => i.command === 'ADD');
  const slowest = adds.filter((i) => i.status === 'ok').sort((a, b) => (b.durationMs ?? 0) - (a.durationMs ?? 0))[0];
  const failed = adds.find((i) => i.status === 'error');
  const pod = (i: Invocation): string => `${i.pod.namespace}/${i.pod.name}`;
  const lines = [`\n${invocations.length} invocations recorded (${adds.length} pod starts). Things to find:`];
  if (slowest) {
    const step = [...slowest.steps].sort((a, b) => (b.durationMs ?? 0) - (a.durationMs ?? 0))[0];
    lines.push(`- the slowest pod start: ADD of ${pod(slowest)}, ${formatMs(slowest.durationMs)}, most of it in ${step?.plugin} (${formatMs(step?.durationMs ?? null)})`, cmd('show', '--pod', pod(slowest)));
  }
  if (failed) {
    const step = failed.steps.find((s) => s.status === 'error' && s.depth > 0) ?? failed.steps.find((s) => s.status === 'error');
    lines.push(`- the failure: ADD of ${pod(failed)}, in ${step?.plugin}${step && step.depth > 0 ? ' (called by bridge)' : ''}: ${failed.error?.msg}`, cmd('show', '--pod', pod(failed)));
  }
  lines.push('- every slow or failed pod start, and the latency per plugin:', cmd('tail', '--command', 'ADD', '--status', 'slow'), cmd('tail', '--command', 'ADD', '--status', 'error'), cmd('stats', '--command', 'ADD'));
  lines.push(`The journal is kept in ${kept} (root's; remove it when done).`);
  process.stdout.write(lines.join('\n') + '\n');
  return { slowest, failed };
}

/** Waits until Jaeger has every trace (bounded), then says where the slow and the failed pod's are. */
async function summaryForJaeger(jaeger: Jaeger, invocations: readonly Invocation[], slowest: Invocation | undefined, failed: Invocation | undefined): Promise<void> {
  const have = await waitForTraces(jaeger.queryUrl, new Map(invocations.map((i) => [i.traceId, 1 + i.steps.length])), 30_000)
    .then((m) => m.size, (e: Error) => { console.log(`\n${e.message}`); return null; });
  process.stdout.write(`\nJaeger (${jaeger.queryUrl}) has ${have ?? 'not all'} of the ${invocations.length} traces, service "cni-trace":\n`);
  for (const [what, inv] of [['the slow pod', slowest], ['the failed pod', failed]] as const) {
    if (inv) process.stdout.write(`- ${what}, ${inv.command} of ${inv.pod.namespace}/${inv.pod.name}: trace ${inv.traceId} — ${jaeger.queryUrl}/api/traces/${inv.traceId}\n`);
  }
  if (slowest && Object.keys(containerds).length > 0) await oneTrace(jaeger, slowest);
  // Built from its Go module, Jaeger has no UI assets (docs/decisions.md 30): the query API is what there is.
  process.stdout.write('(Jaeger\'s query API; the UI is in the compose stack\'s Jaeger image, where the same ids open the traces.)\n');
  if (process.stdin.isTTY && !useTui) {
    process.stdout.write('Jaeger and the collector stay up until you press Enter.\n');
    await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
    process.stdin.pause();
  }
}

/** containerd 2.x traced too: the slow pod's start as one trace, from its CRI call to each plugin. */
async function oneTrace(jaeger: Jaeger, inv: Invocation): Promise<void> {
  const rpc = 'runtime.v1.RuntimeService/RunPodSandbox';
  const end = Date.now() + 15_000;
  let trace = await jaegerTrace(jaeger.queryUrl, inv.traceId);
  while (!trace?.spans.some((s) => s.operationName === rpc) && Date.now() < end) {
    await sleep(200);
    trace = await jaegerTrace(jaeger.queryUrl, inv.traceId);
  }
  if (!trace?.spans.some((s) => s.operationName === rpc)) {
    process.stdout.write(`containerd's spans of ${inv.pod.name}'s start did not reach Jaeger (trace ${inv.traceId}).\n`);
    return;
  }
  const services = new Set(trace.spans.map((s) => trace.processes[s.processID]?.serviceName));
  process.stdout.write(`\nOne trace from the kubelet's call to each plugin: RunPodSandbox of ${inv.pod.namespace}/${inv.pod.name}, trace ${inv.traceId}\n`
    + `  ${trace.spans.length} spans from ${[...services].join(' and ')}: ${rpc} → cri.sandbox.run → cni.setup_pod_network → cni.Setup → go-cni's span for the network → CNI ADD → a span per plugin\n`
    + `  ${jaeger.queryUrl}/api/traces/${inv.traceId}\n`);
}

function summaryForExport(invocations: readonly Invocation[]): void {
  if (!process.env.OTEL_EXPORTER_OTLP_ENDPOINT || invocations.length === 0) return;
  process.stdout.write(`In Jaeger (http://localhost:16686) search service "cni-trace", or open trace ${invocations[0]!.traceId}; in Grafana (http://localhost:3000) the "cni-trace" dashboard has the per-plugin latencies.\n`);
}
