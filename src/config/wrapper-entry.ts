/**
 * The wrapper entry: the `cni-trace` plugin object a runtime sends on stdin (docs/configuration.md,
 * "The wrapper entry"). Validated by hand rather than with zod: this runs on every CNI call
 * and zod's load time is a measurable share of the wrapper's budget (docs/decisions.md).
 * Every error names the offending field and carries code 7 (invalid network config).
 */
import { cniError, ErrorCode, type CniError } from '../cni/errors.ts';
import { closest } from '../spelling.ts';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** One real plugin held by the wrapper, kept verbatim. */
export type Delegate = JsonObject & { type: string; capabilities?: Record<string, boolean> };

export interface WrapperEntry {
  readonly name: string;
  readonly cniVersion: string;
  readonly delegates: readonly Delegate[];
  /** The runtimeConfig the runtime injected (already filtered by the wrapper's capabilities). */
  readonly runtimeConfig: JsonObject;
  /** The prevResult the runtime injected (CHECK and DEL carry the cached ADD result). */
  readonly prevResult: Json | undefined;
  readonly journalDir: string;
  /** Extra key-name fragments to redact, on top of the built-in list. */
  readonly redact: readonly string[];
  readonly journalMaxFileBytes: number;
  readonly journalMaxFiles: number;
  readonly captureMaxBytes: number;
  /** Trace the plugins each delegate runs through CNI_PATH (IPAM and sub-plugins). */
  readonly nested: boolean;
  /** Where per-call nested-tracing shims live (tmpfs, so nothing outlives a reboot). */
  readonly runDir: string;
  /** Commands (found through PATH) whose runs by a delegate are traced; empty: none. */
  readonly commands: readonly string[];
  /** The whole entry as received, for the journal (redacted there). */
  readonly raw: JsonObject;
}

export const DEFAULTS = {
  journalDir: '/var/log/cni-trace',
  journalMaxFileBytes: 16 * 1024 * 1024,
  journalMaxFiles: 8,
  captureMaxBytes: 64 * 1024,
  nested: true,
  runDir: '/run/cni-trace',
} as const;

/** `"commands": true`: what go-iptables, the CNI plugins and their helpers run through PATH. */
export const DEFAULT_COMMANDS = ['iptables', 'ip6tables', 'iptables-restore', 'ip6tables-restore', 'iptables-save', 'ip', 'tc', 'modprobe'] as const;

/** Keys a runtime or the CNI spec may put into any plugin object. */
const SPEC_KEYS = new Set(['type', 'name', 'cniVersion', 'capabilities', 'runtimeConfig', 'prevResult', 'args', 'ipam', 'dns']);
/** The wrapper's own keys. */
const WRAPPER_KEYS = new Set(['delegates', 'journalDir', 'redact', 'journalMaxFileBytes', 'journalMaxFiles', 'captureMaxBytes', 'nested', 'runDir', 'commands']);

