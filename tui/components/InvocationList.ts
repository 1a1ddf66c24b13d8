/**
 * The live list: a title line, then as many rows as fit. The window is anchored at the head
 * of the list (the top, or the bottom when following there) and scrolls only as far as the
 * cursor needs, so new invocations come into view unless the person has moved away.
 */
import { Box, Text } from 'ink';
import React from 'react';
import type { Invocation } from '../../src/journal/invocations.ts';
import { cellWidth, fit, InvocationRow, rowLayout, TITLES } from './InvocationRow.ts';

const h = React.createElement;

/** Rows [start, end) of `count` shown in `height` lines with the cursor in view. */
function listWindow(count: number, cursor: number, height: number, anchorBottom: boolean): { start: number; end: number } {
  if (count <= height) return { start: 0, end: count };
  const start = anchorBottom ? Math.min(Math.max(0, cursor), count - height) : Math.max(0, cursor - height + 1);
  return { start, end: start + height };
}

export interface InvocationListProps {
  /** Every row of the list, top to bottom (visibleRows). */
  readonly rows: readonly Invocation[];
  /** Index of the cursor's row in `rows`, -1 for none. */
  readonly cursor: number;
  /** Lines for rows, not counting the title line. */
  readonly height: number;
  /** Terminal width: decides the columns (rowLayout). */
  readonly columns: number;
  /** The clock (epoch ms): in-flight rows' elapsed time. */
  readonly nowMs: number;
  /** Clock ticks so far: the spinner's frame. */
  readonly ticks: number;
  /** Is an invocation slow (state.ts slowRule). */
  readonly isSlow: (inv: Invocation) => boolean;
  /** The head is at the bottom: keep the window there. */
  readonly followBottom: boolean;
  /** What to say when no row is shown. */
  readonly emptyText: string;
}

/** Title line and rows; always `height + 1` lines, so the screen does not jump. */
export function InvocationList(props: InvocationListProps): React.ReactElement {
  const { start, end } = listWindow(props.rows.length, props.cursor, props.height, props.followBottom);
  // Sized to the rows on screen, so a long pod name elsewhere in the list does not widen these.
  const layout = rowLayout(props.columns, props.rows.slice(start, end));
  const titles = layout.columns.map((id) => fit(TITLES[id], cellWidth(layout, id), id === 'elapsed')).join(' ');
  const body = props.rows.length === 0
    ? [h(Text, { key: 'empty', dimColor: true, wrap: 'truncate-end' }, props.emptyText)]
    : props.rows.slice(start, end).map((inv, i) => h(InvocationRow, {
      key: inv.spanId, inv, layout, nowMs: props.nowMs, ticks: props.ticks, slow: props.isSlow(inv), selected: start + i === props.cursor,
    }));
  return h(Box, { flexDirection: 'column', height: props.height + 1, width: props.columns },
    h(Text, { bold: true, wrap: 'truncate-end' }, titles),
    ...body);
}
