/**
 * The CNI conf dir on a node: which conflist the runtime loads, wrapping it with a backup of
 * the original bytes, restoring them, and keeping it wrapped while a CNI provider's installer
 * (calico's, cilium's, flannel's) rewrites it. Backups live in `<conf dir>/.cni-trace/`, a
 * subdirectory, which runtimes do not read (libcni loads *.conf, *.conflist and *.json files of
 * the directory itself).
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, statSync, unlinkSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { prettyJson } from '../cni/json-text.ts';
import { symlinkAtomic, writeFileAtomic } from '../fs/atomic-write.ts';
import { isWrapped, parseConflist, wrapConflist } from './conflist.ts';

export const BACKUP_DIR = '.cni-trace';
const EXTENSIONS = ['.conf', '.conflist', '.json'];

/** The file a runtime loads from `confDir` (libcni's ConfFiles order: the lexically first that loads), or why none. */
export function runtimeConflist(confDir: string): { name: string } | { error: string } {
  let names: string[];
  try {
    names = readdirSync(confDir).filter((n) => EXTENSIONS.some((e) => n.endsWith(e))).sort();
  } catch (e) {
    return { error: `cannot read ${confDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  for (const name of names) {
    try {
      if (!statSync(join(confDir, name)).isFile()) continue;
      const json = JSON.parse(readFileSync(join(confDir, name), 'utf8')) as Record<string, unknown>;
      if (Array.isArray(json.plugins) || typeof json.type === 'string') return { name };
    } catch { /* not loadable: the runtime skips it too */ }
  }
  return { error: `no loadable network config (*.conf, *.conflist, *.json) in ${confDir}` };
}

export interface WrapResult {
  readonly file: string;
  /** What happened: wrapped now, already wrapped, or refused (with why). */
  readonly action: 'wrapped' | 'already-wrapped';
}

/**
 * Wraps `name` in `confDir` in place (atomically, keeping its mode) after saving its exact
 * bytes as the backup. Already wrapped: nothing changes. Throws an Error saying why not.
 */
export function wrapInConfDir(confDir: string, name: string, journalDir?: string): WrapResult {
  const file = join(confDir, name);
  if (name.endsWith('.conf')) {
    throw new Error(`${file} is a single-plugin .conf; cni-trace wraps conflists: convert it to a .conflist (a "plugins" list) or name one with --conflist`);
  }
  const bytes = readFileSync(file);
  const conflist = parseConflist(bytes.toString('utf8'), file);
  if (isWrapped(conflist)) return { file, action: 'already-wrapped' };
  const backups = join(confDir, BACKUP_DIR);
  mkdirSync(backups, { recursive: true, mode: 0o700 });
  // A symlinked conflist is backed up as the link itself (its exact text), so uninstall puts the
  // link back; the wrapped form replaces the link, never the file it points to (decisions.md).
  if (lstatSync(file).isSymbolicLink()) symlinkAtomic(readlinkSync(file), join(backups, name));
  else writeFileAtomic(join(backups, name), bytes, statSync(file).mode & 0o777);
  writeFileAtomic(file, prettyJson(wrapConflist(conflist, journalDir ? { journalDir } : {})) + '\n');
  return { file, action: 'wrapped' };
}

export interface RestoreResult {
  readonly file: string;
  readonly action: 'restored' | 'left-alone';
  readonly why?: string;
}

/**
 * Puts every backed-up original back, byte for byte, where the file is still wrapped; a file an
 * installer has rewritten since (no longer wrapped) is the installer's and is left alone. The
 * backups and their directory are removed.
 */
export function restoreConfDir(confDir: string): RestoreResult[] {
  const backups = join(confDir, BACKUP_DIR);
  if (!existsSync(backups)) return [];
  const out: RestoreResult[] = [];
  for (const name of readdirSync(backups).filter((n) => !n.startsWith('.'))) {
    const file = join(confDir, name);
    const backup = join(backups, name);
    let wrapped = false;
    try {
      wrapped = isWrapped(parseConflist(readFileSync(file, 'utf8'), file));
    } catch { /* missing or unreadable: put the original back */ }
    if (wrapped || !existsSync(file)) {
      const st = lstatSync(backup);
      if (st.isSymbolicLink()) symlinkAtomic(readlinkSync(backup), file);
      else writeFileAtomic(file, readFileSync(backup), st.mode & 0o777);
      out.push({ file, action: 'restored' });
    } else {
      out.push({ file, action: 'left-alone', why: 'rewritten by another installer since it was wrapped' });
    }
    unlinkSync(backup);
  }
  try { rmdirSync(backups); } catch { /* something else is in it */ }
  return out;
}

export interface WatchOptions {
  readonly confDir: string;
  /** The file to keep wrapped; default: whichever the runtime loads, re-evaluated on every change. */
  readonly conflist?: string;
  readonly journalDir?: string;
  readonly log: (line: string) => void;
  /** Poll interval as a fallback to inotify (ms). */
  readonly pollMs?: number;
  /** Wraps within this window that count as a tug of war with another watcher. */
  readonly loopWindowMs?: number;
  readonly loopLimit?: number;
}

/**
 * Keeps the conflist wrapped: when an installer rewrites it (atomically or not), the new content
 * is backed up and wrapped once it has stopped changing. Our own writes produce wrapped files, so
 * they never trigger a rewrite (no flapping). If the same content comes back unwrapped
 * `loopLimit` times within `loopWindowMs` — another watcher that rewrites it back — wrapping
 * pauses, doubling from 10 s to 5 min, with a warning, rather than fighting; new content ends
 * the pause. Returns a stop function.
 */
export function keepWrapped(opts: WatchOptions): () => void {
  const { confDir, log } = opts;
  const loopWindow = opts.loopWindowMs ?? 30_000;
  const loopLimit = opts.loopLimit ?? 3;
  const recent: number[] = [];
  let pausedUntil = 0;
  let pause = 10_000;
  let lastSeen = '';
  /** The unwrapped text we wrapped last: seeing it again unwrapped is another watcher putting it back. */
  let lastWrapped = '';
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;

  const check = (): void => {
    timer = null;
    if (stopped) return;
    const target = opts.conflist ?? (() => { const r = runtimeConflist(confDir); return 'name' in r ? r.name : null; })();
    if (!target) return;
    let text: string;
    try {
      text = readFileSync(join(confDir, target), 'utf8');
    } catch {
      return;
    }
    let wrapped: boolean;
    try {
      wrapped = isWrapped(parseConflist(text, target));
    } catch {
      return; // half-written or broken: look again on the next event
    }
    if (wrapped) return;
    if (text !== lastSeen) { // wait for it to settle: wrap what stayed the same for one look
      lastSeen = text;
      schedule(150);
      return;
    }
    const now = Date.now();
    if (text !== lastWrapped) { // new content from the installer (say, changed delegates): not a tug of war
      recent.length = 0;
      pausedUntil = 0;
      pause = 10_000;
    }
    if (now < pausedUntil) return;
    while (recent.length > 0 && now - recent[0]! > loopWindow) recent.shift();
    if (recent.length >= loopLimit) {
      pausedUntil = now + pause;
      log(`warning: ${join(confDir, target)} was unwrapped ${recent.length} times in ${Math.round(loopWindow / 1000)} s — another process rewrites it back; not wrapping it again for ${Math.round(pause / 1000)} s (cni-trace doctor shows it unwrapped)`);
      pause = Math.min(pause * 2, 300_000);
      recent.length = 0;
      return;
    }
    try {
      wrapInConfDir(confDir, target, opts.journalDir);
      recent.push(now);
      lastWrapped = text;
      log(`wrapped ${join(confDir, target)} (rewritten by another installer)`);
    } catch (e) {
      log(`warning: cannot wrap ${join(confDir, target)}: ${(e as Error).message}`);
    }
  };
  const schedule = (ms: number): void => {
    if (timer === null && !stopped) timer = setTimeout(check, ms);
  };

  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(confDir, () => schedule(50));
    watcher.on('error', () => { watcher = null; });
  } catch { /* polling alone */ }
  const poll = setInterval(() => schedule(0), opts.pollMs ?? 1000);
  schedule(0);
  return () => {
    stopped = true;
    clearInterval(poll);
    if (timer) clearTimeout(timer);
    watcher?.close();
  };
}
