/**
 * The node agent: follows the journal, turns each finished invocation into a trace and ships
 * it. Nothing is lost and nothing is sent twice in normal operation:
 *  - the checkpoint (state dir) holds, per journal file, an offset before which every record
 *    belongs to an exported invocation, plus the ids of recently exported invocations whose
 *    records may lie after it; it is saved only after the collector accepted a batch;
 *  - a failed export keeps its batch and retries with backoff; reading pauses while the
 *    queue is full, so memory stays bounded and the journal is the buffer;
 *  - a restarted agent resumes from the checkpoint; only the batch in flight when it was
 *    killed can arrive twice.
 * Telemetry never throws into the node: failures are values, counters and log lines.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { redactUrlsIn } from '../config/redact.ts';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { writeFileAtomic } from '../fs/atomic-write.ts';
import { onRefusedFile } from '../journal/files.ts';
import { invocationIdOf, recordTimeNs } from '../journal/identity.ts';
import { InvocationIndex, type Invocation } from '../journal/invocations.ts';
import { loadCheckpoint, resumeOffsets, writeCheckpoint, type Checkpoint } from './checkpoint.ts';
import type { AgentConfig } from './config.ts';
import type { SpanSink } from './exporter.ts';
import { AddLinks, type SpanRef } from './links.ts';
import { spansFromInvocation } from './spans.ts';
import { JournalSource, type PositionedRecord } from './source.ts';
import { STATUS_FILE, type AgentStatus } from './status.ts';

/** Bounds that keep memory flat however far behind the agent is. */
const MAX_QUEUE = 2048;
/** Journal bytes held for unexported invocations before reading pauses (records carry up to 64 KiB captures). */
const MAX_PENDING_BYTES = 24 << 20;
const READ_BUDGET = 2 << 20;
const EXPORTED_MEMORY = 20_000;
const MAX_BACKOFF_MS = 30_000;

export interface AgentDeps {
  readonly sink: SpanSink;
  readonly resource: Resource;
  readonly log: (line: string) => void;
  readonly nowMs?: () => number;
  /** Told once per invocation, when it is ready for export (ended or abandoned): the metrics. */
  readonly onReady?: (inv: Invocation) => void;
}

export class Agent {
  private readonly cfg: AgentConfig;
  private readonly deps: AgentDeps;
  private readonly source: JournalSource;
  private readonly abandonedIds = new Set<string>();
  private readonly index = new InvocationIndex((_pid, spanId) => !this.abandonedIds.has(spanId));
  /** Positions of each pending invocation's records; and per file, how many pending at each offset. */
  private readonly positions = new Map<string, Array<[string, number, number]>>();
  private pendingBytes = 0;
  private readonly pendingAt = new Map<string, Map<number, number>>();
  /** Invocations not yet ended: the time of their latest record (epoch ns). */
  private readonly open = new Map<string, bigint>();
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly endedAtNs = new Map<string, bigint>();
  private readonly exported = new Set<string>();
  private readonly exportedOrder: string[] = [];
  private readonly adds = new AddLinks();
  /** DEL id → the ADD it undoes. */
  private readonly delLinks = new Map<string, SpanRef>();
  private backoffMs = 0;
  private retryAtMs = 0;
  private dirty = false;
  private readonly startedAt = new Date().toISOString();
  private stats = { recordsRead: 0, invocationsExported: 0, spansExported: 0, retries: 0, dropped: 0, refused: 0 };
  private lastError: string | null = null;

  constructor(cfg: AgentConfig, deps: AgentDeps) {
    this.cfg = cfg;
    this.deps = deps;
    mkdirSync(cfg.stateDir, { recursive: true, mode: 0o700 });
    const checkpoint = loadCheckpoint(cfg.stateDir, deps.log);
    for (const id of checkpoint.exported) this.rememberExported(id);
    this.source = new JournalSource(cfg.journal, checkpoint.files, (file, at) => {
      deps.log(`warning: skipped a line that is not a whole record of a known shape (${file} at byte ${at})`);
    });
    onRefusedFile((path, why) => deps.log(`warning: not reading ${path}: ${why}`));
    if (Object.keys(checkpoint.files).length > 0) this.adds.scan(cfg.journal, checkpoint.files);
  }

