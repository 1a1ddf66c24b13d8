/**
 * Findings: what `cni-trace diagnose` and the agent's findings metrics say is wrong on a node,
 * each with its evidence and a next step, from the invocations of a journal (fed one at a time
 * by the streaming core, in any order):
 *
 *  - slow:        a plugin or command slower than its own baseline (above the p95 and ≥ 3 × the
 *                 median of the same plugin and CNI command over the window, and ≥ 20 ms over that
 *                 median; at least 20 runs, fewer make the slowest its own p95), or a
 *                 whole call slow for its network and command (view/slow.ts's rule), with the
 *                 step that took the time;
 *  - errors:      failed calls grouped by the plugin that failed first and its message, with the
 *                 first and the last pod hit;
 *  - leaked:      an ADD that succeeded and was never DELeted while its network namespace is
 *                 gone (the pod is, its address still allocated); a DEL without an ADD;
 *  - retried:     the same container ADDed again and again (the runtime retrying a sandbox);
 *  - abandoned:   calls that began and never ended (the runtime's deadline killed the wrapper);
 *  - ipam:        a host-local IPv4 range at or near exhaustion: addresses held by results not
 *                 yet DELeted against the configured range, or the plugin saying it is out.
 *
 * Everything is judged over what the window holds: an ADD before `--since` is not seen.
 */
import type { Json, JsonObject } from '../config/wrapper-entry.ts';
import type { Invocation, Step } from '../journal/invocations.ts';
import { slowBaseline } from './slow.ts';
import { percentile } from './stats.ts';
import { formatMs, rfc3339 } from './text.ts';

export const FINDING_KINDS = ['slow', 'errors', 'leaked', 'retried', 'abandoned', 'ipam'] as const;
export type FindingKind = typeof FINDING_KINDS[number];

export interface Finding {
  readonly kind: FindingKind;
  /** One line: what is wrong, naming the plugin, pod or range. */
  readonly title: string;
  /** The lines that show it: pods, times, durations, messages. */
  readonly evidence: readonly string[];
  /** What to do or look at next (often a cni-trace command). */
  readonly next: string;
  /** How many calls (or attachments, addresses) it covers. */
  readonly count: number;
}

const MIN_SAMPLES = 20;
const STEP_FACTOR = 3;
/** A step must be this much over its median too: 7 ms against 2 ms is no one's problem. */
const STEP_MARGIN_MS = 20;
const RETRIES = 3;
/** A range is near exhaustion when this share of it is held. */
const NEAR_FULL = 0.9;
const EVIDENCE = 3;

interface Seen {
  readonly inv: Invocation;
  readonly startNs: bigint;
}

/** What the judging needs from a config and a result, taken when the invocation is added. */
interface Facts { readonly ips: string[]; readonly ranges: Range[] }
const FACTS = new WeakMap<Invocation, Facts>();
/** Of a step's stderr, what evidence quotes (its first line) and what is searched (the lock message). */
const STDERR_KEEP = 1024;

const pod = (inv: Invocation): string => (inv.pod.name ? `${inv.pod.namespace ?? '-'}/${inv.pod.name}` : `container ${inv.containerId.slice(0, 12) || '?'}`);
const at = (inv: Invocation): string => (inv.startNs ? rfc3339(inv.startNs) : '?');
const attachment = (inv: Invocation): string => `${inv.network}\u0000${inv.containerId}\u0000${inv.ifname}`;
const stepKey = (s: Step): string => `${s.argv ? 'command' : 'plugin'}\u0000${s.plugin}\u0000${s.command}`;

/** Accumulates invocations; `findings()` judges them. */
export class Diagnosis {
  private readonly seen: Seen[] = [];

  /**
   * Keeps the invocation without its configs, results and most of its captures (a journal's
   * worth of them would not fit), after taking what the judging needs: the result's addresses,
   * the host-local ranges of the entry.
   */
  add(inv: Invocation): void {
    const facts: Facts = {
      ips: inv.command === 'ADD' && inv.status === 'ok' ? ipsOf(inv.stdout?.text) : [],
      ranges: inv.command === 'ADD' ? hostLocalRanges(inv.stdin) : [],
    };
    const slim: Invocation = {
      ...inv, env: {}, stdin: undefined, stdout: undefined,
      steps: inv.steps.map((s) => ({
        ...s, stdin: undefined, stdout: undefined,
        stderr: s.stderr && s.stderr.text.length > STDERR_KEEP ? { ...s.stderr, text: s.stderr.text.slice(0, STDERR_KEEP), truncated: true } : s.stderr,
      })),
    };
    FACTS.set(slim, facts);
    this.seen.push({ inv: slim, startNs: inv.startNs ? BigInt(inv.startNs) : 0n });
  }

