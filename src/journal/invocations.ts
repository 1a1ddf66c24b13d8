/**
 * Folding journal records into invocations: the model `tail`, `show`, the TUI and the agent
 * share. Records may arrive in any order across files; an invocation that began and never
 * ended is `in-flight` while its wrapper process lives and `abandoned` once it is gone.
 */
import type { CniError } from '../cni/errors.ts';
import type { Json } from '../config/wrapper-entry.ts';
import { bootId } from './boot.ts';
import type { Capture, InvocationBegin, InvocationEnd, InvocationIdentity, JournalRecord, StepBegin, StepEnd } from './record.ts';

export type InvocationState = 'ok' | 'error' | 'in-flight' | 'abandoned';
export type StepState = 'ok' | 'error' | 'skipped' | 'in-flight' | 'abandoned';

export interface Step {
  readonly spanId: string;
  readonly index: number;
  readonly plugin: string;
  readonly command: string;
  readonly path: string | null;
  readonly startNs: string | null;
  readonly endNs: string | null;
  readonly durationMs: number | null;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly status: StepState;
  readonly error?: CniError;
  readonly skipped?: string;
  readonly stdin: Json | undefined;
  readonly stdout: Capture | undefined;
  readonly stderr: Capture | undefined;
  /** A nested call's caller (a delegate's step or another nested call); absent for delegates. */
  readonly parentSpanId?: string;
  /** 0 for a delegate, 1 for a plugin it ran, 2 for one that ran … */
  readonly depth: number;
  /** A nested call's CNI_* env (a delegate's is the invocation's). */
  readonly env?: Readonly<Record<string, string>>;
  /** A traced command's argv, redacted (iptables, ip … a plugin ran); absent for plugins. */
  readonly argv?: readonly string[];
}

export interface Invocation extends Omit<InvocationIdentity, 'command'> {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  /** The CNI command; empty when only records without it were seen. */
  readonly command: string;
  readonly pid: number | null;
  readonly startNs: string | null;
  readonly endNs: string | null;
  readonly durationMs: number | null;
  readonly exitCode: number | null;
  readonly status: InvocationState;
  readonly error?: CniError;
  readonly env: Readonly<Record<string, string>>;
  readonly stdin: Json | undefined;
  readonly stdout: Capture | undefined;
  readonly steps: readonly Step[];
}

interface Parts {
  begin?: InvocationBegin;
  end?: InvocationEnd;
  steps: Map<string, { begin?: StepBegin; end?: StepEnd }>;
  firstSeen: number;
}

/**
 * Is the wrapper with this pid still running? (Signal 0 probes without signalling.) A record
 * from an earlier boot names a process that is gone, whoever has its pid now.
 */
