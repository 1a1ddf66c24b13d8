/**
 * The entry of the self-contained executable's startup snapshot: run once at build time, it
 * loads and compiles the whole plugin, and V8 saves the heap; each CNI call then starts from
 * that heap and runs `main` (docs/decisions.md, "self-contained executable"). Nothing here may
 * compute per-process state at load time (clock anchors, random ids): it would be frozen.
 */
import { startupSnapshot } from 'node:v8';
import { main } from './run.ts';

startupSnapshot.setDeserializeMainFunction(main);
