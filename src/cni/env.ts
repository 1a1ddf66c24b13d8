/**
 * The CNI_* environment of one call, validated the way libcni's skel does
 * (pkg/skel/skel.go getCmdArgsFromEnv, pkg/utils ValidateContainerID/InterfaceName),
 * extended with the 1.1 commands STATUS and GC (SPEC.md §"Parameters").
 */
import { cniError, ErrorCode, type CniError } from './errors.ts';

export const COMMANDS = ['ADD', 'CHECK', 'DEL', 'STATUS', 'GC', 'VERSION'] as const;
export type Command = (typeof COMMANDS)[number];

export interface CniEnv {
  readonly command: Command;
  readonly containerId: string;
  readonly netns: string;
  readonly ifname: string;
  readonly args: string;
  readonly path: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Which variables each command needs; CNI_COMMAND itself is always required. */
const REQUIRED: ReadonlyArray<readonly [name: string, commands: readonly Command[]]> = [
  ['CNI_COMMAND', []],
  ['CNI_CONTAINERID', ['ADD', 'CHECK', 'DEL']],
  ['CNI_NETNS', ['ADD', 'CHECK']],
  ['CNI_IFNAME', ['ADD', 'CHECK', 'DEL']],
  ['CNI_ARGS', []],
  ['CNI_PATH', ['ADD', 'CHECK', 'DEL', 'STATUS', 'GC']],
];

const VALID_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const MAX_IFNAME = 15;

/**
 * Reads and validates the CNI_* variables for the command in CNI_COMMAND.
 * Returns an error value with code 4 (or 3 for an empty container id) naming the variable;
 * never throws.
 */
export function readCniEnv(env: Env): CniEnv | CniError {
  const command = env.CNI_COMMAND ?? '';
  const missing = REQUIRED
    .filter(([name, cmds]) => !env[name] && (name === 'CNI_COMMAND' || (cmds as readonly string[]).includes(command)))
    .map(([name]) => name);
  if (missing.length > 0) {
    return cniError(ErrorCode.InvalidEnvironmentVariables, `required env variables [${missing.join(',')}] missing`);
  }
  if (!(COMMANDS as readonly string[]).includes(command)) {
    return cniError(ErrorCode.InvalidEnvironmentVariables, `unknown CNI_COMMAND: ${command}`);
  }
  const parsed: CniEnv = {
    command: command as Command,
    containerId: env.CNI_CONTAINERID ?? '',
    netns: env.CNI_NETNS ?? '',
    ifname: env.CNI_IFNAME ?? '',
    args: env.CNI_ARGS ?? '',
    path: env.CNI_PATH ?? '',
  };
  if (parsed.command === 'ADD' || parsed.command === 'CHECK' || parsed.command === 'DEL') {
    const bad = validateContainerId(parsed.containerId) ?? validateIfname(parsed.ifname);
    if (bad) return bad;
  }
  return parsed;
}

/** skel's container id rule: non-empty, `[a-zA-Z0-9][a-zA-Z0-9_.-]*`. */
export function validateContainerId(id: string): CniError | null {
  if (id === '') return cniError(ErrorCode.UnknownContainer, 'missing containerID');
  if (!VALID_NAME.test(id)) return cniError(ErrorCode.InvalidEnvironmentVariables, 'invalid characters in containerID', id);
  return null;
}

/** skel's network name rule (code 7): non-empty, `[a-zA-Z0-9][a-zA-Z0-9_.-]*`. */
export function validateNetworkName(name: string): CniError | null {
  if (name === '') return cniError(ErrorCode.InvalidNetworkConfig, 'missing network name');
  if (!VALID_NAME.test(name)) return cniError(ErrorCode.InvalidNetworkConfig, 'invalid characters found in network name', name);
  return null;
}

/** The kernel's interface name rule as skel checks it: 1–15 bytes, not "." or "..", no "/", ":" or space. */
export function validateIfname(name: string): CniError | null {
  const code = ErrorCode.InvalidEnvironmentVariables;
  if (name.length === 0) return cniError(code, 'interface name is empty');
  if (Buffer.byteLength(name) > MAX_IFNAME) {
    return cniError(code, 'interface name is too long', `interface name should be less than ${MAX_IFNAME + 1} characters`);
  }
  if (name === '.' || name === '..') return cniError(code, 'interface name is . or ..');
  // Go's unicode.IsSpace is the Unicode White_Space property (JS \s differs: U+0085, U+FEFF).
  if (/[/:\p{White_Space}]/u.test(name)) return cniError(code, 'interface name contains / or : or whitespace characters');
  return null;
}

/** The pod identity Kubernetes runtimes put into CNI_ARGS (K8S_POD_NAMESPACE=…;K8S_POD_NAME=…). */
export interface PodRef {
  readonly namespace?: string;
  readonly name?: string;
  readonly uid?: string;
  readonly infraContainerId?: string;
}

/** Parses CNI_ARGS ("K=V;K=V") into the pod reference; ignores malformed pairs. */
export function podFromCniArgs(cniArgs: string): PodRef {
  const pairs = new Map<string, string>();
  for (const part of cniArgs.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) pairs.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const pod: { namespace?: string; name?: string; uid?: string; infraContainerId?: string } = {};
  const ns = pairs.get('K8S_POD_NAMESPACE');
  const name = pairs.get('K8S_POD_NAME');
  const uid = pairs.get('K8S_POD_UID');
  const infra = pairs.get('K8S_POD_INFRA_CONTAINER_ID');
  if (ns) pod.namespace = ns;
  if (name) pod.name = name;
  if (uid) pod.uid = uid;
  if (infra) pod.infraContainerId = infra;
  return pod;
}

/** Go's filepath.SplitList: "" is no entries; empty elements stay (they mean the current directory). */
export function splitCniPath(path: string): string[] {
  return path === '' ? [] : path.split(':');
}
