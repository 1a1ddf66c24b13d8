/**
 * The plugin process: stdin, stdout, stderr and env wired to the dispatcher in src/plugin.
 * Imports nothing heavy (no OpenTelemetry, Ink, React, zod or execa — see docs/decisions.md).
 * Started by wrapper/main.ts (the bundle) or, in the self-contained executable, by the
 * startup snapshot's main function (wrapper/snapshot.ts) — itself started by the compiled
 * front (wrapper/front.c) for a traced call, or exec'd directly.
 */
import { readSync } from 'node:fs';
import { processExec } from '../src/invoke/exec.ts';
import { Front } from '../src/invoke/front.ts';
import { OrphanReaper } from '../src/invoke/reaper.ts';
import { runPlugin } from '../src/plugin/dispatch.ts';

/**
 * The config, read to its end. Synchronously from fd 0 (what runtimes give is a blocking pipe or
 * file): process.stdin would load net and the streams, ~4 ms of every call's start. A
 * non-blocking stdin (EAGAIN) is read as a stream instead.
 */
function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const buf = Buffer.allocUnsafe(65536);
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(0, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EINTR') continue;
        throw e;
      }
      if (n === 0) return Promise.resolve(Buffer.concat(chunks));
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return Promise.resolve(Buffer.concat(chunks));
  }
  return new Promise((resolve) => {
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks)));
    process.stdin.on('error', () => resolve(Buffer.concat(chunks)));
  });
}

/** Runs one CNI call; the exit code is set when it is done. */
export function main(): void {
  const front = Front.take(process.env);
  if (front) return viaFront(front);
  void runPlugin({
    env: process.env,
    readStdin,
    writeStdout: (d) => process.stdout.write(d),
    writeStderr: (d) => process.stderr.write(d),
    exec: processExec,
    guard: () => new OrphanReaper(),
    nestedTracing: true,
  }).then(async (code) => {
    // Exiting at once skips Node's environment teardown, ~1 ms of every call
    // (bench/wrapper-phases.ts) — but only once stdout and stderr are flushed: a pipe whose
    // reader is slower than a large result or a flood of stderr still holds queued writes.
    // Journal records are written with writeSync; the watchdog has its "bye".
    await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
    process.exit(code);
  });
}

/**
 * Started by the front: it spawns the delegates, and the answer goes to it once the call is
 * wholly done (journal, spool removed), so what the runtime sees next is complete.
 */
function viaFront(front: Front): void {
  let answer: string | Buffer = '';
  void runPlugin({
    env: process.env,
    readStdin,
    writeStdout: (d) => { answer = d; },
    writeStderr: front.writeStderr,
    exec: front.exec,
    guard: () => front.guard,
    pid: front.pid,
    nestedTracing: true,
  }).then(async (code) => {
    await front.answer(code, answer);
    process.exit(code);
  });
}

/** Resolves once everything written to `stream` so far has been handed to the kernel. */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => {
    stream.write('', () => resolve());
    stream.once('error', () => resolve());
  });
}
