/** What UpdateSubmodules shows on the Summary tab, and the commit subjects behind each change. */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { mapLimit } from '../concurrency';
import type { Git } from '../git';
import { markdownCode, markdownLink, markdownText } from '../markdown';
import type { ComponentUpdate, SubmodulePlan, SubmoduleResult } from './update';
import { describeDecision } from './update';

const MAX_SUBJECTS = 20;
/**
 * Beyond this many moved components the Summary lists versions only: each log is a fetch of the
 * component's history, which would cost more than the update itself (and a wall of subjects
 * helps nobody).
 */
export const MAX_CHANGE_LOGS = 10;

/**
 * The commit subjects between each update's old and new commit, read from the component's
 * remote into a scratch repository (commits only where the server allows it). Best effort:
 * a component whose history cannot be read has no entry.
 */
export async function changeLogs(
  git: Git,
  updates: ComponentUpdate[],
  scratchRoot: string,
  parallel: number,
): Promise<Map<string, string[]>> {
  const logs = new Map<string, string[]>();
  if (updates.length > MAX_CHANGE_LOGS) return logs;
  const scratch = mkdtempSync(join(scratchRoot, 'relevo-components-'));
  try {
    await mapLimit(updates, parallel, async (u, i) => {
      if (!u.previousCommit) return;
      const dir = join(scratch, String(i));
      try {
        await git.run(['init', '-q', '--bare', dir]);
        await git.remote(
          ['-C', dir, 'fetch', '-q', '--no-tags', '--filter=tree:0', u.url, `refs/tags/${u.toTag}`],
          u.url,
          `reading the history of ${u.name}`,
        );
        const out = await git.run([
          '-C',
          dir,
          'log',
          `--max-count=${MAX_SUBJECTS + 1}`,
          '--format=%s',
          `${u.previousCommit}..${u.commit}`,
          '--',
        ]);
        logs.set(u.name, out.split('\n').filter(Boolean));
      } catch {
        // The history is a courtesy of the summary; the update itself does not depend on it.
      }
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return logs;
}

export function submoduleSummary(
  plan: SubmodulePlan,
  result: SubmoduleResult | undefined,
  dryRun: boolean,
  logs: Map<string, string[]>,
): string {
  const lines = [
    `### UpdateSubmodules: ${plan.updates.length} component${plan.updates.length === 1 ? '' : 's'} updated${dryRun ? ' (dry run)' : ''}`,
    '',
  ];
  if (plan.updates.length) {
    lines.push('| component | from | to | change | commits |', '|---|---|---|---|---|');
    for (const u of plan.updates) {
      const subjects = logs.get(u.name);
      const commits = subjects
        ? subjects
            .slice(0, MAX_SUBJECTS)
            .map((s) => markdownText(s))
            .join('<br>') + (subjects.length > MAX_SUBJECTS ? '<br>…' : '')
        : '';
      lines.push(
        `| ${markdownText(u.name)} | ${u.fromTag ? markdownText(u.fromTag) : u.previousCommit ? `\`${u.previousCommit.slice(0, 12)}\`` : '—'} | ${markdownText(u.toTag)} | ${u.change} | ${commits} |`,
      );
    }
    lines.push('', `Largest change: **${plan.maxChange}**.`, '');
    if (plan.updates.length > MAX_CHANGE_LOGS)
      lines.push(`Commit subjects are listed when ${MAX_CHANGE_LOGS} or fewer components move.`, '');
  }
  lines.push('<details><summary>Every submodule</summary>', '', '| submodule | path | policy | decision |', '|---|---|---|---|');
  for (const c of plan.components)
    lines.push(`| ${markdownText(c.name)} | ${markdownCode(c.path)} | ${markdownText(c.policy)} | ${markdownText(describeDecision(c))} |`);
  lines.push('', '</details>', '');
  if (dryRun) lines.push('Dry run: nothing was committed or pushed.');
  else if (result?.commit) {
    const done = [`committed ${result.commit.slice(0, 12)}`];
    if (result.pushed.length) done.push(`pushed ${result.pushed.map((r) => markdownCode(r, false)).join(', ')}`);
    if (result.pullRequest)
      done.push(
        `${result.pullRequest.reused ? 'updated' : 'opened'} ${markdownLink(`pull request ${result.pullRequest.id}`, result.pullRequest.url)}`,
      );
    if (result.checkedOut.length) done.push(`checked out ${result.checkedOut.map((p) => markdownCode(p, false)).join(', ')}`);
    lines.push(`Done: ${done.join(', ')}.`);
  } else lines.push('Nothing was changed.');
  for (const n of plan.notes) lines.push('', `> ℹ️ ${markdownText(n)}`);
  for (const w of plan.warnings) lines.push('', `> ⚠️ ${markdownText(w)}`);
  return lines.join('\n') + '\n';
}
