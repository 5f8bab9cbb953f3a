import { relative } from 'node:path';
import { markdownCode, markdownText as escapeMd } from '../markdown';
import { describeChange, type ComponentChange } from '../versioning/componentChange';
import { commitLevel, type CommitKind, type ParsedCommit } from '../versioning/conventional';
import type { Reason } from '../versioning/decide';
import type { ApplyResult, VersionPlan } from './versionBump';

const KIND_LABEL: Record<CommitKind, string> = {
  breaking: 'breaking change',
  feat: 'feature',
  deprecation: 'deprecation',
  fix: 'fix',
  perf: 'performance fix',
  revert: 'revert',
  hint: '+semver hint',
  other: 'other',
};

/** One sentence on why the version is what it is. */
export function explainReason(plan: VersionPlan): string {
  const r: Reason = plan.reason;
  switch (r.kind) {
    case 'already-tagged':
      return r.onReleaseCommit
        ? `An earlier run already released this commit as ${r.tag} (on its version commit): nothing to do.`
        : `This commit already carries ${r.tag}: nothing to do.`;
    case 'promoted-candidate':
      return `This commit is the tested candidate ${r.candidate}: it becomes the release as it is.`;
    case 'initial':
      return `No earlier release tag: starting at the initial version.`;
    case 'no-relevant-commits':
      return `No commit since ${plan.baseTag} asks for a release (${plan.commitCount} commit(s), none a feat, fix, perf, revert, deprecation or breaking change)${plan.components ? ' and no submodule changed its version' : ''}.`;
    case 'commits': {
      const asked = r.zeroMajor ? 'major' : r.level;
      const drivers = r.requested === 'auto' && r.fromComponents === asked ? (plan.components ?? []).filter((c) => c.change === asked) : [];
      let why: string;
      if (r.requested !== 'auto') why = `bump is set to '${r.requested}'`;
      else if (drivers.length) {
        let commits = '';
        if (r.fromCommits === asked) commits = ', and so do the commits';
        else if (r.fromCommits !== 'none') commits = ` (the commits alone ask for a ${r.fromCommits})`;
        why = `${listOf(drivers.map(describeChange))} drove a ${asked} bump since ${plan.baseTag}${commits}`;
      } else {
        const others = plan.components?.filter((c) => c.change !== 'none') ?? [];
        why = `the commits since ${plan.baseTag} ask for a ${asked} bump${others.length ? ` (component changes: ${listOf(others.map(describeChange))})` : ''}`;
      }
      const notes = [
        r.zeroMajor ? 'a breaking change while the major version is 0 bumps the minor' : '',
        r.pastRelease ? `${r.pastRelease} is already released elsewhere, so this pre-release moves past it` : '',
      ].filter(Boolean);
      // A sentence that starts with a component's name keeps its case.
      const sentence = drivers.length ? why : `${why[0].toUpperCase()}${why.slice(1)}`;
      return `${sentence}${notes.length ? ` (${notes.join('; ')})` : ''}.`;
    }
  }
}

/** `a`, `a and b`, `a, b and 3 more`. */
function listOf(items: string[], max = 4): string {
  if (items.length > max) return `${items.slice(0, max - 1).join(', ')} and ${items.length - max + 1} more`;
  return items.length > 1 ? `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}` : (items[0] ?? '');
}

function versionChange(c: ComponentChange): string {
  if (c.kind === 'added') return `added at ${componentVersion(c.to)}`;
  if (c.kind === 'removed') return 'removed';
  return `${componentVersion(c.from)} → ${componentVersion(c.to)}`;
}

function componentVersion(e: ComponentChange['from']): string {
  if (!e) return '';
  return e.tag ? markdownCode(e.tag) : `untagged \`${e.commit.slice(0, 12)}\``;
}

/** The Summary's table of an orchestration's component changes. */
function componentTable(changes: readonly ComponentChange[], baseTag: string | undefined): string[] {
  if (!changes.length) return [`No submodule changed since ${baseTag}.`, ''];
  const commit = (e: ComponentChange['from']) => (e ? `\`${e.commit.slice(0, 7)}\`` : '—');
  const lines = [
    `Component changes since ${baseTag} (${changes.length}):`,
    '',
    '| component | version | change | commits |',
    '|---|---|---|---|',
  ];
  for (const c of changes) {
    lines.push(
      `| ${escapeMd(c.name)} | ${versionChange(c)} | ${c.change}${c.untagged ? ' (untagged)' : ''} | ${commit(c.from)} → ${commit(c.to)} |`,
    );
  }
  lines.push('');
  return lines;
}

