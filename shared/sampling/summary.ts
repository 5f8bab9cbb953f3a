/**
 * The Summary tab: per environment, a table of rows in and out, orphans, masks and time; then
 * the gates that failed. Names, paths and details come from the configuration and the source:
 * escaped, so they cannot break the tables or inject HTML.
 */
import type { SampleReport } from './regenerate';

export function sampleSummary(report: SampleReport, reportPath?: string): string {
  const lines: string[] = [];
  const gateFailed = report.environments.some((e) => e.gates.some((g) => !g.passed));
  const status =
    report.status === 'dryRun'
      ? 'Dry run: nothing was staged or replaced.'
      : report.status === 'failed'
        ? gateFailed
          ? '**Failed**: a validation gate failed, so no environment was replaced; the previous data is untouched.'
          : '**Failed**: no environment was swapped in for good; the end of the log says what was put back.'
        : 'Every gate passed; the environments below were replaced.';
  lines.push(`### Sample data (${report.engine}, seed ${md(report.seed)})`, '', status, '');
  for (const env of report.environments) {
    lines.push(`#### ${env.name} ← ${env.from} (${env.size}) → ${code(env.target)}`, '');
    if (!env.tables.length) continue;
    lines.push('| table | role | rows in | rows out | orphans | masked columns | ms |', '|---|---|--:|--:|--:|---|--:|');
    for (const t of env.tables)
      lines.push(
        `| ${t.table} | ${t.role} | ${t.rowsIn} | ${t.rowsOut} | ${t.orphans} | ${t.masked.map(md).join(', ') || '–'} | ${t.durationMs} |`,
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
  if (reportPath) lines.push(`Report: ${code(reportPath)} (${report.durationMs} ms in all).`);
  return `${lines.join('\n')}\n`;
}

/** Markdown text on one line: table pipes, emphasis, links, code and HTML escaped (GFM makes no emphasis of `_` inside words). */
function md(text: string): string {
  return text.replace(/\r\n|\r|\n/g, ' ').replace(/[\\`*<>|[\]]/g, (c) => `\\${c}`);
}

/** An inline code span on one line, fenced with more backticks than it holds. */
function code(text: string): string {
  const one = text.replace(/\r\n|\r|\n/g, ' ');
  const longest = Math.max(0, ...(one.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longest + 1);
  return longest ? `${fence} ${one} ${fence}` : `${fence}${one}${fence}`;
}
