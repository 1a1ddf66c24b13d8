/**
 * Go's text formats that libcni puts into error messages. A wrapped chain must give the
 * runtime the same message as the bare chain, so these follow Go's strconv.Quote,
 * os/exec ExitError and fmt's %s of a []string exactly.
 */

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
const SHORT_ESCAPES: Record<number, string> = { 7: '\\a', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t', 11: '\\v', 34: '\\"', 92: '\\\\' };

/** Go's strconv.Quote of a byte string (`%q` of string(bytes)): invalid UTF-8 becomes \xNN. */
export function goQuote(bytes: Uint8Array): string {
  let out = '"';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      const esc = SHORT_ESCAPES[b];
      if (esc) out += esc;
      else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
      else out += '\\x' + b.toString(16).padStart(2, '0');
      i += 1;
      continue;
    }
    const [rune, size] = decodeRune(bytes, i);
    if (rune < 0) {
      out += '\\x' + b.toString(16).padStart(2, '0');
      i += 1;
      continue;
    }
    const ch = String.fromCodePoint(rune);
    if (PRINTABLE.test(ch)) out += ch;
    else if (rune < 0x10000) out += '\\u' + rune.toString(16).padStart(4, '0');
    else out += '\\U' + rune.toString(16).padStart(8, '0');
    i += size;
  }
  return out + '"';
}

/** Decodes one UTF-8 sequence at i; returns [-1, 1] for an invalid one (as Go's utf8.DecodeRune). */
function decodeRune(b: Uint8Array, i: number): [number, number] {
  const b0 = b[i]!;
  let need: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) need = 1;
  else if (b0 >= 0xe0 && b0 <= 0xef) need = 2;
  else if (b0 >= 0xf0 && b0 <= 0xf4) need = 3;
  else return [-1, 1];
  let rune = b0 & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
  for (let k = 1; k <= need; k++) {
    const c = b[i + k];
    if (c === undefined || (c & 0xc0) !== 0x80) return [-1, 1];
    rune = (rune << 6) | (c & 0x3f);
  }
  const min = need === 1 ? 0x80 : need === 2 ? 0x800 : 0x10000;
  if (rune < min || rune > 0x10ffff || (rune >= 0xd800 && rune <= 0xdfff)) return [-1, 1];
  return [rune, need + 1];
}

/** Go's signal names (syscall.Signal.String on Linux) for the signals a plugin may die of. */
const SIGNAL_NAMES: Record<string, string> = {
  SIGHUP: 'hangup', SIGINT: 'interrupt', SIGQUIT: 'quit', SIGILL: 'illegal instruction',
  SIGTRAP: 'trace/breakpoint trap', SIGABRT: 'aborted', SIGBUS: 'bus error',
  SIGFPE: 'floating point exception', SIGKILL: 'killed', SIGUSR1: 'user defined signal 1',
  SIGSEGV: 'segmentation fault', SIGUSR2: 'user defined signal 2', SIGPIPE: 'broken pipe',
  SIGALRM: 'alarm clock', SIGTERM: 'terminated', SIGXCPU: 'CPU time limit exceeded',
  SIGXFSZ: 'file size limit exceeded', SIGSYS: 'bad system call',
};

/** os/exec's ExitError text: "exit status 2" or "signal: killed". */
export function goExitText(exitCode: number | null, signal: string | null): string {
  if (signal) return `signal: ${SIGNAL_NAMES[signal] ?? signal}`;
  return `exit status ${exitCode ?? -1}`;
}

/** fmt's %s of a []string: "[a b c]". */
export function goStringList(items: readonly string[]): string {
  return `[${items.join(' ')}]`;
}

