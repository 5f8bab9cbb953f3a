/**
 * What the repository's history says about a component: its tags (local and remote), the
 * release tag HEAD builds on, and the commits since. Deepens shallow clones as far as needed.
 */
import { UserError } from '../errors';
import { Git, GitCommandError, GitTimeoutError, type TagRef } from '../git';
import type { Log } from '../log';
import { parseCommit, type ParsedCommit } from './conventional';
import { rcompare, type SemVer } from './semver';
import type { TagFormat } from './tagFormat';

export interface ComponentTag {
  name: string;
  commit: string;
  version: SemVer;
}

/** The final releases among `tags` (no pre-release part), highest first. */
export function finalTags(tags: ComponentTag[]): ComponentTag[] {
  return tags.filter((t) => !t.version.prerelease.length).sort((a, b) => rcompare(a.version, b.version));
}

/** What one `ls-remote` of a remote answered: its refs, or why it could not be read. */
export type RemoteListing = { remote: string; refs: TagRef[] } | { remote: string; error: unknown };

/** Lists this component's tags and the built branch on `remote`, in one `ls-remote`; never rejects. */
export function listRemote(git: Git, remote: string, format: TagFormat, branchRef: string): Promise<RemoteListing> {
  return git.remoteRefs(remote, [format.refPattern, branchRef]).then(
    (refs) => ({ remote, refs }),
    (error: unknown) => ({ remote, error }),
  );
}

/**
 * This component's tags, local and remote (the remote wins when both name one tag), and where
 * the built branch points on the remote. A remote that could not be read fails the run when
 * `remoteRequired`, and is otherwise a warning.
 */
export function collectTags(
  format: TagFormat,
  local: TagRef[],
  listing: RemoteListing | undefined,
  branchRef: string,
  remoteRequired: boolean,
  warn: (m: string) => void,
): { tags: ComponentTag[]; branchTip?: string } {
  const byName = new Map<string, string>();
  for (const t of local) byName.set(t.name, t.commit);
  let branchTip: string | undefined;
  if (listing && 'refs' in listing) {
    for (const t of listing.refs) {
      if (t.name === branchRef) {
        branchTip = t.commit;
        continue;
      }
      const local = byName.get(t.name);
      if (local && local !== t.commit)
        warn(
          `Tag '${t.name}' differs locally (${local.slice(0, 12)}) and on '${listing.remote}' (${t.commit.slice(0, 12)}); using the remote's.`,
        );
      byName.set(t.name, t.commit);
    }
  } else if (listing) {
    const err = listing.error;
    const detail = err instanceof GitCommandError ? err.stderr.trim() : String(err);
    if (remoteRequired) {
      throw new UserError(`cannot list the tags on remote '${listing.remote}': ${detail}. Nothing was changed.`, {
        fix:
          err instanceof GitTimeoutError
            ? 'check that the agent can reach the remote (proxy, firewall, service health) and re-run; a dry run goes on with local tags.'
            : "let the job read the repository: grant the build service 'Read' on it (and list it under resources.repositories if the job token is limited to referenced repositories), or check out with 'fetchDepth: 0' and 'fetchTags: true'.",
      });
    }
    warn(`Could not list the tags on remote '${listing.remote}' (${detail}); using local tags only.`);
  }
  const tags: ComponentTag[] = [];
  for (const [name, commit] of byName) {
    const version = format.versionOf(name);
    if (version) tags.push({ name, commit, version });
  }
  return { tags, branchTip };
}

/**
 * Tags that sit on a version commit made on top of HEAD by an earlier run of this task
 * (`chore(release): <tag> ***NO_CI***` whose only parent is HEAD): for a re-run they count as
 * being on HEAD. That run pushed its commit to the built branch, so it lies between HEAD and
 * the remote branch's tip: a full clone has it, and the children of HEAD up to it are read in
 * one walk; in a shallow checkout only the tag on the tip is looked at (fetched if missing). When
 * the tip is unknown (no remote, or it could not be read), every tag `fits` allows is read
 * instead, except, once `below` (the base HEAD builds on and the commits since) is known, the
 * tags at or below that base and those on commits HEAD contains: that run's version was
 * computed from this base, so it is above it, and its commit is a child of HEAD.
 */
