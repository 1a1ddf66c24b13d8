/**
 * One invocation as a list row: time, command, namespace/pod, container, network, interface,
 * elapsed, status. Cells have fixed widths and the pod takes what is left; columns that leave
 * the pod too little are dropped (rowLayout). Journal text is escaped before it is shown.
 */
import { Text } from 'ink';
import React from 'react';
import type { Invocation } from '../../src/journal/invocations.ts';
import { elapsedMs } from '../../src/view/filter.ts';
import { runningStep } from '../state.ts';
import { escapeControl, formatMs } from '../../src/view/text.ts';

const h = React.createElement;

export type ColumnId = 'time' | 'command' | 'pod' | 'container' | 'network' | 'ifname' | 'elapsed' | 'status';

const WIDTH: Readonly<Record<Exclude<ColumnId, 'pod'>, number>> = { time: 12, command: 6, container: 12, network: 8, ifname: 5, elapsed: 7, status: 9 };
export const TITLES: Readonly<Record<ColumnId, string>> = {
  time: 'TIME (UTC)', command: 'CMD', pod: 'NAMESPACE/POD', container: 'CONTAINER', network: 'NETWORK', ifname: 'IF', elapsed: 'ELAPSED', status: 'STATUS',
};
const ALL: readonly ColumnId[] = ['time', 'command', 'pod', 'container', 'network', 'ifname', 'elapsed', 'status'];
/** Below 60 columns: what a row cannot do without. */
const NARROW: readonly ColumnId[] = ['time', 'command', 'pod', 'status'];
const DROPPED_FIRST: readonly ColumnId[] = ['network', 'ifname', 'container'];
const MIN_POD = 12;
const SPINNER = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';

export interface RowLayout {
  /** The cells shown, left to right. */
  readonly columns: readonly ColumnId[];
  /** Width of the pod cell: what the others leave. */
  readonly podWidth: number;
}

/** The columns shown at this terminal width (all of them from 80), and the pod cell's width. */
export function rowLayout(width: number): RowLayout {
  const podWidth = (cols: readonly ColumnId[]): number =>
    width - cols.reduce((sum, c) => sum + (c === 'pod' ? 0 : WIDTH[c]), 0) - (cols.length - 1);
  let columns = width < 60 ? NARROW : ALL;
  for (const drop of DROPPED_FIRST) if (podWidth(columns) < MIN_POD) columns = columns.filter((c) => c !== drop);
  return { columns, podWidth: Math.max(1, podWidth(columns)) };
}

/** `text` in exactly `width` columns: padded, or cut with an ellipsis. */
export function fit(text: string, width: number, alignRight = false): string {
  const chars = [...text];
  if (chars.length > width) return width <= 1 ? chars.slice(0, width).join('') : `${chars.slice(0, width - 1).join('')}…`;
  return alignRight ? text.padStart(width) : text.padEnd(width);
}

/** A cell's width in this layout. */
export function cellWidth(layout: RowLayout, id: ColumnId): number {
  return id === 'pod' ? layout.podWidth : WIDTH[id];
}

/** Text and colour of the status cell: `error 7`, `abandoned`, `slow`, `ok`, or a spinner and the plugin running now (`wrapper` between plugins). */
export function statusCell(inv: Invocation, nowMs: number, ticks: number, slowMs: number): { text: string; color: string } {
  switch (inv.status) {
    case 'error': return { text: inv.error ? `error ${inv.error.code}` : 'error', color: 'red' };
    case 'abandoned': return { text: 'abandoned', color: 'red' };
    case 'in-flight': return { text: `${SPINNER[ticks % SPINNER.length]} ${runningStep(inv)?.plugin ?? 'wrapper'}`, color: 'cyan' };
    case 'ok': return (elapsedMs(inv, nowMs) ?? 0) >= slowMs ? { text: 'slow', color: 'yellow' } : { text: 'ok', color: 'green' };
  }
}

/** `namespace/pod`; when too long, the namespace gives way before the pod name. */
function podLabel(inv: Invocation, width: number): string {
  if (!inv.pod.name) return '-';
  const name = escapeControl(inv.pod.name);
  const namespace = inv.pod.namespace ? escapeControl(inv.pod.namespace) : undefined;
  const full = namespace ? `${namespace}/${name}` : name;
  const room = width - [...name].length - 2;
  return full.length <= width || !namespace ? full : room >= 1 ? `${namespace.slice(0, room)}…/${name}` : name;
}

function cellText(id: Exclude<ColumnId, 'status'>, inv: Invocation, layout: RowLayout, nowMs: number): string {
  switch (id) {
    case 'time': return inv.startNs ? new Date(Number(BigInt(inv.startNs) / 1_000_000n)).toISOString().slice(11, 23) : '?';
    case 'command': return inv.command;
    case 'pod': return podLabel(inv, layout.podWidth);
    case 'container': return inv.containerId.slice(0, 12);
    case 'network': return inv.network;
    case 'ifname': return inv.ifname;
    case 'elapsed': return formatMs(elapsedMs(inv, nowMs));
  }
}

export interface InvocationRowProps {
  /** The invocation shown. */
  readonly inv: Invocation;
  /** Which cells, and how wide (rowLayout). */
  readonly layout: RowLayout;
  /** The time live durations are measured to (epoch ms). */
  readonly nowMs: number;
  /** Clock ticks so far: the spinner's frame. */
  readonly ticks: number;
  /** At or above this (ms) the elapsed time is yellow, and a finished row says `slow`. */
  readonly slowMs: number;
  /** Shown inverted: the cursor is here. */
  readonly selected: boolean;
}

/** One line, exactly the layout's width; colour only on the elapsed and status cells. */
export function InvocationRow(props: InvocationRowProps): React.ReactElement {
  const { inv, layout, nowMs, ticks, slowMs } = props;
  const status = statusCell(inv, nowMs, ticks, slowMs);
  const slow = (elapsedMs(inv, nowMs) ?? 0) >= slowMs;
  const cells = layout.columns.map((id, i) => {
    const raw = id === 'status' ? status.text : cellText(id, inv, layout, nowMs);
    const text = fit(escapeControl(raw), cellWidth(layout, id), id === 'elapsed') + (i < layout.columns.length - 1 ? ' ' : '');
    const color = id === 'status' ? status.color : id === 'elapsed' && slow ? 'yellow' : undefined;
    return h(Text, { key: id, ...(color ? { color } : {}) }, text);
  });
  return h(Text, { inverse: props.selected, wrap: 'truncate-end' }, ...cells);
}
