/**
 * The Node part of a training call (scripts/train-cache.ts): runs the plugin bundle as the
 * self-contained executable does (wrapper/plugin-script.ts), and when the call is done writes
 * the code cache V8 then holds — the bundle's top level and every function the call ran.
 * Usage (by the trainer's front only): train-node.ts <bundle.cjs> <cache out>
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { compilePlugin, runBundle } from '../wrapper/plugin-script.ts';

const [bundle, out] = process.argv.slice(2) as [string, string];
const compiled = compilePlugin(readFileSync(bundle, 'utf8'), bundle);
process.on('exit', () => {
  writeFileSync(`${out}.tmp`, compiled.script.createCachedData());
  renameSync(`${out}.tmp`, out);
});
// The bundle's CLI check reads argv: it must see none, as a runtime passes none.
process.argv.length = 2;
runBundle(compiled, bundle);
