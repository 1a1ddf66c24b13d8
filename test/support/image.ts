/**
 * The container image in tests: a base made from this host's C and C++ runtime (exactly the
 * shared libraries `ldd` lists for the Node binary, nothing else: no shell, no coreutils), which
 * is what the Containerfile asks of its BASE; and the DaemonSet's containers turned into
 * `podman run` arguments, with each hostPath volume mapped under a temp "host root".
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './fixtures.ts';

/** Writes into `rootfs` the shared libraries `binary` loads (from `ldd`), at the paths it loads them from. */
export function runtimeRootfs(binary: string, rootfs: string): string[] {
  const ldd = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const libs = [...ldd.matchAll(/(\/\S+) \(0x[0-9a-f]+\)/g)].map((m) => m[1]!);
  for (const lib of libs) {
    mkdirSync(dirname(join(rootfs, lib)), { recursive: true });
    copyFileSync(realpathSync(lib), join(rootfs, lib));
  }
  for (const d of ['etc', 'proc', 'sys', 'dev', 'run', 'root', 'var', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/sbin/nologin\n');
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\n');
  return libs;
}

export interface K8sContainer {
  readonly name: string;
  readonly command: string[];
  readonly env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  readonly securityContext?: { runAsUser?: number; readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } };
  readonly volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}

interface PodSpec {
  readonly initContainers: K8sContainer[];
  readonly containers: K8sContainer[];
  readonly volumes: Array<{ name: string; hostPath: { path: string; type?: string } }>;
}

/** The DaemonSet's pod spec, as collector-config/kubernetes/40-daemonset.yaml has it. */
export function daemonSetPod(): PodSpec {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'collector-config/kubernetes/40-daemonset.yaml'), 'utf8')).map((d) => d.toJS() as { kind?: string; spec?: { template?: { spec?: PodSpec } } });
  const spec = docs.find((d) => d.kind === 'DaemonSet')?.spec?.template?.spec;
  if (!spec) throw new Error('no DaemonSet pod spec in 40-daemonset.yaml');
  return spec;
}

/** One of the pod's containers (init or not), by name. */
export function podContainer(pod: PodSpec, name: string): K8sContainer {
  const c = [...pod.initContainers, ...pod.containers].find((x) => x.name === name);
  if (!c) throw new Error(`no container ${name} in the DaemonSet`);
  return c;
}

/**
 * `podman run` options that give a container what the kubelet would: its hostPath mounts (the
 * host side under `hostRoot`), read-only where the spec says, its security context (user, no
 * capabilities, no privilege escalation, a read-only root file system with no tmpfs added) and
 * its env with `$(VAR)` references expanded. `fieldRef` values come from `fields`; a value in
 * `override` replaces the spec's.
 */
export function podmanOptions(pod: PodSpec, c: K8sContainer, hostRoot: string, fields: Record<string, string>, override: Record<string, string> = {}): string[] {
  const args: string[] = [];
  for (const m of c.volumeMounts ?? []) {
    const vol = pod.volumes.find((v) => v.name === m.name);
    if (!vol) throw new Error(`${c.name} mounts ${m.name}, which is not a volume of the pod`);
    const host = join(hostRoot, vol.hostPath.path);
    if (vol.hostPath.type === 'DirectoryOrCreate') mkdirSync(host, { recursive: true });
    args.push('-v', `${host}:${m.mountPath}${m.readOnly ? ':ro' : ''}`);
  }
  const sc = c.securityContext ?? {};
  if (sc.runAsUser !== undefined) args.push('--user', String(sc.runAsUser));
  for (const cap of sc.capabilities?.drop ?? []) args.push('--cap-drop', cap.toLowerCase());
  if (sc.allowPrivilegeEscalation === false) args.push('--security-opt', 'no-new-privileges');
  if (sc.readOnlyRootFilesystem) args.push('--read-only', '--read-only-tmpfs=false');
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    const raw = override[e.name] ?? e.value ?? fields[e.name];
    if (raw === undefined) throw new Error(`${c.name}: no value for env ${e.name}`);
    env[e.name] = raw.replace(/\$\((\w+)\)/g, (whole, name: string) => env[name] ?? whole);
  }
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  return args;
}
