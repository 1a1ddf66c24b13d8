/** `cni-trace wrap` and `unwrap`: a conflist into the cni-trace form and back. */
import { readFileSync } from 'node:fs';
import { prettyJson } from '../cni/json-text.ts';
import { writeFileAtomic } from '../fs/atomic-write.ts';
import { explainFsError, fail, usage, type CliCommand } from './command.ts';
import { isWrapped, parseConflist, unwrapConflist, wrapConflist } from './conflist.ts';

const OUTPUT = { out: { type: 'string' }, 'in-place': { type: 'boolean' } } as const;
// unwrap has no journal to point at: --journal-dir there is a mistake to name, not to ignore.
const OPTIONS = { ...OUTPUT, 'journal-dir': { type: 'string' } } as const;

export const wrap: CliCommand = {
  examples: ['cni-trace wrap /etc/cni/net.d/10-calico.conflist --in-place', 'cni-trace wrap 10-calico.conflist --journal-dir /var/log/cni-trace --out 10-calico.wrapped'],
  help: `Usage: cni-trace wrap FILE [--out FILE2 | --in-place] [--journal-dir DIR]

Writes FILE's conflist with one cni-trace entry holding its plugins as delegates; the
entry's capabilities are the union of theirs. Wrapping a wrapped file changes nothing.
Output goes to stdout, to FILE2 (--out) or back to FILE (--in-place); files are
replaced atomically (temp file + rename), as runtimes watch /etc/cni/net.d.`,
  options: OPTIONS, positionals: true,
  run: (values, positionals) => rewrite('wrap', values, positionals),
};

export const unwrap: CliCommand = {
  examples: ['cni-trace unwrap /etc/cni/net.d/10-calico.conflist --in-place'],
  help: `Usage: cni-trace unwrap FILE [--out FILE2 | --in-place]

Writes the original conflist back: the delegates become the plugins again.
unwrap(wrap(x)) equals x.`,
  options: OUTPUT, positionals: true,
  run: (values, positionals) => rewrite('unwrap', values, positionals),
};

function rewrite(name: 'wrap' | 'unwrap', values: Record<string, unknown>, positionals: string[]): void {
  const file = positionals[0];
  if (!file || positionals.length > 1) usage(name, 'exactly one FILE is required');
  if (values.out && values['in-place']) usage(name, '--out and --in-place exclude each other');
  if (values['journal-dir'] && name === 'unwrap') usage('unwrap', '--journal-dir applies to wrap only');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    fail(`${name}: ${explainFsError(e) ?? `cannot read ${file}: ${(e as Error).message}`}`);
  }
  const conflist = parseConflist(text, file);
  const journalDir = values['journal-dir'] as string | undefined;
  if (name === 'wrap' && isWrapped(conflist) && journalDir) {
    process.stderr.write(`cni-trace: ${file} is already wrapped; left as it is\n`);
  }
  const out = name === 'wrap' ? wrapConflist(conflist, journalDir ? { journalDir } : {}) : unwrapConflist(conflist);
  const json = prettyJson(out) + '\n';
  const target = values['in-place'] ? file : values.out as string | undefined;
  if (target) writeFileAtomic(target, json);
  else process.stdout.write(json);
}
