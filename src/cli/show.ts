/**
 * `cni-trace show ID | --pod ns/name`: one invocation as a text waterfall with everything the
 * journal holds about it — identity, outcome, each step's bar on a shared time axis, then per
 * step its config (stdin), result or error, stderr, and the call's CNI_* env.
 */
import { invocationsNewestFirst } from '../journal/assemble.ts';
import type { Invocation, Step } from '../journal/invocations.ts';
import { recordsNewestFirst } from '../journal/reader.ts';
import { matches, type InvocationFilter } from '../view/filter.ts';
import { OWN_TIME } from '../view/own-time.ts';
import { ownBar, track, waterfall } from '../view/waterfall.ts';
import { escapeControl, formatMs, paintStatus, rfc3339, shellWord } from '../view/text.ts';

export type ShowSelector = { id: string } | { namespace?: string; pod: string } | { latest: true };

/** Does the invocation match the selector: an id prefix of its trace or span id, its pod, or any? */
function selects(inv: Invocation, sel: ShowSelector): boolean {
  if ('latest' in sel) return true;
  if ('id' in sel) {
    const id = sel.id.toLowerCase();
    return inv.traceId.startsWith(id) || inv.spanId.startsWith(id);
  }
  return inv.pod.name === sel.pod && (sel.namespace === undefined || inv.pod.namespace === sel.namespace);
}

/** How many of a pod's other operations `show --pod` lists. */
const OTHERS = 8;

export interface Found {
  readonly inv: Invocation;
  /** For a pod: its other operations, newest first (at most OTHERS). */
  readonly others: readonly Invocation[];
}

/**
 * The invocation a selector names, from invocations newest first, among those that pass
 * `filter`: the one whose trace id or span id starts with `id` (the latest when a full trace
 * id holds several calls); for a pod its latest ADD — pod start is what people ask about, and
 * a later DEL of a pod whose ADD failed is not the answer — or its latest call when no ADD is
 * recorded (or `--command` asks for another); with neither, the latest that passes the filter.
 * Stops at the first match, except for an id that is only a prefix (read on for a second match,
 * to say it is ambiguous) and for a pod (read on for its other operations).
 */
export function findInvocation(newestFirst: Iterable<Invocation>, sel: ShowSelector, filter: InvocationFilter = {}): Found | undefined | 'ambiguous' {
  let found: Invocation | undefined;
  const id = 'id' in sel ? sel.id.toLowerCase() : '';
  if ('pod' in sel) {
    const seen: Invocation[] = [];
    const wantAdd = filter.command === undefined;
    for (const inv of newestFirst) {
      if (!selects(inv, sel) || !matches(inv, filter)) continue;
      seen.push(inv);
      if (!found && (!wantAdd || inv.command === 'ADD')) found = inv;
      if (found && seen.length > OTHERS) break;
    }
    found ??= seen[0];
    return found ? { inv: found, others: seen.filter((i) => i !== found).slice(0, OTHERS) } : undefined;
  }
  for (const inv of newestFirst) {
    if (!selects(inv, sel) || !matches(inv, filter)) continue;
    if (!found) {
      found = inv;
      if (!('id' in sel) || inv.traceId === id || inv.spanId === id) return { inv: found, others: [] };
    } else if (found.traceId !== id || inv.traceId !== id) return 'ambiguous';
  }
  return found ? { inv: found, others: [] } : undefined;
}

/** One line: the pod's other operations, newest first, each with the id that shows it. */
export function othersLine(others: readonly Invocation[]): string {
  return `other operations of this pod (newest first): ${others.map((o) => `${o.command} ${o.status} ${formatMs(o.durationMs)} ${o.startNs ? rfc3339(o.startNs).slice(11, 23) : '?'} ${o.traceId.slice(0, 12)}`).join(', ')}`;
}

/** Journal text made safe for a terminal, line by line (control characters shown escaped). */
function safe(text: string): string {
  return text.split('\n').map(escapeControl).join('\n');
}

function indent(text: string, by = '    '): string {
  return safe(text).split('\n').map((l) => by + l).join('\n');
}