  private now(): number {
    return this.deps.nowMs?.() ?? Date.now();
  }

  private rememberExported(id: string): void {
    if (this.exported.has(id)) return;
    this.exported.add(id);
    this.exportedOrder.push(id);
    if (this.exportedOrder.length > EXPORTED_MEMORY) this.exported.delete(this.exportedOrder.shift()!);
  }

  private ingest(pr: PositionedRecord): void {
    const { rec } = pr;
    const id = invocationIdOf(rec);
    this.stats.recordsRead++;
    if (this.exported.has(id)) return; // exported before a restart or as abandoned: done
    this.index.add(rec);
    const list = this.positions.get(id) ?? [];
    list.push([pr.file, pr.at, pr.bytes]);
    this.positions.set(id, list);
    this.pendingBytes += pr.bytes;
    const perFile = this.pendingAt.get(pr.file) ?? new Map<number, number>();
    perFile.set(pr.at, (perFile.get(pr.at) ?? 0) + 1);
    this.pendingAt.set(pr.file, perFile);
    const add = this.adds.see(rec);
    if (add) this.delLinks.set(id, add);
    if (rec.rec === 'invocation.end') {
      this.open.delete(id);
      this.endedAtNs.set(id, BigInt(rec.endNs));
      this.enqueue(id);
    } else if (!this.queued.has(id)) {
      const t = recordTimeNs(rec);
      if (t > (this.open.get(id) ?? 0n)) this.open.set(id, t);
    }
  }

  private enqueue(id: string): void {
    if (this.queued.has(id)) return;
    this.queued.add(id);
    this.queue.push(id);
    if (this.deps.onReady) {
      const inv = this.index.get(id);
      if (inv?.startNs) this.deps.onReady(inv);
    }
  }

  /** Invocations begun and not yet ended (nor given up as abandoned). */
  get inFlight(): number {
    return this.open.size;
  }

  /** Begun, never ended, and silent for longer than the grace period: abandoned. */
  private markAbandoned(): void {
    const nowNs = BigInt(this.now()) * 1_000_000n;
    const grace = BigInt(Math.round(this.cfg.abandonAfterMs)) * 1_000_000n;
    for (const [id, lastNs] of this.open) {
      if (nowNs - lastNs < grace) continue;
      this.open.delete(id);
      this.abandonedIds.add(id);
      this.endedAtNs.set(id, lastNs);
      this.enqueue(id);
    }
  }

  private spansFor(id: string): ReadableSpan[] {
    const inv = this.index.get(id);
    if (!inv) return [];
    const addLink = this.delLinks.get(id);
    return spansFromInvocation(inv, {
      resource: this.deps.resource, nodeName: this.cfg.nodeName,
      ...(addLink ? { addLink } : {}),
      ...(this.abandonedIds.has(id) ? { abandonedAtNs: String(this.endedAtNs.get(id) ?? 0n) } : {}),
    });
  }

  /** Forgets exported invocations and frees their positions. */
  private commit(ids: readonly string[]): void {
    for (const id of ids) {
      for (const [file, at, bytes] of this.positions.get(id) ?? []) {
        this.pendingBytes -= bytes;
        const perFile = this.pendingAt.get(file);
        const n = perFile?.get(at) ?? 0;
        if (n <= 1) perFile?.delete(at);
        else perFile?.set(at, n - 1);
      }
      this.positions.delete(id);
      this.index.forget(id);
      this.queued.delete(id);
      this.abandonedIds.delete(id);
      this.endedAtNs.delete(id);
      this.delLinks.delete(id);
      this.rememberExported(id);
    }
    this.dirty = true;
  }

  private saveCheckpoint(): void {
    const cp: Checkpoint = { version: 1, files: resumeOffsets(this.source.offsets(), this.pendingAt), exported: this.exportedOrder };
    writeCheckpoint(this.cfg.stateDir, cp);
    this.dirty = false;
  }

  /**
   * One round: read what is new, find abandoned calls, export what is ready. Never throws.
   * Returns how many records it read (0: caught up, or paused while the queue is full).
   */
  async tick(): Promise<number> {
    const read = this.read();
    await this.exportReady();
    return read;
  }

