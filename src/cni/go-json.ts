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

/** Go's encoding/json maxNestingDepth: one level deeper is "exceeded max depth". */
export const GO_MAX_DEPTH = 10_000;

class SyntaxErr extends Error {
  /** Where the scanner stopped: the index of the offending character (or the length at the end). */
  readonly at: number;
  /** The scanner's wording without the character: "looking for beginning of value". */
  readonly context: string;
  constructor(message: string, at: number, context: string) {
    super(message);
    this.at = at;
    this.context = context;
  }
}

/** Go's quoteChar: 'x', '\'' and '"'; other characters as strconv.Quote writes them. */
function quoteChar(ch: string): string {
  if (ch === "'") return "'\\''";
  if (ch === '"') return "'\"'";
  return `'${goQuote(Buffer.from(ch)).slice(1, -1)}'`;
}

type Value = { kind: 'object'; members: Array<[string, Value]> } | { kind: 'array' | 'string' | 'bool' | 'null' } | { kind: 'number'; raw: string };

/** An open container while reading: an object collects its members (only the top one's are used). */
type Frame = { kind: 'object'; members: Array<[string, Value]>; key: string } | { kind: 'array' };

/**
 * A reader whose error texts are the scanner's. It keeps its own stack of open containers
 * instead of recursing, so it reads any depth Go reads and refuses the one level more as Go does.
 */
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
    if (this.atEnd() && !/numeric|expecting|escape/.test(context)) throw new SyntaxErr('unexpected end of JSON input', this.i, 'unexpected end of JSON input');
    throw new SyntaxErr(`invalid character ${quoteChar(this.peek())} ${context}`, this.i, context);
  }

  private ws(): void {
    while (!this.atEnd() && ' \t\r\n'.includes(this.s[this.i]!)) this.i++;
  }

  top(): Value {
    const v = this.value();
    this.ws();
    if (!this.atEnd()) this.fail('after top-level value');
    return v;
  }

  /** One value, containers included, without recursion. */
  private value(): Value {
    const stack: Frame[] = [];
    for (;;) {
      this.ws();
      const c = this.peek();
      if (this.atEnd()) this.fail('looking for beginning of value');
      let v: Value;
      if (c === '{' || c === '[') {
        if (stack.length >= GO_MAX_DEPTH) this.fail('exceeded max depth');
        this.i++;
        this.ws();
        const close = c === '{' ? '}' : ']';
        if (this.peek() === close && !this.atEnd()) {
          this.i++;
          v = c === '{' ? { kind: 'object', members: [] } : { kind: 'array' };
        } else {
          stack.push(c === '{' ? { kind: 'object', members: [], key: this.key() } : { kind: 'array' });
          continue;
        }
      } else {
        v = this.scalar(c);
      }
      // Close every container this value completes; stop at the next member or element.
      for (;;) {
        const open = stack[stack.length - 1];
        if (!open) return v;
        if (open.kind === 'object' && stack.length === 1) open.members.push([open.key, v]);
        this.ws();
        const d = this.peek();
        if (!this.atEnd() && d === ',') {
          this.i++;
          if (open.kind === 'object') open.key = this.key();
          break;
        }
        if (!this.atEnd() && d === (open.kind === 'object' ? '}' : ']')) {
          this.i++;
          stack.pop();
          v = open.kind === 'object' ? { kind: 'object', members: open.members } : { kind: 'array' };
          continue;
        }
        this.fail(open.kind === 'object' ? 'after object key:value pair' : 'after array element');
      }
    }
  }

  /** An object key and its colon. */
  private key(): string {
    this.ws();
    if (this.peek() !== '"' || this.atEnd()) this.fail('looking for beginning of object key string');
    const key = this.string();
    this.ws();
    if (this.peek() !== ':' || this.atEnd()) this.fail('after object key');
    this.i++;
    return key;
  }

  private scalar(c: string): Value {
    if (c === '"') { this.string(); return { kind: 'string' }; }
    if (c === '-' || (c >= '0' && c <= '9')) return { kind: 'number', raw: this.number() };
    if (c === 't') { this.literal('true'); return { kind: 'bool' }; }
    if (c === 'f') { this.literal('false'); return { kind: 'bool' }; }
    if (c === 'n') { this.literal('null'); return { kind: 'null' }; }
    return this.fail('looking for beginning of value');
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

/** Where and why Go's scanner stops on `text`, or null when it is valid JSON. */
export interface GoSyntaxError {
  /** Go's message, quoting the offending character ("invalid character 'x' looking for …"). */
  readonly message: string;
  /** The scanner's context without the character ("looking for beginning of value"). */
  readonly context: string;
  /** 1-based line and column of the offending character (past the end: where the input ends). */
  readonly line: number;
  readonly column: number;
}

export function goSyntaxError(text: string): GoSyntaxError | null {
  try {
    new Reader(text).top();
    return null;
  } catch (e) {
    if (!(e instanceof SyntaxErr)) throw e;
    const before = text.slice(0, e.at);
    const line = before.split('\n').length;
    return { message: e.message, context: e.context, line, column: e.at - before.lastIndexOf('\n') };
  }
}

/**
 * Why `text` is not JSON and where, in the scanner's words but without the offending
 * character: the message reaches kubelet events and must not quote config bytes.
 */
export function describeSyntaxError(text: string): string {
  const e = goSyntaxError(text);
  if (!e) return 'invalid JSON';
  const what = e.context === 'unexpected end of JSON input' ? e.context : `invalid character ${e.context}`;
  return `${what} at line ${e.line}, column ${e.column}`;
}

/**
 * For JSON that parsed: Go's error when it nests deeper than GO_MAX_DEPTH, else null. Each
 * level takes two bytes, so shorter input is never scanned (the common case costs nothing).
 */
export function goDepthError(bytes: Buffer): string | null {
  if (bytes.length <= 2 * GO_MAX_DEPTH) return null;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (b === 0x5c) i++;
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) {
      inString = true;
    } else if (b === 0x7b || b === 0x5b) {
      if (++depth > GO_MAX_DEPTH) return `invalid character ${quoteChar(String.fromCharCode(b))} exceeded max depth`;
    } else if (b === 0x7d || b === 0x5d) {
      depth--;
    }
  }
  return null;
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
