/**
 * The Summary tab: per environment, a table of rows in and out, orphans, masks and time; then
 * the gates that failed. Names, paths and details come from the configuration and the source:
 * escaped, so they cannot break the tables or inject HTML.
 */
import { markdownCode as code, markdownText as md } from '../markdown';
import type { SampleReport } from './regenerate';

export function sampleSummary(report: SampleReport, reportPath?: string): string {
  const lines: string[] = [];
  const gateFailed = report.environments.some((e) => e.gates.some((g) => !g.passed));
  const status = statusLine(report.status, gateFailed);
  lines.push(`### Sample data (${report.engine}, seed ${md(report.seed)})`, '', status, '');
  for (const env of report.environments) {
    lines.push(`#### ${md(env.name)} ← ${md(env.from)} (${md(env.size)}) → ${code(env.target, false)}`, '');
    if (!env.tables.length) continue;
    lines.push('| table | role | rows in | rows out | orphans | masked columns | ms |', '|---|---|--:|--:|--:|---|--:|');
    for (const t of env.tables)
      lines.push(
        `| ${md(t.table)} | ${t.role} | ${t.rowsIn} | ${t.rowsOut} | ${t.orphans} | ${t.masked.map(md).join(', ') || '–'} | ${t.durationMs} |`,
      );
    lines.push('');
    const failed = env.gates.filter((g) => !g.passed);
    lines.push(
      `Gates: ${env.gates.length - failed.length} of ${env.gates.length} passed${env.expectedRootRows !== undefined ? `; root target ${env.expectedRootRows} ± ${env.allowedDeviation}` : ''}.`,
      '',
    );
    for (const g of failed) lines.push(`- ❌ ${g.gate}: ${md(g.detail)}`);
    for (const c of [...env.schemaChanges, ...(env.warnings ?? [])]) lines.push(`- ⚠️ ${md(c)}`);
    if (failed.length || env.schemaChanges.length || env.warnings?.length) lines.push('');
  }
  if (report.failures.length && !gateFailed) lines.push(...report.failures.map((f) => `- ❌ ${md(f)}`), '');
  if (reportPath) lines.push(`Report: ${code(reportPath, false)} (${report.durationMs} ms in all).`);
  return `${lines.join('\n')}\n`;
}

/** The Summary's first sentence: what the run did to the environments. */
function statusLine(status: SampleReport['status'], gateFailed: boolean): string {
  if (status === 'dryRun') return 'Dry run: nothing was staged or replaced.';
  if (status !== 'failed') return 'Every gate passed; the environments below were replaced.';
  return gateFailed
    ? '**Failed**: a validation gate failed, so no environment was replaced; the previous data is untouched.'
    : '**Failed**: no environment was swapped in for good; the end of the log says what was put back.';
}