  get invocations(): number {
    return this.seen.length;
  }

  /** The findings, most pressing kinds first. `netnsGone` says whether a netns path no longer exists. */
  findings(netnsGone: (path: string) => boolean): Finding[] {
    const all = [...this.seen].sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : 0)).map((s) => s.inv);
    return [
      ...ipamFindings(all),
      ...errorFindings(all),
      ...abandonedFindings(all),
      ...leakFindings(all, netnsGone),
      ...retryFindings(all),
      ...slowFindings(all),
    ];
  }
}

function slowFindings(all: readonly Invocation[]): Finding[] {
  const out: Finding[] = [];
  // Whole calls slow for their network and command, with the step that took the time.
  const finished = all.filter((i) => i.durationMs !== null && (i.status === 'ok' || i.status === 'error'));
  const baseline = slowBaseline(finished);
  // One finding per network and command, named by its slowest call.
  const slowCalls = new Map<string, Invocation[]>();
  for (const inv of finished) {
    if (!baseline.isSlow(inv)) continue;
    const key = `${inv.network}\u0000${inv.command}`;
    slowCalls.set(key, [...(slowCalls.get(key) ?? []), inv]);
  }
  for (const calls of slowCalls.values()) {
    const worst = [...calls].sort((a, b) => b.durationMs! - a.durationMs!);
    const inv = worst[0]!;
    const top = inv.steps.filter((s) => s.durationMs !== null && !s.argv).sort((a, b) => b.durationMs! - a.durationMs!)[0];
    const took = `${inv.command} of ${pod(inv)} took ${formatMs(inv.durationMs)}${top ? `, ${formatMs(top.durationMs)} of it in ${top.plugin}` : ''}`;
    out.push({
      kind: 'slow', count: calls.length,
      title: `${calls.length === 1 ? took : `${calls.length} ${inv.command}s on network ${inv.network} were slow; the slowest: ${took}`} (${baseline.describe()})`,
      evidence: worst.slice(0, EVIDENCE).map((i) => `${at(i)}  ${i.command} ${pod(i)} on network ${i.network}: ${i.steps.filter((s) => s.depth === 0).map((s) => `${s.plugin} ${formatMs(s.durationMs)}`).join(' · ')}`),
      next: `cni-trace show --pod ${pod(inv)}${top ? `   (what ${top.plugin} did: its nested calls and commands, its stderr)` : ''}`,
    });
  }
  // Steps (plugins and commands) slower than their own baseline.
  const samples = new Map<string, number[]>();
  for (const inv of finished) for (const s of inv.steps) if (s.durationMs !== null) (samples.get(stepKey(s)) ?? samples.set(stepKey(s), []).get(stepKey(s))!).push(s.durationMs);
  const slow = new Map<string, Array<{ inv: Invocation; step: Step }>>();
  const cuts = new Map<string, { p50: number; p95: number; n: number }>();
  for (const [key, xs] of samples) if (xs.length >= MIN_SAMPLES) cuts.set(key, { p50: percentile(xs, 50), p95: percentile(xs, 95), n: xs.length });
  for (const inv of finished) {
    for (const s of inv.steps) {
      const cut = cuts.get(stepKey(s));
      if (!cut || s.durationMs === null || s.durationMs <= cut.p95 || s.durationMs < STEP_FACTOR * cut.p50 || s.durationMs < cut.p50 + STEP_MARGIN_MS) continue;
      const list = slow.get(stepKey(s)) ?? [];
      list.push({ inv, step: s });
      slow.set(stepKey(s), list);
    }
  }
  for (const [key, hits] of slow) {
    const cut = cuts.get(key)!;
    const s = hits[0]!.step;
    const worst = [...hits].sort((a, b) => b.step.durationMs! - a.step.durationMs!);
    const what = s.argv ? `command ${s.plugin} (run by a plugin)` : `plugin ${s.plugin}`;
    out.push({
      kind: 'slow', count: hits.length,
      title: `${what} ${s.command} slower than its own baseline in ${hits.length} call${hits.length === 1 ? '' : 's'}: up to ${formatMs(worst[0]!.step.durationMs)} against a median of ${formatMs(cut.p50)} (p95 ${formatMs(cut.p95)}, ${cut.n} runs)`,
      evidence: worst.slice(0, EVIDENCE).map(({ inv, step }) => `${at(inv)}  ${pod(inv)}: ${step.plugin} ${formatMs(step.durationMs)}${step.argv ? `  ${step.argv.join(' ')}` : ''}${step.stderr?.text ? `  stderr: ${firstLine(step.stderr.text)}` : ''}`),
      next: s.argv
        ? hits.some(({ step }) => /xtables lock/.test(step.stderr?.text ?? ''))
          ? `cni-trace show --pod ${pod(worst[0]!.inv)}   (it waited on the xtables lock: another program held it; find who runs iptables on this node then)`
          : `cni-trace show --pod ${pod(worst[0]!.inv)}   (no lock wait in its stderr: the time went to the kernel or to the size of the rule set; compare its runs there)`
        : worst[0]!.inv.steps.some((c) => c.argv && c.parentSpanId === worst[0]!.step.spanId)
          ? `cni-trace show --pod ${pod(worst[0]!.inv)}   (the commands ${s.plugin} ran, each with its time and stderr)`
          : `cni-trace show --pod ${pod(worst[0]!.inv)}; with "commands": true in the wrapper entry, what ${s.plugin} runs shows under it`,
    });
  }
  return out;
}

