/**
 * The errors Go's encoding/json gives when a plugin's stdout is decoded into libcni's
 * types.Error ({Code uint `json:"code"`; Msg string `json:"msg"`; Details string}), so a
 * wrapped chain words a garbled plugin error exactly as libcni does for a bare one.
 * Syntax errors follow encoding/json's scanner (scanner.go): at end of input the scanner is
 * fed one space, so a truncated literal reports "invalid character ' '". Type errors follow
 * its decoder: keys match fields case-insensitively, the first bad field in document order
 * is reported, and `code` must parse as an unsigned 64-bit integer.
 */
import { goQuote } from './go-format.ts';

class SyntaxErr extends Error {}

/** Go's quoteChar: 'x', '\'' and '"'; other characters as strconv.Quote writes them. */
function quoteChar(ch: string): string {
  if (ch === "'") return "'\\''";
  if (ch === '"') return "'\"'";
  return `'${goQuote(Buffer.from(ch)).slice(1, -1)}'`;
}

type Value = { kind: 'object'; members: Array<[string, Value]> } | { kind: 'array' | 'string' | 'bool' | 'null' } | { kind: 'number'; raw: string };

/** A recursive-descent reader whose error texts are the scanner's. */
class Reader {
  private i = 0;
  private readonly s: string;
  constructor(s: string) { this.s = s; }

  /** The next character, or ' ' past the end (Go's scanner.eof feeds a space). */
  private peek(): string { return this.i < this.s.length ? this.s[this.i]! : ' '; }
  private atEnd(): boolean { return this.i >= this.s.length; }

  private fail(context: string): never {
    // Past the end the scanner sees a space: inside a number, a literal or an escape that is
    // an invalid character; anywhere else it is skipped and the input is merely incomplete.
    if (this.atEnd() && !/numeric|expecting|escape/.test(context)) throw new SyntaxErr('unexpected end of JSON input');
    throw new SyntaxErr(`invalid character ${quoteChar(this.peek())} ${context}`);
  }

  private ws(): void {
    while (!this.atEnd() && ' \t\r\n'.includes(this.s[this.i]!)) this.i++;
  }

  top(): Value {
    this.ws();
    const v = this.value();
    this.ws();
    if (!this.atEnd()) this.fail('after top-level value');
    return v;
  }

  private value(): Value {
    const c = this.peek();
    if (this.atEnd()) this.fail('looking for beginning of value');
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') { this.string(); return { kind: 'string' }; }
    if (c === '-' || (c >= '0' && c <= '9')) return { kind: 'number', raw: this.number() };
    if (c === 't') { this.literal('true'); return { kind: 'bool' }; }
    if (c === 'f') { this.literal('false'); return { kind: 'bool' }; }
    if (c === 'n') { this.literal('null'); return { kind: 'null' }; }
    return this.fail('looking for beginning of value');
  }

  private object(): Value {
    this.i++;
    const members: Array<[string, Value]> = [];
    this.ws();
    if (this.peek() === '}' && !this.atEnd()) { this.i++; return { kind: 'object', members }; }
    for (;;) {
      this.ws();
      if (this.peek() !== '"' || this.atEnd()) this.fail('looking for beginning of object key string');
      const key = this.string();
      this.ws();
      if (this.peek() !== ':' || this.atEnd()) this.fail('after object key');
      this.i++;
      this.ws();
      members.push([key, this.value()]);
      this.ws();
      const c = this.peek();
      if (!this.atEnd() && c === ',') { this.i++; continue; }
      if (!this.atEnd() && c === '}') { this.i++; return { kind: 'object', members }; }
      this.fail('after object key:value pair');
    }
  }

  private array(): Value {
    this.i++;
    this.ws();
    if (this.peek() === ']' && !this.atEnd()) { this.i++; return { kind: 'array' }; }
    for (;;) {
      this.ws();
      this.value();
      this.ws();
      const c = this.peek();
      if (!this.atEnd() && c === ',') { this.i++; continue; }
      if (!this.atEnd() && c === ']') { this.i++; return { kind: 'array' }; }
      this.fail('after array element');
    }
  }

  private string(): string {
    const start = ++this.i;
    for (;;) {
      if (this.atEnd()) this.fail('in string literal');
      const c = this.s[this.i]!;
      if (c === '"') { this.i++; return JSON.parse(this.s.slice(start - 1, this.i)) as string; }
      if (c < ' ') this.fail('in string literal');
      if (c === '\\') {
        this.i++;
        const e = this.peek();
        if (this.atEnd() || !'"\\/bfnrtu'.includes(e)) this.fail('in string escape code');
        this.i++;
        if (e === 'u') {
          for (let k = 0; k < 4; k++) {
            if (this.atEnd() || !/[0-9a-fA-F]/.test(this.peek())) this.fail('in \\u hexadecimal character escape');
            this.i++;
          }
        }
        continue;
      }
      this.i++;
    }
  }

  private digits(): void {
    while (!this.atEnd() && this.peek() >= '0' && this.peek() <= '9') this.i++;
  }

  private number(): string {
    const start = this.i;
    if (this.peek() === '-') {
      this.i++;
      if (this.atEnd() || this.peek() < '0' || this.peek() > '9') this.fail('in numeric literal');
    }
    if (this.peek() === '0') this.i++;
    else this.digits();
    if (!this.atEnd() && this.peek() === '.') {
      this.i++;
      if (this.atEnd() || this.peek() < '0' || this.peek() > '9') this.fail('after decimal point in numeric literal');
      this.digits();
    }
    if (!this.atEnd() && (this.peek() === 'e' || this.peek() === 'E')) {
      this.i++;
      if (!this.atEnd() && (this.peek() === '+' || this.peek() === '-')) this.i++;
      if (this.atEnd() || this.peek() < '0' || this.peek() > '9') this.fail('in exponent of numeric literal');
      this.digits();
    }
    return this.s.slice(start, this.i);
  }

  private literal(word: string): void {
    this.i++;
    for (let k = 1; k < word.length; k++) {
      if (this.atEnd() || this.peek() !== word[k]) this.fail(`in literal ${word} (expecting ${quoteChar(word[k]!)})`);
      this.i++;
    }
  }
}

const FIELDS = [['code', 'uint'], ['msg', 'string'], ['details', 'string']] as const;
const UINT64_MAX = 18446744073709551615n;
const KIND_NAME: Record<string, string> = { object: 'object', array: 'array', string: 'string', bool: 'bool', number: 'number' };

/** The json.Unmarshal error for `text` into types.Error, or null when Go would decode it. */
export function goDecodeErrorStructError(text: string): string | null {
  let top: Value;
  try {
    top = new Reader(text).top();
  } catch (e) {
    if (e instanceof SyntaxErr) return e.message;
    throw e;
  }
  if (top.kind === 'null') return null;
  if (top.kind !== 'object') return `json: cannot unmarshal ${KIND_NAME[top.kind]} into Go value of type types.Error`;
  for (const [key, value] of top.members) {
    const field = FIELDS.find(([name]) => name === key.toLowerCase());
    if (!field || value.kind === 'null') continue;
    const [name, type] = field;
    if (type === 'uint') {
      if (value.kind === 'number') {
        if (/^\d+$/.test(value.raw) && BigInt(value.raw) <= UINT64_MAX) continue;
        return `json: cannot unmarshal number ${value.raw} into Go struct field Error.${name} of type uint`;
      }
    } else if (value.kind === 'string') continue;
    return `json: cannot unmarshal ${KIND_NAME[value.kind]} into Go struct field Error.${name} of type ${type}`;
  }
  return null;
}
