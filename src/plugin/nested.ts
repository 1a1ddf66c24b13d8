/**
 * Nested tracing: seeing the plugins a delegate runs itself (bridge → host-local, calico →
 * calico-ipam, a meta plugin → its delegates), all of which it finds through CNI_PATH.
 *
 * Per invocation the wrapper makes a private directory under `runDir` (tmpfs, 0700):
 *
 *   <runDir>/<invocation span id>/shim       a /bin/sh script (below), written for this call
 *   <runDir>/<invocation span id>/bin/NAME   a symlink to ../shim per plugin in CNI_PATH now
 *   <runDir>/<invocation span id>/calls/     one set of files per nested call
 *
 * and gives each delegate `CNI_PATH=<dir>/bin:<CNI_PATH>`. A delegate that looks up
 * "host-local" finds the symlink, runs the shim, and the shim finds the real host-local in the
 * original CNI_PATH (the list is baked into the script: it can never find itself), runs it with
 * the caller's stdin and env (TRACEPARENT pointing at the nested call's own span), spools the
 * streams, exit status and times to calls/, and relays stdout, stderr and the exit status (or
 * the signal) unchanged. The plugin it runs gets the same CNI_PATH, so nesting goes to any
 * depth. When the delegate's step ends, the wrapper reads calls/, redacts, journals each call as
 * a step whose parent is the caller's span, and deletes the files; when the invocation ends it
 * removes the directory (the kill-safety watchdog removes it if the wrapper is killed).
 *
 * A sh shim, not Node: a Node start per nested call costs about the floor again, the sh shim
 * about 0.15 of it (bench/nested-shim.ts, docs/decisions.md). Whatever goes wrong here turns
 * nesting off for the call with one stderr line; the delegates then run with CNI_PATH as given.
 */
