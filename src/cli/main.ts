#!/usr/bin/env node
/**
 * The `cni-trace` command. Each subcommand parses its own flags and has --help.
 * The plugin itself (what a runtime execs) is dist/cni-trace.cjs, not this file.
 */
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from './atomic-write.ts';
import { isWrapped, parseConflist, unwrapConflist, wrapConflist } from './conflist.ts';
import { BACKUP_DIR, keepWrapped, restoreConfDir, runtimeConflist, wrapInConfDir } from './conf-dir.ts';
import { installPlugin } from './install.ts';
import { podSelector, tail } from './tail.ts';
import { renderInvocation, show, type ShowSelector } from './show.ts';
import { renderStats, statsReport } from './stats.ts';
import { onRefusedFile } from '../journal/reader.ts';
import { parseDuration } from '../view/duration.ts';
import type { InvocationFilter } from '../view/filter.ts';

const HELP: Record<string, string> = {
  main: `cni-trace — see the network half of pod startup

Usage: cni-trace <command> [flags]

Commands:
  wrap FILE      turn an ordinary conflist into the cni-trace form
  unwrap FILE    give the original conflist back
  install        put the plugin into a CNI bin dir, wrap the node's conflist (and keep it wrapped)
  uninstall      restore the original conflist and remove the plugin
  doctor         check a node's set-up and say how to fix what is wrong
  tail           print recorded invocations (one line or JSON object each)
  show           one invocation as a waterfall with all its details
  stats          latency percentiles per plugin and command, the slowest calls
  tui            the live view: what runs now, what was slow, what failed and why
  agent          export the journal as OpenTelemetry traces (OTLP/HTTP)

Run "cni-trace <command> --help" for a command's flags.`,
  wrap: `Usage: cni-trace wrap FILE [--out FILE2 | --in-place] [--journal-dir DIR]

Writes FILE's conflist with one cni-trace entry holding its plugins as delegates; the
entry's capabilities are the union of theirs. Wrapping a wrapped file changes nothing.
Output goes to stdout, to FILE2 (--out) or back to FILE (--in-place); files are
replaced atomically (temp file + rename), as runtimes watch /etc/cni/net.d.`,
  unwrap: `Usage: cni-trace unwrap FILE [--out FILE2 | --in-place]

Writes the original conflist back: the delegates become the plugins again.
unwrap(wrap(x)) equals x.`,
  install: `Usage: cni-trace install --bin-dir DIR [--conf-dir DIR [--conflist NAME] [--journal-dir DIR] [--watch]]

Installs the plugin as DIR/cni-trace (atomically, mode 0755): the self-contained executable
built by "npm run build" (dist/cni-trace), so the node needs no Node.js installed.
With --conf-dir, also wraps the conflist the runtime loads there (the lexically first
loadable *.conf/*.conflist/*.json, or NAME), after keeping its exact bytes in
<conf dir>/.cni-trace/. Running it again changes nothing.
With --watch it keeps running and wraps the conflist again whenever another installer
(calico's, cilium's, flannel's) rewrites it — picking up changed delegates — and stops
fighting, with a warning, a watcher that rewrites it back each time.`,
  doctor: `Usage: cni-trace doctor [--bin-dir DIR]... [--conf-dir DIR] [--journal DIR] [--state-dir DIR]
                        [--endpoint URL | --no-collector] [--json]

Checks this node's set-up and says how to fix what is wrong: the plugin executable is
present and runs; the conflist the runtime loads is wrapped and valid; every delegate and
IPAM plugin resolves in the bin dirs; the journal directory is safe and has room; the agent
runs and how far it lags; the collector answers OTLP. Exits 1 when a check fails.
Defaults: --bin-dir /opt/cni/bin, --conf-dir /etc/cni/net.d, --journal /var/log/cni-trace,
--state-dir /var/lib/cni-trace, --endpoint $OTEL_EXPORTER_OTLP_ENDPOINT or http://localhost:4318.`,
  uninstall: `Usage: cni-trace uninstall --bin-dir DIR --conf-dir DIR

Puts the original conflist back byte for byte (where it is still wrapped; one an installer
rewrote since is left as it is), removes the backups and DIR/cni-trace.`,
  tail: `Usage: cni-trace tail [--journal DIR] [--follow] [--last N] [--since DURATION]
                      [--pod [NS/]NAME] [--namespace NS] [--plugin TYPE] [--errors] [--json]

Prints one line per recorded invocation: time, command, status, duration, pod,
container, interface, network and each step's plugin and duration.
  --journal DIR      the journal directory (default /var/log/cni-trace)
  -f, --follow       keep printing invocations as they end
  --last N           of what is recorded, only the last N (then follow, with -f)
  --since DURATION   only invocations that started within DURATION (30s, 5m, 2h)
  --pod [NS/]NAME    only this pod's invocations
  --namespace NS     only pods in this namespace
  --plugin TYPE      only invocations that ran this plugin
  --errors           only failed and abandoned invocations
  --json             one JSON object per invocation (fields in the README)
Colour only on a terminal, never with NO_COLOR set.`,
  show: `Usage: cni-trace show ID [--journal DIR] [--width N]
       cni-trace show --pod [NS/]NAME [--journal DIR]

Prints one invocation: identity and outcome, a waterfall of its steps on a shared
time axis, then each step's config (stdin), result or error, stderr, and the env.
ID is a trace id or span id, or a prefix of one; --pod shows the pod's latest.`,
  tui: `Usage: cni-trace tui [--journal DIR] [--last N] [--slow MS|DURATION] [--window DURATION]
                     [--trace-url TEMPLATE]

The live view of pod network operations: a header (rate, ADD p50/p95, errors, in flight),
the invocations newest first with in-flight ones ticking, and for one invocation a
waterfall of its steps with each step's config, result or error, stderr and env.
  --journal DIR          the journal directory (default /var/log/cni-trace)
  --last N               how much history to start with (default 200)
  --slow MS|DURATION     mark invocations slower than this in yellow (default 1000 ms)
  --window DURATION      the header's window (default 5m)
  --trace-url TEMPLATE   the trace link, {traceId} is replaced
                         (default http://localhost:16686/trace/{traceId}, Jaeger)
Keys are shown at the bottom; ? explains them.`,
  stats: `Usage: cni-trace stats [--journal DIR] [--since DURATION] [--json]

Per plugin and command: count, errors, p50, p95, p99 and max duration; then the
slowest invocations. "(invocation)" rows are whole CNI calls.`,
};