export function processAlive(pid: number, recordBootId?: string): boolean {
  if (recordBootId && bootId() && recordBootId !== bootId()) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Accumulates records; `list()` gives invocations in start order. */
export class InvocationIndex {
  private readonly byId = new Map<string, Parts>();
  private seq = 0;
  private readonly alive: (pid: number, spanId: string, bootId?: string) => boolean;

  /** `alive` says whether a begun, unended invocation still runs (default: its pid exists here, in this boot). */
  constructor(alive: (pid: number, spanId: string, bootId?: string) => boolean = (pid, _id, boot) => processAlive(pid, boot)) {
    this.alive = alive;
  }

  /** Adds a record; returns the key (invocation span id) it belongs to. */
  add(rec: JournalRecord): string {
    const key = rec.rec === 'invocation.begin' || rec.rec === 'invocation.end' ? rec.spanId : rec.invocationSpanId;
    let parts = this.byId.get(key);
    if (!parts) {
      parts = { steps: new Map(), firstSeen: this.seq++ };
      this.byId.set(key, parts);
    }
    if (rec.rec === 'invocation.begin') parts.begin = rec;
    else if (rec.rec === 'invocation.end') parts.end = rec;
    else {
      const step = parts.steps.get(rec.spanId) ?? {};
      if (rec.rec === 'step.begin') step.begin = rec;
      else step.end = rec;
      parts.steps.set(rec.spanId, step);
    }
    return key;
  }

  /** The invocation with this span id, if any of its records was seen. */
  get(spanId: string): Invocation | undefined {
    const parts = this.byId.get(spanId);
    return parts ? this.build(spanId, parts) : undefined;
  }

  /** Drops an invocation (callers bound memory by forgetting what they have shown). */
  forget(spanId: string): void {
    this.byId.delete(spanId);
  }

  list(): Invocation[] {
    return [...this.byId.entries()]
      .map(([id, parts]) => this.build(id, parts))
      .sort((a, b) => compareNs(a.startNs, b.startNs));
  }

  private build(spanId: string, p: Parts): Invocation {
    const b = p.begin;
    const e = p.end;
    const pid = b?.pid ?? null;
    const live = e ? false : pid !== null && this.alive(pid, spanId, b?.bootId);
    const status: InvocationState = e ? e.status : live ? 'in-flight' : 'abandoned';
    const steps = treeOrder([...p.steps.values()]
      .map((s) => buildStep(s.begin, s.end, status))
      .sort((x, y) => compareNs(x.startNs, y.startNs) || x.index - y.index));
    return {
      traceId: b?.traceId ?? e?.traceId ?? '',
      spanId,
      ...(b?.parentSpanId ? { parentSpanId: b.parentSpanId } : {}),
      command: b?.command ?? e?.command ?? '',
      containerId: b?.containerId ?? '',
      netns: b?.netns ?? '',
      ifname: b?.ifname ?? '',
      network: b?.network ?? '',
      cniVersion: b?.cniVersion ?? '',
      pod: b?.pod ?? {},
      pid,
      startNs: b?.startNs ?? null,
      endNs: e?.endNs ?? null,
      durationMs: e ? nsToMs(e.durationNs) : null,
      exitCode: e?.exitCode ?? null,
      status,
      ...(e?.error ? { error: e.error } : {}),
      env: b?.env ?? {},
      stdin: b?.stdin,
      stdout: e?.stdout,
      steps,
    };
  }
}

/**
 * Steps in start order, each nested call right after its caller (depth first), with its depth.
 * A nested call whose caller is unknown stays where it started, at depth 1.
 */
function treeOrder(steps: Step[]): Step[] {
  const ids = new Set(steps.map((s) => s.spanId));
  const children = new Map<string, Step[]>();
  const roots: Step[] = [];
  for (const s of steps) {
    if (s.parentSpanId !== undefined && ids.has(s.parentSpanId) && s.parentSpanId !== s.spanId) {
      const list = children.get(s.parentSpanId) ?? [];
      list.push(s);
      children.set(s.parentSpanId, list);
    } else roots.push(s);
  }
  if (children.size === 0) return steps;
  const out: Step[] = [];
  const visit = (s: Step, depth: number): void => {
    out.push(depth === s.depth ? s : { ...s, depth });
    for (const c of children.get(s.spanId) ?? []) visit(c, depth + 1);
  };
  for (const r of roots) visit(r, r.parentSpanId !== undefined ? 1 : 0);
  return out;
}

function buildStep(b: StepBegin | undefined, e: StepEnd | undefined, inv: InvocationState): Step {
  // A nested call without an end in a finished invocation was killed with its caller.
  const status: StepState = e ? e.status : inv === 'abandoned' || (b?.parentSpanId !== undefined && inv !== 'in-flight') ? 'abandoned' : 'in-flight';
  return {
    spanId: b?.spanId ?? e?.spanId ?? '',
    index: b?.index ?? e?.index ?? 0,
    plugin: b?.plugin ?? e?.plugin ?? '',
    command: b?.command ?? e?.command ?? '',
    path: b?.path ?? null,
    startNs: b?.startNs ?? null,
    endNs: e?.endNs ?? null,
    durationMs: e ? nsToMs(e.durationNs) : null,
    exitCode: e?.exitCode ?? null,
    signal: e?.signal ?? null,
    status,
    ...(e?.error ? { error: e.error } : {}),
    ...(e?.skipped ? { skipped: e.skipped } : {}),
    stdin: b?.stdin,
    stdout: e?.stdout,
    stderr: e?.stderr,
    ...(b?.parentSpanId !== undefined ? { parentSpanId: b.parentSpanId } : {}),
    depth: b?.parentSpanId !== undefined ? 1 : 0,
    ...(b?.env ? { env: b.env } : {}),
    ...(b?.argv ? { argv: b.argv } : {}),
  };
}

/** Milliseconds (fractional, µs precision) from a nanosecond string. */
export function nsToMs(ns: string): number {
  return Number(BigInt(ns) / 1000n) / 1000;
}

function compareNs(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  const d = BigInt(a) - BigInt(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

