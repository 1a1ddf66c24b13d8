/**
 * One invocation as a list row: a cursor mark, time, command, namespace/pod, elapsed, status,
 * the slowest step (plugin and time: which plugin to blame, or cni-trace's own time), network,
 * interface, container. Columns are as wide as what the rows shown hold (within bounds), not
 * what the terminal leaves; columns that do not fit are dropped, least useful first, then pod
 * and step give way (rowLayout). Journal text is escaped before it is shown.
 */
import { Text } from 'ink';
import React from 'react';
import type { Invocation } from '../../src/journal/invocations.ts';
import { elapsedMs } from '../../src/view/filter.ts';
import { slowestPart } from '../../src/view/own-time.ts';
import { runningStep } from '../state.ts';
import { escapeControl, formatMs } from '../../src/view/text.ts';

const h = React.createElement;

export type ColumnId = 'mark' | 'time' | 'command' | 'pod' | 'elapsed' | 'status' | 'step' | 'network' | 'ifname' | 'container';

type Sized = 'pod' | 'step' | 'network' | 'ifname';
const FIXED: Readonly<Record<Exclude<ColumnId, Sized>, number>> = { mark: 1, time: 12, command: 6, elapsed: 7, status: 9, container: 12 };
/** Content-sized columns: at least their title (or MIN when cut), at most MAX. */
const MAX: Readonly<Record<Sized, number>> = { pod: 48, step: 32, network: 20, ifname: 8 };
const MIN_CUT: Readonly<Record<'pod' | 'step', number>> = { pod: 10, step: 10 };
const MIN_NETWORK = 8;
export const TITLES: Readonly<Record<ColumnId, string>> = {
  mark: ' ', time: 'TIME (UTC)', command: 'CMD', pod: 'NAMESPACE/POD', elapsed: 'ELAPSED', status: 'STATUS', step: 'SLOWEST STEP',
  network: 'NETWORK', ifname: 'IF', container: 'CONTAINER',
};
const ALL: readonly ColumnId[] = ['mark', 'time', 'command', 'pod', 'elapsed', 'status', 'step', 'network', 'ifname', 'container'];
/** Dropped in this order when the row is too wide (the network cut first); then pod and step are cut; then time. */
const DROPPED_FIRST: readonly ColumnId[] = ['container', 'ifname', 'network', 'time'];
const SPINNER = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';
/** The cursor's mark: the selected row shows without colour too (NO_COLOR drops inverse). */
export const CURSOR_MARK = '›';

export interface RowLayout {
  /** The cells shown, left to right. */
  readonly columns: readonly ColumnId[];
  readonly widths: Readonly<Record<ColumnId, number>>;
}

/** `namespace/pod` in full, or '-'. */
function podText(inv: Invocation): string {
  if (!inv.pod.name) return '-';
  return escapeControl(inv.pod.namespace ? `${inv.pod.namespace}/${inv.pod.name}` : inv.pod.name);
}

/** `plugin time` of the slowest step (or of cni-trace's own time), '' for none yet. */
export function slowestStepText(inv: Invocation): string {
  const part = slowestPart(inv);
  return part ? `${escapeControl(part.plugin)} ${formatMs(part.ms)}` : '';
}

