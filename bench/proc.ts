/** A running process's resource use, read from /proc (Linux). */
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // sysconf(_SC_CLK_TCK) on Linux

export interface ProcSample {
  /** Resident set now and at its peak (VmHWM), in MB; 0 once the process is gone. */
  readonly rssMb: number;
  readonly peakRssMb: number;
  /** User + system CPU time used so far, in seconds. */
  readonly cpuSeconds: number;
}

export function sampleProc(pid: number): ProcSample {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const kb = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
    return { rssMb: kb('VmRSS') / 1024, peakRssMb: kb('VmHWM') / 1024, cpuSeconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND };
  } catch {
    return { rssMb: 0, peakRssMb: 0, cpuSeconds: 0 };
  }
}