export async function tagsOnReleaseCommits(
  git: Git,
  tags: ComponentTag[],
  head: string,
  fits: (t: ComponentTag) => boolean,
  remote: string | undefined,
  shallow: boolean,
  branchTip: string | undefined,
  below?: Promise<{ base?: ComponentTag; commits: ParsedCommit[] }>,
): Promise<ComponentTag[]> {
  if (branchTip === head) return [];
  let candidates = tags.filter((t) => t.commit !== head && fits(t));
  if (!candidates.length) return [];
  // A shallow clone's walk shows grafted parents, not the recorded ones: there only the tip is looked at.
  if (branchTip && !shallow && (await git.present([branchTip])).has(branchTip)) {
    const children = new Set<string>();
    for (const line of (await git.run(['rev-list', '--parents', `^${head}`, branchTip, '--'])).split('\n')) {
      const [sha, ...parents] = line.split(' ');
      if (parents.length === 1 && parents[0] === head) children.add(sha);
    }
    candidates = candidates.filter((t) => children.has(t.commit));
  } else if (branchTip) {
    candidates = candidates.filter((t) => t.commit === branchTip);
    // Best effort: a tag that cannot be fetched is simply not a re-run.
    if (candidates.length && remote && !(await git.present([branchTip])).has(branchTip)) {
      await git
        .fetchObjects(
          remote,
          candidates.map((t) => `refs/tags/${t.name}`),
          shallow,
        )
        .catch(() => undefined);
    }
  } else if (below) {
    const { base, commits } = await below;
    if (base) candidates = candidates.filter((t) => t.version.compare(base.version) > 0);
    if (candidates.length) {
      const contained = new Set(commits.map((c) => c.hash));
      candidates = candidates.filter((t) => !contained.has(t.commit));
    }
  }
  if (!candidates.length) return [];
  const commits = await git.rawCommits([...new Set(candidates.map((t) => t.commit))]);
  return candidates.filter((t) => {
    const c = commits.get(t.commit);
    return c && c.parents.length === 1 && c.parents[0] === head && c.subject.startsWith(`chore(release): ${t.name} `);
  });
}

const DEEPEN_FIRST = 50;
const MANY_TAGS = 20;
const DEEPEN_MAX_STEP = 1 << 20;

/** What the base search needs to know about the repository and the run. */
export interface HistoryQuery {
  /** Final release tags, highest first (local and remote; the remote's commit wins). */
  finals: ComponentTag[];
  /** This component's local tags as they are in this clone. */
  local: TagRef[];
  /** The for-each-ref pattern of this component's tags. */
  refPattern: string;
  head: string;
  remote?: string;
  /** The ref the run builds (refs/heads/main): a shallow clone deepens only that. */
  ref?: string;
  shallow: boolean;
  /** Where the range logs come from (and the `paths` they are limited to): one started early is used here. */
  ranges: CommitRanges;
}

/** The version commits this task makes (`chore(release): v1.2.0 ***NO_CI***`): they are not changes. */
export function versionCommitFilter(format: TagFormat): (c: ParsedCommit) => boolean {
  return (c) => c.type === 'chore' && c.scope === 'release' && !!format.versionOf(c.subject.replace(/ \*\*\*NO_CI\*\*\*$/, ''));
}

export interface RangeRead {
  commits: ParsedCommit[];
  reachesBase: boolean;
}

/**
 * The commits since a base (`readCommits`), each range read at most once. A caller that can
 * guess the base before it is certain (the highest local release tag, while the remote's tags
 * are still being listed) starts that log early; when the base turns out the same the read is
 * used as it is, and `stopUnused` ends the guesses nobody used.
 */
export class CommitRanges {
  private readonly reads = new Map<string, { read: Promise<RangeRead>; used: boolean; stop: AbortController }>();

  constructor(
    private readonly git: Git,
    readonly paths: string[],
    private readonly skip: (c: ParsedCommit) => boolean,
  ) {}

  /** Starts (or joins) the log of `base..HEAD` without claiming it. */
  start(base: string | undefined): Promise<RangeRead> {
    const key = base ?? '';
    let entry = this.reads.get(key);
    if (!entry) {
      const stop = new AbortController();
      const read = readCommits(this.git, base, this.paths, this.skip, stop.signal);
      read.catch(() => undefined);
      entry = { read, used: false, stop };
      this.reads.set(key, entry);
    }
    return entry.read;
  }

  read(base: string | undefined): Promise<RangeRead> {
    const read = this.start(base);
    this.reads.get(base ?? '')!.used = true;
    return read;
  }

  /** Stops the logs started on a guess that nothing asked for. */
  stopUnused(): void {
    for (const entry of this.reads.values()) if (!entry.used) entry.stop.abort();
  }
}