import { accessSync, constants, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Below this much free space in runDir nesting stays off: a full tmpfs must not eat plugin output. */
export const MIN_FREE_BYTES = 16 * 1024 * 1024;

/** One nested call as the shim spooled it, not yet redacted. */
export interface NestedCall {
  readonly spanId: string;
  /** The name the caller asked for (argv[0]'s base name). */
  readonly plugin: string;
  /** The real binary the shim ran; null when it had vanished from CNI_PATH. */
  readonly path: string | null;
  readonly startNs: bigint;
  /** Null while (or because) the call never finished. */
  readonly endNs: bigint | null;
  /** The shell's status: the exit code, or 128 + the signal number. */
  readonly status: number | null;
  /** The call's environment as the caller gave it (TRACEPARENT names the caller's span). */
  readonly env: Readonly<Record<string, string>>;
  readonly stdin: Buffer;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

/** Single-quotes a string for sh. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The two programs the shim runs besides the plugin, by absolute path (PATH may be anything). */
export interface ShimTools {
  readonly date: string;
  readonly cat: string;
}

/** Finds date and cat where Debian, Ubuntu, RHEL and Alpine keep them; null when either is missing. */
export function findShimTools(): ShimTools | null {
  const pick = (name: string): string | undefined => ['/usr/bin', '/bin'].map((d) => join(d, name)).find((f) => {
    try { return statSync(f).isFile(); } catch { return false; }
  });
  const date = pick('date');
  const cat = pick('cat');
  return date && cat ? { date, cat } : null;
}

/**
 * The shim. `$0` is the symlink the caller ran, so its base name is the plugin's name. Ids:
 * the call's span id is its pid and the low 32 bits of its start time in hex — unique among
 * the calls of one invocation without a fork for randomness. Every fork is counted: date ×2,
 * printf in a subshell, cat for stdin and for each non-empty output stream, the plugin. When
 * it cannot record (no clock, the spool gone), it execs the plugin untraced.
 */
export function shimScript(originalPath: readonly string[], callsDir: string, tools: ShimTools): string {
  const dirs = originalPath.map(shQuote).join(' ');
  const date = shQuote(tools.date);
  const cat = shQuote(tools.cat);
  return `#!/bin/sh
# cni-trace nested-call shim for one invocation; generated, removed when the invocation ends.
n=\${0##*/}
real=
for d in ${dirs}; do
  case $d in '') c=$n ;; *) c=$d/$n ;; esac
  if [ -f "$c" ]; then real=$c; break; fi
done
t0=$(${date} +%s%N 2>/dev/null)
case $t0 in ''|*[!0-9]*) [ -n "$real" ] && exec "$real" ;; esac
sp=$(printf %08x%08x $$ $((t0 % 4294967296)))
f=${shQuote(callsDir)}/$sp
if ! { printf '%s\n%s\n%s\n' "$t0" "$n" "$real"; export -p; } > "$f.begin" 2>/dev/null; then
  [ -n "$real" ] && exec "$real"
fi
if [ -z "$real" ]; then
  echo "cni-trace: plugin $n was removed from CNI_PATH during the call" >&2
  echo "127 $(${date} +%s%N)" 2>/dev/null > "$f.end"
  exit 127
fi
${cat} > "$f.in"
case \${TRACEPARENT-} in
  00-????????????????????????????????-????????????????-??) tp=\${TRACEPARENT#00-}; TRACEPARENT=00-\${tp%%-*}-$sp-\${TRACEPARENT##*-} ;;
esac
"$real" < "$f.in" > "$f.out" 2> "$f.err"
rc=$?
echo "$rc $(${date} +%s%N)" > "$f.end"
[ -s "$f.err" ] && ${cat} "$f.err" >&2
[ -s "$f.out" ] && ${cat} "$f.out"
if [ "$rc" -gt 128 ] && [ "$rc" -lt 160 ]; then kill -$((rc - 128)) $$; fi
exit $rc
`;
}


/** Parses dash's `export -p` output: `export NAME='value'`, quotes as '"'"' or '\\''. */
export function parseExportP(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    if (!text.startsWith('export ', i)) { // a line we do not understand: skip it
      const nl = text.indexOf('\n', i);
      i = nl < 0 ? text.length : nl + 1;
      continue;
    }
    i += 7;
    let name = '';
    while (i < text.length && text[i] !== '=' && text[i] !== '\n') name += text[i++];
    if (text[i] !== '=') { i++; continue; } // exported without a value
    i++;
    let value = '';
    while (i < text.length && text[i] !== '\n') {
      const c = text[i]!;
      if (c === "'") {
        const close = text.indexOf("'", i + 1);
        if (close < 0) { value += text.slice(i + 1); i = text.length; break; }
        value += text.slice(i + 1, close);
        i = close + 1;
      } else if (c === '"') {
        const close = text.indexOf('"', i + 1);
        if (close < 0) { value += text.slice(i + 1); i = text.length; break; }
        value += text.slice(i + 1, close);
        i = close + 1;
      } else if (c === '\\' && i + 1 < text.length) {
        value += text[i + 1];
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    env[name] = value;
    i++;
  }
  return env;
}

/** Reads a spool file; empty when it is missing. */
function readOr(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch {
    return Buffer.alloc(0);
  }
}

/** The names in the CNI_PATH dirs that libcni would resolve to a regular file. */
function pluginNames(paths: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const dir of paths) {
    if (dir === '') continue; // the cwd: not something a node's plugins live in
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (names.has(e.name)) continue;
      if (e.isFile()) names.add(e.name);
      else if (e.isSymbolicLink()) {
        try {
          if (statSync(join(dir, e.name)).isFile()) names.add(e.name);
        } catch { /* dangling or a loop: libcni skips it too */ }
      }
    }
  }
  return names;
}

export class NestedTracer {
  readonly dir: string;
  readonly binDir: string;
  private readonly callsDir: string;
  private readonly originalPath: string;
  /** Span ids of nested calls seen so far: a call's parent is one of them or the step. */
  private readonly known = new Set<string>();

  private constructor(dir: string, originalPath: string) {
    this.dir = dir;
    this.binDir = join(dir, 'bin');
    this.callsDir = join(dir, 'calls');
    this.originalPath = originalPath;
  }

  /**
   * Makes the shim directory for one invocation. Returns a one-line reason instead when it
   * cannot (runDir not writable, mounted noexec, nearly full); the caller runs without nesting.
   */
  static create(runDir: string, invocationId: string, cniPath: string, paths: readonly string[]): NestedTracer | string {
    const tracer = new NestedTracer(join(runDir, invocationId), cniPath);
    const tools = findShimTools();
    if (!tools) return 'no date or cat in /usr/bin or /bin';
    try {
      mkdirSync(runDir, { recursive: true, mode: 0o700 });
      const fs = statfsSync(runDir);
      if (fs.bavail * fs.bsize < MIN_FREE_BYTES) return `${runDir} has less than ${MIN_FREE_BYTES >> 20} MiB free`;
      mkdirSync(tracer.dir, { mode: 0o700 });
      mkdirSync(tracer.binDir, { mode: 0o700 });
      mkdirSync(tracer.callsDir, { mode: 0o700 });
      const shim = join(tracer.dir, 'shim');
      writeFileSync(shim, shimScript(paths, tracer.callsDir, tools), { mode: 0o700 });
      accessSync(shim, constants.X_OK); // EACCES on a noexec mount
      for (const name of pluginNames(paths)) symlinkSync('../shim', join(tracer.binDir, name));
      return tracer;
    } catch (e) {
      tracer.dispose();
      const err = e as NodeJS.ErrnoException;
      return `cannot prepare nested tracing in ${runDir}: ${err.code ?? err.message}`;
    }
  }

  /** The CNI_PATH a delegate gets: the shims first, then the original. */
  get cniPath(): string {
    return this.originalPath === '' ? this.binDir : `${this.binDir}:${this.originalPath}`;
  }

  /**
   * Removes the shim directory's name from a delegate's output, so an error that lists the
   * search path (libcni's "failed to find plugin "x" in path [...]") reads as without tracing.
   */
  scrub(buf: Buffer): Buffer {
    if (buf.indexOf(this.binDir) < 0) return buf;
    const text = buf.toString('latin1');
    return Buffer.from(text.split(`${this.binDir} `).join('').split(`${this.binDir}:`).join('').split(this.binDir).join(''), 'latin1');
  }

  /**
   * The calls spooled since the last collect, oldest first, each with its parent: the span
   * its caller's TRACEPARENT names when that is this step or a nested call, else the step.
   * Called when the step's delegate has exited, so a call without an end record was killed
   * (or left running in the background): it is returned with `endNs` null. Never throws.
   */
  collect(stepSpanId: string): Array<{ call: NestedCall; parentSpanId: string }> {
    let names: string[];
    try {
      names = readdirSync(this.callsDir);
    } catch {
      return [];
    }
    const out: Array<{ call: NestedCall; parentSpanId: string }> = [];
    for (const name of names) {
      if (!name.endsWith('.begin')) continue;
      const base = join(this.callsDir, name.slice(0, -'.begin'.length));
      const end = readOr(`${base}.end`).toString('utf8').trim();
      const call = this.parse(name.slice(0, -'.begin'.length), base, end);
      if (call === null) continue;
      this.known.add(call.spanId);
      for (const ext of ['.begin', '.in', '.out', '.err', '.end']) {
        try { unlinkSync(base + ext); } catch { /* already gone */ }
      }
      out.push({ call, parentSpanId: '' });
    }
    out.sort((a, b) => (a.call.startNs < b.call.startNs ? -1 : a.call.startNs > b.call.startNs ? 1 : 0));
    for (const entry of out) {
      const parent = /^00-[0-9a-f]{32}-([0-9a-f]{16})-/.exec(entry.call.env.TRACEPARENT ?? '')?.[1];
      entry.parentSpanId = parent !== undefined && (parent === stepSpanId || this.known.has(parent)) ? parent : stepSpanId;
    }
    return out;
  }

  private parse(spanId: string, base: string, end: string): NestedCall | null {
    const begin = readOr(`${base}.begin`).toString('utf8');
    const lines = begin.split('\n', 3);
    if (lines.length < 3 || !/^[0-9a-f]{16}$/.test(spanId) || !/^\d+$/.test(lines[0]!)) return null;
    const [t0, plugin, path] = lines as [string, string, string];
    const startNs = BigInt(t0);
    const env = parseExportP(begin.slice(t0.length + plugin.length + path.length + 3));
    const [status, endNs] = end.split(' ');
    return {
      spanId, plugin, path: path === '' ? null : path, startNs,
      endNs: endNs && /^\d+$/.test(endNs) ? BigInt(endNs) : null,
      status: status && /^\d+$/.test(status) ? Number(status) : null,
      env, stdin: readOr(`${base}.in`), stdout: readOr(`${base}.out`), stderr: readOr(`${base}.err`),
    };
  }

  /** Removes the whole directory. Never throws. */
  dispose(): void {
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch { /* best effort; the watchdog or a reboot (tmpfs) clears it */ }
  }
}
