/**
 * `cni-trace doctor`: checks a node's set-up and explains, with a fix for each failure — the
 * plugin executable, the conflist the runtime loads, its delegates, the journal directory, the
 * agent and the collector. Each check is a small function returning the same shape, so the
 * human and the --json output are the same data.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, lstatSync, readFileSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { isWrapped, parseConflist } from './conflist.ts';
import { suggest } from './self.ts';
import { runtimeConflist } from './conf-dir.ts';
import { redactUrlsIn } from '../config/redact.ts';
import { findInPath } from '../invoke/find.ts';
import { parseWrapperEntry, type JsonObject } from '../config/wrapper-entry.ts';
import { processAlive } from '../journal/invocations.ts';
import { STATUS_FILE } from '../agent/status.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  readonly name: string;
  readonly status: CheckStatus;
  readonly detail: string;
  /** What to do about it (for warn and fail). */
  readonly fix?: string;
}

export interface DoctorOptions {
  readonly binDirs: readonly string[];
  readonly confDir: string;
  readonly journal: string;
  readonly stateDir: string;
  /** The OTLP/HTTP traces URL, or null to skip the collector check. */
  readonly tracesUrl: string | null;
  /** Free space below this in the journal's file system is a warning. */
  readonly minFreeBytes?: number;
}

const ok = (name: string, detail: string): Check => ({ name, status: 'ok', detail });
const bad = (name: string, status: 'warn' | 'fail', detail: string, fix: string): Check => ({ name, status, detail, fix });

function pluginCheck(binDirs: readonly string[]): Check {
  const name = 'plugin executable';
  const found = findInPath('cni-trace', binDirs);
  if ('error' in found) return bad(name, 'fail', `no cni-trace in ${binDirs.join(':')}`, suggest(['install', '--bin-dir', binDirs[0] ?? '/opt/cni/bin']));
  try {
    accessSync(found.path, constants.X_OK);
  } catch {
    return bad(name, 'fail', `${found.path} is not executable`, `chmod 0755 ${found.path}`);
  }
  const r = spawnSync(found.path, [], { env: { CNI_COMMAND: 'VERSION' }, input: '{}', encoding: 'utf8', timeout: 10_000 });
  try {
    const v = JSON.parse(r.stdout) as { supportedVersions?: string[] };
    if (Array.isArray(v.supportedVersions)) return ok(name, `${found.path} runs (CNI ${v.supportedVersions.join(', ')})`);
  } catch { /* below */ }
  return bad(name, 'fail', `${found.path} does not answer VERSION (${r.error?.message ?? `exit ${r.status}`}: ${(r.stderr ?? '').trim().slice(0, 200)})`,
    `reinstall it: ${suggest(['install', '--bin-dir', binDirs[0] ?? '/opt/cni/bin'])}`);
}

function conflistChecks(confDir: string, binDirs: readonly string[]): Check[] {
  const name = 'conflist';
  const chosen = runtimeConflist(confDir);
  if ('error' in chosen) return [bad(name, 'fail', chosen.error, `check the runtime's CNI conf dir (--conf-dir); the CNI provider writes it`)];
  const file = join(confDir, chosen.name);
  let conf: JsonObject;
  try {
    conf = parseConflist(readFileSync(file, 'utf8'), file);
  } catch (e) {
    return [bad(name, 'fail', (e as Error).message, `fix or replace ${file}`)];
  }
  if (!isWrapped(conf)) return [bad(name, 'fail', `${file} (the file the runtime loads) is not wrapped: its calls are not traced`, suggest(['install', '--bin-dir', binDirs[0] ?? '/opt/cni/bin', '--conf-dir', confDir, '--watch']))];
  const entry = (conf.plugins as JsonObject[])[0]!;
  const parsed = parseWrapperEntry({ ...entry, name: conf.name as string, cniVersion: (conf.cniVersion as string | undefined) ?? '1.0.0' });
  if ('code' in parsed) return [bad(name, 'fail', `${file}: ${parsed.msg}`, `fix the key it names, or rewrap: ${suggest(['unwrap', file, '--in-place'])} && ${suggest(['wrap', file, '--in-place'])}`)];
  const checks: Check[] = [ok(name, `${file} is loaded by the runtime and wrapped (${parsed.delegates.length} delegates)`)];
  const missing: string[] = [];
  for (const d of parsed.delegates) {
    const types = [d.type, ...(typeof (d.ipam as JsonObject | undefined)?.type === 'string' ? [(d.ipam as JsonObject).type as string] : [])];
    for (const t of types) if ('error' in findInPath(t, binDirs)) missing.push(t);
  }
  checks.push(missing.length === 0
    ? ok('delegates', `every delegate and IPAM plugin is in ${binDirs.join(':')}`)
    : bad('delegates', 'fail', `not found in ${binDirs.join(':')}: ${[...new Set(missing)].join(', ')}`, 'install the missing plugins into the CNI bin dir (or add their dir with --bin-dir)'));
  return checks;
}

