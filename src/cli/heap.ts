/**
 * For commands that stream the whole journal (stats, tail): V8 grows its young generation under
 * a high allocation rate (a parsed record, its shape check and an invocation per few KB read)
 * up to 3 × its largest semi-space, which alone took peak RSS from ~170 to ~300 MB over a
 * 100k-invocation journal while the live heap stayed under 20 MB. A growth factor of 1 keeps
 * the young generation at its initial size; it costs ~25 % more time in scavenges
 * (docs/decisions.md, "Readers that stay flat").
 */
import { setFlagsFromString } from 'node:v8';

export function keepYoungGenerationSmall(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}
