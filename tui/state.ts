/**
 * The TUI's state and its pure reducer. What touches the world (journal, clock, process table,
 * terminal, keyboard) lives in hooks and arrives as actions, so each behaviour is a function of
 * (state, action). An invocation is folded from its own records with InvocationIndex, afresh
 * when one arrives, so states share nothing mutable. Memory is bounded: at most `maxInvocations`
 * finished invocations are held (the first seen is dropped first), plus every in-flight one.
 */
import { invocationIdOf } from '../src/journal/identity.ts';
import { InvocationIndex, type Invocation, type Step } from '../src/journal/invocations.ts';
import type { JournalRecord } from '../src/journal/record.ts';
import { elapsedMs, matches, parseFilterText } from '../src/view/filter.ts';
import { SlowBaseline, slowBaseline } from '../src/view/slow.ts';

/** What the TUI shows and how (docs/tui.md). Times in ms. */
export interface TuiConfig {
  readonly journal: string;
  readonly nodeName: string;
  /** At or above this (ms) an invocation is slow; null: slow for its network and command in what is held (view/slow.ts). */
  readonly slowMs: number | null;
  /** The header's window for the rate, ADD percentiles and errors. */
  readonly windowMs: number;
  /** The trace link; `{traceId}` is replaced by the invocation's trace id. */
  readonly traceUrl: string;
  /** Finished invocations held at most. */
  readonly maxInvocations: number;
  /** The shell command that shows this journal (tail, with the right binary and --journal), for the help. */
  readonly shellHint?: string;
}

/** One invocation as held: its records, one per (kind, span id), and the view folded from them. */
export interface Held {
  readonly records: readonly JournalRecord[];
  /** Its wrapper was found dead before it ended, so it is abandoned. */
  readonly gone: boolean;
  readonly inv: Invocation;
}

export interface State {
  readonly config: TuiConfig;
  /** By invocation span id, in the order first seen. */
  readonly held: ReadonlyMap<string, Held>;
  /** Invocations that started before this (epoch ms) may be missing: not in the history read, or dropped. */
  readonly horizonMs: number;
  readonly nowMs: number;
  /** Clock ticks so far: the spinner's frame, so it moves on every tick. */
  readonly ticks: number;
  readonly columns: number;
  readonly rows: number;
  readonly screen: 'list' | 'detail';
  /** The selected invocation; null while the cursor rides the head of the list (its newest, or slowest, row). */
  readonly selectedId: string | null;
  readonly detailId: string | null;
  /** One tab per step, then one for the whole invocation (index `steps.length`). */
  readonly detailTab: number;
  /** First content line shown in the detail tab. */
  readonly detailScroll: number;
  /** While paused, the invocations held when pausing: the list keeps them, in place, and no others. */
  readonly frozen: readonly Invocation[] | null;
  /** Invocations first seen since pausing (the header still counts them). */
  readonly arrivedWhilePaused: number;
  /** Oldest first with the head at the bottom, like `tail -f`; by default newest first. */
  readonly followBottom: boolean;
  readonly sort: 'time' | 'duration';
  readonly errorsOnly: boolean;
  readonly slowOnly: boolean;
  /** The applied filter line (text, `ADD`, `status:slow`, `>2s`), '' for none. */
  readonly filterText: string;
  /** The filter being typed (applied as it is typed); null when the prompt is closed. */
  readonly prompt: string | null;
  readonly help: boolean;
  readonly quit: boolean;
}

/** Actions that carry nothing: the keys that open, close, toggle or cycle something. */
export type PlainAction = 'open' | 'back' | 'toggle-pause' | 'toggle-follow' | 'filter-start' | 'filter-erase' | 'filter-confirm'
  | 'filter-cancel' | 'filter-clear' | 'toggle-errors' | 'toggle-slow' | 'cycle-sort' | 'toggle-help' | 'quit';

export type Action =
  | { readonly type: PlainAction }
  /** `horizonMs`: the history left out invocations that started before this. */
  | { readonly type: 'records'; readonly records: readonly JournalRecord[]; readonly horizonMs?: number }
  /** These invocations' wrappers are no longer running. */
  | { readonly type: 'wrappers-gone'; readonly spanIds: readonly string[] }
  | { readonly type: 'tick'; readonly nowMs: number }
  | { readonly type: 'resize'; readonly columns: number; readonly rows: number }
  /** Moves the cursor `by` rows down the screen (negative: up). */
  | { readonly type: 'move'; readonly by: number }
  /** Text typed into the filter prompt. */
  | { readonly type: 'filter-type'; readonly text: string }
  | { readonly type: 'cycle-tab'; readonly by: 1 | -1 }
  /** Scrolls the detail tab `by` lines, within 0..max (the view knows how long the tab is). */
  | { readonly type: 'scroll-detail'; readonly by: number; readonly max: number };

