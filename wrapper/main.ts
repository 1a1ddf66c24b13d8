/**
 * The plugin's entry: the bundle dist/cni-trace.cjs, which is also the self-contained
 * executable's main script — there, arguments make it the `cni-trace` command instead.
 */
import { runCliIfAsked } from './cli-in-sea.ts';
import { main } from './run.ts';

if (!runCliIfAsked()) main();
