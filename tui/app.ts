/**
 * The TUI's root: the state (tui/state.ts) fed by the journal, the clock, the terminal's
 * size and the keyboard, and the screen drawn from it — header, then the list, the details
 * or the help, then the status line and the keys. The screen is one line shorter than the
 * terminal, so Ink redraws in place instead of clearing the terminal on every frame.
 */
import { Box, useApp, useInput, useStdout, type Key } from 'ink';
import React, { useEffect, useReducer } from 'react';
import { shownSummary } from '../src/view/stats.ts';
import { DetailView, detailScrollMax } from './components/DetailView.ts';
import { Footer, type FooterMode } from './components/Footer.ts';
import { Header } from './components/Header.ts';
import { HelpOverlay } from './components/HelpOverlay.ts';
import { InvocationList } from './components/InvocationList.ts';
import { StatusLine } from './components/StatusLine.ts';
import { cursorIndex, detailInvocation, initialState, reduce, slowRule, summaryWindowMs, visibleRows, type Action, type State, type TuiConfig } from './state.ts';
import { useClock } from './use-clock.ts';
import type { Feed } from './journal-feed.ts';
import { useJournal } from './use-journal.ts';
import { escapeControl } from '../src/view/text.ts';

const h = React.createElement;

/** Lines of the header, and below the list (status line, keys). */
const HEADER_LINES = 2;
const LIST_CHROME = HEADER_LINES + 1 + 1 + 1;

/** Rows of invocations that fit: the terminal less the header, the title, status and key lines, and one spare. */
function listHeight(rows: number): number {
  return Math.max(1, rows - 1 - LIST_CHROME);
}

/** Lines for the detail view (and the help): the terminal less the header, the keys and one spare. */
function bodyHeight(rows: number): number {
  return Math.max(3, rows - 1 - HEADER_LINES - 1);
}

/** What a key does in this state, or null. */
function keyAction(s: State, input: string, key: Key): Action | null {
  if (s.prompt !== null) {
    if (key.return) return { type: 'filter-confirm' };
    if (key.escape) return { type: 'filter-cancel' };
    if (key.backspace || key.delete) return { type: 'filter-erase' };
    if (key.ctrl || key.meta || input === '' || /[\x00-\x1f\x7f]/.test(input)) return null;
    return { type: 'filter-type', text: input };
  }
  if (input === 'q') return { type: 'quit' };
  if (s.help) return input === '?' || key.escape ? { type: 'toggle-help' } : null;
  if (input === '?') return { type: 'toggle-help' };
  const inv = s.screen === 'detail' ? detailInvocation(s) : undefined;
  if (inv) {
    const page = bodyHeight(s.rows) - 8;
    const scroll = (by: number): Action => ({ type: 'scroll-detail', by, max: detailScrollMax(inv, s.detailTab, bodyHeight(s.rows), s.nowMs) });
    if (key.escape || key.backspace) return { type: 'back' };
    if ((key.tab && key.shift) || key.leftArrow || input === 'h') return { type: 'cycle-tab', by: -1 };
    if (key.tab || key.rightArrow || input === 'l') return { type: 'cycle-tab', by: 1 };
    if (key.downArrow || input === 'j') return scroll(1);
    if (key.upArrow || input === 'k') return scroll(-1);
    if (key.pageDown) return scroll(Math.max(1, page));
    if (key.pageUp) return scroll(-Math.max(1, page));
    return null;
  }
  if (key.downArrow || input === 'j') return { type: 'move', by: 1 };
  if (key.upArrow || input === 'k') return { type: 'move', by: -1 };
  if (key.pageDown) return { type: 'move', by: listHeight(s.rows) };
  if (key.pageUp) return { type: 'move', by: -listHeight(s.rows) };
  if (input === 'g' || key.home) return { type: 'move', by: -Infinity };
  if (input === 'G' || key.end) return { type: 'move', by: Infinity };
  if (key.return) return { type: 'open' };
  if (key.escape && s.filterText) return { type: 'filter-clear' };
  const toggles: Readonly<Record<string, Action>> = {
    ' ': { type: 'toggle-pause' }, '/': { type: 'filter-start' }, e: { type: 'toggle-errors' },
    s: { type: 'toggle-slow' }, o: { type: 'cycle-sort' }, f: { type: 'toggle-follow' },
  };
  return toggles[input] ?? null;
}

/** A key as an action: mapped by the reducer, with the state earlier keys made (a person may type faster than Ink renders). */
interface KeyPress { readonly type: 'key'; readonly input: string; readonly key: Key }

const NO_KEY: Key = {
  upArrow: false, downArrow: false, leftArrow: false, rightArrow: false, pageDown: false, pageUp: false, home: false, end: false,
  return: false, escape: false, ctrl: false, shift: false, tab: false, backspace: false, delete: false, meta: false,
  super: false, hyper: false, capsLock: false, numLock: false,
};

