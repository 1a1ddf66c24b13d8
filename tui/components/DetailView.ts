/**
 * One invocation in full: what it was (command, pod, container, network, trace id), how it
 * ended (status and error) and a link to its trace; a waterfall of its steps; then tabs with
 * each step's stdin, result or error and stderr, and the invocation's env.
 */
import { Box, Text } from 'ink';
import React from 'react';
import type { Invocation } from '../../src/journal/invocations.ts';
import { elapsedMs } from '../../src/view/filter.ts';
import { DetailTabs, tabLines, type DetailTabsProps } from './DetailTabs.ts';
import { statusCell } from './InvocationRow.ts';
import { Waterfall, waterfallHeight } from './Waterfall.ts';
import { escapeControl, formatMs } from '../../src/view/text.ts';

const h = React.createElement;

/** Lines above the waterfall. */
const SUMMARY_LINES = 6;
/** The tabs keep at least this many lines (their bar and four of text). */
const MIN_TABS = 5;

/** How `height` lines are shared: waterfall bars shown at most, and the tabs' lines. */
function detailGeometry(inv: Invocation, height: number): { maxBars: number; tabsHeight: number } {
  const maxBars = Math.max(1, height - SUMMARY_LINES - 1 - MIN_TABS);
  return { maxBars, tabsHeight: Math.max(2, height - SUMMARY_LINES - waterfallHeight(inv, maxBars)) };
}

/** The furthest the tab's text can scroll in `height` lines: its length less the lines shown. */
export function detailScrollMax(inv: Invocation, tab: number, height: number, nowMs: number): number {
  return Math.max(0, tabLines(inv, tab, nowMs).length - (detailGeometry(inv, height).tabsHeight - 1));
}

/** The trace link: `template` with `{traceId}` replaced. */
function traceLink(template: string, traceId: string): string {
  return template.replaceAll('{traceId}', traceId);
}

/** The tabs' props, `height` being the whole view's here (summary and waterfall included). */
export interface DetailViewProps extends DetailTabsProps {
  /** Clock ticks so far: the spinner's frame. */
  readonly ticks: number;
  /** Is it slow (state.ts slowRule), for the status. */
  readonly slow: boolean;
  /** Trace link template (`{traceId}`). */
  readonly traceUrl: string;
}

/** Summary, waterfall and tabs in exactly `height` lines. */
export function DetailView(props: DetailViewProps): React.ReactElement {
  const { inv, columns } = props;
  const status = statusCell(inv, props.ticks, props.slow);
  const pod = inv.pod.name ? `${inv.pod.namespace ?? '-'}/${inv.pod.name}` : '(no pod)';
  const { maxBars, tabsHeight } = detailGeometry(inv, props.height);
  const line = (text: string, color?: string): React.ReactElement => h(Text, { wrap: 'truncate-end', ...(color ? { color } : {}) }, escapeControl(text));
  const ids = `trace ${inv.traceId || '-'} · span ${inv.spanId}${inv.parentSpanId ? ` · parent ${inv.parentSpanId}` : ''}`;
  const where = `network ${inv.network || '-'} · if ${inv.ifname || '-'} · netns ${inv.netns || '-'} · cni ${inv.cniVersion || '-'} · pid ${inv.pid ?? '-'} · exit ${inv.exitCode ?? '-'}`;
  const outcome = inv.error
    ? line(`error ${inv.error.code}: ${inv.error.msg}${inv.error.details ? ` (${inv.error.details})` : ''}`, 'red')
    : inv.status === 'abandoned' ? line('abandoned: its wrapper died before the invocation ended', 'red') : line(`${inv.status}, no error`);
  return h(Box, { flexDirection: 'column', height: props.height, width: columns },
    h(Text, { wrap: 'truncate-end', bold: true },
      escapeControl(`${inv.command} ${pod} `), h(Text, { color: status.color }, escapeControl(status.text)),
      ` ${formatMs(elapsedMs(inv, props.nowMs))}`),
    line(ids),
    line(`container ${inv.containerId || '-'}`),
    line(where),
    outcome,
    h(Text, { wrap: 'truncate-end' }, 'trace link ', h(Text, { color: 'blue', underline: true }, escapeControl(traceLink(props.traceUrl, inv.traceId)))),
    h(Waterfall, { inv, columns, nowMs: props.nowMs, maxBars }),
    h(DetailTabs, { inv, tab: props.tab, scroll: props.scroll, height: tabsHeight, columns, nowMs: props.nowMs }));
}
