/** What the agent reports about itself: status.json (for `agent --status` and doctor) and its log line. */

export const STATUS_FILE = 'status.json';

export interface AgentStatus {
  readonly pid: number;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly endpoint: string;
  readonly recordsRead: number;
  readonly skippedLines: number;
  readonly invocationsExported: number;
  readonly spansExported: number;
  readonly retries: number;
  /** Invocations not exported: refused for good by the collector, or an end without its begin. */
  readonly dropped: number;
  /** Of those, the ones the collector refused (a 4xx other than 429). */
  readonly refused: number;
  readonly queued: number;
  readonly inFlight: number;
  /** Seconds since the oldest finished, not yet exported invocation ended (0 when none). */
  readonly lagSeconds: number;
  readonly backlogBytes: number;
  /** Journal bytes of invocations read and not yet exported: what memory holds for them. */
  readonly pendingBytes: number;
  readonly lastError: string | null;
}

/** The status line the agent logs. */
export function statusLine(s: AgentStatus): string {
  return `status: read ${s.recordsRead} records, exported ${s.invocationsExported} invocations (${s.spansExported} spans), retries ${s.retries}, dropped ${s.dropped}, skipped lines ${s.skippedLines}, queued ${s.queued}, in flight ${s.inFlight}, lag ${s.lagSeconds.toFixed(1)} s, backlog ${s.backlogBytes} bytes${s.lastError ? `, last error: ${s.lastError}` : ''}`;
}
