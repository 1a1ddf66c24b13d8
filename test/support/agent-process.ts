/**
 * Running `cni-trace agent` (the built dist/cli.js) as a separate process, as on a node.
 */
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { ROOT } from './fixtures.ts';

export const CLI = join(ROOT, 'dist/cli.js');

export interface AgentRun {
  readonly exitCode: number | undefined;
  readonly stderr: string;
}

/** `cni-trace agent --once …`; resolves when it exits. */
export async function agentOnce(args: string[], env: Record<string, string> = {}): Promise<AgentRun> {
  const r = await execa(process.execPath, [CLI, 'agent', '--once', ...args], { reject: false, env, extendEnv: true, timeout: 120_000 });
  return { exitCode: r.exitCode, stderr: r.stderr };
}

/** A long-running agent; kill it with `.kill('SIGKILL')` or stop it with SIGTERM. */
export function agentDaemon(args: string[], env: Record<string, string> = {}): ResultPromise {
  return execa(process.execPath, [CLI, 'agent', ...args], { reject: false, env, extendEnv: true });
}
