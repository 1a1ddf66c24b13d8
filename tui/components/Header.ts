/**
 * The two header lines: where we are (node, journal) and whether the list is live or paused;
 * then the figures of the rows the list shows — how many, invocations per minute within the
 * window, ADD p50/p95, errors, in-flight — so the header never contradicts the list. Narrow
 * terminals get the short forms.
 */
import { Box, Text } from 'ink';
import React from 'react';
import type { ShownSummary } from '../../src/view/stats.ts';
import { escapeControl, formatMs } from '../../src/view/text.ts';

const h = React.createElement;

/** A window length for people: 5m, 1h, 42s, 2m30s. */
function formatWindow(ms: number): string {
  const secs = Math.round(ms / 1000);
  if (secs % 3600 === 0) return `${secs / 3600}h`;
  if (secs % 60 === 0) return `${secs / 60}m`;
  return secs < 60 ? `${secs}s` : `${Math.floor(secs / 60)}m${String(secs % 60).padStart(2, '0')}s`;
}

export interface HeaderProps {
  /** The node this journal belongs to. */
  readonly nodeName: string;
  /** The journal directory read. */
  readonly journal: string;
  /** shownSummary over the rows the list shows. */
  readonly summary: ShownSummary;
  /** The summary's window (ms), named in the line: shorter than configured when older invocations are not held. */
  readonly windowMs: number;
  /** Terminal width. */
  readonly columns: number;
  /** Invocations first seen since pausing; null while the list is live. */
  readonly pausedArrivals: number | null;
}

/** Two lines, never wider than `columns`. */
export function Header(props: HeaderProps): React.ReactElement {
  const { summary: sum, columns } = props;
  const mode = props.pausedArrivals === null ? 'live' : `PAUSED · ${props.pausedArrivals} new`;
  const where = columns >= 60
    ? `cni-trace · node ${escapeControl(props.nodeName)} · journal ${escapeControl(props.journal)}`
    : escapeControl(props.nodeName);
  const rate = `${sum.perMinute.toFixed(1)}/min`;
  const long = `${sum.shown} shown · ${rate} (last ${formatWindow(props.windowMs)}) · ADD p50 ${formatMs(sum.addP50)} p95 ${formatMs(sum.addP95)} · `;
  const short = `${sum.shown} shown ${rate} p50 ${formatMs(sum.addP50)} p95 ${formatMs(sum.addP95)} `;
  const fits = long.length + `errors ${sum.errors} · in-flight ${sum.inFlight}`.length <= columns;
  return h(Box, { flexDirection: 'column', width: columns },
    h(Box, { justifyContent: 'space-between', width: columns },
      h(Box, { flexShrink: 1 }, h(Text, { bold: true, wrap: 'truncate-end' }, where)),
      h(Text, { inverse: props.pausedArrivals !== null, color: props.pausedArrivals === null ? 'green' : 'yellow' }, ` ${mode}`)),
    h(Text, { wrap: 'truncate-end' },
      fits ? long : short,
      h(Text, { color: sum.errors > 0 ? 'red' : undefined }, `${fits ? 'errors' : 'err'} ${sum.errors}`),
      fits ? ' · ' : ' ',
      h(Text, { color: sum.inFlight > 0 ? 'cyan' : undefined }, `${fits ? 'in-flight' : 'run'} ${sum.inFlight}`)));
}