function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.length > 120 ? `${line.slice(0, 120)}…` : line;
}

/** The step a failure started in: the deepest failed one (a nested IPAM call before its caller). */
function failedStep(inv: Invocation): Step | undefined {
  return inv.steps.filter((s) => s.status === 'error' && !s.argv).sort((a, b) => b.depth - a.depth)[0];
}

function errorFindings(all: readonly Invocation[]): Finding[] {
  const groups = new Map<string, { plugin: string; msg: string; hits: Invocation[] }>();
  for (const inv of all) {
    if (inv.status !== 'error') continue;
    const step = failedStep(inv);
    const plugin = step?.plugin ?? 'cni-trace';
    const msg = step?.error?.msg ?? inv.error?.msg ?? `exit code ${step?.exitCode ?? inv.exitCode}`;
    const key = `${plugin}\u0000${msg}`;
    const g = groups.get(key) ?? { plugin, msg, hits: [] };
    g.hits.push(inv);
    groups.set(key, g);
  }
  return [...groups.values()].sort((a, b) => b.hits.length - a.hits.length).map(({ plugin, msg, hits }) => {
    const first = hits[0]!;
    const last = hits[hits.length - 1]!;
    return {
      kind: 'errors' as const, count: hits.length,
      title: `${plugin} failed ${hits.length} time${hits.length === 1 ? '' : 's'}: ${msg}`,
      evidence: [`first: ${at(first)}  ${first.command} ${pod(first)}`, ...(hits.length > 1 ? [`last:  ${at(last)}  ${last.command} ${pod(last)}`] : []), `pods hit: ${new Set(hits.map(pod)).size}`],
      next: `cni-trace show --pod ${pod(last)}   (the failing step's config and stderr); cni-trace tail --status error --plugin ${plugin}`,
    };
  });
}

function abandonedFindings(all: readonly Invocation[]): Finding[] {
  const gone = all.filter((i) => i.status === 'abandoned');
  if (gone.length === 0) return [];
  return [{
    kind: 'abandoned', count: gone.length,
    title: `${gone.length} call${gone.length === 1 ? '' : 's'} began and never ended: the runtime gave up at its deadline and killed the plugin`,
    evidence: gone.slice(-EVIDENCE).map((inv) => {
      const running = inv.steps.filter((s) => s.status === 'abandoned' || s.status === 'in-flight').sort((a, b) => b.depth - a.depth)[0];
      return `${at(inv)}  ${inv.command} ${pod(inv)}${running ? `: ${running.plugin} was still running` : ''}`;
    }),
    next: `cni-trace show --pod ${pod(gone[gone.length - 1]!)}   (the step that never ended is the one to look at; the runtime retries, see "retried")`,
  }];
}

