/**
 * The executable a runtime execs as /opt/cni/bin/cni-trace (the bundle dist/cni-trace.cjs,
 * behind a "#!" naming Node). The self-contained executable starts from wrapper/snapshot.ts.
 */
import { main } from './run.ts';

main();