function fail(message: string): never {
  process.stderr.write(`cni-trace: ${message}\n`);
  process.exit(1);
}

/** The selection flags tail and stats share, as a filter. */
function selection(values: { since?: string; pod?: string; namespace?: string; plugin?: string; errors?: boolean }): InvocationFilter {
  const f: { -readonly [K in keyof InvocationFilter]: InvocationFilter[K] } = {};
  if (values.since) {
    try {
      f.sinceNs = BigInt(Date.now() - parseDuration(values.since)) * 1_000_000n;
    } catch (e) {
      fail(`--since: ${(e as Error).message}`);
    }
  }
  if (values.pod) Object.assign(f, podSelector(values.pod));
  if (values.namespace) f.namespace = values.namespace;
  if (values.plugin) f.plugin = values.plugin;
  if (values.errors) f.errorsOnly = true;
  return f;
}

function rewrite(args: string[], name: 'wrap' | 'unwrap'): void {
  const { values, positionals } = parseArgs({
    args, allowPositionals: true,
    options: { out: { type: 'string' }, 'in-place': { type: 'boolean' }, 'journal-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return void console.log(HELP[name]);
  const file = positionals[0];
  if (!file || positionals.length > 1) fail(`${name}: exactly one FILE is required (see --help)`);
  if (values.out && values['in-place']) fail(`${name}: --out and --in-place exclude each other`);
  if (values['journal-dir'] && name === 'unwrap') fail('unwrap: --journal-dir applies to wrap only');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    fail(`${name}: cannot read ${file}: ${(e as Error).message}`);
  }
  const conflist = parseConflist(text, file);
  if (name === 'wrap' && isWrapped(conflist) && values['journal-dir']) {
    process.stderr.write(`cni-trace: ${file} is already wrapped; left as it is\n`);
  }
  const journalDir = values['journal-dir'];
  const out = name === 'wrap' ? wrapConflist(conflist, journalDir ? { journalDir } : {}) : unwrapConflist(conflist);
  const json = JSON.stringify(out, null, 2) + '\n';
  const target = values['in-place'] ? file : values.out;
  if (target) writeFileAtomic(target, json);
  else process.stdout.write(json);
}

/**
 * The agent and the TUI run for long and allocate fast (catching up; an immutable state
 * copied ten times a second); V8's default heap sizing then grows RSS far past their live
 * data (agent: 395 MB at a 100,000-invocation backlog; TUI: 295 MB at 200 invocations/s).
 * They run with a sized heap instead (bench/agent-export.ts, bench/tui.ts). Node's execve
 * replaces this process, leaving no parent behind.
 */
const LONG_RUNNING_V8_FLAGS = ['--max-old-space-size=128', '--max-semi-space-size=8'];

function reexecWithSizedHeap(): void {
  if (process.execArgv.some((a) => a.startsWith('--max-old-space-size')) || typeof process.execve !== 'function') return;
  process.execve(process.execPath, [process.execPath, ...LONG_RUNNING_V8_FLAGS, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], process.env);
}

function main(argv: string[]): void {
  const [command, ...rest] = argv;
  if ((command === 'agent' || command === 'tui') && !rest.includes('--help') && !rest.includes('-h') && !rest.includes('--status')) reexecWithSizedHeap();
  if (!command || command === '--help' || command === '-h' || command === 'help') return void console.log(HELP.main);
  try {
    switch (command) {
      case 'wrap':
      case 'unwrap':
        return rewrite(rest, command);
      case 'install': {
        const { values } = parseArgs({
          args: rest,
          options: { 'bin-dir': { type: 'string' }, 'conf-dir': { type: 'string' }, conflist: { type: 'string' }, 'journal-dir': { type: 'string' }, watch: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
        });
        if (values.help) return void console.log(HELP.install);
        if (!values['bin-dir']) fail('install: --bin-dir DIR is required');
        if ((values.conflist || values.watch || values['journal-dir']) && !values['conf-dir']) fail('install: --conflist, --journal-dir and --watch need --conf-dir');
        console.log(`installed ${installPlugin(values['bin-dir'])}`);
        const confDir = values['conf-dir'];
        if (!confDir) return;
        const chosen = values.conflist ? { name: values.conflist } : runtimeConflist(confDir);
        if ('error' in chosen) fail(`install: ${chosen.error}`);
        const done = wrapInConfDir(confDir, chosen.name, values['journal-dir']);
        console.log(done.action === 'wrapped' ? `wrapped ${done.file} (original kept in ${join(confDir, BACKUP_DIR)})` : `${done.file} is already wrapped`);
        if (!values.watch) return;
        console.log(`watching ${confDir}: the conflist is wrapped again whenever it is rewritten (SIGTERM stops)`);
        const stop = keepWrapped({
          confDir, ...(values.conflist ? { conflist: values.conflist } : {}), ...(values['journal-dir'] ? { journalDir: values['journal-dir'] } : {}),
          log: (line) => console.log(`cni-trace install: ${line}`),
        });
        for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => { stop(); process.exit(0); });
        return;
      }
      case 'doctor': {
        const { values } = parseArgs({
          args: rest,
          options: {
            'bin-dir': { type: 'string', multiple: true }, 'conf-dir': { type: 'string' }, journal: { type: 'string' }, 'state-dir': { type: 'string' },
            endpoint: { type: 'string' }, 'no-collector': { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
          },
        });
        if (values.help) return void console.log(HELP.doctor);
        const base = (values.endpoint ?? process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? process.env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318').replace(/\/+$/, '');
        const tracesUrl = values['no-collector'] ? null : !values.endpoint && process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? base : `${base}/v1/traces`;
        return void import('./doctor.ts').then(async ({ doctor, renderChecks }) => {
          const checks = await doctor({
            binDirs: (values['bin-dir'] ?? ['/opt/cni/bin']).flatMap((d) => d.split(':')), confDir: values['conf-dir'] ?? '/etc/cni/net.d',
            journal: values.journal ?? '/var/log/cni-trace', stateDir: values['state-dir'] ?? '/var/lib/cni-trace', tracesUrl,
          });
          console.log(values.json ? JSON.stringify({ ok: checks.every((c) => c.status !== 'fail'), checks }, null, 2) : renderChecks(checks, Boolean(process.stdout.isTTY) && !process.env.NO_COLOR));
          process.exitCode = checks.some((c) => c.status === 'fail') ? 1 : 0;
        });
      }
      case 'uninstall': {
        const { values } = parseArgs({ args: rest, options: { 'bin-dir': { type: 'string' }, 'conf-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
        if (values.help) return void console.log(HELP.uninstall);
        if (!values['bin-dir'] || !values['conf-dir']) fail('uninstall: --bin-dir DIR and --conf-dir DIR are required');
        for (const r of restoreConfDir(values['conf-dir'])) console.log(r.action === 'restored' ? `restored ${r.file}` : `left ${r.file} as it is: ${r.why}`);
        const plugin = join(values['bin-dir'], 'cni-trace');
        if (existsSync(plugin)) {
          unlinkSync(plugin);
          console.log(`removed ${plugin}`);
        }
        return;
      }
      case 'tail': {
        const { values } = parseArgs({
          args: rest,
          options: {
            journal: { type: 'string', default: '/var/log/cni-trace' }, json: { type: 'boolean' }, follow: { type: 'boolean', short: 'f' },
            last: { type: 'string' }, since: { type: 'string' }, pod: { type: 'string' }, namespace: { type: 'string' }, plugin: { type: 'string' },
            errors: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
          },
        });
        if (values.help) return void console.log(HELP.tail);
        reportRefusedFiles();
        if (!existsSync(values.journal)) {
          const hint = `no journal at ${values.journal}: nothing was recorded there (is the conflist wrapped, and does its journalDir say so?)`;
          if (!values.follow) fail(`tail: ${hint}`);
          process.stderr.write(`cni-trace: ${hint}; waiting for it\n`);
        }
        const last = values.last === undefined ? undefined : Number(values.last);
        if (last !== undefined && (!Number.isInteger(last) || last < 0)) fail(`tail: --last must be a whole number, got "${values.last}"`);
        const filter = selection(values);
        const stop = tail({
          journal: values.journal, json: values.json ?? false, follow: values.follow ?? false,
          colour: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
          write: (line) => process.stdout.write(line + '\n'),
          filter, ...(last !== undefined ? { last } : {}),
        });
        if (values.follow) for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { stop(); process.exit(0); });
        return;
      }
      case 'show': {
        const { values, positionals } = parseArgs({
          args: rest, allowPositionals: true,
          options: { journal: { type: 'string', default: '/var/log/cni-trace' }, pod: { type: 'string' }, width: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
        });
        if (values.help) return void console.log(HELP.show);
        reportRefusedFiles();
        if ((positionals.length === 1) === Boolean(values.pod)) fail('show: give an ID or --pod [NS/]NAME (see --help)');
        const sel: ShowSelector = values.pod ? podSelector(values.pod) as ShowSelector : { id: positionals[0]! };
        const found = show(values.journal, sel);
        if (typeof found === 'string') fail(`show: ${found}`);
        const width = values.width ? Number(values.width) : process.stdout.columns ?? 100;
        console.log(renderInvocation(found, { colour: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR, width }));
        return;
      }
      case 'stats': {
        const { values } = parseArgs({
          args: rest,
          options: { journal: { type: 'string', default: '/var/log/cni-trace' }, since: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
        });
        if (values.help) return void console.log(HELP.stats);
        reportRefusedFiles();
        if (!existsSync(values.journal)) fail(`stats: no journal at ${values.journal}`);
        const report = statsReport(values.journal, selection(values));
        console.log(values.json ? JSON.stringify(report, null, 2) : renderStats(report));
        return;
      }
      case 'tui': {
        const { values } = parseArgs({
          args: rest,
          options: {
            journal: { type: 'string', default: '/var/log/cni-trace' }, last: { type: 'string' }, slow: { type: 'string' },
            window: { type: 'string' }, 'trace-url': { type: 'string' }, help: { type: 'boolean', short: 'h' },
          },
        });
        if (values.help) return void console.log(HELP.tui);
        const ms = (flag: string, text: string | undefined): number | undefined => {
          if (text === undefined) return undefined;
          try {
            return /^\d+(\.\d+)?$/.test(text) ? Number(text) : parseDuration(text);
          } catch (e) {
            return fail(`tui: --${flag}: ${(e as Error).message}`);
          }
        };
        const slowMs = ms('slow', values.slow);
        const windowMs = ms('window', values.window);
        // React's development build costs the TUI 2.5 x the CPU at 200 invocations/s.
        process.env.NODE_ENV ??= 'production';
        // Ink's colours (chalk) do not look at NO_COLOR themselves.
        if (process.env.NO_COLOR) process.env.FORCE_COLOR ??= '0';
        // With CI set, Ink draws only a final frame and chalk drops colour (it checks that CI
        // exists at all). The TUI runs only on a terminal, where a CI variable inherited by an
        // interactive shell must not leave the screen blank and grey.
        if (process.stdout.isTTY) {
          delete process.env.CI;
          delete process.env.CONTINUOUS_INTEGRATION;
        }
        // Loaded only for this command: it brings Ink and React.
        return void import('../../tui/run.ts').then(({ runTui }) => runTui({
          ...(process.env.CNI_TRACE_TUI_METRICS ? { metricsFile: process.env.CNI_TRACE_TUI_METRICS } : {}),
          journal: values.journal,
          ...(values.last !== undefined ? { last: Number(values.last) } : {}),
          ...(slowMs !== undefined ? { slowMs } : {}),
          ...(windowMs !== undefined ? { windowMs } : {}),
          ...(values['trace-url'] ? { traceUrl: values['trace-url'] } : {}),
        })).then((code) => { process.exitCode = code; }, (e: Error) => fail(`tui: ${e.message}`));
      }
      case 'agent':
        // Loaded only for this command: it brings OpenTelemetry (docs/decisions.md).
        return void import('./agent-command.ts').then(({ agentCommand }) => agentCommand(rest))
          .then((code) => { process.exitCode = code; }, (e: Error) => fail(`agent: ${e.message}`));
      default:
        fail(`unknown command "${command}" (see cni-trace --help)`);
    }
  } catch (e) {
    fail((e as Error).message);
  }
}

/** Says once on stderr which journal files were not read (a FIFO, a device, a stranger's file). */
function reportRefusedFiles(): void {
  onRefusedFile((path, why) => process.stderr.write(`cni-trace: not reading ${path}: ${why}\n`));
}

// `cni-trace tail | head`: the reader went away; stop quietly, as other CLI tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

main(process.argv.slice(2));
