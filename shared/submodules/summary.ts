/** What UpdateSubmodules shows on the Summary tab, and the commit subjects behind each change. */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { mapLimit } from '../concurrency';
import { Git, GitCommandError } from '../git';
import { withoutCredentials } from '../git/exec';
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

/** What the Summary says of a component's commits: their subjects, or why they could not be read. */
export type ChangeLog = string[] | { unavailable: string };

/**
 * The commit subjects between each update's old and new commit, read from the component's
 * remote into a scratch repository: only the range (`--shallow-exclude` of the old tag, else the
 * newest commits up to the list's length), commits only where the server filters trees out,
 * every fetch bounded like any network command. Best effort: a component whose history cannot
 * be read says why.
 */
export async function changeLogs(
  git: Git,
  updates: ComponentUpdate[],
  scratchRoot: string,
  parallel: number,
): Promise<Map<string, ChangeLog>> {
  const logs = new Map<string, ChangeLog>();
  if (updates.length > MAX_CHANGE_LOGS) return logs;
  const scratch = mkdtempSync(join(scratchRoot, 'relevo-components-'));
  try {
    await mapLimit(updates, parallel, async (u, i) => {
      if (!u.previousCommit) return;
      const dir = join(scratch, String(i));
      // The URL as resolved, credentials included (a .gitmodules URL may carry user:password): git's messages hide them.
      const url = u.fetchUrl ?? u.url;
      const fetch = (bound: string) =>
        git.remote(
          ['-C', dir, 'fetch', '-q', '--no-tags', '--no-write-fetch-head', '--filter=tree:0', bound, '--', url, `refs/tags/${u.toTag}`],
          url,
          `reading the history of ${u.name}`,
        );
      try {
        await git.run(['init', '-q', '--bare', dir]);
        let ranged = false;
        if (u.fromTag) {
          try {
            await fetch(`--shallow-exclude=refs/tags/${u.fromTag}`);
            ranged = true;
          } catch {
            // The server does not exclude (or the old tag is gone): the newest commits instead.
          }
        }
        if (!ranged) await fetch(`--depth=${MAX_SUBJECTS + 1}`);
        const scratchGit = new Git(dir);
        // Ranged: the shallow boundary ends the log at the old tag. Otherwise the old commit ends it when it came.
        const stop = !ranged && (await scratchGit.present([u.previousCommit])).size ? [`^${u.previousCommit}`] : [];
        const out = await scratchGit.run(['log', `--max-count=${MAX_SUBJECTS + 1}`, '--format=%s', ...stop, u.commit, '--']);
        logs.set(u.name, out.split('\n').filter(Boolean));
      } catch (err) {
        // The history is a courtesy of the summary; the update itself does not depend on it.
        logs.set(u.name, { unavailable: (err instanceof GitCommandError ? err.stderr.trim() || err.message : String(err)).split('\n')[0] });
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
  logs: Map<string, ChangeLog>,
): string {
  const lines = [
    `### UpdateSubmodules: ${plan.updates.length} component${plan.updates.length === 1 ? '' : 's'} updated${dryRun ? ' (dry run)' : ''}`,
    '',
  ];
  if (plan.updates.length) {
    lines.push('| component | from | to | change | commits |', '|---|---|---|---|---|');
    for (const u of plan.updates) {
      const commits = commitsCell(logs.get(u.name));
      lines.push(`| ${markdownText(u.name)} | ${fromCell(u)} | ${markdownText(u.toTag)} | ${u.change} | ${commits} |`);
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
  else if (result?.unchanged && result.commit) {
    const pr = result.pullRequest
      ? `; ${markdownLink(`pull request ${result.pullRequest.id}`, result.pullRequest.url)} left as it was`
      : '';
    lines.push(`Done: the update branch already carries these pins (${result.commit.slice(0, 12)}): nothing was pushed${pr}.`);
  } else if (result?.commit) {
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

/** The subjects of a component's new commits (the first MAX_SUBJECTS), or why they were not read. */
function commitsCell(log: ChangeLog | undefined): string {
  if (!log) return '';
  if (!Array.isArray(log)) return `(not read: ${markdownText(withoutCredentials(log.unavailable))})`;
  const shown = log
    .slice(0, MAX_SUBJECTS)
    .map((s) => markdownText(s))
    .join('<br>');
  return shown + (log.length > MAX_SUBJECTS ? '<br>…' : '');
}

/** Where a component was: its tag, else its pinned commit, else nothing. */
function fromCell(u: ComponentUpdate): string {
  if (u.fromTag) return markdownText(u.fromTag);
  return u.previousCommit ? `\`${u.previousCommit.slice(0, 12)}\`` : '—';
}