/** A state holding nothing yet, for a terminal of the given size. */
export function initialState(config: TuiConfig, columns: number, rows: number, nowMs: number, filterText = ''): State {
  return {
    config, held: new Map(), horizonMs: -Infinity, nowMs, ticks: 0, columns, rows, screen: 'list', selectedId: null, detailId: null,
    detailTab: 0, detailScroll: 0, frozen: null, arrivedWhilePaused: 0, followBottom: false, sort: 'time',
    errorsOnly: false, slowOnly: false, filterText, prompt: null, help: false, quit: false,
  };
}

/** The next state; never mutates `s`, never looks at anything but its arguments. */
export function reduce(s: State, a: Action): State {
  switch (a.type) {
    case 'records': return withRecords(s, a.records, a.horizonMs ?? -Infinity);
    case 'wrappers-gone': return withGone(s, a.spanIds);
    case 'tick': return { ...s, nowMs: a.nowMs, ticks: s.ticks + 1 };
    case 'resize': return { ...s, columns: a.columns > 0 ? a.columns : s.columns, rows: a.rows > 0 ? a.rows : s.rows };
    case 'move': return move(s, a.by);
    case 'open': {
      const rows = visibleRows(s);
      const inv = rows[cursorIndex(s, rows)];
      if (!inv) return s;
      // On the first failed step, else the slowest: where the answer is. The cursor stays on what was opened.
      return { ...s, screen: 'detail', detailId: inv.spanId, detailTab: firstTab(inv), detailScroll: 0, help: false, selectedId: inv.spanId };
    }
    case 'back': return s.help ? { ...s, help: false } : { ...s, screen: 'list', detailId: null };
    case 'toggle-pause': return { ...s, frozen: s.frozen ? null : allInvocations(s), arrivedWhilePaused: 0 };
    case 'toggle-follow': return { ...s, followBottom: !s.followBottom, selectedId: null };
    case 'filter-start': return { ...s, prompt: '', help: false };
    case 'filter-type': return s.prompt === null ? s : { ...s, prompt: s.prompt + a.text };
    case 'filter-erase': return s.prompt === null ? s : { ...s, prompt: [...s.prompt].slice(0, -1).join('') };
    case 'filter-confirm': return s.prompt === null ? s : { ...s, filterText: s.prompt.trim(), prompt: null };
    // Esc clears the filter (it applied as it was typed).
    case 'filter-cancel': case 'filter-clear': return { ...s, prompt: null, filterText: '' };
    case 'toggle-errors': return { ...s, errorsOnly: !s.errorsOnly };
    case 'toggle-slow': return { ...s, slowOnly: !s.slowOnly };
    case 'cycle-sort': return { ...s, sort: s.sort === 'time' ? 'duration' : 'time', selectedId: null };
    case 'toggle-help': return { ...s, help: !s.help };
    case 'cycle-tab': {
      const count = (detailInvocation(s)?.steps.length ?? 0) + 1;
      return { ...s, detailTab: (s.detailTab + a.by + count) % count, detailScroll: 0 };
    }
    case 'scroll-detail': return { ...s, detailScroll: Math.max(0, Math.min(a.max, s.detailScroll + a.by)) };
    case 'quit': return { ...s, quit: true };
  }
}

/** Every held invocation in the order first seen: what the header counts, paused or not. */
export function allInvocations(s: State): Invocation[] {
  return [...s.held.values()].map((h) => h.inv);
}

/** The list as shown, top to bottom: filtered, newest (or slowest) first, reversed when following
 * at the bottom. While paused: the invocations held when pausing, as they are now. */
export function visibleRows(s: State): Invocation[] {
  const source = s.frozen ? s.frozen.map((inv) => s.held.get(inv.spanId)?.inv ?? inv) : allInvocations(s);
  const rule = slowRule(s);
  const isSlow = (inv: Invocation, nowMs: number): boolean => rule.isSlow(inv, nowMs);
  // The prompt's text applies as it is typed.
  const filter = { ...parseFilterText(s.prompt ?? s.filterText), isSlow, ...(s.errorsOnly ? { errorsOnly: true } : {}) };
  const key = s.sort === 'time' ? startKey : (inv: Invocation): number => elapsedMs(inv, s.nowMs) ?? -1;
  // Oldest (or quickest) first, ties in the order first seen; newest first is the reverse.
  const rows = source.filter((inv) => matches(inv, filter, s.nowMs) && (!s.slowOnly || isSlow(inv, s.nowMs)))
    .map((inv, i) => ({ inv, k: key(inv), start: startKey(inv), i }));
  rows.sort((a, b) => a.k - b.k || a.start - b.start || a.i - b.i);
  const ordered = rows.map((r) => r.inv);
  return s.followBottom ? ordered : ordered.reverse();
}

const rules = new WeakMap<ReadonlyMap<string, Held>, SlowBaseline>();

/** What is slow now: the --slow threshold, or each network and command's own distribution in what is held. */
export function slowRule(s: State): SlowBaseline {
  if (s.config.slowMs !== null) return new SlowBaseline(s.config.slowMs);
  let rule = rules.get(s.held);
  if (!rule) {
    rule = slowBaseline(allInvocations(s));
    rules.set(s.held, rule);
  }
  return rule;
}