/** The widths the rows shown need, fitted into `width` columns (rows: those on screen). */
export function rowLayout(width: number, rows: readonly Invocation[] = []): RowLayout {
  const need = (id: Sized, text: (inv: Invocation) => string): number =>
    Math.min(MAX[id], rows.reduce((m, inv) => Math.max(m, [...text(inv)].length), TITLES[id].length));
  const widths: Record<ColumnId, number> = {
    ...FIXED,
    pod: need('pod', podText), step: need('step', slowestStepText), network: need('network', (i) => escapeControl(i.network)), ifname: need('ifname', (i) => escapeControl(i.ifname)),
  };
  const total = (cols: readonly ColumnId[]): number => cols.reduce((sum, c) => sum + widths[c], 0) + cols.length - 1;
  let columns = ALL;
  for (const drop of DROPPED_FIRST.slice(0, 2)) if (total(columns) > width) columns = columns.filter((c) => c !== drop);
  // The network is cut (to 8) before it goes.
  if (total(columns) > width) widths.network = Math.max(MIN_NETWORK, widths.network - (total(columns) - width));
  if (total(columns) > width) columns = columns.filter((c) => c !== 'network');
  // Then pod and step give way, the longer first, down to MIN_CUT.
  while (total(columns) > width && (widths.pod > MIN_CUT.pod || widths.step > MIN_CUT.step)) {
    const cut: 'pod' | 'step' = widths.pod - MIN_CUT.pod >= widths.step - MIN_CUT.step ? 'pod' : 'step';
    widths[cut] = Math.max(MIN_CUT[cut], widths[cut] - (total(columns) - width));
  }
  if (total(columns) > width) columns = columns.filter((c) => c !== 'time');
  if (total(columns) > width) widths.pod = Math.max(1, widths.pod - (total(columns) - width));
  return { columns, widths };
}

/** `text` in exactly `width` columns: padded, or cut with an ellipsis. */
export function fit(text: string, width: number, alignRight = false): string {
  const chars = [...text];
  if (chars.length > width) return width <= 1 ? chars.slice(0, width).join('') : `${chars.slice(0, width - 1).join('')}…`;
  return alignRight ? text.padStart(width) : text.padEnd(width);
}

/** A cell's width in this layout. */
export function cellWidth(layout: RowLayout, id: ColumnId): number {
  return layout.widths[id];
}

/** Text and colour of the status cell: `error 7`, `abandoned`, `slow`, `ok`, or a spinner and the plugin running now (`wrapper` between plugins). */
export function statusCell(inv: Invocation, ticks: number, slow: boolean): { text: string; color: string } {
  switch (inv.status) {
    case 'error': return { text: inv.error ? `error ${inv.error.code}` : 'error', color: 'red' };
    case 'abandoned': return { text: 'abandoned', color: 'red' };
    case 'in-flight': return { text: `${SPINNER[ticks % SPINNER.length]} ${runningStep(inv)?.plugin ?? 'wrapper'}`, color: 'cyan' };
    case 'ok': return slow ? { text: 'slow', color: 'yellow' } : { text: 'ok', color: 'green' };
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

function cellText(id: Exclude<ColumnId, 'status'>, inv: Invocation, layout: RowLayout, nowMs: number, selected: boolean): string {
  switch (id) {
    case 'mark': return selected ? CURSOR_MARK : ' ';
    case 'time': return inv.startNs ? new Date(Number(BigInt(inv.startNs) / 1_000_000n)).toISOString().slice(11, 23) : '?';
    case 'command': return inv.command;
    case 'pod': return podLabel(inv, layout.widths.pod);
    case 'container': return inv.containerId.slice(0, 12);
    case 'network': return inv.network;
    case 'ifname': return inv.ifname;
    case 'elapsed': return formatMs(elapsedMs(inv, nowMs));
    case 'step': return slowestStepText(inv);
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
  /** Is it slow (state.ts slowRule): the elapsed time is yellow, and a finished row says `slow`. */
  readonly slow: boolean;
  /** The cursor is here: marked, and shown inverted. */
  readonly selected: boolean;
}

/** One line, exactly the layout's width; colour only on the elapsed and status cells. */
export function InvocationRow(props: InvocationRowProps): React.ReactElement {
  const { inv, layout, nowMs, ticks, slow } = props;
  const status = statusCell(inv, ticks, slow);
  const cells = layout.columns.map((id, i) => {
    const raw = id === 'status' ? status.text : cellText(id, inv, layout, nowMs, props.selected);
    const text = fit(id === 'mark' ? raw : escapeControl(raw), cellWidth(layout, id), id === 'elapsed') + (i < layout.columns.length - 1 ? ' ' : '');
    const color = id === 'status' ? status.color : id === 'elapsed' && slow ? 'yellow' : undefined;
    return h(Text, { key: id, ...(color ? { color } : {}), ...(id === 'mark' && props.selected ? { bold: true } : {}) }, text);
  });
  return h(Text, { inverse: props.selected, wrap: 'truncate-end' }, ...cells);
}