function leakFindings(all: readonly Invocation[], netnsGone: (path: string) => boolean): Finding[] {
  const live = new Map<string, Invocation>();
  const added = new Set<string>();
  const delWithoutAdd: Invocation[] = [];
  for (const inv of all) {
    const key = attachment(inv);
    if (inv.command === 'ADD') added.add(key);
    if (inv.command === 'ADD' && inv.status === 'ok') live.set(key, inv);
    else if (inv.command === 'DEL') {
      if (!added.has(key)) delWithoutAdd.push(inv);
      live.delete(key);
    }
  }
  const leaked = [...live.values()].filter((inv) => inv.netns !== '' && netnsGone(inv.netns));
  const out: Finding[] = [];
  if (leaked.length > 0) {
    out.push({
      kind: 'leaked', count: leaked.length,
      title: `${leaked.length} attachment${leaked.length === 1 ? ' was' : 's were'} ADDed and never DELeted, and the pod's network namespace is gone: leaked addresses`,
      evidence: leaked.slice(0, EVIDENCE).map((inv) => `${at(inv)}  ADD ${pod(inv)} container ${inv.containerId.slice(0, 12)} ${inv.ifname} on ${inv.network}: ${resultIps(inv).join(', ') || 'no address'}; netns ${inv.netns} no longer exists`),
      next: 'the runtime never sent DEL: run its garbage collection (CNI GC), or DEL the attachment with the runtime\'s container id, so IPAM frees the address',
    });
  }
  if (delWithoutAdd.length > 0) {
    out.push({
      kind: 'leaked', count: delWithoutAdd.length,
      title: `${delWithoutAdd.length} DEL${delWithoutAdd.length === 1 ? '' : 's'} without an ADD in the window`,
      evidence: delWithoutAdd.slice(0, EVIDENCE).map((inv) => `${at(inv)}  DEL ${pod(inv)} container ${inv.containerId.slice(0, 12)} on ${inv.network}`),
      next: 'harmless when the ADD was before the window (try a longer --since); otherwise the runtime is cleaning up a sandbox it never set up',
    });
  }
  return out;
}

function retryFindings(all: readonly Invocation[]): Finding[] {
  const adds = new Map<string, Invocation[]>();
  for (const inv of all) {
    if (inv.command !== 'ADD' || inv.containerId === '') continue;
    const list = adds.get(inv.containerId) ?? [];
    list.push(inv);
    adds.set(inv.containerId, list);
  }
  return [...adds.values()].filter((l) => l.length >= RETRIES).map((l) => ({
    kind: 'retried' as const, count: l.length,
    title: `${pod(l[0]!)}'s sandbox ${l[0]!.containerId.slice(0, 12)} was ADDed ${l.length} times: the runtime is retrying it`,
    evidence: l.slice(-EVIDENCE).map((inv) => `${at(inv)}  ADD ${inv.status}${inv.error ? `: ${inv.error.msg}` : ''}`),
    next: `cni-trace tail --pod ${l[0]!.pod.name ?? l[0]!.containerId}   (why each attempt failed; fix that and the retries stop)`,
  }));
}

/** IPv4 as a number; null for anything else. */
function ipv4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  return parts.some((p) => p > 255) ? null : ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

interface Range { readonly label: string; readonly start: number; readonly end: number; readonly gateway: number }

/** host-local's IPv4 ranges of an ADD's delegates, as host-local reads them (ranges, or the old subnet). */
export function hostLocalRanges(stdin: Json | undefined): Range[] {
  const out: Range[] = [];
  const delegates = (stdin as JsonObject | null)?.delegates;
  if (!Array.isArray(delegates)) return out;
  for (const d of delegates) {
    const ipam = (d as JsonObject | null)?.ipam as JsonObject | undefined;
    if (!ipam || ipam.type !== 'host-local') continue;
    const sets = Array.isArray(ipam.ranges) ? ipam.ranges.flat() : [ipam];
    for (const r of sets as JsonObject[]) {
      const m = typeof r?.subnet === 'string' ? /^([\d.]+)\/(\d+)$/.exec(r.subnet) : null;
      const base = m ? ipv4(m[1]!) : null;
      if (!m || base === null || Number(m[2]) > 30) continue;
      const size = 2 ** (32 - Number(m[2]));
      const network = base - (base % size);
      const start = typeof r.rangeStart === 'string' ? ipv4(r.rangeStart) ?? network + 1 : network + 1;
      const end = typeof r.rangeEnd === 'string' ? ipv4(r.rangeEnd) ?? network + size - 2 : network + size - 2;
      const gateway = typeof r.gateway === 'string' ? ipv4(r.gateway) ?? network + 1 : network + 1;
      out.push({ label: `${r.subnet}${r.rangeStart || r.rangeEnd ? ` (${r.rangeStart ?? ''}–${r.rangeEnd ?? ''})` : ''}`, start, end, gateway });
    }
  }
  return out;
}

