/**
 * The executable a runtime execs as /opt/cni/bin/cni-trace. Only wiring: the dispatcher in
 * src/plugin does the work. Bundled by esbuild into dist/cni-trace.cjs; imports nothing
 * heavy (no OpenTelemetry, Ink, React, zod or execa — see docs/decisions.md).
 */
import { processExec } from '../src/invoke/exec.ts';
import { runPlugin } from '../src/plugin/dispatch.ts';

function readStdin(): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks)));
    process.stdin.on('error', () => resolve(Buffer.concat(chunks)));
  });
}

void runPlugin({
  env: process.env,
  readStdin,
  writeStdout: (d) => process.stdout.write(d),
  writeStderr: (d) => process.stderr.write(d),
  exec: processExec,
  guardOrphans: true,
  nestedTracing: true,
}).then((code) => {
  process.exitCode = code;
});
