/**
 * Text for people on a terminal, shared by tail, show, stats and the TUI: durations, times,
 * status colours, and escaping so that journal text never drives the terminal.
 */

/** RFC 3339 UTC with nanoseconds: 2026-11-28T07:42:14.423916188Z. */
export function rfc3339(ns: string): string {
  const big = BigInt(ns);
  const secs = big / 1_000_000_000n;
  const frac = (big % 1_000_000_000n).toString().padStart(9, '0');
  return new Date(Number(secs) * 1000).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
}

/** A duration for people: 850µs, 12.3ms, 1.24s, 2m05s. */
export function formatMs(ms: number | null): string {
  if (ms === null || Number.isNaN(ms)) return '-';
  if (ms < 1) return `${Math.round(ms * 1000)}µs`;
  if (ms < 1000) return `${ms.toFixed(1)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}

const COLOURS = { ok: '\x1b[32m', error: '\x1b[31m', 'in-flight': '\x1b[36m', abandoned: '\x1b[33m', skipped: '\x1b[2m' } as const;

/** `text` in the colour of a status (green ok, red error, …) when `colour`, else as it is. */
export function paintStatus(text: string, status: keyof typeof COLOURS, colour: boolean): string {
  return colour ? `${COLOURS[status]}${text}\x1b[0m` : text;
}

/** Escapes control characters so journal text never drives the terminal. */
export function escapeControl(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** One argv word as a shell would need it typed: bare when it is plain, else in single quotes. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
