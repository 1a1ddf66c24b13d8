/** Durations as people type them on the command line: "500ms", "30s", "5m", "2h". */

/** Milliseconds for "500ms", "2s", "5m", "1h"; throws an Error naming the bad text. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: "${text}" (use e.g. 500ms, 30s, 5m, 2h)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})$/;

/**
 * `--since` as people type it: a duration back from `nowMs` ("5m") or an RFC 3339 time
 * ("2026-12-02T15:04:05Z", with an offset, or the journal's own nanosecond form). Epoch ms;
 * throws an Error naming the bad text.
 */
export function parseSince(text: string, nowMs: number): number {
  const t = text.trim();
  if (RFC3339.test(t)) {
    const ms = Date.parse(t.replace(/(\.\d{3})\d+/, '$1'));
    if (!Number.isNaN(ms)) return ms;
  }
  try {
    return nowMs - parseDuration(t);
  } catch {
    throw new Error(`not a duration or an RFC 3339 time: "${text}" (use e.g. 30s, 5m, 2h or 2026-12-02T15:04:05Z)`);
  }
}
