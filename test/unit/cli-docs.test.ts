/**
 * docs/cli.md and the commands' own --help say the same: every flag a command takes is in its
 * help and in its docs/cli.md section, and every flag a usage line in docs/cli.md gives a
 * command is one it takes. A section belongs to each command its heading names in backticks.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseArgs } from 'node:util';
import { COMMANDS, helpText } from '../../src/cli/commands.ts';

const DOC = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');
const GLOBAL = new Set(['--help', '--version']);

/** The sections of docs/cli.md whose heading names `command` in backticks, joined. */
function sectionsOf(command: string): string {
  return DOC.split(/^## /m).filter((s) => s.split('\n')[0]!.includes(`\`${command}\``)).join('\n');
}

/** The flags on `cni-trace COMMAND …` usage lines (and their continuations) in code blocks. */
function usageFlags(command: string): Set<string> {
  const flags = new Set<string>();
  for (const block of sectionsOf(command).split('```').filter((_, i) => i % 2 === 1)) {
    let mine = false;
    for (const line of block.split('\n')) {
      if (/^\S/.test(line)) mine = line.startsWith(`cni-trace ${command} `) || line === `cni-trace ${command}`;
      if (mine) for (const f of line.match(/--[a-z][a-z-]*/g) ?? []) flags.add(f);
    }
  }
  return flags;
}

for (const [name, entry] of Object.entries(COMMANDS)) {
  test(`rule: ${name}'s flags, its --help and docs/cli.md agree`, async () => {
    const command = await entry.load();
    const takes = Object.keys(command.options).map((k) => `--${k}`);
    const section = sectionsOf(name);
    assert.ok(section, `docs/cli.md has a section naming \`${name}\``);
    for (const flag of takes) {
      assert.ok(command.help.includes(flag), `${name} --help mentions ${flag}`);
      assert.ok(new RegExp(`${flag}(?![a-z-])`).test(section), `docs/cli.md's ${name} section mentions ${flag}`);
    }
    const documented = usageFlags(name);
    assert.ok(documented.size > 0 || takes.length === 0, `docs/cli.md has a usage line for ${name}`);
    for (const flag of documented) assert.ok(takes.includes(flag) || GLOBAL.has(flag), `docs/cli.md gives ${name} ${flag}, which it does not take`);
  });
}

/** An example's arguments as the shell would give them (no quoting in examples: plain words). */
function exampleArgs(example: string, name: string): string[] {
  const words = example.split(/\s+/);
  assert.equal(words[0], 'cni-trace', `an example of ${name} starts with cni-trace: ${example}`);
  assert.equal(words[1], name, `an example of ${name} runs ${name}: ${example}`);
  return words.slice(2);
}

for (const [name, entry] of Object.entries(COMMANDS)) {
  test(`rule: ${name}'s help has one shape — the usage line first, examples last — and its examples parse`, async () => {
    const command = await entry.load();
    const text = helpText(command);
    assert.match(text, new RegExp(`^Usage: cni-trace ${name}[ \\n]`));
    assert.match(text, /\n\nExamples:\n( {2}cni-trace .+\n?)+$/);
    assert.ok(command.examples.length > 0);
    for (const example of command.examples) {
      const args = exampleArgs(example, name);
      assert.doesNotThrow(() => parseArgs({ args, options: { ...command.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: command.positionals === true, strict: true }), example);
    }
  });
}
