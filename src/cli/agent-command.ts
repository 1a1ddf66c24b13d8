/**
 * `cni-trace agent`: flags parsed from the agent's settings table; --status reads what the
 * running agent last wrote to its state dir.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { STATUS_FILE, statusLine, type AgentStatus } from '../agent/status.ts';
import { agentHelp, resolveConfig, SETTINGS, type Flags } from '../agent/config.ts';
import { runAgent } from '../agent/run.ts';
import { redactUrlsIn } from '../config/redact.ts';
import type { CliCommand } from './command.ts';

const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { once: { type: 'boolean' }, status: { type: 'boolean' } };
for (const s of Object.values(SETTINGS)) options[s.flag] = s.flag === 'disabled' ? { type: 'boolean' } : { type: 'string', ...('repeat' in s ? { multiple: true } : {}) };

export const agent: CliCommand = {
  examples: ['cni-trace agent --endpoint http://collector:4318', 'cni-trace agent --once', 'cni-trace agent --status'],
  get help() { return agentHelp(); },
  options,
  run: (values) => agentCommand(values),
};

async function agentCommand(values: Flags): Promise<number> {
  const cfg = resolveConfig(values);
  const log = (line: string): void => { process.stderr.write(`cni-trace agent: ${line}\n`); };
  if (values.status) {
    let status: AgentStatus;
    try {
      status = JSON.parse(readFileSync(join(cfg.stateDir, STATUS_FILE), 'utf8')) as AgentStatus;
    } catch {
      console.error(`cni-trace agent: no status in ${cfg.stateDir}: is the agent running with --state-dir ${cfg.stateDir}?`);
      return 1;
    }
    const age = (Date.now() - Date.parse(status.updatedAt)) / 1000;
    console.log(`agent pid ${status.pid}, started ${status.startedAt}, status written ${age.toFixed(0)} s ago, exporting to ${redactUrlsIn(status.endpoint)}`);
    console.log(statusLine(status));
    return 0;
  }
  const stopped = new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
  });
  return runAgent(cfg, { log, stopped });
}
