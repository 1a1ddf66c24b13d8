/**
 * The line under the list: the filter prompt while one is typed; otherwise how the list is
 * ordered and narrowed, and how many of the held invocations it shows.
 */
import { Text } from 'ink';
import React from 'react';
import type { State } from '../state.ts';
import { escapeControl } from '../../src/view/text.ts';

const h = React.createElement;

export interface StatusLineProps {
  /** The filter being typed; null when the prompt is closed. */
  readonly prompt: string | null;
  /** The applied text filter, '' for none. */
  readonly filterText: string;
  /** `e` is on. */
  readonly errorsOnly: boolean;
  /** `s` is on. */
  readonly slowOnly: boolean;
  /** What slow means (SlowBaseline.describe), named when slow-only is on. */
  readonly slowRule: string;
  /** The list's order. */
  readonly sort: State['sort'];
  /** Oldest first with the newest at the bottom. */
  readonly followBottom: boolean;
  /** Rows in the list now. */
  readonly shown: number;
  /** Invocations held (the list's rows before filtering). */
  readonly held: number;
}

/** What the list is showing, in words; the prompt (with a block cursor) while filtering. */
export function StatusLine(props: StatusLineProps): React.ReactElement {
  if (props.prompt !== null) {
    return h(Text, { wrap: 'truncate-start' },
      h(Text, { color: 'cyan' }, 'filter /'), escapeControl(props.prompt), h(Text, { inverse: true }, ' '),
      h(Text, { dimColor: true }, '  applies as you type · Enter keep · Esc clear'));
  }
  const order = props.sort === 'time'
    ? props.followBottom ? 'oldest first, newest at the bottom' : 'newest first'
    : props.followBottom ? 'slowest at the bottom' : 'slowest first';
  const narrowing = [
    props.filterText ? `/${escapeControl(props.filterText)}` : '',
    props.errorsOnly ? 'errors only' : '',
    props.slowOnly ? `slow only (${props.slowRule})` : '',
  ].filter(Boolean);
  const count = `${props.shown} of ${props.held}`;
  return h(Text, { wrap: 'truncate-end' },
    h(Text, { dimColor: true }, `${count} · ${order}`),
    narrowing.length > 0 ? h(Text, { color: 'yellow' }, ` · ${narrowing.join(' · ')}`) : null);
}
