/**
 * Redaction: credentials never reach the journal. A key is split into words whatever its style
 * (camelCase, PascalCase, snake_case, kebab-case, dotted, `X-Auth-Token`, digits apart) and
 * judged on its words; values of name/value pair lists, URL user-info and credential query
 * parameters are redacted too. Everything runs without recursion: a config may be nested as
 * deep as Go's decoder takes (10,000 levels). The rule and its decisions are in docs/configuration.md,
 * "Redaction", and test/unit/redact.test.ts holds them as a table.
 */
import { stringifyJson } from '../cni/json-text.ts';
import type { Json } from './wrapper-entry.ts';

export const REDACTED = '[REDACTED]';

/**
 * Deeper than this the journal keeps a placeholder string instead of the value, so every
 * reader, view and the agent can walk what is journaled with ordinary (recursive) code.
 */
export const JOURNAL_MAX_DEPTH = 100;
export const TOO_DEEP = `[cni-trace: nested deeper than ${JOURNAL_MAX_DEPTH} levels, not journaled]`;

/** Words that make a key a credential wherever they stand in it (basic_auth, X-Auth-Token, dbPwd). */
const CREDENTIAL_WORDS = new Set([
  'password', 'passwords', 'passwd', 'passphrase', 'pwd', 'secret', 'secrets', 'token', 'tokens',
  'credential', 'credentials', 'creds', 'cred', 'auth', 'authn', 'authentication', 'authorization',
  'bearer', 'cookie', 'cookies', 'psk', 'jwt', 'dsn', 'otp', 'apikey', 'apikeys', 'privatekey',
  'accesskey', 'secretkey', 'sessionid',
]);

/**
 * Words that make a key a credential when they end it: `privateKey`, `sshKeys`, `dbPass` hold
 * key material or a password; `keyFile`, `hostKeyAlgorithms`, `passThrough` do not.
 */
const LAST_WORDS = new Set(['key', 'keys', 'pass', 'session']);

/** Run-together lower-case keys (`etcdpassword`, `clientsecret`, `sshkeys`) are judged on these fragments. */
const FRAGMENTS = [
  'password', 'passwd', 'passphrase', 'secret', 'credential', 'apikey', 'accesskey', 'privatekey',
  'secretkey', 'presharedkey', 'sshkey', 'authorization', 'authentication', 'bearer', 'cookie',
] as const;
/** …and on these endings (`accesstoken`, `basicauth`, `proxyauth`, `sessionid`). */
const ENDINGS = ['token', 'tokens', 'auth', 'sessionid'] as const;
/** …and on a known kind of key run together with "key" (`tlskey`, `sshkeys`; not `monkey`). */
const KEY_KINDS = ['tls', 'ssh', 'api', 'private', 'access', 'secret', 'preshared', 'public', 'signing', 'encryption', 'master', 'auth', 'session', 'client', 'server', 'shared', 'root', 'wg'] as const;

/** A key whose last word is one of these holds where a credential is, not the credential. */
const PATH_WORDS = new Set(['file', 'files', 'path', 'paths', 'dir', 'directory', 'filename', 'filepath']);

function normalise(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}

const isLower = (c: string | undefined): boolean => c !== undefined && c >= 'a' && c <= 'z';
const isUpper = (c: string | undefined): boolean => c !== undefined && c >= 'A' && c <= 'Z';

/**
 * The words of a key in any style, lower-cased: a word ends at anything not a letter (digits
 * too: `key2` is `key`), before a capital after a small letter (`basicAuth`), and before the
 * last capital of a run followed by a small letter (`APIKey`). A loop, not regular
 * expressions: this runs on the first keys of every call, before any regex is compiled.
 */
export function keyWords(key: string): string[] {
  const words: string[] = [];
  let word = '';
  for (let i = 0; i < key.length; i++) {
    const c = key[i]!;
    if (!isLower(c) && !isUpper(c)) {
      if (word) words.push(word);
      word = '';
      continue;
    }
    if (isUpper(c) && word && (isLower(key[i - 1]) || (isUpper(key[i - 1]) && isLower(key[i + 1])))) {
      words.push(word);
      word = '';
    }
    word += c.toLowerCase();
  }
  if (word) words.push(word);
  return words;
}

/** `tlskey`, `sshkeys`, `wgkeydata`: a known kind of key run together with "key". */
function keyRun(flat: string): boolean {
  let f = flat;
  for (const tail of ['data', 'material', 'pem']) if (f.endsWith(tail)) { f = f.slice(0, -tail.length); break; }
  if (f.endsWith('keys')) f = f.slice(0, -4);
  else if (f.endsWith('key')) f = f.slice(0, -3);
  else return false;
  return f === '' || KEY_KINDS.some((k) => f.endsWith(k));
}

