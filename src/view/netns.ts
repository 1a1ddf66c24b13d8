/** Whether a pod's network namespace is gone, as far as this process can tell. */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * A netns path that no longer exists while its directory does (/var/run/netns): the pod it
 * belonged to is gone. Where the directory itself is not visible (the agent in a container
 * without the host's /var/run/netns), nothing is judged gone.
 */
export function netnsGone(path: string): boolean {
  return !existsSync(path) && existsSync(dirname(path));
}
