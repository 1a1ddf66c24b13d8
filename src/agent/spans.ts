/**
 * The trace model: one invocation from the journal becomes one trace — a root span
 * `CNI <COMMAND>` and one child span `<plugin> <COMMAND>` per step — with the journal's own
 * trace and span ids and its recorded times, so the ids `tail` shows are the ids Jaeger shows.
 * Attribute names follow the OpenTelemetry semantic conventions where one fits and the
 * `cni.*` namespace documented in docs/agent.md otherwise. Pure: no I/O, no SDK state.
 */
import { SpanKind, SpanStatusCode, type Attributes, type HrTime, type Link, type SpanContext } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import type { CniError } from '../cni/errors.ts';
import type { Invocation, Step } from '../journal/invocations.ts';
import { PRODUCT, VERSION } from '../product.ts';
import { OWN_TIME, ownTime } from '../view/own-time.ts';

export const SCOPE = { name: PRODUCT, version: VERSION } as const;

/** Bounds on what a span carries from a step's stderr. */
export const MAX_STDERR_EVENTS = 20;
export const MAX_STDERR_LINE = 512;

export interface TraceContextOptions {
  readonly resource: Resource;
  readonly nodeName: string;
  /** The ADD this DEL undoes (same container and interface), when the journal has it. */
  readonly addLink?: { traceId: string; spanId: string };
  /** For an abandoned invocation: the last time a record of it was written (epoch ns). */
  readonly abandonedAtNs?: string;
}

/** Epoch nanoseconds (decimal string) as an OpenTelemetry HrTime. */
export function hrTime(ns: string): HrTime {
  const big = BigInt(ns);
  return [Number(big / 1_000_000_000n), Number(big % 1_000_000_000n)];
}

function duration(startNs: string, endNs: string): HrTime {
  const d = BigInt(endNs) - BigInt(startNs);
  return hrTime(String(d < 0n ? 0n : d));
}

const SAMPLED = 1;

function context(traceId: string, spanId: string, remote = false): SpanContext {
  return { traceId, spanId, traceFlags: SAMPLED, ...(remote ? { isRemote: true } : {}) };
}

/** The IPs an ADD result assigned ("10.1.2.3/24"), when the recorded result is whole. */
function resultIps(inv: Invocation): string[] {
  if (inv.command !== 'ADD' || !inv.stdout || inv.stdout.truncated) return [];
  try {
    const result = JSON.parse(inv.stdout.text) as { ips?: Array<{ address?: unknown }> };
    return (result.ips ?? []).map((ip) => ip.address).filter((a): a is string => typeof a === 'string');
  } catch {
    return [];
  }
}

function set(attrs: Attributes, key: string, value: string | number | boolean | string[] | undefined | null): void {
  if (value === undefined || value === null || value === '') return;
  attrs[key] = value;
}

/** A CNI error as attributes: error.type is low-cardinality (`cni.<code>`), as semconv asks. */
function setError(a: Attributes, error: CniError | undefined): void {
  if (!error) return;
  set(a, 'error.type', `cni.${error.code}`);
  set(a, 'cni.error.code', error.code);
  set(a, 'cni.error.msg', error.msg);
  set(a, 'cni.error.details', error.details);
}

/** The root span's attributes. */
export function invocationAttributes(inv: Invocation, nodeName: string): Attributes {
  const a: Attributes = {};
  set(a, 'cni.command', inv.command);
  set(a, 'cni.network.name', inv.network);
  set(a, 'cni.version', inv.cniVersion);
  set(a, 'cni.netns', inv.netns);
  set(a, 'container.id', inv.containerId);
  set(a, 'network.interface.name', inv.ifname);
  set(a, 'k8s.pod.name', inv.pod.name);
  set(a, 'k8s.pod.uid', inv.pod.uid);
  set(a, 'k8s.namespace.name', inv.pod.namespace);
  set(a, 'k8s.node.name', nodeName);
  set(a, 'cni.pod.infra_container_id', inv.pod.infraContainerId);
  set(a, 'process.exit.code', inv.exitCode);
  set(a, 'process.pid', inv.pid);
  const ips = resultIps(inv);
  if (ips.length > 0) a['cni.result.ips'] = ips;
  setError(a, inv.error);
  const own = ownTime(inv);
  if (own) a['cni.own_time.ms'] = own.ms;
  if (inv.status === 'abandoned') {
    a['cni.abandoned'] = true;
    a['error.type'] = 'abandoned';
  }
  return a;
}

/** A step's span attributes. */
export function stepAttributes(inv: Invocation, step: Step): Attributes {
  const a: Attributes = {};
  set(a, 'cni.plugin.type', step.plugin);
  set(a, 'cni.command', step.command);
  set(a, 'cni.step.index', step.index);
  if (step.depth > 0) a['cni.step.depth'] = step.depth;
  set(a, 'process.executable.path', step.path);
  set(a, 'process.exit.code', step.exitCode);
  if (step.argv) {
    // A traced command: OpenTelemetry's process attributes (semantic conventions, "process").
    a['process.command'] = step.plugin;
    a['process.command_args'] = [...step.argv];
  }
  set(a, 'cni.signal', step.signal);
  set(a, 'container.id', inv.containerId);
  set(a, 'network.interface.name', inv.ifname);
  set(a, 'cni.skipped', step.skipped);
  setError(a, step.error);
  if (step.stderr?.truncated) a['cni.stderr.bytes'] = step.stderr.bytes;
  if (step.status === 'abandoned') a['cni.abandoned'] = true;
  return a;
}

