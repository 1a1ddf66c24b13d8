/**
 * The detail view's sections, as tabs: one per step — its stdin (pretty JSON), its result or
 * error, its stderr — then one for the whole invocation — the CNI env, the wrapper entry,
 * what the runtime got. A tab's text scrolls; every line is escaped before it is shown.
 */
import { Box, Text } from 'ink';
import React from 'react';
import type { CniError } from '../../src/cni/errors.ts';
import type { Json } from '../../src/config/wrapper-entry.ts';
import type { Invocation, Step } from '../../src/journal/invocations.ts';
import type { Capture } from '../../src/journal/record.ts';
import { escapeControl, formatMs, shellWord } from '../../src/view/text.ts';

const h = React.createElement;

/** Journal text as display lines: split at line breaks, tabs expanded, controls escaped. */
function textLines(text: string): string[] {
  return text.replace(/\n$/, '').split(/\r?\n/).map((line) => escapeControl(line.replaceAll('\t', '  ')));
}

function jsonLines(value: Json | undefined): string[] {
  return value === undefined ? ['(not recorded)'] : textLines(JSON.stringify(value, null, 2));
}

/** A captured stream: pretty JSON when it is JSON, else its lines; says when it was cut. */
function captureLines(c: Capture | undefined): string[] {
  if (!c || c.text === '') return [c ? '(nothing)' : '(not recorded)'];
  let lines: string[];
  try {
    lines = jsonLines(JSON.parse(c.text) as Json);
  } catch {
    lines = textLines(c.text);
  }
  return c.truncated ? [...lines, `… cut: ${c.bytes} bytes in all`] : lines;
}

function errorLines(e: CniError): string[] {
  return [`code ${e.code}: ${escapeControl(e.msg)}`, ...(e.details ? textLines(e.details) : [])];
}

function section(title: string, lines: readonly string[]): string[] {
  return [`── ${title} ──`, ...lines, ''];
}

function stepLines(inv: Invocation, step: Step, nowMs: number): string[] {
  const took = step.durationMs ?? (step.startNs && inv.status === 'in-flight' ? nowMs - Number(BigInt(step.startNs) / 1_000_000n) : null);
  const outcome = step.error
    ? [...section('error', errorLines(step.error)), ...(step.stdout?.text ? section('stdout', captureLines(step.stdout)) : [])]
    : step.skipped ? section('skipped', textLines(step.skipped))
      : step.status === 'in-flight' ? section('result', ['(running)'])
        : step.status === 'abandoned' ? section('result', ['(none: the wrapper died)'])
          : section('result', captureLines(step.stdout));
  return [
    escapeControl(`${step.plugin} ${step.command} · ${step.status} · ${formatMs(took)} · exit ${step.exitCode ?? '-'}${step.signal ? ` · signal ${step.signal}` : ''}`),
    escapeControl(`path ${step.path ?? (step.argv ? '(not found in PATH)' : '(not found in CNI_PATH)')}`),
    ...(step.parentSpanId ? [escapeControl(`called by ${inv.steps.find((s) => s.spanId === step.parentSpanId)?.plugin ?? '?'} (${step.argv ? 'command' : 'nested call'}, depth ${step.depth})`)] : []),
    '',
    ...(step.argv ? section('argv', [escapeControl(step.argv.map(shellWord).join(' '))]) : section('stdin', jsonLines(step.stdin))),
    ...outcome,
    ...section('stderr', captureLines(step.stderr)),
    ...(step.env ? section('env', Object.entries(step.env).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => escapeControl(`${k}=${v}`))) : []),
  ];
}

function invocationLines(inv: Invocation): string[] {
  const env = Object.entries(inv.env).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => escapeControl(`${k}=${v}`));
  return [
    ...section('env', env.length > 0 ? env : ['(not recorded)']),
    ...section('wrapper entry (stdin, redacted)', jsonLines(inv.stdin)),
    ...(inv.error ? section('error', errorLines(inv.error)) : []),
    ...section('what the runtime got (stdout)', captureLines(inv.stdout)),
  ];
}

/** Tab labels: each step's plugin, then `invocation`. */
function tabLabels(inv: Invocation): string[] {
  return [...inv.steps.map((s) => `${s.depth > 0 ? '↳' : ''}${escapeControl(s.plugin || '?')}`), 'invocation'];
}

/** The text of tab `tab` (steps first, then the invocation), as display lines. */
export function tabLines(inv: Invocation, tab: number, nowMs: number): string[] {
  const step = inv.steps[tab];
  return step ? stepLines(inv, step, nowMs) : invocationLines(inv);
}

export interface DetailTabsProps {
  /** The invocation shown. */
  readonly inv: Invocation;
  /** The selected tab (index into tabLabels). */
  readonly tab: number;
  /** First line shown. */
  readonly scroll: number;
  /** Lines for the tab bar and the text together. */
  readonly height: number;
  /** Terminal width. */
  readonly columns: number;
  /** The clock (epoch ms), for how long a running step has run. */
  readonly nowMs: number;
}

/** A tab bar (the selected tab bracketed and inverted, with the visible line range), then the tab's text. */
export function DetailTabs(props: DetailTabsProps): React.ReactElement {
  const lines = tabLines(props.inv, props.tab, props.nowMs);
  const room = Math.max(1, props.height - 1);
  const top = Math.min(props.scroll, Math.max(0, lines.length - room));
  const shown = lines.slice(top, top + room);
  const range = `${top + 1}-${top + shown.length}/${lines.length}`;
  return h(Box, { flexDirection: 'column', height: props.height, width: props.columns },
    h(Box, { justifyContent: 'space-between', width: props.columns },
      h(Box, { flexShrink: 1 }, h(Text, { wrap: 'truncate-end' }, ...tabLabels(props.inv).map((label, i) =>
        // Brackets as well as inverse: the selected tab shows without colour too (NO_COLOR).
        h(Text, { key: i, inverse: i === props.tab, bold: i === props.tab }, i === props.tab ? `[${label}]` : ` ${label} `)))),
      h(Text, { dimColor: true }, ` ${range}`)),
    ...shown.map((line, i) => h(Text, { key: i, wrap: 'truncate-end' }, line || ' ')));
}
