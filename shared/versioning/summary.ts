import { relative } from 'node:path';
import { commitLevel, type CommitKind } from './conventional';
import type { ApplyResult, Reason, VersionPlan } from './versionBump';

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
      return `No commit since ${plan.baseTag} asks for a release (${plan.commitCount} commit(s), none a feat, fix, perf, revert, deprecation or breaking change).`;
    case 'commits': {
      const why = r.requested === 'auto' ? `the commits since ${plan.baseTag} ask for a ${r.zeroMajor ? 'major' : r.level} bump` : `bump is set to '${r.requested}'`;
      const notes = [
        r.zeroMajor ? 'a breaking change while the major version is 0 bumps the minor' : '',
        r.pastRelease ? `${r.pastRelease} is already released elsewhere, so this pre-release moves past it` : '',
      ].filter(Boolean);
      return `${why[0].toUpperCase()}${why.slice(1)}${notes.length ? ` (${notes.join('; ')})` : ''}.`;
    }
  }
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
  lines.push(`| Tag | \`${plan.tag}\` |`);
  lines.push(`| Commits since last release | ${plan.commitCount}${plan.commitCount ? ` (${countsLine(plan)})` : ''} |`);
  lines.push('', explainReason(plan), '');
  const cancelled = plan.analysis.cancelled.length;
  if (cancelled) lines.push(`${cancelled} commit(s) left out: each was reverted, or is a revert of a commit, within the same range.`, '');
  const drivers = plan.analysis.commits.filter((c) => commitLevel(c) !== 'none');
  if (drivers.length) {
    lines.push(`Commits that drove the bump (${drivers.length} of ${plan.commitCount}):`, '');
    for (const c of drivers.slice(0, 20)) lines.push(`- \`${c.hash.slice(0, 7)}\` ${c.type ? `${c.type}${c.scope ? `(${c.scope})` : ''}${c.breaking ? '!' : ''}: ` : ''}${escapeMd(c.subject)}`);
    if (drivers.length > 20) lines.push(`- … and ${drivers.length - 20} more`);
    lines.push('');
  }
  const done: string[] = [];
  if (result?.filesWritten.length) done.push(`wrote ${result.filesWritten.map((f) => `\`${relative(root, f) || f}\``).join(', ')}`);
  if (result?.committed) done.push(`committed ${result.committed.slice(0, 12)}`);
  if (result?.tagged) done.push(`created tag \`${result.tagged}\``);
  if (result?.pushed.length) done.push(`pushed ${result.pushed.map((r) => `\`${r}\``).join(', ')}`);
  if (dryRun) lines.push('Dry run: nothing was written, tagged or pushed.');
  else lines.push(done.length ? `Done: ${done.join(', ')}.` : 'Nothing was changed.');
  for (const n of plan.notes) lines.push('', `> ℹ️ ${escapeMd(n)}`);
  for (const w of plan.warnings) lines.push('', `> ⚠️ ${escapeMd(w)}`);
  return lines.join('\n') + '\n';
}

function escapeMd(text: string): string {
  return text.replace(/[<>|]/g, (c) => `\\${c}`);
}
