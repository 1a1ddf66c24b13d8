/**
 * Wrapping an ordinary conflist into the cni-trace form and back (docs/configuration.md, "The wrapper
 * entry"). Pure functions over JSON; the CLI does the file I/O. zod validates the input
 * here, off the hot path.
 */
import { z } from 'zod';
import { unionCapabilities } from '../config/derive.ts';
import type { Delegate, JsonObject } from '../config/wrapper-entry.ts';

export const PLUGIN_TYPE = 'cni-trace';

const pluginSchema = z.looseObject({
  type: z.string().min(1, 'type must be a non-empty plugin name'),
  capabilities: z.record(z.string(), z.boolean()).optional(),
});

const conflistSchema = z.looseObject({
  name: z.string().min(1),
  cniVersion: z.string().optional(),
  plugins: z.array(pluginSchema).min(1, 'a conflist needs at least one plugin'),
});

/** Parses and checks a conflist; throws an Error naming the first bad field. */
export function parseConflist(text: string, source: string): JsonObject {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source}: not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  const parsed = conflistSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${source}: ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  return json as JsonObject;
}

/** True when the conflist's only plugin is cni-trace. */
export function isWrapped(conflist: JsonObject): boolean {
  const plugins = conflist.plugins as JsonObject[];
  return plugins.length === 1 && plugins[0]!.type === PLUGIN_TYPE;
}

export interface WrapOptions {
  /** Written into the wrapper entry only when given (the plugin defaults otherwise). */
  readonly journalDir?: string;
}

/**
 * The wrapped form: one cni-trace entry advertising the union of the delegates'
 * capabilities, holding the original plugins verbatim. Wrapping a wrapped list is a no-op.
 * Every other key of the conflist keeps its place.
 */
export function wrapConflist(conflist: JsonObject, opts: WrapOptions = {}): JsonObject {
  if (isWrapped(conflist)) return conflist;
  const delegates = conflist.plugins as Delegate[];
  const caps = unionCapabilities(delegates);
  const entry: JsonObject = { type: PLUGIN_TYPE };
  if (Object.keys(caps).length > 0) entry.capabilities = caps;
  if (opts.journalDir) entry.journalDir = opts.journalDir;
  entry.delegates = delegates;
  return { ...conflist, plugins: [entry] };
}

/** The original conflist back: the delegates become the plugins again. */
export function unwrapConflist(conflist: JsonObject): JsonObject {
  if (!isWrapped(conflist)) return conflist;
  const entry = (conflist.plugins as JsonObject[])[0]!;
  return { ...conflist, plugins: entry.delegates as JsonObject[] };
}