/** The `componentChanges` output: one JSON line, an entry per changed submodule. */
export function componentChangesJson(changes: readonly ComponentChange[]): string {
  const end = (e: ComponentChange['from']) => (e ? { commit: e.commit, tag: e.tag ?? null, version: e.version ?? null } : null);
  return JSON.stringify(
    changes.map((c) => ({ name: c.name, path: c.path, kind: c.kind, change: c.change, from: end(c.from), to: end(c.to) })),
  );
}

function countsLine(plan: VersionPlan): string {
  const parts = Object.entries(plan.analysis.counts)
    .filter(([kind]) => kind !== 'other')
    .map(([kind, n]) => `${n} ${KIND_LABEL[kind as CommitKind]}${n === 1 ? '' : 's'}`);
  const other = plan.analysis.counts.other ?? 0;
  if (other) parts.push(`${other} other`);
  return parts.join(', ');
}

/** The Summary tab's Markdown; files are named relative to `root` (the working directory). */
export function versionSummary(plan: VersionPlan, result: ApplyResult | undefined, dryRun: boolean, root: string): string {
  const lines = [`### VersionBump: ${plan.version}${dryRun ? ' (dry run)' : ''}`, ''];
  lines.push(`| | |`, `|---|---|`);
  lines.push(`| Version | **${plan.version}** (Python: \`${plan.pep440Version}\`) |`);
  lines.push(`| Previous | ${plan.previousVersion || '—'} |`);
  lines.push(`| Bump | ${plan.bump} |`);
  lines.push(`| Channel | ${plan.channel.label ? `pre-release \`${plan.channel.label}\`` : 'final'} |`);
  lines.push(`| Tag | ${markdownCode(plan.tag)} |`);
  lines.push(`| Commits since last release | ${plan.commitCount}${plan.commitCount ? ` (${countsLine(plan)})` : ''} |`);
  lines.push('', escapeMd(explainReason(plan)), '');
  const cancelled = plan.analysis.cancelled.length;
  if (plan.components) lines.push(...componentTable(plan.components, plan.baseTag));
  if (cancelled) lines.push(`${cancelled} commit(s) left out: each was reverted, or is a revert of a commit, within the same range.`, '');
  // The first 20 drivers and how many there are, in one pass over what may be thousands of commits.
  const drivers: ParsedCommit[] = [];
  let driverCount = 0;
  for (const c of plan.analysis.commits) {
    if (commitLevel(c) === 'none') continue;
    if (driverCount++ < 20) drivers.push(c);
  }
  if (driverCount) {
    lines.push(`Commits that drove the bump (${driverCount} of ${plan.commitCount}):`, '');
    for (const c of drivers)
      lines.push(
        `- \`${c.hash.slice(0, 7)}\` ${c.type ? `${escapeMd(c.type)}${c.scope ? `(${escapeMd(c.scope)})` : ''}${c.breaking ? '!' : ''}: ` : ''}${escapeMd(c.subject)}`,
      );
    if (driverCount > 20) lines.push(`- … and ${driverCount - 20} more`);
    lines.push('');
  }
  const done: string[] = [];
  if (result?.filesWritten.length)
    done.push(`wrote ${result.filesWritten.map((f) => markdownCode(relative(root, f) || f, false)).join(', ')}`);
  if (result?.committed) done.push(`committed ${result.committed.slice(0, 12)}`);
  if (result?.tagged) done.push(`created tag ${markdownCode(result.tagged, false)}`);
  if (result?.pushed.length) done.push(`pushed ${result.pushed.map((r) => markdownCode(r, false)).join(', ')}`);
  if (dryRun) lines.push('Dry run: nothing was written, tagged or pushed.');
  else lines.push(done.length ? `Done: ${done.join(', ')}.` : 'Nothing was changed.');
  for (const n of plan.notes) lines.push('', `> ℹ️ ${escapeMd(n)}`);
  for (const w of plan.warnings) lines.push('', `> ⚠️ ${escapeMd(w)}`);
  return lines.join('\n') + '\n';
}
