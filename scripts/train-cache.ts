/**
 * Trains the self-contained executable's code cache (docs/decisions.md 39): one real ADD through
 * the built front (dist/cni-trace-front) and the plugin bundle, with two delegates, a nested
 * call, a result and a stderr line, so the cache holds the functions a call runs. The Node part
 * (scripts/train-node.ts) writes the cache when the call is done, which is after the front has
 * answered, so this waits for the file.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const RESULT = '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"%s"}],"ips":[{"address":"10.1.2.3/24","interface":0}]}';
const PLUGINS: Record<string, string> = {
  // Finds "inner" on CNI_PATH as a real plugin finds its IPAM: through the nested shim.
  outer: `cat >/dev/null\necho 'outer: training' >&2\nIFS=:\nfor d in $CNI_PATH; do\n  if [ -x "$d/inner" ]; then printf '{"cniVersion":"1.0.0","name":"train","type":"inner"}' | "$d/inner" >/dev/null; break; fi\ndone\nprintf '${RESULT}' "$CNI_NETNS"\n`,
  inner: `cat >/dev/null\nprintf '{"cniVersion":"1.0.0","ips":[{"address":"10.1.2.3/24"}]}'\n`,
  last: `cat >/dev/null\nprintf '${RESULT}' "$CNI_NETNS"\n`,
};

export function trainCache(opts: { bundle: string; front: string; out: string }): void {
  const dir = mkdtempSync(join(tmpdir(), 'cnitrace-train-'));
  const out = resolve(opts.out);
  rmSync(out, { force: true });
  try {
    const bin = join(dir, 'bin');
    const plugins = join(dir, 'plugins');
    mkdirSync(bin);
    mkdirSync(plugins);
    copyFileSync(opts.front, join(bin, 'cni-trace'));
    chmodSync(join(bin, 'cni-trace'), 0o755);
    script(join(bin, 'cni-trace-node'), `exec '${process.execPath}' '${fileURLToPath(new URL('./train-node.ts', import.meta.url))}' '${resolve(opts.bundle)}' '${out}'\n`);
    for (const [name, body] of Object.entries(PLUGINS)) script(join(plugins, name), body);
    const entry = { cniVersion: '1.0.0', name: 'train', type: 'cni-trace', journalDir: join(dir, 'journal'), runDir: join(dir, 'run'), delegates: [{ type: 'outer' }, { type: 'last' }] };
    const r = spawnSync(join(bin, 'cni-trace'), [], {
      input: JSON.stringify(entry), encoding: 'utf8',
      // No NODE_OPTIONS: V8 refuses a cache made under other flags.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'train', CNI_NETNS: join(dir, 'netns'), CNI_IFNAME: 'eth0', CNI_PATH: plugins, CNI_ARGS: 'K8S_POD_NAMESPACE=train;K8S_POD_NAME=p' },
    });
    if (r.status !== 0 || !r.stdout.includes('"ips"')) throw new Error(`the training call failed (${r.status ?? r.signal}): ${r.stdout}${r.stderr}`);
    const deadline = Date.now() + 30_000;
    while (!existsSync(out)) {
      if (Date.now() > deadline) throw new Error('the training call wrote no code cache within 30 s');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function script(path: string, body: string): void {
  writeFileSync(path, `#!/bin/sh\n${body}`);
  chmodSync(path, 0o755);
}
