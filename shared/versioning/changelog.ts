import type { CommitKind, ParsedCommit } from './conventional';
import { commitKind } from './conventional';

const SECTIONS: [CommitKind, string][] = [
  ['breaking', 'Breaking changes'],
  ['feat', 'Features'],
  ['deprecation', 'Deprecations'],
  ['fix', 'Bug fixes'],
  ['perf', 'Performance'],
  ['revert', 'Reverts'],
  ['hint', 'Other changes'],
];

/** The Markdown section for one release: commits grouped by kind, newest first. */
export function changelogSection(version: string, date: string, commits: ParsedCommit[]): string {
  const lines = [`## ${version} (${date})`, ''];
  for (const [kind, title] of SECTIONS) {
    const items = commits.filter((c) => commitKind(c) === kind);
    if (!items.length) continue;
    lines.push(`### ${title}`, '');
    for (const c of items) lines.push(`- ${c.scope ? `**${c.scope}:** ` : ''}${c.subject} (${c.hash.slice(0, 7)})`);
    lines.push('');
  }
  if (lines.length === 2) lines.push('No user-facing changes.', '');
  return lines.join('\n');
}

/**
 * Puts a release section at the top of a changelog, under its `# ` title if it has one.
 * Returns the text unchanged when the version already has a section, so re-runs add nothing.
 */
export function prependChangelog(existing: string, version: string, section: string): string {
  const escaped = version.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  if (new RegExp(`^## \\[?${escaped}\\]?(\\s|$)`, 'm').test(existing)) return existing;
  if (!existing.trim()) return `# Changelog\n\n${section}`;
  const title = /^# .*\n+/.exec(existing);
  if (title && title.index === 0) return existing.slice(0, title[0].length) + section + '\n' + existing.slice(title[0].length);
  return section + '\n' + existing;
}
