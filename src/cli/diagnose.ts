/**
 * `cni-trace diagnose`: the journal's findings (view/findings.ts) as text or JSON. The journal
 * is streamed through the reading core; the findings are judged once it is read.
 */
import { foldInvocations } from '../journal/assemble.ts';
import { journalRecords } from '../journal/reader.ts';
import { Diagnosis, type Finding } from '../view/findings.ts';
import { netnsGone } from '../view/netns.ts';
import { escapeControl, paintStatus, rfc3339 } from '../view/text.ts';

export interface DiagnoseReport {
  readonly since: string | null;
  readonly invocations: number;
  readonly findings: readonly Finding[];
}

export function diagnoseReport(journal: string, sinceNs: bigint | undefined, gone: (path: string) => boolean = netnsGone): DiagnoseReport {
  const d = new Diagnosis();
  const open = foldInvocations(journalRecords(journal, sinceNs !== undefined ? { sinceNs } : {}), (inv) => {
    if (sinceNs === undefined || (inv.startNs !== null && BigInt(inv.startNs) >= sinceNs)) d.add(inv);
  });
  for (const inv of open.list()) if (sinceNs === undefined || (inv.startNs !== null && BigInt(inv.startNs) >= sinceNs)) d.add(inv);
  return { since: sinceNs !== undefined ? rfc3339(String(sinceNs)) : null, invocations: d.invocations, findings: d.findings(gone) };
}

export function renderDiagnosis(r: DiagnoseReport, colour: boolean): string {
  const scope = `${r.invocations} invocation${r.invocations === 1 ? '' : 's'}${r.since ? ` since ${r.since}` : ''}`;
  if (r.findings.length === 0) return `nothing found in ${scope}`;
  const out = [`${r.findings.length} finding${r.findings.length === 1 ? '' : 's'} in ${scope}:`];
  for (const f of r.findings) {
    out.push('', `${paintStatus(`[${f.kind}]`, f.kind === 'slow' ? 'in-flight' : 'error', colour)} ${escapeControl(f.title)}`);
    for (const e of f.evidence) out.push(`    ${escapeControl(e)}`);
    out.push(`  → ${escapeControl(f.next)}`);
  }
  return out.join('\n');
}
