/**
 * The kubelet's side of the CRI (test/cri/main.go, runtime.v1 over gRPC): built the first time a
 * test needs it from the module versions pinned in test/cri/go.mod and go.sum, cached in .cache/
 * by source hash, like the libcni driver.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT } from './fixtures.ts';
import { buildGoModule } from './go-build.ts';

const DIR = join(ROOT, 'test/cri');

let built: string | null = null;

/** Builds the CRI client once; returns its path. */
export async function criClientPath(): Promise<string> {
  built ??= await buildGoModule(DIR, 'cri');
  return built;
}

/** The pod as the test describes it; the client turns it into the kubelet's PodSandboxConfig. */
export interface CriPod {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly attempt?: number;
  readonly hostname?: string;
  readonly portMappings?: ReadonlyArray<{ protocol?: 'TCP' | 'UDP' | 'SCTP'; containerPort: number; hostPort: number; hostIp?: string }>;
  readonly annotations?: Record<string, string>;
  readonly labels?: Record<string, string>;
}

export interface CriStatus {
  readonly state: string;
  readonly ip: string;
  readonly additionalIps: string[];
  /** The network namespace containerd made for the sandbox. */
  readonly netns: string;
  readonly pid: number;
}

export interface CriOutcome {
  readonly ok: boolean;
  /** The gRPC code and message the kubelet would get. */
  readonly code?: string;
  readonly message?: string;
  /** The RPC's own time, measured in the client. */
  readonly durationNs: number;
  readonly id?: string;
  readonly status?: CriStatus;
  readonly ids?: string[];
}

/** One CRI call against the socket; throws only when the client itself cannot run. */
export async function criCall(socket: string, command: 'ready' | 'image' | 'run' | 'status' | 'stop' | 'remove' | 'list', opts: { id?: string; pod?: CriPod; image?: string; timeout?: string } = {}): Promise<CriOutcome> {
  const args = ['--socket', socket];
  if (opts.id) args.push('--id', opts.id);
  if (opts.pod) args.push('--pod', JSON.stringify(opts.pod));
  if (opts.image) args.push('--image', opts.image);
  if (opts.timeout) args.push('--timeout', opts.timeout);
  args.push(command);
  const res = await execa(await criClientPath(), args, { reject: false });
  if (res.exitCode !== 0) throw new Error(`cri ${command} failed to run (exit ${res.exitCode}): ${res.stderr}`);
  return JSON.parse(res.stdout) as CriOutcome;
}