  /**
   * Reads what is new and finds abandoned calls (the metrics are recorded here, as each call is
   * queued). The daemon calls it while an export is still in flight, so a slow or failing
   * collector does not hold up reading — nor the metrics a Prometheus scrapes meanwhile.
   */
  read(): number {
    let read = 0;
    // Memory stays bounded: while exports are behind, stop reading (the journal is the buffer).
    // With nothing queued, read on: the ends of open invocations must be found.
    const full = this.queue.length >= MAX_QUEUE || (this.queue.length > 0 && this.pendingBytes > MAX_PENDING_BYTES);
    if (!full) {
      for (const pr of this.source.poll(READ_BUDGET)) {
        this.ingest(pr);
        read++;
      }
    }
    this.markAbandoned();
    return read;
  }

  /** Exports the queued invocations batch by batch until done, refused or backing off. Never throws. */
  async exportReady(): Promise<void> {
    while (this.queue.length > 0 && this.now() >= this.retryAtMs) {
      const batch = this.queue.slice(0, this.cfg.batchSize);
      const spans = batch.flatMap((id) => this.spansFor(id));
      const empty = batch.filter((id) => !this.index.get(id)?.startNs);
      this.stats.dropped += empty.length; // an end whose begin was pruned away: nothing to anchor a trace
      const outcome = spans.length > 0 ? await this.deps.sink.exportSpans(spans) : { ok: true as const };
      if (outcome.ok) {
        this.queue.splice(0, batch.length);
        this.commit(batch);
        this.stats.invocationsExported += batch.length - empty.length;
        this.stats.spansExported += spans.length;
        this.backoffMs = 0;
        this.lastError = null;
        // After every accepted batch: a kill can then re-send at most the batch in flight.
        this.saveCheckpointSafely();
        continue;
      }
      this.lastError = outcome.error;
      if (!outcome.retryable) {
        this.deps.log(`error: the collector refused a batch of ${batch.length} invocations for good, dropping it: ${outcome.error}`);
        this.queue.splice(0, batch.length);
        this.commit(batch);
        this.stats.dropped += batch.length;
        this.stats.refused += batch.length;
        continue;
      }
      this.stats.retries++;
      this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs ? this.backoffMs * 2 : 500);
      this.retryAtMs = this.now() + this.backoffMs;
      this.deps.log(`warning: export failed, retrying in ${this.backoffMs} ms: ${outcome.error}`);
      break;
    }
    if (this.dirty) this.saveCheckpointSafely();
  }

  private saveCheckpointSafely(): void {
    try { this.saveCheckpoint(); } catch (e) { this.deps.log(`warning: cannot save checkpoint: ${(e as Error).message}`); }
  }

  /** Nothing readable, queued or waiting: --once may stop. In-flight calls wait for the grace period. */
  idle(): boolean {
    return this.queue.length === 0 && this.source.backlogBytes() === 0;
  }

  status(): AgentStatus {
    const oldest = [...this.endedAtNs.values()].reduce((m, v) => (m === null || v < m ? v : m), null as bigint | null);
    const nowNs = BigInt(this.now()) * 1_000_000n;
    return {
      pid: process.pid, startedAt: this.startedAt, updatedAt: new Date(this.now()).toISOString(), endpoint: redactUrlsIn(this.cfg.tracesUrl),
      ...this.stats, skippedLines: this.source.skipped, queued: this.queue.length, inFlight: this.open.size,
      lagSeconds: oldest === null ? 0 : Math.max(0, Number(nowNs - oldest) / 1e9), backlogBytes: this.source.backlogBytes(), pendingBytes: this.pendingBytes, lastError: this.lastError === null ? null : redactUrlsIn(this.lastError),
    };
  }

  /** Writes status.json for `cni-trace agent --status`. */
  saveStatus(): AgentStatus {
    const s = this.status();
    try { writeFileAtomic(join(this.cfg.stateDir, STATUS_FILE), JSON.stringify(s, null, 2) + '\n', 0o644); } catch { /* status is best effort */ }
    return s;
  }
}
