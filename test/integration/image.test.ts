/**
 * The container image and the DaemonSet, on a node made of temp directories: `npm run image`'s
 * context and collector-config/Containerfile, built by podman on a base that holds only the C
 * and C++ runtime (what the Containerfile asks of its BASE). Each container runs as the
 * DaemonSet's YAML says — its command, hostPath mounts (read-only where it says), user, no
 * capabilities, read-only root — and the node's CNI calls go through the plugin the init
 * container installed, via libcni over the Debian plugins in a real namespace.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildArgs, stageContext } from '../../scripts/image.ts';
import { isWrapped, parseConflist } from '../../src/cli/conflist.ts';
import type { JsonObject } from '../../src/config/wrapper-entry.ts';
import { subnetFor } from '../support/chains.ts';
import { runDriver } from '../support/driver.ts';
import { DEBIAN_CNI, PLUGIN_EXECUTABLE } from '../support/fixtures.ts';
import { daemonSetPod, podContainer, podmanOptions, runtimeRootfs } from '../support/image.ts';
import { OtlpReceiver } from '../support/otlp-receiver.ts';
import { createPodmanSandbox } from '../support/podman.ts';
import { podmanAvailable, randomHex } from '../support/podman-host.ts';
import { type PodmanSandbox } from '../support/podman-types.ts';
import { Sandbox } from '../support/sandbox.ts';

const unavailable = podmanAvailable();
const sb = new Sandbox('image');
const receiver = new OtlpReceiver();
const BASE = 'localhost/cnitrace-runtime-base:test';
const IMAGE = 'localhost/cnitrace-image:test';
let pm: PodmanSandbox | undefined;

before(async () => {
  if (unavailable) return;
  pm = await createPodmanSandbox({
    binDirs: [DEBIAN_CNI], buildImage: false,
    conflist: { cniVersion: '1.0.0', name: `cnitrace-img-${randomHex(4)}`, plugins: [{ type: 'loopback' }] },
  });
  const rootfs = join(sb.dir, 'base');
  runtimeRootfs(process.execPath, rootfs);
  const tar = join(sb.dir, 'base.tar');
  execFileSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', rootfs, '-cf', tar, '.']);
  await pm.run(['import', '--message', 'the C and C++ runtime of the test host, nothing else', tar, BASE], { check: true });
  const { args } = buildArgs(stageContext(join(sb.dir, 'context')), { tag: IMAGE, base: BASE });
  const built = await pm.run(args, { check: true, timeoutMs: 600_000 });
  console.log(`# podman build took ${(built.durationMs / 1000).toFixed(1)} s`);
  const size = async (image: string): Promise<number> => Number((await pm!.run(['image', 'inspect', '--format', '{{.Size}}', image], { check: true })).stdout.trim());
  const [imageBytes, baseBytes] = [await size(IMAGE), await size(BASE)];
  console.log(`# image ${(imageBytes / 2 ** 20).toFixed(1)} MiB: base ${(baseBytes / 2 ** 20).toFixed(1)} MiB + cni-trace ${((imageBytes - baseBytes) / 2 ** 20).toFixed(1)} MiB`);
  // One Node: what the image adds over its base is the one executable (decision 33).
  assert.ok(imageBytes - baseBytes < statSync(PLUGIN_EXECUTABLE).size * 1.05, 'the image adds one executable to its base');
  await receiver.start();
}, { timeout: 900_000 });

after(async () => {
  await pm?.cleanup();
  await receiver.stop();
  await sb.cleanup();
});

test('the image and the DaemonSet on a node: install wraps, pods go through the installed plugin, the agent exports them, doctor passes, keep-wrapped follows the provider, uninstall restores', { skip: unavailable ?? false, timeout: 300_000 }, async () => {
  const pod = daemonSetPod();
  const host = join(sb.dir, 'host');
  const binDir = join(host, 'opt/cni/bin');
  const confDir = join(host, 'etc/cni/net.d');
  const journal = join(host, 'var/log/cni-trace');
  mkdirSync(binDir, { recursive: true });
  mkdirSync(confDir, { recursive: true });
  for (const p of ['bridge', 'host-local', 'tuning']) copyFileSync(join(DEBIAN_CNI, p), join(binDir, p));
  const bridge = sb.name('ctim');
  sb.ownLink(bridge);
  const network = sb.name('ctimg');
  const provider = (plugins: JsonObject[]): string => `${JSON.stringify({ cniVersion: '1.0.0', name: network, plugins }, null, 2)}\n`;
  const bridgeConf = { type: 'bridge', bridge, ipam: { type: 'host-local', ranges: [[{ subnet: subnetFor(sb, 60) }]], dataDir: join(sb.dir, 'ipam') } };
  const conflist = join(confDir, '10-provider.conflist');
  writeFileSync(conflist, provider([bridgeConf]));
  const fields = { K8S_NODE_NAME: 'node-under-test', POD_UID: 'f00dfeed-0000-4000-8000-000000000001' };
  const run = (name: string, extra: string[], cmd: string[] = podContainer(pod, name).command, override: Record<string, string> = {}) =>
    pm!.run(['run', '--pull=never', '--network', 'host', ...extra, ...podmanOptions(pod, podContainer(pod, name), host, fields, override), IMAGE, ...cmd], { timeoutMs: 120_000 });

  // The init container.
  const install = await run('install', ['--rm']);
  assert.equal(install.code, 0, install.stderr);
  const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');
  assert.equal(sha(join(binDir, 'cni-trace')), sha(`${PLUGIN_EXECUTABLE}-front`), 'the front is on the node');
  assert.equal(sha(join(binDir, 'cni-trace-node')), sha(PLUGIN_EXECUTABLE), 'the self-contained plugin is beside it');
  assert.ok(isWrapped(parseConflist(readFileSync(conflist, 'utf8'), conflist)), 'the conflist is wrapped');
  assert.equal(readFileSync(join(confDir, '.cni-trace', '10-provider.conflist'), 'utf8'), provider([bridgeConf]), 'the original is kept');

  // What the runtime loads, with the journal and shim directories under the temp node.
  const runtimeView = (): string => {
    const conf = parseConflist(readFileSync(conflist, 'utf8'), conflist);
    const entry = (conf.plugins as JsonObject[])[0]!;
    const file = join(sb.dir, `runtime-${randomHex(3)}.conflist`);
    writeFileSync(file, JSON.stringify({ ...conf, plugins: [{ ...entry, journalDir: journal, runDir: join(sb.dir, 'run') }] }));
    return file;
  };
  const netns = await sb.netns('im');
  const call = (file: string) => ({ conflist: file, netns, id: 'ctr-image', path: [binDir], cacheDir: join(sb.dir, 'cache'), args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-1' });
  const add = await runDriver('add', call(runtimeView()));
  assert.equal(add.outcome.ok, true, JSON.stringify(add.outcome));

  // The agent and keep-wrapped containers, running.
  const agentName = `cnitrace-agent-${sb.id}`;
  const started = await run('agent', ['-d', '--name', agentName], undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint.replace(/\/v1\/traces$/, '') });
  assert.equal(started.code, 0, started.stderr);
  const kwName = `cnitrace-keep-${sb.id}`;
  assert.equal((await run('keep-wrapped', ['-d', '--name', kwName])).code, 0);
  const logs = async (name: string): Promise<string> => { const r = await pm!.run(['logs', name]); return r.stdout + r.stderr; };
  const until = async (ok: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> => {
    for (const start = Date.now(); !(await ok()); await sleep(200)) {
      if (Date.now() - start > ms) assert.fail(`timed out waiting for ${what}\nagent:\n${await logs(agentName)}\nkeep-wrapped:\n${await logs(kwName)}`);
    }
  };
  const roots = (command: string) => receiver.spans.filter((s) => s.parentSpanId === '' && s.attributes['cni.command'] === command);
  await until(() => roots('ADD').length === 1 && receiver.spans.some((s) => s.name.startsWith('host-local ')), 'the ADD and its nested IPAM call exported');
  const [root] = roots('ADD');
  assert.equal(root!.resource['k8s.node.name'], fields.K8S_NODE_NAME, 'the $(VAR) env of the YAML reaches the resource');
  assert.equal(root!.resource['k8s.pod.uid'], fields.POD_UID);
  assert.equal(root!.resource['service.name'], 'cni-trace');
  const hostLocal = receiver.spans.find((s) => s.name.startsWith('host-local '))!;
  const bridgeSpan = receiver.spans.find((s) => s.spanId === hostLocal.parentSpanId);
  assert.ok(bridgeSpan?.name.startsWith('bridge '), 'host-local is nested under bridge');

  // doctor, from inside the agent container, as the README says.
  const doctor = await pm!.run(['exec', agentName, 'cni-trace', 'doctor', '--bin-dir', '/host/opt/cni/bin', '--conf-dir', '/host/etc/cni/net.d', '--json']);
  const { ok, checks } = JSON.parse(doctor.stdout) as { ok: boolean; checks: Array<{ name: string; status: string; detail: string }> };
  assert.deepEqual(checks.filter((c) => c.status !== 'ok'), [], doctor.stdout);
  assert.deepEqual(checks.map((c) => c.name), ['plugin executable', 'conflist', 'delegates', 'journal', 'agent', 'collector']);
  assert.equal(doctor.code, 0);
  assert.equal(ok, true);

  // The image itself: its default command is the CLI's help, and the plugin it carries answers
  // VERSION on a base with nothing but the C and C++ runtime.
  const cmd = await pm!.run(['image', 'inspect', '--format', '{{json .Config.Cmd}}', IMAGE], { check: true });
  assert.deepEqual(JSON.parse(cmd.stdout), ['cni-trace', '--help']);
  const help = await pm!.run(['exec', agentName, 'cni-trace', '--help']);
  assert.match(help.stdout, /^ {2}install +put the plugin into a CNI bin dir/m, help.stderr);
  const version = await pm!.run(['exec', '-i', '-e', 'CNI_COMMAND=VERSION', agentName, '/usr/local/bin/cni-trace'], { input: '{}' });
  assert.equal((JSON.parse(version.stdout) as { supportedVersions: string[] }).supportedVersions.at(-1), '1.1.0', version.stderr);
  const size = await pm!.run(['image', 'inspect', '--format', '{{.Size}}', IMAGE], { check: true });
  console.log(`# image size ${(Number(size.stdout.trim()) / 2 ** 20).toFixed(0)} MiB uncompressed, base included`);

  // The provider's installer rewrites its conflist (atomically, as they do), with a new delegate.
  await until(async () => (await logs(kwName)).includes('watching'), 'keep-wrapped to watch');
  const tuned = provider([bridgeConf, { type: 'tuning', sysctl: { 'net.ipv4.conf.eth0.accept_redirects': '0' } }]);
  writeFileSync(`${conflist}.tmp`, tuned);
  renameSync(`${conflist}.tmp`, conflist);
  const delegates = (): string[] => { try { return ((parseConflist(readFileSync(conflist, 'utf8'), conflist).plugins as JsonObject[])[0]!.delegates as JsonObject[]).map((d) => d.type as string); } catch { return []; } };
  await until(() => delegates().join() === 'bridge,tuning', 'keep-wrapped to wrap the rewrite');
  const del = await runDriver('del', call(runtimeView()));
  assert.equal(del.outcome.ok, true, JSON.stringify(del.outcome));
  await until(() => roots('DEL').length === 1, 'the DEL exported');
  assert.deepEqual(receiver.spans.filter((s) => s.parentSpanId === roots('DEL')[0]!.spanId).map((s) => s.name.split(' ')[0]).sort(), ['bridge', 'tuning']);

  // Stopping the pod: SIGTERM, and each container exits cleanly.
  for (const name of [agentName, kwName]) {
    assert.equal((await pm!.run(['stop', '-t', '20', name])).code, 0);
    const exit = await pm!.run(['inspect', '--format', '{{.State.ExitCode}}', name], { check: true });
    assert.equal(exit.stdout.trim(), '0', `${name} exits 0 on SIGTERM:\n${await logs(name)}`);
  }
  assert.deepEqual(roots('ADD').length + roots('DEL').length, 2, 'each call exported once');

  // Roll back: a one-off container with the install container's mounts runs uninstall.
  const uninstall = await run('install', ['--rm'], ['cni-trace', 'uninstall', '--bin-dir', '/host/opt/cni/bin', '--conf-dir', '/host/etc/cni/net.d']);
  assert.equal(uninstall.code, 0, uninstall.stderr);
  assert.equal(readFileSync(conflist, 'utf8'), tuned, 'the provider\'s latest conflist, byte for byte');
  assert.equal(existsSync(join(binDir, 'cni-trace')), false, 'the plugin is gone from the node');
  assert.equal(existsSync(join(binDir, 'cni-trace-node')), false, 'and its Node part');
  assert.deepEqual(readdirSync(confDir), ['10-provider.conflist']);
});
