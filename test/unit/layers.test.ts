/**
 * Imports only go down: the layer order is written once, in docs/architecture.md's `layers`
 * block (bottom first, one layer per line, a layer's folders or files separated by spaces), and
 * every import in src/, tui/ and wrapper/ (static, dynamic, type-only, re-export) must stay in
 * its own folder or go to a layer listed before its own.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../support/fixtures.ts';

function layers(): Array<{ rank: number; prefix: string }> {
  const doc = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
  const block = /```layers\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(block, 'docs/architecture.md has a ```layers block');
  return block.trim().split('\n').flatMap((line, rank) => line.trim().split(/\s+/).map((prefix) => ({ rank, prefix })));
}

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts')).map((f) => join(dir, f));
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g;

/** Every relative import of `file` (repo-relative path) as a repo-relative path. */
export function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2]!;
    if (spec.startsWith('.')) out.push(relative(ROOT, resolve(ROOT, dirname(file), spec)));
  }
  return out;
}

test('every module is in a layer, and no import goes up or sideways', () => {
  const order = layers();
  const layerOf = (path: string): { rank: number; prefix: string } | undefined =>
    order.filter((l) => path === l.prefix || path.startsWith(`${l.prefix}/`)).sort((a, b) => b.prefix.length - a.prefix.length)[0];
  const wrong: string[] = [];
  for (const file of ['src', 'tui', 'wrapper'].flatMap(sources)) {
    const from = layerOf(file);
    if (!from) { wrong.push(`${file} is in no layer (docs/architecture.md)`); continue; }
    for (const target of importsOf(file, readFileSync(join(ROOT, file), 'utf8'))) {
      if (!/^(src|tui|wrapper)\//.test(target)) continue; // package.json and the like
      const to = layerOf(target);
      if (!to) wrong.push(`${file} imports ${target}, which is in no layer`);
      else if (to.prefix !== from.prefix && to.rank >= from.rank) wrong.push(`${file} (${from.prefix}) imports ${target} (${to.prefix}): ${to.rank > from.rank ? 'up' : 'sideways'}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('the check sees what it must: static, type-only, re-export and dynamic imports', () => {
  const text = `import { a } from '../cli/x.ts';\nimport type { B } from '../agent/y.ts';\nexport { c } from './z.ts';\nconst t = () => import('../../tui/run.ts');\nimport {\n  d,\n} from '../view/w.ts';\n`;
  assert.deepEqual(importsOf('src/journal/f.ts', text), ['src/cli/x.ts', 'src/agent/y.ts', 'src/journal/z.ts', 'tui/run.ts', 'src/view/w.ts']);
});
