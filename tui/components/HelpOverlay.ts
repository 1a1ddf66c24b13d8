/**
 * The help screen (`?`): every key, what the list's columns and statuses mean, and how the
 * list moves. It takes the place of the list or the details until `?` or Esc.
 */
import { Box, Text } from 'ink';
import React from 'react';
import { formatMs } from '../../src/view/text.ts';

const h = React.createElement;

/** The help text; `slowMs` is the slow threshold in effect. */
function helpLines(slowMs: number): string[] {
  const slow = formatMs(slowMs);
  return [
    'cni-trace tui: pod network operations on this node, as they happen',
    'The list, newest first',
    '  ↑↓ j/k PgUp/PgDn  move. On the top row the cursor rides the newest invocation;',
    '                    anywhere else it stays on its own as new ones arrive',
    '  Enter  details             space  pause/resume: the list holds still, the',
    '                                    header goes on counting (PAUSED · N new)',
    '  /      filter by text: pod, namespace, plugin, container id, network, command,',
    '         trace id. Enter applies, Esc cancels, an empty filter clears it',
    `  e      errors only (failed or abandoned)   s  slow only (≥ ${slow}, --slow)`,
    '  o      sort by time, or by duration (slowest first)',
    '  f      follow at the bottom: oldest first, the cursor follows the newest;',
    '         f again: newest first              ?  this help     q  quit',
    'Details',
    '  Tab →/←  next/previous section: each step (stdin, result or error, stderr),',
    '           then the invocation (env, wrapper entry, what the runtime got)',
    '  j/k PgUp/PgDn  scroll                  Esc  back to the list',
    `Statuses: ok · slow (ok, ≥ ${slow}; yellow) · error N (CNI error code N; red) ·`,
    '  ⠋ plugin (in flight, running that plugin now) · abandoned (its wrapper died).',
    '  ELAPSED runs while an invocation is in flight. Times are UTC.',
  ];
}

export interface HelpOverlayProps {
  /** Lines available; the help is cut to fit. */
  readonly height: number;
  /** Terminal width. */
  readonly columns: number;
  /** The slow threshold (ms) in effect, named in the text. */
  readonly slowMs: number;
}

/** The help text in a box of `height` lines. */
export function HelpOverlay(props: HelpOverlayProps): React.ReactElement {
  const lines = helpLines(props.slowMs).slice(0, props.height);
  return h(Box, { flexDirection: 'column', height: props.height, width: props.columns },
    ...lines.map((line, i) => h(Text, { key: i, wrap: 'truncate-end', bold: i === 0 }, line || ' ')));
}
