/**
 * Running the agent: as a daemon (poll, export, log a status line now and then, stop on
 * SIGTERM) or with --once (export everything pending and exit; non-zero with a clear message
 * when the collector never accepted). With OTEL_SDK_DISABLED=true it reads and sends nothing.
 */
import { hostname } from 'node:os';
import { agentMetrics, type AgentMetrics } from './metrics.ts';
import { defaultResource, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from './agent.ts';
import { statusLine } from './status.ts';
import { describeHeaders, type AgentConfig } from './config.ts';
import { otlpSink, type SpanSink } from './exporter.ts';
import { redactUrlsIn } from '../config/redact.ts';

/** service.name, host.name, k8s.node.name, then OTEL_RESOURCE_ATTRIBUTES / --resource-attribute. */
export function agentResource(cfg: AgentConfig): Resource {
  return defaultResource().merge(resourceFromAttributes({
    'host.name': hostname(),
    'k8s.node.name': cfg.nodeName,
    ...cfg.resourceAttributes,
    'service.name': cfg.serviceName,
  }));
}

export interface RunOptions {
  readonly log: (line: string) => void;
  /** Resolves when the daemon should stop (SIGTERM/SIGINT). */
  readonly stopped: Promise<void>;
  readonly sink?: SpanSink;
}

/** Runs the agent; resolves to the exit code. */
export async function runAgent(cfg: AgentConfig, opts: RunOptions): Promise<number> {
  // Every line the agent logs names endpoints without their user-info or credential parameters.
  const log = (line: string): void => opts.log(redactUrlsIn(line));
  if (cfg.disabled) {
    log('OTEL_SDK_DISABLED is true: reading and exporting nothing');
    if (!cfg.once) await opts.stopped;
    return 0;
  }
  const sink = opts.sink ?? otlpSink(cfg.tracesUrl, cfg.headers, cfg.timeoutMs, cfg.tls, cfg.tracesProtocol);
  const tls = Object.entries(cfg.tls).map(([k, v]) => `${k} ${v}`).join(', ');
  log(`following ${cfg.journal}, exporting to ${cfg.tracesUrl} (${cfg.tracesProtocol}; headers: ${describeHeaders(cfg.headers)}${tls ? `; tls: ${tls}` : ''}), state in ${cfg.stateDir}`);
  const resource = agentResource(cfg);
  let metrics: AgentMetrics | null = null;
  const agent = new Agent(cfg, { sink, resource, log, onReady: (inv) => metrics?.record(inv) });
  metrics = agentMetrics(cfg, resource, () => agent.inFlight, log);
  try {
    return cfg.once ? await once(agent, cfg, log) : await daemon(agent, cfg, log, opts.stopped);
  } finally {
    log(statusLine(agent.saveStatus()));
    await sink.shutdown().catch(() => {});
    // Stryker disable next-line ArrowFunction,StringLiteral: MeterProvider.shutdown never rejects (a failed last push is said by metrics.ts's reportingFailures); kept as a guard
    await metrics?.shutdown().catch((e: Error) => log(`warning: the last metrics push failed: ${e.message}`));
  }
}

async function once(agent: Agent, cfg: AgentConfig, log: (line: string) => void): Promise<number> {
  const refusedBefore = agent.status().refused;
  for (;;) {
    const before = agent.status();
    await agent.tick();
    const after = agent.status();
    if (after.queued === 0 && after.recordsRead === before.recordsRead) {
      // A batch the collector refused for good (a 4xx) is gone: this run did not do its job.
      // Stryker disable next-line ArithmeticOperator: a new Agent starts at 0 refused, so - and + give the same
      const refused = after.refused - refusedBefore;
      if (refused === 0) return 0;
      log(`error: the collector refused ${refused} invocations for good (see above); they were not exported`);
      return 1;
    }
    if (after.retries >= cfg.onceAttempts && after.queued > 0) {
      log(`error: the collector never accepted the export after ${after.retries} attempts; ${after.queued} invocations are still pending (they stay in the journal for the next run): ${after.lastError ?? 'unknown error'}`);
      return 1;
    }
    if (after.queued > 0 && after.retries > before.retries) await sleep(Math.min(2000, 250 * after.retries));
  }
}

async function daemon(agent: Agent, cfg: AgentConfig, log: (line: string) => void, stopped: Promise<void>): Promise<number> {
  let stop = false;
  // Stopping ends the wait for the next interval at once, timer and all: a pending timer would keep
  // the process alive up to --interval after it was told to stop.
  const idle = new AbortController();
  void stopped.then(() => { stop = true; idle.abort(); });
  let lastStatus = Date.now();
  // Reading goes on while an export is in flight (a collector that is slow or down takes up to
  // --timeout per attempt); the queue's bound still pauses reading when exports fall behind.
  let exporting: Promise<void> | null = null;
  while (!stop) {
    const read = agent.read();
    exporting ??= agent.exportReady().finally(() => { exporting = null; });
    if (cfg.statusEveryMs > 0 && Date.now() - lastStatus >= cfg.statusEveryMs) {
      log(statusLine(agent.saveStatus()));
      lastStatus = Date.now();
    } else {
      agent.saveStatus();
    }
    // Catching up: go on after letting the export progress; caught up: wait for the next interval.
    if (read === 0) await sleep(cfg.intervalMs, undefined, { signal: idle.signal }).catch(() => {});
    else await new Promise((resolve) => setImmediate(resolve));
  }
  await exporting;
  await agent.tick(); // ship what is ready before exiting
  return 0;
}