/** A step's stderr as span events (one per line, bounded), at the step's end. */
export function stderrEvents(step: Step, at: HrTime): TimedEvent[] {
  const lines = (step.stderr?.text ?? '').split('\n').filter((l) => l.trim() !== '');
  const events: TimedEvent[] = lines.slice(0, MAX_STDERR_EVENTS).map((line) => ({
    name: 'stderr',
    time: at,
    attributes: { 'cni.stderr.line': line.length > MAX_STDERR_LINE ? `${line.slice(0, MAX_STDERR_LINE)}…` : line },
    droppedAttributesCount: 0,
  }));
  if (lines.length > MAX_STDERR_EVENTS || step.stderr?.truncated) {
    events.push({ name: 'stderr truncated', time: at, attributes: { 'cni.stderr.lines': lines.length, 'cni.stderr.bytes': step.stderr?.bytes ?? 0 }, droppedAttributesCount: 0 });
  }
  return events;
}

function span(fields: {
  name: string; kind: SpanKind; ctx: SpanContext; parent?: SpanContext; startNs: string; endNs: string;
  error?: string; attributes: Attributes; links?: Link[]; events?: TimedEvent[]; resource: Resource;
}): ReadableSpan {
  return {
    name: fields.name,
    kind: fields.kind,
    spanContext: () => fields.ctx,
    ...(fields.parent ? { parentSpanContext: fields.parent } : {}),
    startTime: hrTime(fields.startNs),
    endTime: hrTime(fields.endNs),
    duration: duration(fields.startNs, fields.endNs),
    status: fields.error !== undefined ? { code: SpanStatusCode.ERROR, message: fields.error } : { code: SpanStatusCode.UNSET },
    attributes: fields.attributes,
    links: fields.links ?? [],
    events: fields.events ?? [],
    ended: true,
    resource: fields.resource,
    instrumentationScope: SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/**
 * The spans of one finished (or abandoned) invocation: the root first, then the steps.
 * An abandoned invocation and its unfinished steps end at `abandonedAtNs` with status ERROR.
 * Returns [] for an invocation without a begin record (nothing to anchor it).
 */
export function spansFromInvocation(inv: Invocation, opts: TraceContextOptions): ReadableSpan[] {
  if (!inv.startNs || !inv.traceId) return [];
  const abandoned = inv.status === 'abandoned';
  const endNs = inv.endNs ?? opts.abandonedAtNs ?? inv.startNs;
  const rootCtx = context(inv.traceId, inv.spanId);
  const links: Link[] = opts.addLink && inv.command === 'DEL'
    ? [{ context: context(opts.addLink.traceId, opts.addLink.spanId), attributes: { 'cni.link': 'the ADD this DEL undoes' } }]
    : [];
  const root = span({
    name: `CNI ${inv.command}`,
    kind: SpanKind.SERVER,
    ctx: rootCtx,
    ...(inv.parentSpanId ? { parent: context(inv.traceId, inv.parentSpanId, true) } : {}),
    startNs: inv.startNs,
    endNs,
    ...(abandoned ? { error: 'abandoned: the call began and never ended (the wrapper was killed)' } : inv.error ? { error: inv.error.msg } : {}),
    attributes: invocationAttributes(inv, opts.nodeName),
    links,
    events: ownTimeEvents(inv),
    resource: opts.resource,
  });
  return [root, ...inv.steps.filter((s) => s.startNs).map((s) => spanFromStep(inv, s, endNs, opts.resource))];
}

/**
 * cni-trace's own time as events on the root span, named "cni-trace", one per gap (before the
 * first delegate, between two, after the last) at the gap's start with its phase and length;
 * the root also carries the total (`cni.own_time.ms`). So a trace says how much of the call was
 * cni-trace's rather than leaving it as space between the plugins' bars (docs/decisions.md 27).
 */
export function ownTimeEvents(inv: Invocation): TimedEvent[] {
  return (ownTime(inv)?.gaps ?? []).map((g) => ({
    name: OWN_TIME,
    time: hrTime(String(g.startNs)),
    attributes: { 'cni.own_time.phase': g.phase, 'cni.own_time.duration_ms': Number(g.endNs - g.startNs) / 1e6 },
    droppedAttributesCount: 0,
  }));
}

/** One step's span: a child of the invocation's root span, or of its caller's span for a nested call. */
export function spanFromStep(inv: Invocation, step: Step, invocationEndNs: string, resource: Resource): ReadableSpan {
  const endNs = step.endNs ?? invocationEndNs;
  const error = step.status === 'abandoned' ? 'abandoned: the plugin was still running when the wrapper was killed'
    : step.status === 'in-flight' ? 'unfinished' : step.error ? step.error.msg
      : step.status === 'error' ? step.argv ? `${step.plugin} ${step.signal ? `died of ${step.signal}` : `exited with code ${step.exitCode}`}` : `plugin failed with exit code ${step.exitCode}` : undefined;
  return span({
    name: step.argv ? `exec ${step.plugin}` : `${step.plugin} ${step.command}`,
    kind: SpanKind.CLIENT,
    ctx: context(inv.traceId, step.spanId),
    parent: context(inv.traceId, step.parentSpanId ?? inv.spanId),
    startNs: step.startNs!,
    endNs,
    ...(error !== undefined ? { error } : {}),
    attributes: stepAttributes(inv, step),
    events: stderrEvents(step, hrTime(endNs)),
    resource,
  });
}