function judge(key: string, extras: readonly string[]): boolean {
  const flat = normalise(key);
  if (extras.some((f) => flat.includes(f))) return true;
  const words = keyWords(key);
  const last = words[words.length - 1] ?? '';
  if (PATH_WORDS.has(last)) return false;
  if (LAST_WORDS.has(last) || words.some((w) => CREDENTIAL_WORDS.has(w))) return true;
  if (words.includes('session') && words[words.indexOf('session') + 1] === 'id') return true;
  return FRAGMENTS.some((f) => flat.includes(f)) || ENDINGS.some((e) => flat.endsWith(e)) || keyRun(flat);
}

/**
 * Builds the predicate for one wrapper entry's `redact` list: each entry, normalised, is a
 * fragment any key containing it matches. Answers are cached (configs repeat their keys).
 */
export function credentialKeyMatcher(extra: readonly string[] = []): (key: string) => boolean {
  const extras = extra.map(normalise).filter((f) => f !== '');
  const cache = new Map<string, boolean>();
  return (key) => {
    let hit = cache.get(key);
    if (hit === undefined) {
      hit = judge(key, extras);
      if (cache.size < 4096) cache.set(key, hit);
    }
    return hit;
  };
}

const URL_AUTHORITY = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#"'<>@]*)@/gi;
const URL_PARAM = /([?&;])([^=&#\s"'<>;]+)=([^&#\s"'<>;]*)/g;
/**
 * What follows a credential name in free text (`name: value`, `name=value`): the separator, then
 * an auth scheme's credentials, a quoted string (closed or not), or a run up to a delimiter.
 */
const PAIR_VALUE = /\s*[:=]\s*((?:Bearer|Basic|Digest)\s+[^\s"',;]+|"(?:[^"\\\n]|\\.)*"?|'[^'\n]*'|[^\s,;&}\]"']+)/y;
/** An auth scheme's credentials on their own; the token must look like one (a digit, a sign or mixed case), not a word. */
const AUTH_SCHEME = /\b(Bearer|Basic|Digest) +([A-Za-z0-9._~+/=-]*[0-9._~+/=A-Z-][A-Za-z0-9._~+/=-]*)/g;

let builtIn: ((key: string) => boolean) | null = null;

/**
 * URLs in a line the agent or the CLI prints (an endpoint, an exporter's error), with the
 * built-in rule: OTEL_EXPORTER_OTLP_ENDPOINT may carry user-info or `?token=`.
 */
export function redactUrlsIn(text: string): string {
  builtIn ??= credentialKeyMatcher();
  return redactUrls(text, builtIn);
}

/** URL user-info (`user:[REDACTED]@`, a lone token `[REDACTED]@`) and credential query parameters. */
function redactUrls(s: string, isCredential: (key: string) => boolean): string {
  if (!s.includes('://')) return s;
  return s
    .replace(URL_AUTHORITY, (_, scheme: string, info: string) => {
      const colon = info.indexOf(':');
      return `${scheme}${colon >= 0 ? `${info.slice(0, colon)}:${REDACTED}` : REDACTED}@`;
    })
    .replace(URL_PARAM, (all, sep: string, name: string) => isCredential(safeDecode(name)) ? `${sep}${name}=${REDACTED}` : all);
}

function safeDecode(s: string): string {
  try { return decodeURIComponent(s); } catch { return s; }
}

/**
 * A string value in a config: a whole `Name: value` / `--name=value` string (a header line, a
 * flag) whose name is a credential loses all of its value; otherwise as free text.
 */
function redactString(s: string, isCredential: (key: string) => boolean): string {
  // Most strings: no regex at all. A bare "Bearer <token>" has neither a URL nor a name before
  // it, so the auth schemes are looked for too.
  if (!s.includes('://') && !hasAuthScheme(s) && !credentialBeforeSeparator(s, isCredential)) return s;
  const pair = /^(\s*-{0,2}([A-Za-z][\w.-]*)\s*[:=]\s*)\S/.exec(s);
  if (pair && !s.startsWith(`${pair[2]}://`) && isCredential(pair[2]!)) return `${pair[1]}${REDACTED}`;
  return redactText(s, isCredential);
}

/**
 * Free text (stderr, error messages, a captured stream that is not JSON): URLs, an auth
 * scheme's credentials, and `name: value` / `name=value` pairs with a credential name.
 */
export function redactText(s: string, isCredential: (key: string) => boolean): string {
  let out = redactPairs(redactUrls(s, isCredential), isCredential);
  if (hasAuthScheme(out)) out = out.replace(AUTH_SCHEME, `$1 ${REDACTED}`);
  return out;
}

/**
 * Each `name: value` / `name=value` whose name is a credential loses its value. Every separator
 * is looked at, also inside another pair's value (`failed: password=x`, `user=bob:token=y`), in
 * one pass: a name ends at its separator and starts after the previous one, so the text is walked
 * a bounded number of times whatever it holds.
 */
function redactPairs(s: string, isCredential: (key: string) => boolean): string {
  let out = '';
  let from = 0;
  let i = 0;
  for (let hit = credentialAt(s, i, from, isCredential); hit; hit = credentialAt(s, i, from, isCredential)) {
    i = hit.at + 1;
    PAIR_VALUE.lastIndex = hit.name.end + hit.name.quote.length;
    const value = PAIR_VALUE.exec(s)?.[1];
    if (value === undefined || value.startsWith('//') || value.startsWith('[REDACTED')) continue;
    const valueEnd = PAIR_VALUE.lastIndex;
    out += s.slice(from, valueEnd - value.length) + (value.startsWith('"') ? `"${REDACTED}"` : REDACTED);
    from = i = valueEnd;
  }
  return from === 0 ? s : out + s.slice(from);
}

/** The first separator (':' or '=') from `from` on with a credential name before it, the name not reaching back before `floor`. */
function credentialAt(s: string, from: number, floor: number, isCredential: (key: string) => boolean): { at: number; name: Name } | null {
  if (s.indexOf(':', from) < 0 && s.indexOf('=', from) < 0) return null;
  for (let i = from; i < s.length; i++) {
    if (s[i] !== ':' && s[i] !== '=') continue;
    const name = nameBefore(s, i, floor);
    if (name && isCredential(s.slice(name.start, name.end))) return { at: i, name };
  }
  return null;
}

/** A name before a separator: where it starts and ends, and the quote after it, if any. */
interface Name { start: number; end: number; quote: string }

/**
 * The name standing before the separator at `at`, not reaching back before `floor`: letters,
 * digits, `_`, `.`, `-`, starting with a letter, optionally quoted (a closing quote alone counts
 * too: an excerpt cut before the opening one), whitespace allowed before the separator.
 */
function nameBefore(s: string, at: number, floor: number): Name | null {
  let end = at;
  while (end > floor && /\s/.test(s[end - 1]!)) end--;
  const quote = end > floor && (s[end - 1] === '"' || s[end - 1] === "'") ? s[end - 1]! : '';
  end -= quote.length;
  let start = end;
  while (start > floor && isNameChar(s[start - 1])) start--;
  while (start < end && !isLower(s[start]) && !isUpper(s[start])) start++;
  if (start === end) return null;
  return { start, end, quote };
}

/** The cheap test before AUTH_SCHEME's regex. */
function hasAuthScheme(s: string): boolean {
  return s.includes('Bearer') || s.includes('Basic') || s.includes('Digest');
}

const isNameChar = (c: string | undefined): boolean => c !== undefined && (isLower(c) || isUpper(c) || (c >= '0' && c <= '9') || c === '_' || c === '.' || c === '-');

/** Does a credential name stand before some ':' or '=' in `s`? Spares most strings the pair rules. */
function credentialBeforeSeparator(s: string, isCredential: (key: string) => boolean): boolean {
  return credentialAt(s, 0, 0, isCredential) !== null;
}

/** Sets own property `k` even when it is `__proto__` (JSON.parse makes such keys). */
function put(obj: Record<string, Json>, k: string, v: Json): void {
  if (k === '__proto__') Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
  else obj[k] = v;
}

/** The `value` of a `{name|key|header: <credential name>, value: …}` pair, if `obj` is one. */
function pairValueKey(obj: Record<string, Json>, isCredential: (key: string) => boolean): string | null {
  const valueKey = 'value' in obj ? 'value' : 'Value' in obj ? 'Value' : null;
  if (!valueKey) return null;
  for (const f of ['name', 'key', 'header', 'Name', 'Key', 'Header']) {
    const n = obj[f];
    if (typeof n === 'string' && isCredential(n)) return valueKey;
  }
  return null;
}

/**
 * A copy of `value` with credentials replaced (never mutates), and whether anything was:
 * values under credential-named keys, pair values, URLs and header strings. Iterative, so any
 * depth is fine; containers deeper than `maxDepth` become the TOO_DEEP placeholder.
 */
export function redactJsonChanged(value: Json | undefined, isCredential: (key: string) => boolean, maxDepth = JOURNAL_MAX_DEPTH): { value: Json | undefined; changed: boolean } {
  let changed = false;
  const holder: Record<string, Json> = {};
  // Each task fills parent[key] from src; the root fills holder.root.
  const tasks: Array<[src: Json | undefined, depth: number, parent: Record<string, Json> | Json[], key: string | number]> = [[value, 1, holder, 'root']];
  while (tasks.length > 0) {
    const [src, depth, parent, key] = tasks.pop()!;
    let out: Json;
    if (src === undefined) continue;
    if (typeof src === 'string') {
      out = redactString(src, isCredential);
      if (out !== src) changed = true;
    } else if (src === null || typeof src !== 'object') {
      out = src;
    } else if (depth > maxDepth) {
      out = TOO_DEEP;
      changed = true;
    } else if (Array.isArray(src)) {
      const arr: Json[] = new Array<Json>(src.length).fill(null);
      const pair = src.length === 2 && typeof src[0] === 'string' && isCredential(src[0]);
      for (let i = src.length - 1; i >= 0; i--) {
        if (pair && i === 1) { arr[1] = REDACTED; changed = true; } else tasks.push([src[i], depth + 1, arr, i]);
      }
      out = arr;
    } else {
      const obj: Record<string, Json> = {};
      const pairValue = pairValueKey(src, isCredential);
      const entries = Object.entries(src);
      for (const [k] of entries) put(obj, k, null); // keeps the key order
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, v] = entries[i]!;
        if (k === pairValue || isCredential(k)) { put(obj, k, REDACTED); changed = true; } else tasks.push([v, depth + 1, obj, k]);
      }
      out = obj;
    }
    if (Array.isArray(parent)) parent[key as number] = out;
    else put(parent, key as string, out);
  }
  return { value: value === undefined ? undefined : holder.root!, changed };
}

/** A deep copy of `value` with every credential replaced. Never mutates; any depth. */
export function redactJson(value: Json | undefined, isCredential: (key: string) => boolean, maxDepth = JOURNAL_MAX_DEPTH): Json | undefined {
  return redactJsonChanged(value, isCredential, maxDepth).value;
}

/** CNI_ARGS ("K=V;K=V") with credential-named values replaced and URLs in values redacted. */
export function redactCniArgs(args: string, isCredential: (key: string) => boolean): string {
  return args.split(';').map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) return pair;
    const name = pair.slice(0, eq);
    return isCredential(name) ? `${name}=${REDACTED}` : `${name}=${redactUrls(pair.slice(eq + 1), isCredential)}`;
  }).join(';');
}

