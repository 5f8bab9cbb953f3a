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
  /**
   * The commit a revert undoes, from its `This reverts commit <sha>` line (lower case, full or
   * abbreviated as written). Set only on reverts: git's `Revert "…"` (and `Reapply "…"`, which
   * git 2.43+ writes for a revert of a revert) and the conventional `revert:` type.
   */
  reverts?: string;
}

/** Types as they are usually written: the lookup hands out one shared string instead of a copy per commit. */
const USUAL_TYPES = new Map(
  ['feat', 'fix', 'chore', 'docs', 'refactor', 'perf', 'test', 'build', 'ci', 'style', 'revert'].map((t) => [t, t]),
);

/** `type(scope)!: subject`; numbered groups, so no groups object is made for each of thousands of commits. */
const HEADER = /^([A-Za-z][\w-]*)(?:\(([^()\r\n]*)\))?(!)?:[ \t]+(\S.*)$/;
const AZURE_MERGE = /^Merged PR \d+:\s*/;
const GIT_REVERT = /^(?:Revert|Reapply) "/;
const REVERTS_LINE = /^[ \t]*This reverts commit ([0-9a-fA-F]{4,64})\b/m;
const BREAKING_FOOTER = /^BREAKING[ -]CHANGE:[ \t]*\S/m;
const DEPRECATED_FOOTER = /^(?:Deprecated|DEPRECATED):[ \t]*\S/m;
const SEMVER_HINT = /\+semver:\s*(major|breaking|minor|feature|patch|fix|none|skip)\b/i;
const HINT_LEVEL: Record<string, BumpLevel> = {
  major: 'major',
  breaking: 'major',
  minor: 'minor',
  feature: 'minor',
  patch: 'patch',
  fix: 'patch',
  none: 'none',
  skip: 'none',
};

/**
 * Reads one commit message. A long range is thousands of commits, most of them a plain
 * one-line header read before the JIT has optimised anything: each check is a substring scan
 * before any regular expression runs, and every result has one shape.
 */
export function parseCommit(commit: CommitInfo): ParsedCommit {
  let message = commit.message;
  if (message.includes('\r')) message = message.replace(/\r\n/g, '\n');
  message = message.trim();
  const newline = message.indexOf('\n');
  let header = newline < 0 ? message : message.slice(0, newline);
  if (header.startsWith('Merged PR ')) header = header.replace(AZURE_MERGE, '');
  header = header.trim();
  const body = newline < 0 ? '' : message.slice(newline + 1);
  // A hint needs its `+`; footers need a body.
  const hintMatch = message.includes('+') ? SEMVER_HINT.exec(message) : null;
  const hint = hintMatch ? HINT_LEVEL[hintMatch[1].toLowerCase()] : undefined;
  const breakingFooter = body !== '' && body.includes('BREAKING') && BREAKING_FOOTER.test(body);
  const deprecatedFooter = body !== '' && /eprecated:/i.test(body) && DEPRECATED_FOOTER.test(body);
  const hash = commit.hash;
  const h = HEADER.exec(header);
  if (!h) {
    if (!GIT_REVERT.test(header))
      return {
        hash,
        type: undefined,
        scope: undefined,
        subject: header,
        breaking: breakingFooter,
        deprecated: deprecatedFooter,
        hint,
        reverts: undefined,
      };
    // A hint quoted in `Revert "… +semver: major"` belongs to the reverted commit, not to the revert.
    const ownHint = hint && SEMVER_HINT.exec(body);
    const own = ownHint ? HINT_LEVEL[ownHint[1].toLowerCase()] : undefined;
    return {
      hash,
      type: 'revert',
      scope: undefined,
      subject: header,
      breaking: breakingFooter,
      deprecated: deprecatedFooter,
      hint: own,
      reverts: revertedCommit(body),
    };
  }
  // The header is trimmed, so the subject (from its first non-blank) has nothing to trim.
  const type = USUAL_TYPES.get(h[1]) ?? h[1].toLowerCase();
  return {
    hash,
    type,
    scope: h[2]?.trim() || undefined,
    subject: h[4],
    breaking: h[3] === '!' || breakingFooter,
    deprecated: type === 'deprecate' || type === 'deprecation' || deprecatedFooter,
    hint,
    reverts: type === 'revert' ? revertedCommit(body) : undefined,
  };
}

/** The sha of a `This reverts commit <sha>.` line (git writes `, reversing …` after it for a merge). */
function revertedCommit(body: string): string | undefined {
  if (!body.includes('This reverts commit')) return undefined;
  return REVERTS_LINE.exec(body)?.[1].toLowerCase();
}

/** The release level one commit asks for. */
export function commitLevel(c: ParsedCommit): BumpLevel {
  return c.hint ?? KIND_LEVEL[commitKind(c)];
}