/** The detail tab an invocation opens on: its first failed step, else its slowest step. */
export function firstTab(inv: Invocation): number {
  const failed = inv.steps.findIndex((step) => step.status === 'error' || step.status === 'abandoned');
  if (failed >= 0) return failed;
  let slowest = 0;
  inv.steps.forEach((step, i) => { if ((step.durationMs ?? -1) > (inv.steps[slowest]!.durationMs ?? -1)) slowest = i; });
  return slowest;
}

/** The header's window (ms): the configured one, or less when invocations that started within it
 * may be missing, so the rate is not understated; at least a second. */
export function summaryWindowMs(s: State): number {
  return Math.max(1000, Math.min(s.config.windowMs, s.nowMs - s.horizonMs));
}

/** The cursor's row in `rows` (from visibleRows), -1 when the list is empty. */
export function cursorIndex(s: State, rows: readonly Invocation[]): number {
  if (rows.length === 0) return -1;
  const at = s.selectedId === null ? -1 : rows.findIndex((r) => r.spanId === s.selectedId);
  return at >= 0 ? at : s.followBottom ? rows.length - 1 : 0;
}

/** The invocation the detail view shows. */
export function detailInvocation(s: State): Invocation | undefined {
  return s.detailId === null ? undefined : s.held.get(s.detailId)?.inv;
}

/** The step an in-flight invocation is running now: the last one begun and not ended. */
export function runningStep(inv: Invocation): Step | undefined {
  return inv.steps.findLast((step) => step.status === 'in-flight');
}

/** Start time in µs (exact below 2^53), for ordering; invocations seen without a begin sort last. */
function startKey(inv: Invocation): number {
  return inv.startNs ? Number(BigInt(inv.startNs) / 1000n) : -Infinity;
}

function move(s: State, by: number): State {
  const rows = visibleRows(s);
  if (rows.length === 0) return s;
  const at = Math.max(0, Math.min(rows.length - 1, cursorIndex(s, rows) + by));
  const head = s.followBottom ? rows.length - 1 : 0;
  return { ...s, selectedId: at === head ? null : rows[at]!.spanId };
}

function fold(spanId: string, records: readonly JournalRecord[], gone: boolean): Invocation {
  const index = new InvocationIndex(() => !gone);
  for (const rec of records) index.add(rec);
  return index.get(spanId)!;
}

function withRecords(s: State, records: readonly JournalRecord[], horizonMs: number): State {
  if (records.length === 0) return s;
  const held = new Map(s.held);
  const changed = new Map<string, JournalRecord[]>();
  for (const rec of records) {
    const id = invocationIdOf(rec);
    const recs = changed.get(id) ?? [...(held.get(id)?.records ?? [])];
    changed.set(id, recs);
    // A record read twice (the same kind for the same span) replaces itself.
    const same = recs.findIndex((r) => r.rec === rec.rec && r.spanId === rec.spanId);
    if (same >= 0) recs[same] = rec;
    else recs.push(rec);
  }
  for (const [id, recs] of changed) {
    const gone = held.get(id)?.gone ?? false;
    held.set(id, { records: recs, gone, inv: fold(id, recs, gone) });
  }
  const arrived = held.size - s.held.size;
  const dropped = bound(held, s.config.maxInvocations, [s.selectedId, s.detailId]);
  // The clock is at least as late as anything read: a call that began after the last tick would
  // otherwise show 0µs (its start ahead of the clock) until the next tick.
  let nowMs = s.nowMs;
  for (const rec of records) nowMs = Math.max(nowMs, recordMs(rec));
  return { ...s, held, nowMs, horizonMs: Math.max(s.horizonMs, horizonMs, dropped), arrivedWhilePaused: s.frozen ? s.arrivedWhilePaused + arrived : 0 };
}

/** The wall time (epoch ms) a record was written at: its end, else its start. */
function recordMs(rec: JournalRecord): number {
  const ns = 'endNs' in rec ? rec.endNs : 'startNs' in rec ? rec.startNs : undefined;
  return typeof ns === 'string' && /^\d+$/.test(ns) ? Number(BigInt(ns) / 1_000_000n) : -Infinity;
}

/** Drops the first-seen finished invocations beyond `max`, never an in-flight one or one in `keep`;
 * returns the latest start (epoch ms) among those dropped, -Infinity for none. */
function bound(held: Map<string, Held>, max: number, keep: readonly (string | null)[]): number {
  let finished = 0;
  let latest = -Infinity;
  for (const h of held.values()) if (h.inv.status !== 'in-flight') finished++;
  for (const [id, h] of held) {
    if (finished <= max) break;
    if (h.inv.status === 'in-flight' || keep.includes(id)) continue;
    held.delete(id);
    finished--;
    latest = Math.max(latest, startKey(h.inv) / 1000);
  }
  return latest;
}

function withGone(s: State, spanIds: readonly string[]): State {
  const held = new Map(s.held);
  for (const id of spanIds) {
    const h = held.get(id);
    if (h && !h.gone) held.set(id, { records: h.records, gone: true, inv: fold(id, h.records, true) });
  }
  return { ...s, held };
}