function pretty(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

/** The result/stdout text, pretty-printed when it is JSON. */
function streamText(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** A step's name in the waterfall: nested calls indented under their caller. */
function stepLabel(s: Step): string {
  return `${'  '.repeat(s.depth)}${safe(s.plugin)}`;
}

function stepSection(s: Step, caller: Step | undefined): string {
  const lines = [`── ${s.index}.${s.depth > 0 ? ` ${'↳ '.repeat(s.depth)}` : ' '}${safe(s.plugin)} ${s.command} — ${s.status}, ${formatMs(s.durationMs)}${s.exitCode !== null ? `, exit ${s.exitCode}` : ''}${s.signal ? `, ${s.signal}` : ''}`];
  if (caller) lines.push(`  called by: ${safe(caller.plugin)} (span ${caller.spanId}), span ${s.spanId}`);
  lines.push(`  path: ${safe(s.path ?? (s.argv ? '(not found in PATH)' : '(not found in CNI_PATH)'))}`);
  if (s.argv) lines.push(`  argv: ${safe(s.argv.map(shellWord).join(' '))}`);
  if (s.skipped) lines.push(`  skipped: ${safe(s.skipped)}`);
  if (s.error) lines.push(`  error ${s.error.code}: ${safe(s.error.msg)}${s.error.details ? ` (${safe(s.error.details)})` : ''}`);
  if (s.stdin !== undefined && !s.argv) lines.push('  stdin:', indent(pretty(s.stdin)));
  if (s.stdout?.text) lines.push(`  stdout${s.stdout.truncated ? ` (first ${s.stdout.text.length} of ${s.stdout.bytes} bytes)` : ''}:`, indent(streamText(s.stdout.text)));
  if (s.stderr?.text) lines.push(`  stderr${s.stderr.truncated ? ` (first ${s.stderr.text.length} of ${s.stderr.bytes} bytes)` : ''}:`, indent(s.stderr.text.replace(/\n$/, '')));
  if (s.env) {
    lines.push('  env:');
    for (const [k, v] of Object.entries(s.env)) lines.push(`    ${k}=${safe(v)}`);
  }
  return lines.join('\n');
}

/** The whole text of `show`, `width` columns wide. */
export function renderInvocation(inv: Invocation, opts: { colour: boolean; width: number; nowNs?: bigint }): string {
  const label = inv.steps.reduce((m, s) => Math.max(m, stepLabel(s).length), OWN_TIME.length);
  const axis = Math.max(10, opts.width - label - 14);
  const out: string[] = [];
  const pod = inv.pod.name ? safe(`${inv.pod.namespace ?? '-'}/${inv.pod.name}`) : '-';
  out.push(`${inv.command} ${paintStatus(inv.status, inv.status, opts.colour)} ${formatMs(inv.durationMs)}  pod ${pod}  container ${safe(inv.containerId)}`);
  out.push(`network ${safe(inv.network)} (CNI ${safe(inv.cniVersion)})  interface ${safe(inv.ifname)}  netns ${safe(inv.netns || '-')}`);
  out.push(`start ${inv.startNs ? rfc3339(inv.startNs) : '?'}  trace ${inv.traceId}  span ${inv.spanId}${inv.parentSpanId ? `  parent ${inv.parentSpanId}` : ''}`);
  if (inv.pod.uid) out.push(`pod uid ${safe(inv.pod.uid)}`);
  if (inv.error) out.push(paintStatus(`error ${inv.error.code}: ${safe(inv.error.msg)}${inv.error.details ? ` (${safe(inv.error.details)})` : ''}`, 'error', opts.colour));
  out.push('');
  for (const bar of waterfall(inv, axis, opts.nowNs)) {
    const track = ' '.repeat(bar.offset) + '█'.repeat(bar.width) + ' '.repeat(Math.max(0, axis - bar.offset - bar.width));
    out.push(`${stepLabel(bar.step).padEnd(label)} │${paintStatus(track, bar.step.status, opts.colour)}│ ${formatMs(bar.durationMs).padStart(8)}`);
  }
  // cni-trace's own time, named: never an unlabelled gap that reads as the network's.
  const own = ownBar(inv, axis);
  if (own) out.push(`${OWN_TIME.padEnd(label)} │${paintStatus(track(own.segments, axis, '░'), 'skipped', opts.colour)}│ ${formatMs(own.durationMs).padStart(8)}`);
  out.push(`${''.padEnd(label)} 0${' '.repeat(Math.max(0, axis - formatMs(inv.durationMs).length))}${formatMs(inv.durationMs)}`);
  for (const s of inv.steps) out.push('', stepSection(s, inv.steps.find((c) => c.spanId === s.parentSpanId)));
  if (Object.keys(inv.env).length > 0) out.push('', '── env');
  for (const [k, v] of Object.entries(inv.env)) out.push(`  ${k}=${safe(v)}`);
  if (inv.stdout?.text) out.push('', '── what the runtime got', indent(streamText(inv.stdout.text)));
  return out.join('\n');
}

function* newest(journal: string): Generator<Invocation> {
  for (const { inv } of invocationsNewestFirst(recordsNewestFirst(journal))) yield inv;
}

/** Reads the journal, newest first, and finds the invocation, or explains why not. */
export function show(journal: string, sel: ShowSelector, filter: InvocationFilter = {}): Found | string {
  const found = findInvocation(newest(journal), sel, filter);
  if (found === 'ambiguous') return `"${'id' in sel ? sel.id : ''}" matches more than one invocation: give more of the id`;
  const which = Object.keys(filter).length > 0 ? ' that matches the selection' : '';
  if (!found) {
    if ('id' in sel) return `no invocation with trace or span id ${sel.id}${which} in ${journal}`;
    if ('pod' in sel) return `no invocation of pod ${sel.namespace ? `${sel.namespace}/` : ''}${sel.pod}${which} in ${journal}`;
    return `no invocation${which} in ${journal}`;
  }
  return found;
}