export function maxLevel(a: BumpLevel, b: BumpLevel): BumpLevel {
  return BUMP_LEVELS.indexOf(a) >= BUMP_LEVELS.indexOf(b) ? a : b;
}

/** What a summary shows: how many commits of each kind drove the bump. */
export type CommitKind = 'breaking' | 'feat' | 'deprecation' | 'fix' | 'perf' | 'revert' | 'hint' | 'other';

/** The level each kind asks for; a hint's is the hint itself (`c.hint`, read first), never this entry. */
const KIND_LEVEL: Record<CommitKind, BumpLevel> = {
  hint: 'none',
  breaking: 'major',
  feat: 'minor',
  deprecation: 'minor',
  fix: 'patch',
  perf: 'patch',
  revert: 'patch',
  other: 'none',
};

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
  /** The commits that count, in the order given (newest first): not those a revert cancelled. */
  commits: ParsedCommit[];
  counts: Partial<Record<CommitKind, number>>;
  /** Commits left out because a revert and the commit it reverts are both in the range. */
  cancelled: ParsedCommit[];
}

export function analyzeCommits(commits: Iterable<CommitInfo>): CommitAnalysis {
  return summarizeCommits([...commits].map(parseCommit));
}

/**
 * The release level and the counts by kind of already parsed commits (newest first, as
 * `git log` prints them). A revert and the commit it reverts, both in the list, cancel out:
 * neither counts. A revert of a revert cancels the first revert, and the original counts.
 * A revert of a commit outside the list (before the base) counts as a patch.
 */
export function summarizeCommits(parsed: ParsedCommit[]): CommitAnalysis {
  const cancelled = cancelledByReverts(parsed);
  let rank = 0;
  let explicitMajor = false;
  // Kinds in the order they first appear (newest first), as the Summary lists them.
  const tally = new Map<CommitKind, number>();
  // Without a revert pair, every commit counts: the list itself is the result (no copy of thousands).
  const commits: ParsedCommit[] = cancelled ? [] : parsed;
  const left: ParsedCommit[] = [];
  for (let i = 0; i < parsed.length; i++) {
    const c = parsed[i];
    if (cancelled) {
      if (cancelled.has(i)) {
        left.push(c);
        continue;
      }
      commits.push(c);
    }
    const kind = commitKind(c);
    const r = LEVEL_RANK[c.hint ?? KIND_LEVEL[kind]];
    if (r > rank) rank = r;
    if (c.hint === 'major') explicitMajor = true;
    tally.set(kind, (tally.get(kind) ?? 0) + 1);
  }
  return { level: BUMP_LEVELS[rank], commits, counts: Object.fromEntries(tally), explicitMajor, cancelled: left };
}

const LEVEL_RANK: Record<BumpLevel, number> = { none: 0, patch: 1, minor: 2, major: 3 };

/** Shortest sha prefix that pairs a revert with a commit (git never abbreviates below 4). */
const MIN_SHA = 4;

/**
 * The indexes of the commits that a revert in the list pairs with, and of those reverts;
 * undefined when no commit is a revert (the usual case, checked without building anything).
 */
function cancelledByReverts(parsed: ParsedCommit[]): Set<number> | undefined {
  if (!parsed.some((c) => c.reverts)) return undefined;
  // The commit each revert points at, when it is in the list. git prints full lower-case shas,
  // so the exact comparison is the usual hit; shas also match by prefix either way
  // (abbreviated vs full) and whatever their case.
  const target = new Map<number, number>();
  const revertsOf = new Map<number, number[]>();
  parsed.forEach((c, i) => {
    const sha = c.reverts;
    if (!sha) return;
    let t = parsed.findIndex((o, j) => j !== i && o.hash === sha);
    if (t < 0)
      t = parsed.findIndex((o, j) => j !== i && Math.min(o.hash.length, sha.length) >= MIN_SHA && sameCommit(o.hash.toLowerCase(), sha));
    if (t < 0 || t === i) return;
    target.set(i, t);
    revertsOf.set(t, [...(revertsOf.get(t) ?? []), i]);
  });
  // Newest to oldest, and a commit's own reverts before the commit whatever the order given:
  // a revert of a revert takes the first revert out, so the first cannot cancel the original.
  const cancelled = new Set<number>();
  const seen = new Set<number>();
  const visit = (i: number) => {
    if (seen.has(i)) return;
    seen.add(i);
    for (const r of revertsOf.get(i) ?? []) visit(r);
    const t = target.get(i);
    if (t === undefined || cancelled.has(i) || cancelled.has(t)) return;
    cancelled.add(i);
    cancelled.add(t);
  };
  for (const i of target.keys()) visit(i);
  return cancelled;
}

function sameCommit(a: string, b: string): boolean {
  return a.length >= b.length ? a.startsWith(b) : b.startsWith(a);
}
