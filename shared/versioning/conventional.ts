/**
 * Conventional Commits (https://www.conventionalcommits.org/en/v1.0.0/) and the release level
 * each commit asks for. Also reads GitVersion-style `+semver:` hints, for teams that do not
 * write conventional messages, and the merge titles Azure Repos writes ("Merged PR 12: ...").
 */
export type BumpLevel = 'none' | 'patch' | 'minor' | 'major';
export const BUMP_LEVELS: readonly BumpLevel[] = ['none', 'patch', 'minor', 'major'];

export interface CommitInfo {
  hash: string;
  message: string;
}

export interface ParsedCommit {
  hash: string;
  /** Conventional type in lower case (`feat`, `fix`, ...), or undefined for a free-form message. */
  type?: string;
  scope?: string;
  subject: string;
  breaking: boolean;
  deprecated: boolean;
  /** An explicit `+semver:` hint, which wins over the conventional reading. */
  hint?: BumpLevel;
}

const HEADER = /^(?<type>[A-Za-z][\w-]*)(?:\((?<scope>[^()\r\n]*)\))?(?<bang>!)?:[ \t]+(?<subject>\S.*)$/;
const AZURE_MERGE = /^Merged PR \d+:\s*/;
const GIT_REVERT = /^Revert "/;
const BREAKING_FOOTER = /^BREAKING[ -]CHANGE:[ \t]*\S/m;
const DEPRECATED_FOOTER = /^(?:Deprecated|DEPRECATED):[ \t]*\S/m;
const SEMVER_HINT = /\+semver:\s*(major|breaking|minor|feature|patch|fix|none|skip)\b/i;
const HINT_LEVEL: Record<string, BumpLevel> = {
  major: 'major', breaking: 'major', minor: 'minor', feature: 'minor', patch: 'patch', fix: 'patch', none: 'none', skip: 'none',
};

export function parseCommit(commit: CommitInfo): ParsedCommit {
  // Cheap substring checks first: a long range is thousands of commits, most of them plain.
  const message = (commit.message.includes('\r') ? commit.message.replace(/\r\n/g, '\n') : commit.message).trim();
  const newline = message.indexOf('\n');
  const header = (newline < 0 ? message : message.slice(0, newline)).replace(AZURE_MERGE, '').trim();
  const body = newline < 0 ? '' : message.slice(newline + 1);
  const hintMatch = /semver/i.test(message) ? SEMVER_HINT.exec(message) : null;
  const hint = hintMatch ? HINT_LEVEL[hintMatch[1].toLowerCase()] : undefined;
  const breakingFooter = body.includes('BREAKING') && BREAKING_FOOTER.test(body);
  const deprecatedFooter = /eprecated:/i.test(body) && DEPRECATED_FOOTER.test(body);
  const m = HEADER.exec(header);
  if (!m?.groups) {
    return { hash: commit.hash, type: GIT_REVERT.test(header) ? 'revert' : undefined, subject: header, breaking: breakingFooter, deprecated: deprecatedFooter, hint };
  }
  const type = m.groups.type.toLowerCase();
  return {
    hash: commit.hash,
    type,
    scope: m.groups.scope?.trim() || undefined,
    subject: m.groups.subject.trim(),
    breaking: m.groups.bang === '!' || breakingFooter,
    deprecated: type === 'deprecate' || type === 'deprecation' || deprecatedFooter,
    hint,
  };
}

/** The release level one commit asks for. */
export function commitLevel(c: ParsedCommit): BumpLevel {
  if (c.hint) return c.hint;
  if (c.breaking) return 'major';
  if (c.type === 'feat' || c.deprecated) return 'minor';
  if (c.type === 'fix' || c.type === 'perf' || c.type === 'revert') return 'patch';
  return 'none';
}

export function maxLevel(a: BumpLevel, b: BumpLevel): BumpLevel {
  return BUMP_LEVELS.indexOf(a) >= BUMP_LEVELS.indexOf(b) ? a : b;
}

/** What a summary shows: how many commits of each kind drove the bump. */
export type CommitKind = 'breaking' | 'feat' | 'deprecation' | 'fix' | 'perf' | 'revert' | 'hint' | 'other';

export function commitKind(c: ParsedCommit): CommitKind {
  if (c.hint) return 'hint';
  if (c.breaking) return 'breaking';
  if (c.type === 'feat') return 'feat';
  if (c.deprecated) return 'deprecation';
  if (c.type === 'fix' || c.type === 'perf' || c.type === 'revert') return c.type;
  return 'other';
}

export interface CommitAnalysis {
  level: BumpLevel;
  /** A `+semver: major` hint asks for a major on purpose: it is not held back while in 0.x. */
  explicitMajor: boolean;
  commits: ParsedCommit[];
  counts: Partial<Record<CommitKind, number>>;
}

export function analyzeCommits(commits: Iterable<CommitInfo>): CommitAnalysis {
  return summarizeCommits([...commits].map(parseCommit));
}

/** The release level and the counts by kind of already parsed commits. */
export function summarizeCommits(parsed: ParsedCommit[]): CommitAnalysis {
  let level: BumpLevel = 'none';
  const counts: Partial<Record<CommitKind, number>> = {};
  for (const c of parsed) {
    level = maxLevel(level, commitLevel(c));
    const kind = commitKind(c);
    counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return { level, commits: parsed, counts, explicitMajor: parsed.some((c) => c.hint === 'major') };
}
