/**
 * `cni-trace tail`: one line (or one JSON object) per invocation, selected like `hubble
 * observe` and `kubectl logs` select (--last, --since, --pod, --namespace, --plugin,
 * --errors). Without --follow it prints the journal's invocations and exits; with --follow it
 * then prints each new invocation as it ends (or as abandoned when its wrapper died).
 */
import { followJournal, readJournal } from '../journal/reader.ts';
import { InvocationIndex, type Invocation } from '../journal/invocations.ts';
import { matches, type InvocationFilter } from '../view/filter.ts';
import { escapeControl, formatMs, paintStatus, rfc3339 } from '../view/text.ts';

/** The stable JSON shape of `tail --json` (README, "tail"). */
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
    })),
  };
}


/** One human line: time, command, status, duration, pod, container, ifname, network, steps. */
export function invocationLine(inv: Invocation, colour: boolean): string {
  const time = inv.startNs ? rfc3339(inv.startNs).slice(11, 26) : '?';
  const pod = inv.pod.name ? `${inv.pod.namespace ?? '-'}/${inv.pod.name}` : '-';
  const status = paintStatus(inv.status.padEnd(9), inv.status, colour);
  // Delegates separated by ·, the plugins each one ran after › (bridge 9.1ms › host-local 3.0ms).
  const steps = inv.steps.map((s) => `${s.depth > 0 ? ' › ' : ' · '}${s.plugin}${s.status === 'ok' ? '' : `(${s.status})`} ${formatMs(s.durationMs)}`).join('').slice(3);
  const err = inv.error ? `  error ${inv.error.code}: ${inv.error.msg}` : '';
  return escapeControl([time, inv.command.padEnd(6), status, formatMs(inv.durationMs).padStart(8), pod, inv.containerId.slice(0, 12), inv.ifname, inv.network, steps].join('  ') + err);
}

export interface TailOptions {
  readonly journal: string;
  readonly json: boolean;
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

/** Prints the journal; with follow, returns a stop function and keeps printing. */
export function tail(opts: TailOptions): () => void {
  const filter = opts.filter ?? {};
  const print = (inv: Invocation): void => opts.write(opts.json ? JSON.stringify(invocationJson(inv)) : invocationLine(inv, opts.colour));
  const index = new InvocationIndex();
  for (const rec of readJournal(opts.journal)) index.add(rec);
  const printed = new Set<string>();
  const existing = index.list().filter((inv) => matches(inv, filter));
  for (const inv of opts.last !== undefined ? existing.slice(Math.max(0, existing.length - opts.last)) : existing) print(inv);
  for (const inv of index.list()) {
    if (inv.status !== 'in-flight') {
      printed.add(inv.spanId);
      index.forget(inv.spanId);
    }
  }
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
