/**
 * How the CLI's commands size V8's heap, in one place: the long-running ones (agent, TUI) re-exec
 * with a sized heap; the ones that stream the whole journal keep the young generation small.
 */

/**
 * For commands that stream the whole journal (stats, tail, diagnose): V8 grows its young
 * generation under a high allocation rate (a parsed record, its shape check and an invocation
 * per few KB read) up to 3 × its largest semi-space, which alone took peak RSS from ~170 to
 * ~300 MB over a 100k-invocation journal while the live heap stayed under 20 MB. A growth factor
 * of 1 keeps the young generation at its initial size; it costs ~25 % more time in scavenges
 * (docs/decisions.md, "Readers that stay flat").
 */
export function keepYoungGenerationSmall(): void {
  process.getBuiltinModule('node:v8').setFlagsFromString('--semi-space-growth-factor=1');
}

/**
 * The agent and the TUI run for long and allocate fast (catching up; an immutable state
 * copied ten times a second); V8's default heap sizing then grows RSS far past their live
 * data (agent: 395 MB at a 100,000-invocation backlog; TUI: 295 MB at 200 invocations/s).
 * They run with a sized heap instead (bench/agent-export.ts, bench/tui.ts). Node's execve
 * replaces this process, leaving no parent behind.
 */
const LONG_RUNNING_V8_FLAGS = ['--max-old-space-size=128', '--max-semi-space-size=8'];

export function reexecWithSizedHeap(): void {
  if (process.execArgv.some((a) => a.startsWith('--max-old-space-size')) || typeof process.execve !== 'function') return;
  // The self-contained executable takes Node's flags only as --node-options (its
  // execArgvExtension is "cli": NODE_OPTIONS from a runtime's env never reaches the plugin).
  // Its code cache was made with default flags; V8 rejects it under these, and Node would say
  // so on stderr at every start: the cache is the plugin's, the CLI does not need it.
  const args = process.getBuiltinModule('node:sea')?.isSea()
    ? [process.argv[1]!, `--node-options=${[...LONG_RUNNING_V8_FLAGS, '--disable-warning=Warning'].join(' ')}`, ...process.argv.slice(2)]
    : [process.execPath, ...LONG_RUNNING_V8_FLAGS, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)];
  process.execve(process.execPath, args, process.env);
}