function resultIps(inv: Invocation): string[] {
  return FACTS.get(inv)?.ips ?? [];
}

function ipsOf(result: string | undefined): string[] {
  try {
    const r = JSON.parse(result ?? '') as { ips?: Array<{ address?: string }> };
    return (r.ips ?? []).map((i) => String(i.address ?? '').replace(/\/\d+$/, '')).filter((a) => a !== '');
  } catch {
    return [];
  }
}

function ipamFindings(all: readonly Invocation[]): Finding[] {
  // Per network: its ranges (from the latest ADD's entry), the addresses held by ADDs not yet DELeted, out-of-addresses errors.
  type Held = { ips: string[]; inv: Invocation };
  const nets = new Map<string, { ranges: Range[]; held: Map<string, Held>; out: Array<{ inv: Invocation; holders: Held[] }> }>();
  for (const inv of all) {
    const n = nets.get(inv.network) ?? { ranges: [] as Range[], held: new Map<string, Held>(), out: [] };
    nets.set(inv.network, n);
    if (inv.command === 'ADD') {
      const ranges = FACTS.get(inv)?.ranges ?? [];
      if (ranges.length > 0) n.ranges = ranges;
      // Who held the range when it said no: by the time anyone looks they may be gone.
      if (inv.status === 'ok') n.held.set(attachment(inv), { ips: resultIps(inv), inv });
      else if (/no IP addresses available|no more addresses|exhausted/i.test(failedStep(inv)?.error?.msg ?? inv.error?.msg ?? '')) n.out.push({ inv, holders: [...n.held.values()] });
    } else if (inv.command === 'DEL') n.held.delete(attachment(inv));
  }
  const out: Finding[] = [];
  for (const [network, n] of nets) {
    for (const r of n.ranges) {
      const capacity = r.end - r.start + 1 - (r.gateway >= r.start && r.gateway <= r.end ? 1 : 0);
      if (capacity <= 0) continue;
      const inRange = (h: Held): boolean => h.ips.some((ip) => { const v = ipv4(ip); return v !== null && v >= r.start && v <= r.end; });
      const holders = [...n.held.values()].filter(inRange);
      const used = holders.length;
      if (used < capacity * NEAR_FULL && n.out.length === 0) continue;
      const full = used >= capacity || n.out.length > 0;
      const last = n.out[n.out.length - 1];
      const then = last ? last.holders.filter(inRange) : [];
      out.push({
        kind: 'ipam', count: Math.max(used, then.length),
        title: `network ${network}: host-local range ${r.label} is ${full ? 'exhausted' : 'nearly exhausted'}: ${used} of ${capacity} address${capacity === 1 ? '' : 'es'} held${n.out.length ? `, ${n.out.length} ADD${n.out.length === 1 ? '' : 's'} refused` : ''}`,
        evidence: [
          ...holders.slice(0, EVIDENCE).map((h) => `held by ${pod(h.inv)} (${h.ips.join(', ')}) since ${at(h.inv)}`),
          ...n.out.slice(-EVIDENCE).map(({ inv }) => `${at(inv)}  ADD ${pod(inv)} failed: ${failedStep(inv)?.error?.msg ?? inv.error?.msg ?? ''}`),
          ...(last && used < capacity ? [`when it was refused the range was held by ${then.map((h) => `${pod(h.inv)} (${h.ips.join(', ')})`).join(', ') || 'addresses allocated before the window'}`] : []),
        ],
        next: 'widen the range (subnet, rangeStart/rangeEnd) or free addresses: look for leaked attachments (pods gone without a DEL) holding some',
      });
    }
  }
  return out;
}
