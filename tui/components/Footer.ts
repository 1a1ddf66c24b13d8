/**
 * The keys, always on the last line: those of the screen in use, with the longest labels
 * that fit (full, short, then the keys alone).
 */
import { Text } from 'ink';
import React from 'react';

const h = React.createElement;

/** A key, what it does, and a shorter word for it. */
type KeyHint = readonly [key: string, label: string, short: string];

const LIST: readonly KeyHint[] = [
  ['↑↓', 'move', 'move'], ['⏎', 'details', 'open'], ['space', 'pause', 'pause'], ['/', 'filter', 'filter'],
  ['e', 'errors only', 'err'], ['s', 'slow only', 'slow'], ['o', 'sort', 'sort'], ['f', 'follow at bottom', 'follow'],
  ['?', 'help', 'help'], ['q', 'quit', 'quit'],
];
const DETAIL: readonly KeyHint[] = [
  ['Tab/←→', 'section', 'tab'], ['jk/PgUp/PgDn', 'scroll', 'scroll'], ['Esc', 'back to list', 'back'], ['?', 'help', 'help'], ['q', 'quit', 'quit'],
];
const PROMPT: readonly KeyHint[] = [['⏎', 'keep filter', 'keep'], ['Esc', 'clear', 'clear'], ['⌫', 'erase', 'erase']];
const HELP: readonly KeyHint[] = [['?/Esc', 'close help', 'close'], ['q', 'quit', 'quit']];

export type FooterMode = 'list' | 'detail' | 'prompt' | 'help';

const HINTS: Readonly<Record<FooterMode, readonly KeyHint[]>> = { list: LIST, detail: DETAIL, prompt: PROMPT, help: HELP };

/** The hints for `mode` in at most `columns` characters. */
function footerText(mode: FooterMode, columns: number): string {
  const hints = HINTS[mode];
  const variants = [
    hints.map(([key, label]) => `${key} ${label}`).join('  '),
    hints.map(([key, , short]) => `${key} ${short}`).join(' '),
    hints.map(([key]) => key).join(' '),
  ];
  return variants.find((v) => [...v].length <= columns) ?? variants[variants.length - 1]!;
}

export interface FooterProps {
  /** Which keys apply now. */
  readonly mode: FooterMode;
  /** Terminal width: the hints are shortened to fit. */
  readonly columns: number;
}

/** One dim line of key hints. */
export function Footer(props: FooterProps): React.ReactElement {
  return h(Text, { dimColor: true, wrap: 'truncate-end' }, footerText(props.mode, props.columns));
}