/** One character of a chunk as the key it is (Ink gives Enter, Tab and Backspace as flags with no input). */
function keyPressOf(ch: string): KeyPress {
  const key = { ...NO_KEY, return: ch === '\r' || ch === '\n', tab: ch === '\t', backspace: ch === '\x7f' || ch === '\b' };
  return { type: 'key', input: /[\x00-\x1f\x7f]/.test(ch) ? '' : ch, key };
}

function reduceKeys(s: State, a: Action | KeyPress): State {
  if (a.type !== 'key') return reduce(s, a);
  // Keys typed faster than they are read (or pasted) come as one string: each counts.
  const chars = [...a.input];
  if (chars.length > 1 && !a.key.ctrl && !a.key.meta) return chars.map(keyPressOf).reduce(reduceKeys, s);
  const action = keyAction(s, a.input, a.key);
  return action ? reduce(s, action) : s;
}

export interface AppProps {
  /** What to show and how (tuiConfig in run.ts). */
  readonly config: TuiConfig;
  /** Where records come from: journalFeed in a terminal, fixed records in tests. */
  readonly feed: Feed;
  /** The terminal's width when starting; `resize` events on stdout change it. */
  readonly columns: number;
  /** The terminal's height when starting. */
  readonly rows: number;
  /** The clock (epoch ms); tests pass a fixed one. */
  readonly now: () => number;
  /** Clock tick interval (ms); 0: one tick only. */
  readonly tickMs: number;
  /** Records are dispatched at most this often (ms). */
  readonly batchMs: number;
  /** The filter line to start with (tui --command/--status/--slower-than). */
  readonly filterText?: string;
}

/** The whole screen; calls Ink's exit when the state says quit. */
export function App(props: AppProps): React.ReactElement {
  const [state, dispatch] = useReducer(reduceKeys, undefined, () => initialState(props.config, props.columns, props.rows, props.now(), props.filterText));
  useJournal(props.feed, dispatch, props.batchMs);
  useClock(dispatch, props.now, props.tickMs);
  const { stdout } = useStdout();
  useEffect(() => {
    const resized = (): void => dispatch({ type: 'resize', columns: stdout.columns, rows: stdout.rows });
    stdout.on('resize', resized);
    return () => void stdout.off('resize', resized);
  }, [stdout]);
  const { exit } = useApp();
  useEffect(() => { if (state.quit) exit(); }, [state.quit, exit]);
  useInput((input, key) => dispatch({ type: 'key', input, key }));

  const rows = visibleRows(state);
  // The header's figures are over the rows the list shows: never "errors 0" above an error row.
  const windowMs = summaryWindowMs(state);
  const summary = shownSummary(rows, state.nowMs, windowMs);
  const rule = slowRule(state);
  const isSlow = (i: Parameters<typeof rule.isSlow>[0]): boolean => rule.isSlow(i, state.nowMs);
  const { config, columns } = state;
  const inv = state.screen === 'detail' ? detailInvocation(state) : undefined;
  const mode: FooterMode = state.prompt !== null ? 'prompt' : state.help ? 'help' : inv ? 'detail' : 'list';
  const body = state.help
    ? h(HelpOverlay, { height: bodyHeight(state.rows), columns, slowRule: rule.describe(), tailCommand: config.shellHint ?? `cni-trace tail --journal ${config.journal}` })
    : inv
      ? h(DetailView, { inv, tab: state.detailTab, scroll: state.detailScroll, height: bodyHeight(state.rows), columns, nowMs: state.nowMs, ticks: state.ticks, slow: isSlow(inv), traceUrl: config.traceUrl })
      : h(Box, { flexDirection: 'column' },
        h(InvocationList, {
          rows, cursor: cursorIndex(state, rows), height: listHeight(state.rows), columns, nowMs: state.nowMs, ticks: state.ticks,
          isSlow, followBottom: state.followBottom,
          emptyText: state.held.size === 0 ? `waiting for invocations in ${escapeControl(config.journal)} (is the conflist wrapped?)` : 'no invocation matches (/ e s change what is shown, Esc clears the filter)',
        }),
        h(StatusLine, {
          prompt: state.prompt, filterText: state.filterText, errorsOnly: state.errorsOnly, slowOnly: state.slowOnly, slowRule: rule.describe(),
          sort: state.sort, followBottom: state.followBottom, shown: rows.length, held: state.held.size,
        }));
  return h(Box, { flexDirection: 'column', width: columns, height: Math.max(1, state.rows - 1) },
    h(Header, { nodeName: config.nodeName, journal: config.journal, summary, windowMs, columns, pausedArrivals: state.frozen ? state.arrivedWhilePaused : null }),
    body,
    h(Footer, { mode, columns }));
}
