/**
 * Calling the plugin's dispatcher in-process, as a runtime would call the executable:
 * env, stdin in; stdout, stderr and exit code out. Delegates are real processes.
 */
import { processExec, type PluginExec } from '../../src/invoke/exec.ts';
import { OrphanReaper } from '../../src/invoke/reaper.ts';
import { runPlugin } from '../../src/plugin/dispatch.ts';

export interface PluginCall {
  readonly env: Record<string, string | undefined>;
  readonly stdin: string | object;
  readonly exec?: PluginExec;
  /** Let nested calls go through shims (as the real wrapper does); needs the entry's runDir writable. */
  readonly nestedTracing?: boolean;
}

export interface PluginResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON, or undefined when it is empty or not JSON. */
  readonly json: Record<string, unknown> | undefined;
}

export async function callPlugin(call: PluginCall): Promise<PluginResult> {
  let stdout = '';
  let stderr = '';
  const code = await runPlugin({
    env: call.env,
    readStdin: async () => Buffer.from(typeof call.stdin === 'string' ? call.stdin : JSON.stringify(call.stdin)),
    writeStdout: (d) => { stdout += d.toString(); },
    writeStderr: (d) => { stderr += d.toString(); },
    exec: call.exec ?? processExec,
    guard: () => new OrphanReaper(),
    nestedTracing: call.nestedTracing ?? false,
  });
  let json: Record<string, unknown> | undefined;
  try { json = stdout ? JSON.parse(stdout) as Record<string, unknown> : undefined; } catch { json = undefined; }
  return { code, stdout, stderr, json };
}

/** The CNI_* env of a call; `overrides` may set a variable to undefined to remove it. */
export function cniEnv(command: string, binDir: string, overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    PATH: process.env.PATH,
    CNI_COMMAND: command,
    CNI_CONTAINERID: 'ctr1',
    CNI_NETNS: '/var/run/netns/does-not-matter',
    CNI_IFNAME: 'eth0',
    CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=cart-7f;K8S_POD_UID=u-1;K8S_POD_INFRA_CONTAINER_ID=ctr1',
    CNI_PATH: binDir,
    ...overrides,
  };
}
