/**
 * The demo: a real chain (bridge + host-local, portmap, bandwidth, tuning, firewall) wrapped
 * by cni-trace, driven by a real CNI runtime (libcni, test/driver) for a few pods in
 * sandbox network namespaces — ADD, CHECK, DEL each — then what was recorded, as
 * `cni-trace tail` prints it. Everything it creates is removed on exit, also on Ctrl-C.
 *   npm run demo [-- --pods N] [-- --keep-journal DIR]
 * With OTEL_EXPORTER_OTLP_ENDPOINT set (e.g. http://localhost:4318 with
 * collector-config/compose.yaml up), the recorded traces are exported there too.
 * Needs root and the packages scripts/setup.sh installs.
 */
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { wrapConflist } from '../src/cli/conflist.ts';
import { invocationJson, invocationLine } from '../src/cli/tail.ts';
import { InvocationIndex } from '../src/journal/invocations.ts';
import { readJournal } from '../src/journal/reader.ts';
import { execa } from 'execa';
import { CLI } from '../test/support/agent-process.ts';
import { runDriver, type DriverCall } from '../test/support/driver.ts';
import { DEBIAN_CNI, installCniTrace } from '../test/support/fixtures.ts';
import { fullBridgeChain, writeConflists } from '../test/support/chains.ts';
import { iptablesState, keepSysctl, restoreIptables, Sandbox } from '../test/support/sandbox.ts';

const { values } = parseArgs({ options: { pods: { type: 'string', default: '3' }, 'keep-journal': { type: 'string' } } });
if (process.getuid?.() !== 0) {
  console.error('demo: run as root (it creates network namespaces, links and iptables rules, and removes them after)');
  process.exit(1);
}
const colour = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const sb = new Sandbox('demo');
const restoreForward = await keepSysctl('net.ipv4.ip_forward');
const iptables = await iptablesState();
let cleaned = false;
async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  await restoreIptables(iptables);
  await restoreForward();
  await sb.cleanup();
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => { void cleanup().then(() => process.exit(130)); });
}

try {
  const bin = join(sb.dir, 'bin');
  installCniTrace(bin);
  const journal = join(sb.dir, 'journal');
  const spec = fullBridgeChain(sb, join(sb.dir, 'ipam'));
  spec.links.forEach((l) => sb.ownLink(l));
  const files = writeConflists(sb, spec, journal);
  console.log(`cni-trace demo — a wrapped ${spec.label} chain, driven by libcni, in sandbox namespaces\n`);
  console.log('The wrapped conflist (cni-trace wrap):');
  console.log(JSON.stringify(wrapConflist(spec.conflist, { journalDir: journal }), null, 2), '\n');

  const pods = Number(values.pods);
  for (let i = 0; i < pods; i++) {
    const netns = await sb.netns(`d${i}`);
    const call: DriverCall = {
      conflist: files.wrapped, netns, id: `demo-${sb.id}-${i}`,
      args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=web-${i};K8S_POD_UID=uid-${sb.id}-${i};K8S_POD_INFRA_CONTAINER_ID=demo-${sb.id}-${i}`,
      ...(spec.capArgs ? { capArgs: spec.capArgs } : {}), path: [bin, DEBIAN_CNI], cacheDir: join(sb.dir, 'cache'),
    };
    for (const op of ['add', 'check', 'del'] as const) await runDriver(op, call);
  }

  const index = new InvocationIndex();
  for (const rec of readJournal(journal)) index.add(rec);
  const invocations = index.list();
  console.log(`Recorded ${invocations.length} invocations (cni-trace tail):`);
  for (const inv of invocations) console.log('  ' + invocationLine(inv, colour));
  const failed = invocations.find((i) => i.status === 'error');
  if (failed) {
    console.log(`\nSomething to find: ${failed.command} of ${failed.pod.namespace}/${failed.pod.name} failed in`,
      `${failed.steps.find((s) => s.status === 'error')?.plugin} with code ${failed.error?.code}: ${failed.error?.msg}`);
    console.log('(portmap 1.1.1 fails CHECK in this packaging; the bare chain fails the same way.)');
  }
  console.log('\nOne invocation as `cni-trace tail --json` gives it:');
  console.log(JSON.stringify(invocationJson(invocations[0]!), null, 2));
  if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT) {
    console.log(`\nExporting the traces to ${process.env.OTEL_EXPORTER_OTLP_ENDPOINT} (cni-trace agent --once):`);
    const exported = await execa(process.execPath, [CLI, 'agent', '--once', '--journal', journal, '--state-dir', join(sb.dir, 'agent-state'), '--status-every', '0'], { reject: false, stdio: 'inherit' });
    if (exported.exitCode === 0) {
      console.log(`In Jaeger (http://localhost:16686) search service "cni-trace", or open trace ${invocations[0]!.traceId};`);
      console.log('in Grafana (http://localhost:3000) use Explore → Tempo with that trace id.');
    }
  }
  if (values['keep-journal']) {
    mkdirSync(values['keep-journal'], { recursive: true, mode: 0o700 });
    cpSync(journal, values['keep-journal'], { recursive: true });
    console.log(`\nJournal kept in ${values['keep-journal']}: npx cni-trace tail --journal ${values['keep-journal']}`);
  }
} finally {
  await cleanup();
}
console.log('\nCleaned up: namespaces, links, iptables rules and temp files are gone.');