/**
 * The highest release tag among `finals` that HEAD descends from, and the commits since it
 * that touch `paths`.
 *
 * Full clone: the log of the highest tag's range also tells whether it is an ancestor (some
 * commit in `tag..HEAD` has it as a parent), so in the usual case one walk does both. Otherwise
 * git is asked once which local tags HEAD contains (`for-each-ref --merged`), so the cost stays
 * flat in the number of tags; tags only the remote has are looked up in the commits since the
 * best local base, in one more walk.
 *
 * Shallow clone: fetches 50, 100, 200, … more commits of the built ref only (no tags, no other
 * branch) until the answer is certain: a release tag is reached and no commit between it and
 * HEAD is cut off (a merged side branch can be). A higher release hidden behind that base is
 * not looked for. The cost follows the commits since the release, not the repository's age.
 */
export async function baseAndCommits(git: Git, q: HistoryQuery, log: Log): Promise<{ base?: ComponentTag; commits: ParsedCommit[] }> {
  const read = (base: string | undefined) => q.ranges.read(base);
  const top = q.finals[0];
  if (top?.commit === q.head) return { base: top, commits: [] };
  if (q.shallow) {
    const base = await deepenToBase(git, q, log);
    return { base, commits: await read(base?.commit).then((r) => r.commits) };
  }
  if (!top) return { commits: (await read(undefined)).commits };
  // A tag only the remote has may point at a commit this clone lacks: then it is no ancestor.
  const topRange = read(top.commit).catch((err: unknown) => {
    if (err instanceof GitCommandError && /Invalid revision range|bad revision|unknown revision/i.test(err.stderr)) return undefined;
    throw err;
  });
  // With many release tags the highest is less likely the base: ask git which HEAD contains alongside.
  const ancestor = q.finals.length > MANY_TAGS || q.ranges.paths.length ? highestAncestor(git, q) : undefined;
  ancestor?.catch(() => undefined);
  if (!q.ranges.paths.length) {
    const range = await topRange;
    if (range?.reachesBase) return { base: top, commits: range.commits };
  } else topRange.catch(() => undefined);
  const base = await (ancestor ?? highestAncestor(git, q));
  if (base === top) return { base, commits: (await topRange)!.commits };
  return { base, commits: (await read(base?.commit)).commits };
}

/** The highest of `finals` that HEAD contains, with one or two git processes whatever the number of tags. */
async function highestAncestor(git: Git, q: HistoryQuery): Promise<ComponentTag | undefined> {
  const merged = new Map((await git.localTags(q.refPattern, q.head)).map((t) => [t.name, t.commit]));
  const localCommit = new Map(q.local.map((t) => [t.name, t.commit]));
  const bestAt = q.finals.findIndex((t) => merged.get(t.name) === t.commit);
  const best = bestAt < 0 ? undefined : q.finals[bestAt];
  // Above the best local base: tags whose commit git's answer did not cover (remote-only, or moved).
  const unknown = (bestAt < 0 ? q.finals : q.finals.slice(0, bestAt)).filter((t) => localCommit.get(t.name) !== t.commit);
  if (!unknown.length) return best;
  const present = await git.present(unknown.map((t) => t.commit));
  const candidates = unknown.filter((t) => present.has(t.commit));
  if (!candidates.length) return best;
  const since = new Set(await git.revList([q.head, ...(best ? [`^${best.commit}`] : [])]));
  return candidates.find((t) => since.has(t.commit)) ?? best;
}

type Verdict = { certain: true; base?: ComponentTag } | { certain: false };

/** What the history fetched so far says about the base, and whether that is certain. */
async function judge(git: Git, finals: ComponentTag[], head: string, boundary: Set<string>): Promise<Verdict> {
  const complete = boundary.size === 0;
  const fetched = new Set(await git.revList([head]));
  for (const t of finals) {
    // Not (yet) in HEAD's fetched history: beyond the boundary, or no ancestor at all.
    if (!fetched.has(t.commit)) continue;
    if (!complete && (await rangeUncertain(git, head, t.commit, boundary))) return { certain: false };
    return { certain: true, base: t };
  }
  return complete ? { certain: true } : { certain: false };
}

/**
 * Whether `HEAD ^tag` in a shallow clone may differ from the same range in the full history.
 * Two ways it can: a commit in the range is cut off (its parents are missing), or the tag's
 * own history is cut off above a commit the range reached another way (a merged side branch
 * fetched deeper than the tag's line), which `^tag` then fails to exclude.
 */
