import type { ComponentChange } from './componentChange';
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

/**
 * The Markdown section for one release: an orchestration's component changes first, then
 * commits grouped by kind, newest first. Pass the commits that count
 * (`CommitAnalysis.commits`): a commit and its revert, both in the range, are left out of it.
 */
export function changelogSection(
  version: string,
  date: string,
  commits: ParsedCommit[],
  components: readonly ComponentChange[] = [],
): string {
  const lines = [`## ${version} (${date})`, ''];
  if (components.length) {
    lines.push('### Components', '');
    for (const c of components) lines.push(`- ${componentLine(c)}`);
    lines.push('');
  }
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

/** `**ingest** v1.0.0 → v2.0.0 (major)`; an untagged end is named by its commit. */
function componentLine(c: ComponentChange): string {
  const end = (e: ComponentChange['from']) => (e ? (e.tag ?? e.commit.slice(0, 12)) : '?');
  if (c.kind === 'added') return `**${c.name}** added at ${end(c.to)}`;
  if (c.kind === 'removed') return `**${c.name}** removed`;
  return `**${c.name}** ${end(c.from)} → ${end(c.to)} (${c.change})`;
}

const BOM = '\xEF\xBB\xBF';
const FENCE = /^ {0,3}(?:```|~~~)/;
/** Keep a Changelog's section for what is not released yet: the new release goes below it. */
const UNRELEASED = /^## +\[?unreleased\]?/i;

/**
 * Inserts a release section into a changelog, handled as bytes: before the first release
 * heading (a line starting with `## `, outside code fences, other than Keep a Changelog's
 * `## [Unreleased]`), i.e. after the title, any intro and the unreleased notes; at the end
 * when there is no release yet. The section is written as UTF-8 in the
 * file's own line endings (those of its first line), followed by a blank line; every other
 * byte (BOM, Latin-1 text, CRLF) stays as it was. When a heading for this version already
 * exists (`## 1.3.0`, `## [1.3.0]`, `## v1.3.0`), `existing` itself is returned, so re-runs add
 * nothing. No file (or an empty one) gives `# Changelog`, a blank line and the section.
 */
export function insertChangelogSection(existing: Buffer | undefined, version: string, section: string): Buffer {
  const body = section.replace(/\r\n/g, '\n').replace(/\s+$/, '');
  // latin1: one char per byte, so string offsets are byte offsets.
  const text = existing?.toString('latin1') ?? '';
  const start = text.startsWith(BOM) ? BOM.length : 0;
  const firstNewline = text.indexOf('\n');
  const eol = firstNewline > 0 && text[firstNewline - 1] === '\r' ? '\r\n' : '\n';
  const encode = (s: string) => Buffer.from(s.replace(/\n/g, eol), 'utf8');
  if (!existing || /^[ \t\r\n]*$/.test(text.slice(start))) {
    return Buffer.concat([Buffer.from(text.slice(0, start), 'latin1'), encode(`# Changelog\n\n${body}\n`)]);
  }

  const sameVersion = new RegExp(`^## +\\[?v?${version.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w.+-])`);
  let firstRelease = -1;
  let inFence = false;
  for (let at = start; at < text.length;) {
    const end = text.indexOf('\n', at);
    const next = end < 0 ? text.length : end + 1;
    const line = text.slice(at, next);
    if (FENCE.test(line)) inFence = !inFence;
    else if (!inFence && line.startsWith('## ') && !UNRELEASED.test(line)) {
      if (sameVersion.test(line)) return existing;
      if (firstRelease < 0) firstRelease = at;
    }
    at = next;
  }

  // One blank line between what comes before (title, intro) and the section, unless there is one.
  const at = firstRelease >= 0 ? firstRelease : text.length;
  const gap = gapBefore(text, start, at);
  const inserted = firstRelease >= 0 ? `${gap}${body}\n\n` : `${gap}${body}\n`;
  return Buffer.concat([existing.subarray(0, at), encode(inserted), existing.subarray(at)]);
}

/** The line breaks that leave one blank line before `at`: none when there is one already (or nothing before). */
function gapBefore(text: string, start: number, at: number): string {
  if (at === start || blankLineBefore(text, start, at)) return '';
  return text[at - 1] === '\n' ? '\n' : '\n\n';
}

/** Whether text[start, at) ends with a line break that closes a blank line. */
function blankLineBefore(text: string, start: number, at: number): boolean {
  if (text[at - 1] !== '\n') return false;
  const lineStart = Math.max(start, text.lastIndexOf('\n', at - 2) + 1);
  return /^[ \t]*\r?\n$/.test(text.slice(lineStart, at));
}