/**
 * A captured stream (a result, an error document, stderr): JSON is redacted as a config is
 * and written back only when something changed (else the bytes stay as they were); anything
 * else, or a cut excerpt, as free text.
 */
export function redactStreamText(text: string, whole: boolean, isCredential: (key: string) => boolean): string {
  const first = text.trimStart()[0];
  if (whole && (first === '{' || first === '[')) {
    let parsed: Json | undefined;
    try { parsed = JSON.parse(text) as Json; } catch { parsed = undefined; }
    if (parsed !== undefined) {
      const { value, changed } = redactJsonChanged(parsed, isCredential);
      return changed ? stringifyJson(value) : text;
    }
  }
  return redactText(text, isCredential);
}

/** Key material as commands take it on their command line (`ip xfrm state … enc aes 0x…`). */
const HEX_KEY = /^0x[0-9a-fA-F]{16,}$/;

/**
 * A command's argv (a traced iptables, ip, tc …): each argument as free text; the argument
 * after a flag or word naming a credential (`--password X`, `psk X`); and hex key material.
 * The rest — rules, addresses, devices — is what the trace is for and stays as it ran.
 */
export function redactArgv(argv: readonly string[], isCredential: (key: string) => boolean): string[] {
  const out: string[] = [];
  let next = false;
  for (const arg of argv) {
    if (next || HEX_KEY.test(arg)) out.push(REDACTED);
    else out.push(redactText(arg, isCredential));
    const word = arg.replace(/^-+/, '');
    next = !next && word !== '' && !word.includes('=') && /^[A-Za-z][\w.-]*$/.test(word) && isCredential(word);
  }
  return out;
}
