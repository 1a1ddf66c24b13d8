/**
 * `npm run captures` (as root): the README's screens, taken from a real run of the demo so they
 * stay true. Runs the demo without the TUI into a kept journal, then fills the README's marked
 * blocks (<!-- capture: NAME --> … <!-- /capture -->):
 *   tui   a frame of `cni-trace tui --command ADD` over that journal, in a 110×20 tmux pane;
 *   show  `cni-trace show --pod demo/web-3 --width 100`, its header and waterfall;
 *   diagnose  `cni-trace diagnose` over the same journal (exit 1: it finds the planted problems),
 *             its first four findings.
 * Everything it starts is stopped and the journal removed, also on failure.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { TmuxPane } from '../test/support/tmux.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'src/cli/main.ts');
const README = join(ROOT, 'README.md');

/** Replaces the fenced block between a capture's markers with `text`. */
export function fillCapture(readme: string, name: string, text: string): string {
  const open = `<!-- capture: ${name} -->`;
  const close = '<!-- /capture -->';
  const start = readme.indexOf(open);
  const end = readme.indexOf(close, start);
  if (start < 0 || end < 0) throw new Error(`README.md has no ${open} … ${close} block`);
  const body = text.split('\n').map((l) => l.trimEnd()).join('\n').trim();
  return `${readme.slice(0, start + open.length)}\n\`\`\`\n${body}\n\`\`\`\n${readme.slice(end)}`;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cnitrace-captures-'));
  const journal = join(dir, 'journal');
  const pane = new TmuxPane();
  try {
    await execa(process.execPath, [join(ROOT, 'scripts/demo.ts'), '--no-tui', '--keep-journal', journal], { stdio: 'inherit' });
    const env = { ...process.env, COLUMNS: '100' };
    const show = await execa(process.execPath, [CLI, 'show', '--pod', 'demo/web-3', '--width', '100', '--journal', journal], { env });
    const diagnose = await execa(process.execPath, [CLI, 'diagnose', '--journal', journal], { env, reject: false });
    await pane.start([process.execPath, CLI, 'tui', '--command', 'ADD', '--journal', journal], { columns: 110, rows: 20, env: { NO_COLOR: '1' } });
    await pane.waitFor((s) => s.includes('web-3') && s.includes('web-6'), 'the demo pods on screen', 20_000);
    await sleep(500);
    const tui = await pane.screen();
    let readme = readFileSync(README, 'utf8');
    readme = fillCapture(readme, 'tui', tui);
    // The header and the waterfall; the per-step details (stdin, results) belong to the page, not the README.
    readme = fillCapture(readme, 'show', show.stdout.split('\n── ')[0]!);
    const [head, ...findings] = diagnose.stdout.trim().split('\n\n');
    const shown = [head, ...findings.slice(0, 4), ...(findings.length > 4 ? [`… and ${findings.length - 4} more`] : [])];
    readme = fillCapture(readme, 'diagnose', shown.join('\n\n'));
    writeFileSync(README, readme);
    console.log('README.md: captures updated');
  } finally {
    await pane.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) await main();
