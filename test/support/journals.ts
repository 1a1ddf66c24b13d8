/**
 * Journals for the agent's tests, written by the real wrapper (in-process dispatcher, Debian's
 * loopback as the delegate): fresh journal and state directories, and DEL invocations in bulk.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEBIAN_CNI } from './fixtures.ts';
import { callPlugin, cniEnv } from './run-plugin.ts';
import type { Sandbox } from './sandbox.ts';

let dirs = 0;

/** A fresh journal directory (0700) and state directory inside the sandbox. */
export function freshDirs(sb: Sandbox): { journal: string; state: string } {
  const n = dirs++;
  const d = { journal: join(sb.dir, `journal-${n}`), state: join(sb.dir, `state-${n}`) };
  mkdirSync(d.journal, { recursive: true, mode: 0o700 });
  return d;
}

/** Records `count` real DEL invocations (containers ctr-<from>…), `parallel` at a time. */
export async function recordDels(journal: string, count: number, from = 0, extra: object = {}, parallel = 8): Promise<void> {
  for (let i = 0; i < count; i += parallel) {
    await Promise.all(Array.from({ length: Math.min(parallel, count - i) }, async (_, k) => {
      const res = await callPlugin({
        env: cniEnv('DEL', DEBIAN_CNI, { CNI_NETNS: undefined, CNI_CONTAINERID: `ctr-${from + i + k}` }),
        stdin: { cniVersion: '1.0.0', name: 'faultnet', type: 'cni-trace', journalDir: journal, delegates: [{ type: 'loopback' }], ...extra },
      });
      assert.equal(res.code, 0, res.stdout);
    }));
  }
}