async function rangeUncertain(git: Git, head: string, tag: string, boundary: Set<string>): Promise<boolean> {
  const lines = (await git.run(['rev-list', '--boundary', head, `^${tag}`, '--'])).split('\n').filter(Boolean);
  if (lines.some((l) => !l.startsWith('-') && boundary.has(l))) return true;
  if ((await git.revList(['--max-parents=0', head, `^${tag}`])).length) return true;
  const tagCuts = (await git.revList([tag])).filter((c) => boundary.has(c));
  for (const edge of lines.filter((l) => l.startsWith('-')).map((l) => l.slice(1))) {
    const below = new Set(await git.revList([edge]));
    if (tagCuts.some((c) => !below.has(c))) return true;
  }
  return false;
}

async function deepenToBase(git: Git, q: HistoryQuery, log: Log): Promise<ComponentTag | undefined> {
  let step = DEEPEN_FIRST;
  let fetched = 0;
  let triedUnshallow = false;
  for (;;) {
    const boundary = await git.shallowBoundary();
    const verdict = await judge(git, q.finals, q.head, boundary);
    if (verdict.certain) return verdict.base;
    if (!q.remote) throw shallowError('the clone is shallow and has no remote to fetch more history from.');
    const unshallow = !q.finals.length || step > DEEPEN_MAX_STEP || triedUnshallow;
    try {
      if (unshallow) {
        log.info(
          q.finals.length
            ? 'Shallow clone: fetching the rest of the history.'
            : 'Shallow clone and no release tag yet: fetching the full history to count commits.',
        );
        await git.deepen(q.remote, 'all', q.ref);
        triedUnshallow = true;
      } else {
        log.info(`Shallow clone: fetching ${step} more commits to reach the last release tag (${fetched} fetched so far).`);
        await git.deepen(q.remote, step, q.ref);
        fetched += step;
        step *= 2;
      }
    } catch (err) {
      const detail = err instanceof GitCommandError ? err.stderr.trim() || err.message : String(err);
      throw shallowError(`fetching more history failed: ${detail}`);
    }
    const after = await git.shallowBoundary();
    if (after.size && sameSet(after, boundary)) {
      // The remote has nothing behind HEAD's boundary (HEAD was force-pushed over, or its ref is gone).
      if (triedUnshallow)
        throw shallowError('fetching more history added no commits: the built commit may no longer be on any branch of the remote.');
      triedUnshallow = true;
      step = DEEPEN_MAX_STEP + 1;
    }
  }
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

function shallowError(problem: string): UserError {
  return new UserError(`${problem} VersionBump needs the history back to the last release tag.`, {
    fix: 'check out the full history in the YAML:\n  steps:\n  - checkout: self\n    fetchDepth: 0\n    fetchTags: true',
  });
}

/**
 * Commits since `base` (all of history when undefined) that touch `paths`, in one streamed
 * log, each parsed as it arrives so that only its header and flags are kept. `reachesBase`
 * (computed without `paths`): `base` is a parent of some commit read, i.e. an ancestor of
 * HEAD; git prints it as a boundary commit (`--boundary`), so no commit's parents are read.
 */
export async function readCommits(
  git: Git,
  base: string | undefined,
  paths: string[],
  skip: (c: ParsedCommit) => boolean = () => false,
  signal?: AbortSignal,
): Promise<RangeRead> {
  const commits: ParsedCommit[] = [];
  let reachesBase = false;
  const boundary = !!base && !paths.length;
  const args = ['log', ...(boundary ? ['--boundary'] : []), '--format=%m%H%x1f%B%x1e', base ? `${base}..HEAD` : 'HEAD', '--', ...paths];
  try {
    await git.streamRecords(args, '\x1e', signal, (record) => {
      // Records after the first start with the newline that ends the one before.
      const start = record.charCodeAt(0) === 10 ? 1 : 0;
      const sep = record.indexOf('\x1f', start);
      if (sep <= start + 1) return;
      const hash = record.slice(start + 1, sep);
      if (record[start] === '-') {
        if (hash === base) reachesBase = true;
        return;
      }
      const commit = parseCommit({ hash, message: record.slice(sep + 1) });
      if (!skip(commit)) commits.push(commit);
    });
  } catch (err) {
    if (err instanceof GitCommandError && paths.length) {
      throw new UserError(`git cannot read the history of these paths: ${err.stderr.trim()}`, {
        input: 'paths',
        fix: 'list paths inside the repository, relative to workingDirectory, one a line (git pathspecs).',
      });
    }
    throw err;
  }
  return { commits, reachesBase };
}
