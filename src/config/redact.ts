/**
 * Redaction: credentials never reach the journal. A key is a credential when its name,
 * lower-cased with "-", "_" and "." removed, contains one of the fragments below (or one the
 * wrapper entry adds with `redact`), or when its last word is "key" (privateKey, tls_key). Its value — whatever its type — becomes REDACTED.
 * Documented in the README, "Redaction".
 */
import type { Json } from './wrapper-entry.ts';

export const REDACTED = '[REDACTED]';

/** Built-in fragments; matched against the normalised key name. */
export const DEFAULT_REDACT_FRAGMENTS = [
  'password', 'passwd', 'passphrase', 'secret', 'token', 'apikey', 'accesskey', 'privatekey',
  'credential', 'authorization', 'bearer', 'cookie', 'psk',
] as const;

/** Key names that are credentials in themselves (exact, normalised). */
const EXACT = new Set(['key', 'pass', 'auth', 'pwd', 'keydata', 'keymaterial']);

function normalise(key: string): string {
  return key.toLowerCase().replace(/[-_.]/g, '');
}

/**
 * The last word of a key in camelCase, snake_case, kebab-case or dotted form: "presharedKey"
 * and "tls_key" end in the word "key" (key material; a public key loses nothing by it),
 * "monkey" and "etcd_key_file" do not.
 */
function lastWord(key: string): string {
  const words = key.split(/[-_.]|(?<=[a-z0-9])(?=[A-Z])/);
  return (words[words.length - 1] ?? '').toLowerCase();
}

/** Builds the predicate for one wrapper entry's redaction list. */
export function credentialKeyMatcher(extra: readonly string[] = []): (key: string) => boolean {
  const fragments = [...DEFAULT_REDACT_FRAGMENTS, ...extra].map(normalise);
  return (key) => {
    const k = normalise(key);
    return EXACT.has(k) || lastWord(key) === 'key' || fragments.some((f) => k.includes(f));
  };
}

/** A deep copy of `value` with every credential-named key's value replaced. Never mutates. */
export function redactJson(value: Json | undefined, isCredential: (key: string) => boolean): Json | undefined {
  if (Array.isArray(value)) return value.map((v) => redactJson(v, isCredential) as Json);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(value)) out[k] = isCredential(k) ? REDACTED : (redactJson(v, isCredential) as Json);
  return out;
}

/** CNI_ARGS ("K=V;K=V") with credential-named values replaced. */
export function redactCniArgs(args: string, isCredential: (key: string) => boolean): string {
  return args.split(';').map((pair) => {
    const eq = pair.indexOf('=');
    return eq > 0 && isCredential(pair.slice(0, eq)) ? `${pair.slice(0, eq)}=${REDACTED}` : pair;
  }).join(';');
}
