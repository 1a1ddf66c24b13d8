/**
 * The kernel's boot id (/proc/sys/kernel/random/boot_id): a wrapper's pid means nothing after a
 * reboot, when another process may have it. Read once per process; empty when unreadable.
 */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function bootId(): string {
  if (cached === undefined) {
    try {
      cached = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      cached = '';
    }
  }
  return cached;
}
