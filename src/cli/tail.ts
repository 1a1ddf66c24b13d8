/**
 * `cni-trace tail`: one line (or one JSON object) per invocation, selected like `hubble
 * observe` and `kubectl logs` select (--last, --since, --pod, --namespace, --plugin,
 * --errors). Without --follow it prints the journal's invocations and exits; with --follow it
 * then prints each new invocation as it ends (or as abandoned when its wrapper died).
 */
import { foldInvocations, invocationsNewestFirst } from '../journal/assemble.ts';
import { InvocationIndex, type Invocation } from '../journal/invocations.ts';
import { followJournal, journalRecords, recordsNewestFirst, SINCE_MARGIN_NS } from '../journal/reader.ts';
import type { JournalRecord } from '../journal/record.ts';
import { matches, type InvocationFilter } from '../view/filter.ts';
import { OWN_TIME, ownTime } from '../view/own-time.ts';
import { escapeControl, formatMs, paintStatus, rfc3339 } from '../view/text.ts';

/** The stable JSON shape of `tail --json` (docs/cli.md, "tail"). */
export function invocationJson(inv: Invocation): Record<string, unknown> {
  return {
    traceId: inv.traceId,
    spanId: inv.spanId,
    ...(inv.parentSpanId ? { parentSpanId: inv.parentSpanId } : {}),
    command: inv.command,
    containerId: inv.containerId,
    ifname: inv.ifname,
    netns: inv.netns,
    network: inv.network,
    cniVersion: inv.cniVersion,
    pod: { namespace: inv.pod.namespace ?? null, name: inv.pod.name ?? null, uid: inv.pod.uid ?? null },
    start: inv.startNs ? rfc3339(inv.startNs) : null,
    durationMs: inv.durationMs,
    status: inv.status,
    exitCode: inv.exitCode,
    ...(inv.error ? { error: inv.error } : {}),
    steps: inv.steps.map((s) => ({
      spanId: s.spanId,
      parent: s.parentSpanId ?? null,
      depth: s.depth,
      plugin: s.plugin,
      command: s.command,
      path: s.path,
      start: s.startNs ? rfc3339(s.startNs) : null,
      durationMs: s.durationMs,
      exitCode: s.exitCode,
      status: s.status,
      ...(s.error ? { error: s.error } : {}),
      ...(s.skipped ? { skipped: s.skipped } : {}),
      ...(s.argv ? { argv: s.argv } : {}),
    })),
  };
}


/** One human line: time, command, status, duration, pod, container, ifname, network, steps. */
export function invocationLine(inv: Invocation, colour: boolean, wide = false): string {
  const time = inv.startNs ? rfc3339(inv.startNs).slice(11, 26) : '?';
  const pod = inv.pod.name ? `${inv.pod.namespace ?? '-'}/${inv.pod.name}` : '-';
  const status = paintStatus(inv.status.padEnd(9), inv.status, colour);
  // Delegates separated by ·, the plugins each one ran after › (bridge 9.1ms › host-local 3.0ms),
  // the commands a step ran summed in brackets after it (portmap 310ms [iptables×18 251ms]).
  const commands = commandsByCaller(inv);
  const steps = inv.steps.filter((s) => !s.argv).map((s) => `${s.depth > 0 ? ' › ' : ' · '}${s.plugin}${s.status === 'ok' ? '' : `(${s.status})`} ${formatMs(s.durationMs)}${commands.get(s.spanId) ?? ''}`).join('').slice(3);
  const own = ownTime(inv);
  const ownText = own ? `${steps ? ' · ' : ''}${OWN_TIME} ${formatMs(own.ms)}` : '';
  const err = inv.error ? `  error ${inv.error.code}: ${inv.error.msg}` : '';
  return escapeControl([time, inv.command.padEnd(6), status, formatMs(inv.durationMs).padStart(8), pod, inv.containerId.slice(0, 12), inv.ifname, inv.network, steps + ownText, ...(wide ? [`trace ${inv.traceId}`] : [])].join('  ') + err);
}

/** Per caller's span, " [iptables×18 ip6tables×2 251ms]": the traced commands it ran and their summed time. */
function commandsByCaller(inv: Invocation): Map<string, string> {
  const by = new Map<string, { counts: Map<string, number>; ms: number }>();
  for (const s of inv.steps) {
    if (!s.argv || s.parentSpanId === undefined) continue;
    const c = by.get(s.parentSpanId) ?? { counts: new Map(), ms: 0 };
    c.counts.set(s.plugin, (c.counts.get(s.plugin) ?? 0) + 1);
    c.ms += s.durationMs ?? 0;
    by.set(s.parentSpanId, c);
  }
  const out = new Map<string, string>();
  for (const [id, c] of by) out.set(id, ` [${[...c.counts].map(([n, k]) => `${n}×${k}`).join(' ')} ${formatMs(c.ms)}]`);
  return out;
}

