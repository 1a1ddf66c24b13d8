/**
 * The steps of one invocation on a shared time axis, one bar per step, each labelled with its
 * plugin and duration: where the time of a pod's network set-up went, at a glance.
 */
import { Box, Text } from 'ink';
import React from 'react';
import type { Invocation, StepState } from '../../src/journal/invocations.ts';
import { OWN_TIME } from '../../src/view/own-time.ts';
import { ownBar, track, waterfall } from '../../src/view/waterfall.ts';
import { fit } from './InvocationRow.ts';
import { escapeControl, formatMs } from '../../src/view/text.ts';

const h = React.createElement;

const PLUGIN_WIDTH = 14;
const DURATION_WIDTH = 8;
const COLOR: Readonly<Record<StepState, string>> = { ok: 'green', error: 'red', 'in-flight': 'cyan', abandoned: 'red', skipped: 'gray' };

export interface WaterfallProps {
  /** The invocation whose steps are drawn. */
  readonly inv: Invocation;
  /** Terminal width: the axis takes what the labels leave. */
  readonly columns: number;
  /** The time a running invocation's axis extends to (epoch ms). */
  readonly nowMs: number;
  /** Bars shown at most (the first ones); the axis line comes on top. */
  readonly maxBars: number;
}

/** An axis line, then `label duration │bar│` per step, all inside `columns`. */
export function Waterfall(props: WaterfallProps): React.ReactElement {
  const axis = Math.max(4, props.columns - PLUGIN_WIDTH - DURATION_WIDTH - 4);
  const bars = waterfall(props.inv, axis, BigInt(Math.floor(props.nowMs)) * 1_000_000n);
  const total = props.inv.durationMs ?? (props.inv.startNs ? props.nowMs - Number(BigInt(props.inv.startNs) / 1_000_000n) : null);
  const ruler = `0${' '.repeat(Math.max(1, axis - 1 - formatMs(total).length))}${formatMs(total)}`;
  const shown = bars.slice(0, Math.max(0, props.maxBars));
  const rows = shown.map((bar) => h(Text, { key: bar.step.spanId, wrap: 'truncate-end' },
    fit(`${' '.repeat(bar.step.depth)}${escapeControl(bar.step.plugin)}`, PLUGIN_WIDTH), ' ',
    fit(formatMs(bar.durationMs), DURATION_WIDTH, true), ' │',
    ' '.repeat(bar.offset),
    h(Text, { color: COLOR[bar.step.status] }, '█'.repeat(bar.width)),
    ' '.repeat(Math.max(0, axis - bar.offset - bar.width)), '│'));
  const hidden = bars.length - shown.length;
  // cni-trace's own time, named, so its gaps are not read as the network's.
  const own = ownBar(props.inv, axis);
  const ownRow = own ? h(Text, { key: 'own', wrap: 'truncate-end' },
    fit(OWN_TIME, PLUGIN_WIDTH), ' ', fit(formatMs(own.durationMs), DURATION_WIDTH, true), ' │',
    h(Text, { color: 'gray' }, track(own.segments, axis, '░')), '│') : null;
  return h(Box, { flexDirection: 'column', width: props.columns },
    h(Text, { dimColor: true, wrap: 'truncate-end' }, `${fit('STEP', PLUGIN_WIDTH)} ${fit('TOOK', DURATION_WIDTH, true)}  ${ruler}`),
    ...rows,
    ownRow,
    hidden > 0 ? h(Text, { dimColor: true }, `… ${hidden} more step${hidden === 1 ? '' : 's'}`) : null);
}

/** Lines the waterfall takes for `inv` with `maxBars`. */
export function waterfallHeight(inv: Invocation, maxBars: number): number {
  const bars = inv.startNs ? inv.steps.filter((s) => s.startNs).length : 0;
  return 1 + Math.min(bars, maxBars) + (bars > maxBars ? 1 : 0) + (ownBar(inv, 1) ? 1 : 0);
}