function invalid(field: string, problem: string): CniError {
  return cniError(ErrorCode.InvalidNetworkConfig, `invalid cni-trace config: ${field}: ${problem}`);
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positiveInt(obj: JsonObject, key: string, fallback: number): number | CniError {
  const v = obj[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) return invalid(key, `must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Validates the wrapper's own keys and delegates in an already-decoded config whose `name`
 * and `cniVersion` were checked by the dispatcher. Unknown keys are refused (code 7) so a
 * typo such as `jounralDir` never silently falls back to a default; keys in the
 * runtime-reserved `cni.dev/` namespace are accepted.
 */
export function parseWrapperEntry(conf: JsonObject): WrapperEntry | CniError {
  for (const key of Object.keys(conf)) {
    if (!SPEC_KEYS.has(key) && !WRAPPER_KEYS.has(key) && !key.startsWith('cni.dev/')) {
      const meant = closest(key, WRAPPER_KEYS);
      return invalid(key, `unknown key${meant ? ` (did you mean "${meant}"?)` : ''} (see docs/configuration.md)`);
    }
  }
  const delegates = conf.delegates;
  if (delegates === undefined) return invalid('delegates', 'missing: the wrapper needs at least one delegate plugin');
  if (!Array.isArray(delegates) || delegates.length === 0) return invalid('delegates', 'must be a non-empty array of plugin objects');
  for (let i = 0; i < delegates.length; i++) {
    const bad = checkDelegate(delegates[i], `delegates[${i}]`);
    if (bad) return bad;
  }
  const journalDir = conf.journalDir === undefined ? DEFAULTS.journalDir : conf.journalDir;
  if (typeof journalDir !== 'string' || !journalDir.startsWith('/')) return invalid('journalDir', 'must be an absolute path');
  const redact = conf.redact === undefined ? [] : conf.redact;
  if (!Array.isArray(redact) || redact.some((r) => typeof r !== 'string' || r === '')) {
    return invalid('redact', 'must be an array of non-empty key-name fragments');
  }
  const nested = conf.nested === undefined ? DEFAULTS.nested : conf.nested;
  if (typeof nested !== 'boolean') return invalid('nested', `must be true or false, got ${JSON.stringify(nested)}`);
  const runDir = conf.runDir === undefined ? DEFAULTS.runDir : conf.runDir;
  if (typeof runDir !== 'string' || !runDir.startsWith('/')) return invalid('runDir', 'must be an absolute path');
  const commands = parseCommands(conf.commands);
  if (!Array.isArray(commands)) return commands;
  if (commands.length > 0 && !nested) return invalid('commands', 'command tracing rides on nested tracing: it needs "nested": true (the default)');
  const runtimeConfig = conf.runtimeConfig === undefined ? {} : conf.runtimeConfig;
  if (!isObject(runtimeConfig)) return invalid('runtimeConfig', 'must be an object');
  const caps = checkCapabilities(conf.capabilities, 'capabilities');
  if (caps) return caps;
  const maxFile = positiveInt(conf, 'journalMaxFileBytes', DEFAULTS.journalMaxFileBytes);
  if (typeof maxFile !== 'number') return maxFile;
  const maxFiles = positiveInt(conf, 'journalMaxFiles', DEFAULTS.journalMaxFiles);
  if (typeof maxFiles !== 'number') return maxFiles;
  const capture = positiveInt(conf, 'captureMaxBytes', DEFAULTS.captureMaxBytes);
  if (typeof capture !== 'number') return capture;
  return {
    name: conf.name as string,
    cniVersion: conf.cniVersion as string,
    delegates: delegates as Delegate[],
    runtimeConfig,
    prevResult: conf.prevResult,
    journalDir,
    redact: redact as string[],
    journalMaxFileBytes: maxFile,
    journalMaxFiles: maxFiles,
    captureMaxBytes: capture,
    nested,
    runDir,
    commands,
    raw: conf,
  };
}

/** `true` (the default set), `false`, or command names as PATH lookups take them. */
function parseCommands(v: Json | undefined): string[] | CniError {
  if (v === undefined || v === false) return [];
  if (v === true) return [...DEFAULT_COMMANDS];
  const shape = 'must be true, false or an array of command names (e.g. ["iptables", "ip"])';
  if (!Array.isArray(v)) return invalid('commands', shape);
  for (const [i, c] of v.entries()) {
    if (typeof c !== 'string') return invalid(`commands[${i}]`, shape);
    if (c === '' || c === '.' || c === '..' || c.includes('/') || c.includes('\0')) return invalid(`commands[${i}]`, `invalid command name ${JSON.stringify(c)}: a name looked up in PATH, not a path`);
  }
  return [...new Set(v as string[])];
}

function checkDelegate(d: Json | undefined, field: string): CniError | null {
  if (!isObject(d)) return invalid(field, 'must be a plugin object');
  if (typeof d.type !== 'string' || d.type === '') return invalid(`${field}.type`, 'missing or not a string');
  if (d.type.includes('/')) return invalid(`${field}.type`, `invalid plugin name ${JSON.stringify(d.type)}: must be a name in CNI_PATH, not a path`);
  return checkCapabilities(d.capabilities, `${field}.capabilities`);
}

function checkCapabilities(caps: Json | undefined, field: string): CniError | null {
  if (caps === undefined) return null;
  if (!isObject(caps)) return invalid(field, 'must be an object of booleans');
  for (const [k, v] of Object.entries(caps)) {
    if (typeof v !== 'boolean') return invalid(`${field}.${k}`, 'must be a boolean');
  }
  return null;
}
