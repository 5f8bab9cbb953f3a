/** The Summary tab: per environment, a table of rows in and out, orphans, masks and time; then the gates that failed. */
import type { SampleReport } from './regenerate';

export function sampleSummary(report: SampleReport, reportPath?: string): string {
  const lines: string[] = [];
  const status = report.status === 'dryRun' ? 'Dry run: nothing was staged or replaced.' : report.status === 'failed' ? '**Failed**: no environment was replaced; the previous data is untouched.' : 'Every gate passed; the environments below were replaced.';
  lines.push(`### Sample data (${report.engine}, seed ${report.seed})`, '', status, '');
  for (const env of report.environments) {
    lines.push(`#### ${env.name} ← ${env.from} (${env.size}) → \`${env.target}\``, '');
    if (!env.tables.length) continue;
    lines.push('| table | role | rows in | rows out | orphans | masked columns | ms |', '|---|---|--:|--:|--:|---|--:|');
    for (const t of env.tables) lines.push(`| ${t.table} | ${t.role} | ${t.rowsIn} | ${t.rowsOut} | ${t.orphans} | ${t.masked.join(', ') || '–'} | ${t.durationMs} |`);
    lines.push('');
    const failed = env.gates.filter((g) => !g.passed);
    lines.push(`Gates: ${env.gates.length - failed.length} of ${env.gates.length} passed${env.expectedRootRows !== undefined ? `; root target ${env.expectedRootRows} ± ${env.allowedDeviation}` : ''}.`, '');
    for (const g of failed) lines.push(`- ❌ ${g.gate}: ${g.detail}`);
    for (const c of env.schemaChanges) lines.push(`- ⚠️ ${c}`);
    if (failed.length || env.schemaChanges.length) lines.push('');
  }
  if (report.failures.length && !report.environments.some((e) => e.gates.some((g) => !g.passed))) lines.push(...report.failures.map((f) => `- ❌ ${f}`), '');
  if (reportPath) lines.push(`Report: \`${reportPath}\` (${report.durationMs} ms in all).`);
  return `${lines.join('\n')}\n`;
}
