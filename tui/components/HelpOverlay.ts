/**
 * The help screen (`?`): every key, what the list's columns and statuses mean, and how the
 * list moves. It takes the place of the list or the details until `?` or Esc.
 */
import { Box, Text } from 'ink';
import React from 'react';

const h = React.createElement;

/**
 * A shell command in lines of at most `columns`, broken between words with ` \` so that the
 * lines copied together still run as one command (a cut line would not).
 */
export function shellLines(command: string, columns: number): string[] {
  const lines: string[] = [];
  let line = ' ';
  for (const word of command.split(' ')) {
    if (line.trim() && line.length + 1 + word.length + 2 > columns) {
      lines.push(`${line} \\`);
      line = '   ';
    }
    line += `${line.trim() ? ' ' : ''}${word}`;
  }
  return [...lines, line];
}

/** The help text; `slow` says what slow means here, `command` the shell command that shows the same. */
function helpLines(slow: string, command: string, columns: number): string[] {
  return [
    'cni-trace tui: pod network operations on this node, as they happen',
    'From a shell:',
    ...shellLines(command, columns),
    'The list, newest first',
    '  ↑↓ j/k PgUp/PgDn g/G  move (g top, G bottom). On the top row the cursor rides',
    '                    the newest invocation;',
    '                    anywhere else it stays on its own as new ones arrive',
    '  Enter  details             space  pause/resume: the list holds still, the',
    '                                    header goes on counting (PAUSED · N new)',
    '  /      filter, applied as you type: text (pod, namespace, plugin, container id,',
    '         network, trace id), ADD/DEL/… or cmd:ADD, status:ok|error|slow, >2s.',
    '         Enter keeps it, Esc clears it (also from the list)',
    `  e      errors only (failed or abandoned)   s  slow only (${slow})`,
    '  o      sort by time, or by duration (slowest first)',
    '  f      follow at the bottom: oldest first, the cursor follows the newest;',
    '         f again: newest first              ?  this help     q  quit',
    'Details',
    '  Tab →/←  next/previous section: each step (stdin, result or error, stderr),',
    '           then the invocation (env, wrapper entry, what the runtime got)',
    '  j/k PgUp/PgDn  scroll                  Esc  back to the list',
    `Statuses: ok · slow (${slow}; yellow) · error N (CNI error code N; red) ·`,
    '  ⠋ plugin (in flight, running that plugin now) · abandoned (its wrapper died).',
    '  SLOWEST STEP: the plugin that took longest, or cni-trace (its own time between',
    '  and around the plugins). ELAPSED runs while in flight. Times are UTC.',
  ];
}

export interface HelpOverlayProps {
  /** Lines available; the help is cut to fit. */
  readonly height: number;
  /** Terminal width. */
  readonly columns: number;
  /** What slow means (SlowBaseline.describe), named in the text. */
  readonly slowRule: string;
  /** The tail command that shows this journal from a shell (self.ts suggest). */
  readonly tailCommand: string;
}

/** The help text in a box of `height` lines. */
export function HelpOverlay(props: HelpOverlayProps): React.ReactElement {
  const lines = helpLines(props.slowRule, props.tailCommand, props.columns).slice(0, props.height);
  return h(Box, { flexDirection: 'column', height: props.height, width: props.columns },
    ...lines.map((line, i) => h(Text, { key: i, wrap: 'truncate-end', bold: i === 0 }, line || ' ')));
}