export interface TailOptions {
  readonly journal: string;
  readonly json: boolean;
  /** Lines with the trace id too (`-o wide`). */
  readonly wide?: boolean;
  readonly follow: boolean;
  readonly colour: boolean;
  readonly write: (line: string) => void;
  /** Which invocations to print (also while following). */
  readonly filter?: InvocationFilter;
  /** Of the journal's matching invocations, print only the last N. */
  readonly last?: number;
}


/** How long a begun call whose wrapper is gone waits for its end record before it is printed as abandoned. */
const ABANDON_AFTER_MS = 1000;
/** Printed invocations remembered, so that a late record of one does not print it twice. */
const PRINTED_MEMORY = 4096;

/** Prints the journal; with follow, returns a stop function and keeps printing. */
export function tail(opts: TailOptions): () => void {
  const filter = opts.filter ?? {};
  const printed = new Set<string>();
  const remember = (id: string): void => {
    printed.add(id);
    if (printed.size > PRINTED_MEMORY) printed.delete(printed.values().next().value!);
  };
  const print = (inv: Invocation): void => opts.write(opts.json ? JSON.stringify(invocationJson(inv)) : invocationLine(inv, opts.colour, opts.wide));
  const shown = (inv: Invocation): void => {
    if (matches(inv, filter)) print(inv);
    if (inv.status !== 'in-flight') remember(inv.spanId);
  };
  const index = opts.last !== undefined ? printLast(opts.journal, opts.last, filter, shown) : printAll(opts.journal, filter, shown);
  // What is left to follow: the invocations still running.
  for (const inv of index.list()) if (inv.status !== 'in-flight') index.forget(inv.spanId);
  if (!opts.follow) return () => {};
  const stop = followJournal({
    dir: opts.journal,
    fromEnd: true,
    onRecord: (rec) => { index.add(rec); },
  });
  // Print what ended (or was abandoned) since the last pass, then forget it: bounded memory.
  // A wrapper that is gone may have written its end record after our last read: it counts as
  // abandoned only when it still has no end a second later (several reads on).
  const goneSince = new Map<string, number>();
  const timer = setInterval(() => {
    for (const inv of index.list()) {
      if (inv.status === 'in-flight' || printed.has(inv.spanId)) continue;
      if (inv.status === 'abandoned') {
        const since = goneSince.get(inv.spanId) ?? Date.now();
        goneSince.set(inv.spanId, since);
        if (Date.now() - since < ABANDON_AFTER_MS) continue;
      }
      goneSince.delete(inv.spanId);
      if (matches(inv, filter)) print(inv);
      index.forget(inv.spanId);
    }
  }, 250);
  return () => {
    stop();
    clearInterval(timer);
  };
}

/**
 * The last `last` matching invocations, read newest file first from the end and stopped as soon
 * as they are found; printed in start order. Returns them in an index (to follow the running).
 */
function printLast(journal: string, last: number, filter: InvocationFilter, shown: (inv: Invocation) => void): InvocationIndex {
  const index = new InvocationIndex();
  let found = 0;
  if (last > 0) {
    for (const { inv, records } of invocationsNewestFirst(recordsNewestFirst(journal))) {
      if (filter.sinceNs !== undefined && inv.startNs !== null && BigInt(inv.startNs) < filter.sinceNs - SINCE_MARGIN_NS) break;
      if (!matches(inv, filter)) continue;
      for (const rec of records) index.add(rec);
      if (++found >= last) break;
    }
  }
  for (const inv of index.list()) shown(inv);
  return index;
}

/**
 * Every matching invocation, in start order, streamed: each is printed once it and every one
 * begun before it are finished, so only the unfinished and those waiting behind them are held.
 * Invocations whose begin is not in the journal (pruned) come last, as they sort without a start.
 */
function printAll(journal: string, filter: InvocationFilter, shown: (inv: Invocation) => void): InvocationIndex {
  const waiting = new Map<string, Invocation | null>(); // begun, in write order → the invocation once finished
  const orphans: Invocation[] = [];
  const flush = (): void => {
    for (const [id, inv] of waiting) {
      if (!inv) return;
      waiting.delete(id);
      shown(inv);
    }
  };
  const finished = (inv: Invocation): void => {
    if (!waiting.has(inv.spanId)) orphans.push(inv);
    else {
      waiting.set(inv.spanId, inv);
      flush();
    }
  };
  function* noting(records: Iterable<JournalRecord>): Generator<JournalRecord> {
    for (const rec of records) {
      if (rec.rec === 'invocation.begin' && !waiting.has(rec.spanId)) waiting.set(rec.spanId, null);
      yield rec;
    }
  }
  const index = foldInvocations(noting(journalRecords(journal, filter.sinceNs !== undefined ? { sinceNs: filter.sinceNs } : {})), finished);
  for (const inv of index.list()) finished(inv);
  for (const [id, inv] of waiting) if (inv) shown(inv); else waiting.delete(id); // a begin read twice, already shown
  for (const inv of orphans) shown(inv);
  return index;
}
