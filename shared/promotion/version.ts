/**
 * The tag a promotion puts on the promoted commit, by VersionBump's rules (shared/versioning):
 * into a candidate environment `vX.Y.Z-rc.N`, X.Y.Z from the conventional commits since the last
 * final and N the next free number of that version; into a final environment `vX.Y.Z` of the
 * candidate the commit already carries: the tested candidate is released, nothing recomputed.
 */
import { existsSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UserError } from '../errors';
import { Git, type GitOptions, type TagRef } from '../git';
import type { Log } from '../log';
import { summarizeCommits } from '../versioning/conventional';
import { baseAndCommits, CommitRanges, finalTags, versionCommitFilter, type ComponentTag } from '../versioning/history';
import { SemVer } from '../versioning/semver';
import type { TagFormat } from '../versioning/tagFormat';
import { CANDIDATE_LABEL, decideVersion, highest } from '../versioning/decide';
import { journal } from '../undo';
import type { TagKind } from './flow';

export interface TagDecision {
  version: string;
  tag: string;
  /** What the tag is: a final also on a commit promoted to a candidate environment (it was released already). */
  kind: TagKind;
  /** The tag is on the commit already (a re-run, or a candidate promoted once more): nothing to create. */
  existing: boolean;
  /** An existing tag the remote lacks (made locally): pushed with the promotion. */
  pushExisting: boolean;
  /** A final: the candidate it releases. */
  candidate?: string;
  /** A final made without a candidate (`allowUntested: true`). */
  untested: boolean;
  why: string;
  /** Commits the version's history showed to be ancestors of the promoted commit (saves a merge-base for a target found among them). */
  ancestors?: Set<string>;
}

export interface TagQuery {
  git: Git;
  gitOptions: GitOptions;
  commit: string;
  head: string;
  shallow: boolean;
  kind: TagKind;
  format: TagFormat;
  /** Local and remote tags of this component (the remote's commit wins). */
  tags: ComponentTag[];
  local: TagRef[];
  remoteTagNames: Set<string>;
  remote: string;
  sourceRef: string;
  paths: string[];
  allowUntested: boolean;
  /** For the error messages: the environment finals come from (`pre`, `release/*`). */
  /** Where the commit gets its candidate tag by promotion; undefined when its own build tags it (a hotfix). */
  candidateBranch?: string;
  scratch: string;
  log: Log;
}

const release = (v: SemVer) => `${v.major}.${v.minor}.${v.patch}`;

export async function decideTag(q: TagQuery): Promise<TagDecision> {
  const on = q.tags.filter((t) => t.commit === q.commit);
  const existing = (t: ComponentTag, why: string): TagDecision => ({
    version: t.version.version,
    tag: t.name,
    kind: t.version.prerelease.length ? 'candidate' : 'final',
    existing: true,
    pushExisting: !q.remoteTagNames.has(t.name),
    untested: false,
    why,
  });
  const final = highest(on.filter((t) => !t.version.prerelease.length));
  if (final)
    return existing(
      final,
      q.kind === 'final'
        ? `the commit is released already as ${final.name}`
        : `the commit is released already as ${final.name}: no candidate is made`,
    );
  const candidate = highest(on.filter((t) => t.version.prerelease[0] === CANDIDATE_LABEL));
  if (q.kind === 'candidate' && candidate) return existing(candidate, `the commit is a candidate already (${candidate.name})`);
  if (q.kind === 'final' && candidate) {
    const version = release(candidate.version);
    return checked(q, {
      version,
      tag: q.format.tagFor(version),
      kind: 'final',
      existing: false,
      pushExisting: false,
      candidate: candidate.name,
      untested: false,
      why: `the tested candidate ${candidate.name} is released as it is`,
    });
  }
  if (q.kind === 'final' && !q.allowUntested) {
    throw new UserError(
      `commit ${q.commit.slice(0, 12)} carries no release candidate (no '${q.format.tagFor(`X.Y.Z-${CANDIDATE_LABEL}.N`)}' tag): a final is made only from a tested candidate.`,
      {
        input: 'allowUntested',
        fix: q.candidateBranch
          ? `promote the commit into '${q.candidateBranch}' first (it gets its candidate tag there), or set 'allowUntested: true' to release it untested (the Summary flags it).`
          : `tag it as a candidate in this branch's build before the tests run: VersionBump with 'createTag: true' (hotfix/* is a release-candidate channel, so it tags X.Y.Z-rc.N), as examples/promote-environments.yml does; or set 'allowUntested: true' to release it untested (the Summary flags it).`,
      },
    );
  }
  const label = q.kind === 'candidate' ? CANDIDATE_LABEL : '';
  const { version, ancestors } = await nextVersion(q, label);
  return checked(q, {
    version,
    ancestors,
    tag: q.format.tagFor(version),
    kind: q.kind,
    existing: false,
    pushExisting: false,
    untested: q.kind === 'final',
    why:
      q.kind === 'final'
        ? 'allowUntested: released without a candidate, version from the commits since the last release'
        : 'the next candidate, from the commits since the last release',
  });
}

