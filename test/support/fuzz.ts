/**
 * Seeded generators for the fault matrix: fuzzed plugin input (stdin and env) with the CNI
 * error code each case must get, and configs carrying credentials for the redaction property
 * test. Deterministic from the seed, so a failure names a case that can be replayed.
 */

import { posix } from 'node:path';

/** mulberry32: a small, fast, seeded PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FuzzCase {
  readonly kind: 'bytes' | 'text-mutation' | 'structure' | 'env';
  readonly stdin: Buffer;
  readonly env: Record<string, string | undefined>;
  /** The CNI error codes a refusal of this case may carry, and whether it may also succeed. */
  readonly expect: { readonly codes: readonly number[]; readonly success: boolean };
}

/** JSON text of `levels` nested objects ({"a":…}) or arrays, the innermost holding `inner`. */
export function nested(levels: number, shape: 'objects' | 'arrays', inner = '1'): string {
  return shape === 'objects' ? '{"a":'.repeat(levels) + inner + '}'.repeat(levels) : '['.repeat(levels) + inner + ']'.repeat(levels);
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

function randomBytes(r: () => number, max: number): Buffer {
  const b = Buffer.alloc(Math.floor(r() * max));
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
  return b;
}

const WEIRD: readonly unknown[] = [null, true, 0, -1, 1.5, 1e308, '', 'x'.repeat(300), '\u0000\u001b[2J', [], {}, [[[[]]]], { type: 'x' }, '../../bin/sh', '/bin/sh'];

/** Is `path` inside the directory `root` (not merely a string that starts like it)? */
function inside(path: string, root: string): boolean {
  const normal = posix.normalize(path);
  return normal.startsWith(`${root}/`) && !normal.split('/').includes('..');
}

/** Every string value that is an absolute path stays under `root` (the journal must not go elsewhere). */
function pathsUnder(value: unknown, root: string): boolean {
  if (typeof value === 'string') return !value.startsWith('/') || inside(value, root);
  if (Array.isArray(value)) return value.every((v) => pathsUnder(v, root));
  if (value && typeof value === 'object') return Object.values(value).every((v) => pathsUnder(v, root));
  return true;
}

/**
 * `count` cases from `seed`. `valid` is a working wrapper entry whose journalDir is under
 * `root`; cases whose decoded config would point the journal (or anything) outside `root`, or
 * drop journalDir (the default is the host's /var/log/cni-trace), are regenerated.
 */
export function fuzzCases(seed: number, count: number, valid: Record<string, unknown>, env: Record<string, string | undefined>, root: string): FuzzCase[] {
  const r = prng(seed);
  const text = JSON.stringify(valid);
  const out: FuzzCase[] = [];
  while (out.length < count) {
    const kind = pick(r, ['bytes', 'text-mutation', 'structure', 'env'] as const);
    let stdin: string | Buffer;
    let caseEnv = env;
    let envVar = '';
    if (kind === 'bytes') {
      stdin = randomBytes(r, 256);
    } else if (kind === 'text-mutation') {
      const chars = [...text];
      for (let k = 0, n = 1 + Math.floor(r() * 4); k < n; k++) {
        const at = Math.floor(r() * chars.length);
        const op = r();
        if (op < 0.3) chars.splice(at, 1);
        else if (op < 0.6) chars.splice(at, 0, pick(r, ['{', '}', '"', ',', ':', '[', ']', '\\', '\u0000', 'é', '\ud800', '9', 'e']));
        else if (op < 0.8) chars[at] = String.fromCharCode(Math.floor(r() * 128));
        else chars.length = at;
      }
      stdin = chars.join('');
    } else if (kind === 'structure') {
      const conf = JSON.parse(text) as Record<string, unknown>;
      const delegates = conf.delegates as Array<Record<string, unknown>>;
      const targets: Array<[Record<string, unknown>, string]> = [
        [conf, pick(r, ['name', 'cniVersion', 'delegates', 'redact', 'journalMaxFiles', 'captureMaxBytes', 'capabilities', 'runtimeConfig', 'prevResult', 'nested', 'bogusKey', 'type'])],
        [delegates[0]!, pick(r, ['type', 'capabilities', 'ipam', 'fx'])],
      ];
      const [obj, key] = pick(r, targets);
      if (r() < 0.2) delete obj[key];
      else obj[key] = pick(r, WEIRD);
      stdin = JSON.stringify(conf);
    } else {
      caseEnv = { ...env };
      const name = pick(r, ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_NETNS', 'CNI_PATH', 'CNI_ARGS']);
      envVar = name;
      caseEnv[name] = r() < 0.4 ? undefined : pick(r, ['', 'BOGUS', 'add', 'a/b', 'x'.repeat(40), ' ', '.', '..', 'eth 0', 'ctr:1', '-x', '\u0000']);
      stdin = text;
    }
    const buf = typeof stdin === 'string' ? Buffer.from(stdin) : stdin;
    let decoded: unknown;
    let parses = true;
    try {
      decoded = JSON.parse(buf.toString('utf8'));
    } catch {
      parses = false;
    }
    const isObject = parses && typeof decoded === 'object' && decoded !== null && !Array.isArray(decoded);
    if (isObject) {
      const d = decoded as Record<string, unknown>;
      if (typeof d.journalDir !== 'string' || !inside(d.journalDir, root) || !pathsUnder(d, root) || 'runDir' in d) continue;
    }
    // skel's order: a bad env is reported first (code 4, or 3 for an unknown container); then
    // undecodable stdin (6); then the config (1 version, 6 the types of name and cniVersion, 7
    // the rest). A CNI_PATH that no longer holds the delegate: 7, "failed to find plugin".
    const expect = kind === 'env'
      ? envVar === 'CNI_ARGS' ? { codes: [], success: true }
        : envVar === 'CNI_PATH' ? { codes: [4, 7], success: true } : { codes: [3, 4], success: true }
      : !isObject ? { codes: [6], success: false } : { codes: [1, 6, 7], success: true };
    out.push({ kind, stdin: buf, env: caseEnv, expect });
  }
  return out;
}

/** A credential name's words in the styles configs, headers and env use. */
export const STYLES: ReadonlyArray<(words: readonly string[]) => string> = [
  (w) => w.join(''), // run together
  (w) => w.map((x, i) => (i === 0 ? x : x[0]!.toUpperCase() + x.slice(1))).join(''), // camelCase
  (w) => w.map((x) => x[0]!.toUpperCase() + x.slice(1)).join(''), // PascalCase
  (w) => w.join('_'), (w) => w.join('_').toUpperCase(), (w) => w.join('-'), (w) => w.join('.'),
  (w) => w.map((x) => x[0]!.toUpperCase() + x.slice(1)).join('-'), // header style
];
/** Credential names as words (docs/configuration.md, "Redaction"). */
export const CREDENTIAL_NAMES: ReadonlyArray<readonly string[]> = [
  ['password'], ['db', 'password'], ['api', 'key'], ['basic', 'auth'], ['proxy', 'auth'], ['x', 'auth'], ['ssh', 'keys'], ['jwt'], ['creds'], ['dsn'],
  ['access', 'token'], ['client', 'secret'], ['authorization'], ['authentication'], ['private', 'key'], ['session', 'id'], ['tls', 'key'], ['psk'], ['cookie'], ['bearer'],
];
const PLAIN_KEYS = ['mtu', 'bridge', 'subnet', 'routes', 'name2', 'nodes', 'mode', 'monkey', 'keyring_path', 'keyFile', 'authority', 'tokenizer', 'hostKeyAlgorithms'];

/** A credential name in a random style. */
export function credentialName(r: () => number): string {
  return pick(r, STYLES)(pick(r, CREDENTIAL_NAMES));
}

/**
 * One place a secret can stand: under a credential key (itself or inside an object under it),
 * as the value of a name/value pair in its three shapes, in a header or flag string, in URL
 * user-info or a query parameter. Returns [key, value] for the enclosing object.
 */
function plantSecret(r: () => number, secret: () => string): [string, unknown] {
  const name = credentialName(r);
  const roll = Math.floor(r() * 8);
  if (roll === 0) return [name, { inner: secret(), list: [secret()] }];
  if (roll === 1) return [pick(r, ['headers', 'env']), [{ name, value: secret() }]];
  if (roll === 2) return [pick(r, ['headers', 'env']), [{ key: name, value: secret() }]];
  if (roll === 3) return ['headers', [[name, secret()]]];
  if (roll === 4) return ['args', [`${pick(r, ['', '--'])}${name}${pick(r, [': ', '='])}${secret()}`]];
  if (roll === 5) return ['endpoint', `https://user:${secret()}@collector.example:4318/v1`];
  if (roll === 6) return ['url', `http://h.example/x?a=1&${name}=${secret()}`];
  return [name, secret()];
}

/** A config with credentials in random styles and places at random depths; returns it and the secret values. */
export function configWithSecrets(r: () => number, tag: string): { config: Record<string, unknown>; secrets: string[] } {
  const secrets: string[] = [];
  const secret = (): string => {
    const s = `S3CR3T-${tag}-${secrets.length}-${Math.floor(r() * 1e9).toString(36)}`;
    secrets.push(s);
    return s;
  };
  const build = (depth: number): Record<string, unknown> => {
    const obj: Record<string, unknown> = {};
    for (let i = 0, n = 1 + Math.floor(r() * 4); i < n; i++) {
      const roll = r();
      if (roll < 0.35) {
        const [k, v] = plantSecret(r, secret);
        obj[k] = v;
      } else if (roll < 0.55 && depth < 4) obj[pick(r, PLAIN_KEYS)] = build(depth + 1);
      else if (roll < 0.7 && depth < 4) obj[pick(r, PLAIN_KEYS)] = [build(depth + 1), 'plain-value'];
      else obj[pick(r, PLAIN_KEYS)] = Math.floor(r() * 1000);
    }
    return obj;
  };
  const config = build(0);
  if (secrets.length === 0) config.password = secret();
  return { config, secrets };
}

/**
 * JSON text nested `levels` deep (objects and arrays mixed), with secrets planted at random
 * levels — near the top, where the journal keeps them redacted, and far below, where it keeps
 * a placeholder. Built as text: JSON.stringify cannot write it.
 */
export function deepWithSecrets(r: () => number, levels: number, tag: string): { text: string; secrets: string[] } {
  const secrets: string[] = [];
  const secret = (): string => {
    const s = `S3CR3T-${tag}-deep${secrets.length}-${Math.floor(r() * 1e9).toString(36)}`;
    secrets.push(s);
    return s;
  };
  const opens: string[] = [];
  const closes: string[] = [];
  const chance = Math.min(0.5, 20 / Math.max(1, levels));
  for (let i = 0; i < levels; i++) {
    const plant = r() < chance;
    if (r() < 0.6) {
      const [k, v] = plant ? plantSecret(r, secret) : [null, null];
      opens.push(`{${k === null ? '' : `${JSON.stringify(k)}:${JSON.stringify(v)},`}${JSON.stringify(pick(r, PLAIN_KEYS))}:`);
      closes.push('}');
    } else {
      opens.push(`[${plant ? `${JSON.stringify(`https://u:${secret()}@h.example/`)},` : ''}`);
      closes.push(']');
    }
  }
  return { text: opens.join('') + '0' + closes.reverse().join(''), secrets };
}