function journalCheck(dir: string, minFree: number): Check {
  const name = 'journal';
  let st;
  try {
    st = lstatSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') return bad(name, 'fail', `cannot look at ${dir}: permission denied`, `run doctor as root: sudo ${suggest(process.argv.slice(2))}`);
    return bad(name, 'warn', `${dir} does not exist yet (it is made by the first traced call)`, 'nothing, unless calls have run: then check journalDir in the wrapper entry');
  }
  if (st.isSymbolicLink()) return bad(name, 'fail', `${dir} is a symlink: the plugin refuses to write through it`, `replace it with a real directory: rm ${dir} && mkdir -m 0700 ${dir}`);
  if (!st.isDirectory()) return bad(name, 'fail', `${dir} is not a directory`, `move it away; the plugin creates the directory`);
  if (st.uid !== 0 && st.uid !== (process.geteuid?.() ?? 0)) return bad(name, 'fail', `${dir} is owned by uid ${st.uid}: the plugin (root) refuses it`, `chown root:root ${dir}`);
  if ((st.mode & 0o077) !== 0) return bad(name, 'warn', `${dir} is mode ${(st.mode & 0o777).toString(8)}: the journal holds configs (redacted) others should not read`, `chmod 0700 ${dir} (the plugin repairs it on its next call)`);
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  if (free < minFree) return bad(name, 'warn', `${dir} has ${(free / 2 ** 20).toFixed(0)} MiB free: a full disk turns tracing off (calls still work)`, 'free space, or lower journalMaxFiles / journalMaxFileBytes');
  return ok(name, `${dir}: mode 700, ${(free / 2 ** 30).toFixed(1)} GiB free`);
}

function agentCheck(stateDir: string): Check {
  const name = 'agent';
  let status: { pid: number; updatedAt: string; lagSeconds?: number; queued?: number; lastError?: string | null; backlogBytes?: number };
  try {
    status = JSON.parse(readFileSync(join(stateDir, STATUS_FILE), 'utf8')) as typeof status;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') return bad(name, 'fail', `cannot read the agent's status in ${stateDir}: permission denied`, `run doctor as root: sudo ${suggest(process.argv.slice(2))}`);
    return bad(name, 'fail', `no agent status in ${stateDir}: the agent has not run here`, `run ${suggest(['agent'])} (the DaemonSet in collector-config/kubernetes does)`);
  }
  const age = (Date.now() - Date.parse(status.updatedAt)) / 1000;
  if (!processAlive(status.pid)) return bad(name, 'fail', `the agent (pid ${status.pid}) is not running; its last status is ${age.toFixed(0)} s old`, `start ${suggest(['agent'])} (or see why its pod restarts)`);
  const lag = status.lagSeconds ?? 0;
  if (status.lastError && (status.queued ?? 0) > 0) return bad(name, 'warn', `the agent (pid ${status.pid}) runs but cannot export: ${status.lastError}`, 'check the collector (below) and the agent\'s endpoint settings');
  return ok(name, `running (pid ${status.pid}), lag ${lag.toFixed(1)} s, backlog ${status.backlogBytes ?? 0} bytes`);
}

async function collectorCheck(endpoint: string): Promise<Check> {
  const name = 'collector';
  const url = redactUrlsIn(endpoint); // as shown; the request goes to the endpoint itself
  try {
    const res = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"resourceSpans":[]}', signal: AbortSignal.timeout(5000) });
    if (res.ok) return ok(name, `${url} accepts OTLP/HTTP (HTTP ${res.status})`);
    return bad(name, 'fail', `${url} answered HTTP ${res.status}`, 'point OTEL_EXPORTER_OTLP_ENDPOINT at an OTLP/HTTP receiver (the collector\'s port 4318)');
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (e as Error).message;
    return bad(name, 'fail', `${url} does not answer (${why})`, 'start the collector, or set OTEL_EXPORTER_OTLP_ENDPOINT to where it listens');
  }
}

export async function doctor(opts: DoctorOptions): Promise<Check[]> {
  return [
    pluginCheck(opts.binDirs),
    ...conflistChecks(opts.confDir, opts.binDirs),
    journalCheck(opts.journal, opts.minFreeBytes ?? 256 * 2 ** 20),
    agentCheck(opts.stateDir),
    ...(opts.tracesUrl ? [await collectorCheck(opts.tracesUrl)] : []),
  ];
}

/** The human report: one line per check, a fix under each failure, a summary. */
export function renderChecks(checks: readonly Check[], colour: boolean): string {
  const mark = { ok: colour ? '\x1b[32mok  \x1b[0m' : 'ok  ', warn: colour ? '\x1b[33mwarn\x1b[0m' : 'warn', fail: colour ? '\x1b[31mFAIL\x1b[0m' : 'FAIL' };
  const lines = checks.flatMap((c) => [`${mark[c.status]} ${c.name.padEnd(18)} ${c.detail}`, ...(c.fix ? [`     ${''.padEnd(18)} fix: ${c.fix}`] : [])]);
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  lines.push('', failed === 0 && warned === 0 ? 'all good' : `${failed} failed, ${warned} ${warned === 1 ? 'warning' : 'warnings'}`);
  return lines.join('\n');
}