/** Refuses a tag name that already names another commit. */
function checked(q: TagQuery, d: TagDecision): TagDecision {
  const clash = q.tags.find((t) => t.name === d.tag && t.commit !== q.commit);
  if (clash) {
    throw new UserError(
      `the tag '${d.tag}' already exists at commit ${clash.commit.slice(0, 12)}, not at the promoted commit ${q.commit.slice(0, 12)}.`,
      {
        input: 'tagFormat',
        fix: 'that version was released from another commit: promote that commit, or delete the stray tag; nothing was promoted.',
      },
    );
  }
  return d;
}

/** decideVersion's answer for `commit`, from the commits since the last final it descends from. */
async function nextVersion(q: TagQuery, label: string): Promise<{ version: string; ancestors: Set<string> }> {
  const finals = finalTags(q.tags);
  const history = (git: Git) =>
    baseAndCommits(
      git,
      {
        finals,
        local: q.local,
        refPattern: q.format.refPattern,
        head: q.commit,
        remote: q.remote,
        ref: q.sourceRef,
        shallow: q.shallow,
        ranges: new CommitRanges(git, q.paths, versionCommitFilter(q.format)),
      },
      q.log,
    );
  // The history is read from HEAD: a commit other than the checkout's gets a worktree of its own (nothing checked out).
  let found: Awaited<ReturnType<typeof history>>;
  if (q.commit === q.head) found = await history(q.git);
  else {
    const dir = join(q.scratch, `worktree-${process.pid}-${Date.now()}`);
    // The worktree's admin folder goes into the checkout's .git: registered before it is made, and
    // removed by files alone (no git call that could fail or be refused after a cancel).
    const worktrees = resolve(q.git.dir, (await q.git.run(['rev-parse', '--git-path', 'worktrees'])).trim());
    const remove = () => removeWorktree(dir, worktrees);
    const drop = journal.register(`the scratch worktree ${dir}`, remove);
    await q.git.run(['worktree', 'add', '--quiet', '--detach', '--no-checkout', dir, q.commit]);
    try {
      found = await history(new Git(dir, q.gitOptions));
    } finally {
      remove();
      drop();
    }
  }
  const inputs = {
    base: found.base,
    analysis: summarizeCommits(found.commits),
    bump: 'auto' as const,
    label,
    initial: '0.1.0',
    tags: q.tags,
    finals,
  };
  let decided = decideVersion(inputs);
  // Nothing since the last release that asks for a bump (chores only): a promotion still ships a new version.
  if (decided.reason.kind === 'no-relevant-commits') decided = decideVersion({ ...inputs, bump: 'patch' });
  // Every commit the log listed is reachable from the promoted commit, and so is the base it stopped at.
  const ancestors = new Set([q.commit, ...found.commits.map((c) => c.hash), ...(found.base ? [found.base.commit] : [])]);
  return { version: new SemVer(decided.version).version, ancestors };
}

/**
 * Removes a worktree made by `git worktree add <dir>` (its admin folder is `<worktrees>/<basename of dir>`,
 * the name being unique) and `worktrees` itself when it is left empty, as `git worktree remove` does.
 */
function removeWorktree(dir: string, worktrees: string): void {
  rmSync(dir, { recursive: true, force: true });
  rmSync(join(worktrees, basename(dir)), { recursive: true, force: true });
  if (existsSync(worktrees) && !readdirSync(worktrees).length) rmdirSync(worktrees);
}
