import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { UserError } from '../errors';
import type { BranchContext } from '../git/branch';
import { Git, GitCommandError, PartialPushError, ZERO_SHA, type RefUpdate } from '../git';
import type { Log } from '../log';
import { changelogSection, prependChangelog } from './changelog';
import { channelFor, type Channel, type ChannelRule } from './channels';
import { summarizeCommits, type BumpLevel, type CommitAnalysis } from './conventional';
import { baseAndCommits, collectTags, tagsOnReleaseCommits, type ComponentTag } from './history';
import { toPep440 } from './pep440';
import { effectiveLevel, levelBetween, nextRelease, parseVersion, rcompare, SemVer } from './semver';
import { parseTagFormat } from './tagFormat';
import { planVersionFileEdits, type VersionFileEdit, type VersionFileSpec } from './versionFiles';

export interface VersionBumpOptions {
  tagFormat: string;
  component: string;
  paths: string[];
  bump: 'auto' | BumpLevel;
  channels: ChannelRule[];
  initialVersion: string;
  versionFiles: VersionFileSpec[];
  createTag: boolean;
  pushTag: boolean;
  commitVersionFiles: boolean;
  /** Absolute path, or undefined for none. */
  changelogFile?: string;
  branch: BranchContext;
  /** YYYY-MM-DD, for the changelog heading. */
  today: string;
}

/** The pre-release label of release candidates: a commit carrying one is released as it is. */
export const CANDIDATE_LABEL = 'rc';

/** Why the version is what it is: shown in the log and on the Summary tab. */
export type Reason =
  | { kind: 'already-tagged'; tag: string; onReleaseCommit: boolean }
  | { kind: 'promoted-candidate'; candidate: string }
  | { kind: 'initial' }
  | { kind: 'no-relevant-commits' }
  | { kind: 'commits'; level: BumpLevel; requested: 'auto' | BumpLevel; zeroMajor: boolean; pastRelease?: string };

export interface VersionPlan {
  version: string;
  previousVersion: string;
  /** major, minor, patch, none, or `initial` for a component's first version. */
  bump: BumpLevel | 'initial';
  tag: string;
  isPrerelease: boolean;
  pep440Version: string;
  commitCount: number;
  /** False when nothing relevant happened since the last tag (or HEAD already carries it). */
  changed: boolean;
  channel: Channel;
  baseTag?: string;
  reason: Reason;
  analysis: CommitAnalysis;
  /** What apply will do, in order. */
  actions: {
    files: VersionFileEdit[];
    changelog?: { path: string; before: string; after: string };
    commit?: { message: string };
    tag?: { name: string; message: string };
    push?: { remote: string; branchRef?: string };
  };
  head: string;
  warnings: string[];
}

const release = (v: SemVer) => `${v.major}.${v.minor}.${v.patch}`;

/** Computes the next version and everything applying it would do. Touches nothing. */
export async function planVersion(git: Git, opts: VersionBumpOptions, log: Log): Promise<VersionPlan> {
  const format = parseTagFormat(opts.tagFormat, opts.component);
  const initial = parseVersion(opts.initialVersion);
  if (!initial || initial.prerelease.length) {
    throw new UserError(`'${opts.initialVersion}' is not a release version.`, { input: 'initialVersion', fix: 'use MAJOR.MINOR.PATCH, e.g. 0.1.0.' });
  }
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    log.warn(m);
  };
  const [{ head, shallow }, remotes, localTags] = await Promise.all([
    git.state().catch(() => {
      throw new UserError('the repository has no commits yet.', { input: 'workingDirectory', fix: 'commit something first, or point at the right repository.' });
    }),
    git.remotes(),
    git.localTags(format.refPattern),
  ]);
  const remote = remotes.includes('origin') ? 'origin' : remotes[0];
  const tags = await collectTags(git, format, localTags, remote, shallow || opts.pushTag, warn);
  const channel = channelFor(opts.branch.branch, opts.channels);
  log.info(`Branch '${opts.branch.branch}' → ${channel.label ? `pre-release '${channel.label}'` : 'final release'} channel.`);

  const finals = tags.filter((t) => !t.version.prerelease.length).sort((a, b) => rcompare(a.version, b.version));
  const direct = highest(tags.filter((t) => t.commit === head && fitsChannel(t, channel)));
  const candidate = !direct && !channel.label ? highest(tags.filter((t) => t.commit === head && t.version.prerelease[0] === CANDIDATE_LABEL)) : undefined;
  // The base of the usual case is looked for while checking for an earlier run's version
  // commit; on a shallow clone (where looking fetches) only after.
  const usual = direct || candidate || shallow ? undefined : baseAndCommits(git, finals, head, remote, shallow, opts.paths, log);
  usual?.catch(() => undefined);
  const onReleaseCommit = direct ? undefined : highest(await tagsOnReleaseCommits(git, tags, head, (t) => fitsChannel(t, channel), remote, shallow));
  const released = direct ? { tag: direct, onReleaseCommit: false } : onReleaseCommit ? { tag: onReleaseCommit, onReleaseCommit: true } : undefined;

  // An already released HEAD reports the base below its version, as the first run did.
  const promoted = released ? undefined : candidate;
  const ceiling = released?.tag ?? promoted;
  const { base, commits } =
    ceiling || !usual
      ? await baseAndCommits(git, ceiling ? finals.filter((t) => rcompare(t.version, new SemVer(release(ceiling.version))) > 0) : finals, head, remote, shallow, opts.paths, log)
      : await usual;
  const analysis = summarizeCommits(commits);

  const { version, reason } = decideVersion({ released, promoted, base, analysis, bump: opts.bump, label: channel.label, initial: initial.version, tags, finals });
  const parsed = new SemVer(version);
  const changed = reason.kind !== 'already-tagged' && reason.kind !== 'no-relevant-commits';
  const plan: VersionPlan = {
    version,
    previousVersion: base?.version.version ?? '',
    bump: base ? levelBetween(base.version, new SemVer(release(parsed))) : 'initial',
    tag: format.tagFor(version),
    isPrerelease: parsed.prerelease.length > 0,
    pep440Version: toPep440(version),
    commitCount: analysis.commits.length,
    changed,
    channel,
    baseTag: base?.name,
    reason,
    analysis,
    actions: { files: planVersionFileEdits(opts.versionFiles, version) },
    head,
    warnings,
  };
  await planActions(git, plan, opts, tags, remote, warn);
  return plan;
}

export interface VersionInputs {
  /** The tag HEAD already carries for this channel, if any. */
  released?: { tag: ComponentTag; onReleaseCommit: boolean };
  /** The rc tag on HEAD that a final branch releases as it is. */
  promoted?: ComponentTag;
  base?: ComponentTag;
  analysis: CommitAnalysis;
  bump: 'auto' | BumpLevel;
  /** The channel's pre-release label; empty for finals. */
  label: string;
  initial: string;
  tags: ComponentTag[];
  /** Final release tags, highest first. */
  finals: ComponentTag[];
}

/** The version and why, from what the history says. Plain data in, plain data out. */
export function decideVersion(i: VersionInputs): { version: string; reason: Reason } {
  if (i.released) {
    return { version: i.released.tag.version.version, reason: { kind: 'already-tagged', tag: i.released.tag.name, onReleaseCommit: i.released.onReleaseCommit } };
  }
  if (i.promoted) return { version: release(i.promoted.version), reason: { kind: 'promoted-candidate', candidate: i.promoted.name } };
  if (!i.base) return { version: withLabel(i.initial, i.label, i.tags), reason: { kind: 'initial' } };
  const requested = i.bump === 'auto' ? i.analysis.level : i.bump;
  // Only a breaking change found in the commits stays in 0.x; an explicit major (input or +semver hint) goes to 1.0.0.
  const level = i.bump === 'auto' && !i.analysis.explicitMajor ? effectiveLevel(i.base.version, requested) : requested;
  if (level === 'none') return { version: i.base.version.version, reason: { kind: 'no-relevant-commits' } };
  let next = nextRelease(i.base.version, level);
  let pastRelease: string | undefined;
  if (i.label) {
    // A pre-release of a version already released elsewhere would sort below it: move past.
    while (i.finals.some((t) => t.version.version === next)) {
      pastRelease = next;
      next = nextRelease(new SemVer(next), 'patch');
    }
  }
  return { version: withLabel(next, i.label, i.tags), reason: { kind: 'commits', level, requested: i.bump, zeroMajor: level !== requested, pastRelease } };
}

function highest(tags: ComponentTag[]): ComponentTag | undefined {
  return [...tags].sort((a, b) => rcompare(a.version, b.version))[0];
}

/** Whether a tag on HEAD means HEAD is already released on this channel (a final counts on any). */
function fitsChannel(t: ComponentTag, channel: Channel): boolean {
  return !t.version.prerelease.length || (channel.label !== '' && t.version.prerelease[0] === channel.label);
}

/** Adds the commit, tag and push steps; checks up front everything that would make them fail. */
async function planActions(git: Git, plan: VersionPlan, opts: VersionBumpOptions, tags: ComponentTag[], remote: string | undefined, warn: (m: string) => void) {
  if (!plan.changed) return;
  if (opts.changelogFile) {
    const before = readOptional(opts.changelogFile);
    const after = prependChangelog(before, plan.version, changelogSection(plan.version, opts.today, plan.analysis.commits));
    if (after !== before) plan.actions.changelog = { path: opts.changelogFile, before, after };
  }
  if ((opts.createTag || opts.commitVersionFiles || opts.pushTag) && opts.branch.isPullRequest) {
    warn(`Pull-request build (${opts.branch.ref}): the version is computed but no commit, tag or push is made. Versions are released from branch builds.`);
    return;
  }
  const toCommit = [...plan.actions.files.filter((f) => f.after !== f.before).map((f) => f.path), ...(plan.actions.changelog ? [plan.actions.changelog.path] : [])];
  if (opts.commitVersionFiles && toCommit.length) {
    const top = await git.topLevel();
    for (const file of toCommit) {
      const rel = relative(top, file);
      if (rel === '..' || rel.startsWith('../') || rel.startsWith('..\\')) {
        throw new UserError(`'${file}' is outside the repository and cannot be committed.`, {
          input: opts.changelogFile === file ? 'changelogFile' : 'versionFiles',
          fix: 'list files inside the repository, or turn commitVersionFiles off.',
        });
      }
    }
    plan.actions.commit = { message: `chore(release): ${plan.tag} ***NO_CI***` };
  }
  if (opts.createTag) {
    const existing = tags.find((t) => t.name === plan.tag);
    if (existing && existing.commit !== plan.head) {
      throw new UserError(`the tag '${plan.tag}' already exists at commit ${existing.commit.slice(0, 12)}, not at this commit (${plan.head.slice(0, 12)}).`, {
        input: 'createTag',
        fix: 'merge the branch that carries that release into this one so it becomes the base, or delete the stray tag; nothing was changed.',
      });
    }
    plan.actions.tag = { name: plan.tag, message: `Release ${opts.component ? `${opts.component} ` : ''}${plan.version}` };
  }
  if (opts.pushTag && (plan.actions.tag || plan.actions.commit)) {
    if (!remote) throw new UserError('there is no git remote to push to.', { input: 'pushTag', fix: "add a remote named 'origin', or turn pushTag off." });
    plan.actions.push = { remote, branchRef: plan.actions.commit ? `refs/heads/${opts.branch.branch}` : undefined };
  } else if (plan.actions.commit) {
    warn('commitVersionFiles is on but pushTag is off: the version commit stays on the agent.');
  }
  if (opts.pushTag && !opts.createTag && plan.actions.commit) warn('pushTag is on but createTag is off: the version commit is pushed without a tag.');
}

function withLabel(version: string, label: string, tags: ComponentTag[]): string {
  if (!label) return version;
  let highestN = 0;
  for (const t of tags) {
    const v = t.version;
    if (release(v) !== version || v.prerelease[0] !== label) continue;
    const n = v.prerelease[1];
    if (typeof n === 'number' && n > highestN) highestN = n;
  }
  return `${version}-${label}.${highestN + 1}`;
}

function readOptional(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new UserError(`cannot read '${path}' (${(err as NodeJS.ErrnoException).code}).`, { input: 'changelogFile', fix: 'point it at a Markdown file, or leave it empty.' });
  }
}

export interface ApplyResult {
  committed?: string;
  tagged?: string;
  pushed: string[];
  filesWritten: string[];
}

/**
 * Carries out a plan. Either everything lands or nothing does: on any failure the local tag
 * and commit are removed, files are put back, and refs already pushed are rolled back.
 */
export async function applyVersion(git: Git, plan: VersionPlan, opts: VersionBumpOptions, log: Log): Promise<ApplyResult> {
  const result: ApplyResult = { pushed: [], filesWritten: [] };
  const writes = [
    ...plan.actions.files.map((f) => ({ path: f.path, before: f.before, after: f.after, input: 'versionFiles' })),
    ...(plan.actions.changelog ? [{ ...plan.actions.changelog, input: 'changelogFile' }] : []),
  ];
  let step = '';
  try {
    for (const w of writes) {
      if (w.after === w.before) continue;
      step = w.input;
      mkdirSync(dirname(w.path), { recursive: true });
      writeFileSync(w.path, w.after);
      result.filesWritten.push(w.path);
    }
    let target = plan.head;
    if (plan.actions.commit && result.filesWritten.length) {
      step = 'commitVersionFiles';
      target = await git.commitFiles(result.filesWritten, plan.actions.commit.message);
      result.committed = target;
      log.info(`Committed ${result.filesWritten.length} file(s) as ${target.slice(0, 12)}.`);
    }
    if (plan.actions.tag) {
      step = 'createTag';
      await git.createAnnotatedTag(plan.actions.tag.name, target, plan.actions.tag.message);
      result.tagged = plan.actions.tag.name;
      log.info(`Created tag ${plan.actions.tag.name} at ${target.slice(0, 12)}.`);
    }
    if (plan.actions.push) {
      step = 'pushTag';
      const updates = await refUpdates(git, plan, result, target);
      if (updates.length) {
        await git.pushAll(plan.actions.push.remote, updates);
        result.pushed = updates.map((u) => u.ref);
        log.info(`Pushed ${result.pushed.join(', ')} to ${plan.actions.push.remote}.`);
      }
    }
    return result;
  } catch (err) {
    await rollback(git, plan, result, writes);
    throw explainFailure(err, step, opts);
  }
}

async function refUpdates(git: Git, plan: VersionPlan, result: ApplyResult, target: string): Promise<RefUpdate[]> {
  const remote = plan.actions.push!.remote;
  const updates: RefUpdate[] = [];
  const branchRef = plan.actions.push!.branchRef;
  if (branchRef && result.committed) {
    const [current] = await git.remoteRefs(remote, [branchRef]);
    const previous = current?.commit ?? ZERO_SHA;
    if (previous !== plan.head) {
      throw new UserError(`'${branchRef}' on '${remote}' has moved since this run started (now ${previous.slice(0, 12)}, run built ${plan.head.slice(0, 12)}); nothing was pushed.`, {
        input: 'commitVersionFiles',
        fix: 're-run the pipeline on the new commit.',
      });
    }
    updates.push({ source: target, ref: branchRef, pushed: target, previous });
  }
  if (result.tagged) {
    const tagRef = `refs/tags/${result.tagged}`;
    const tagObject = (await git.query(['rev-parse', tagRef])).trim();
    updates.push({ source: tagRef, ref: tagRef, pushed: tagObject, previous: ZERO_SHA });
  }
  return updates;
}

async function rollback(git: Git, plan: VersionPlan, result: ApplyResult, writes: { path: string; before: string }[]) {
  if (result.tagged) await git.deleteLocalTag(result.tagged).catch(() => undefined);
  if (result.committed) await git.resetSoft(plan.head).catch(() => undefined);
  for (const w of writes) if (result.filesWritten.includes(w.path)) writeFileSync(w.path, w.before);
}

/** The lines of git's output that say why: the server's messages and the refused refs. */
function gitReason(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => /^(remote:|!|error:|fatal:|hint:)/.test(l) && !/^remote:\s*$/.test(l));
  return (lines.length ? lines : [stderr.trim()]).join('; ').replace(/\s+/g, ' ');
}

/** Turns a failure while applying into a UserError that names the input, or passes a bug on. */
function explainFailure(err: unknown, step: string, opts: VersionBumpOptions): unknown {
  if (err instanceof UserError) return err;
  const undone = 'The local commit and tag were undone and the files put back.';
  if (err instanceof PartialPushError) {
    const left = err.left.map((u) => `${u.ref} now points at ${u.pushed.slice(0, 12)}`).join(', ');
    return new UserError(`the push was refused part-way (${gitReason(err.stderr)}) and undoing it was refused too: on the remote, ${left}. ${undone}`, {
      input: 'pushTag',
      fix: `reset ${err.left.map((u) => u.ref).join(', ')} on the remote by hand (or push the missing tag), then fix the permission named above; a server with atomic push avoids this.`,
    });
  }
  const nothing = `Nothing was pushed. ${undone}`;
  if (err instanceof GitCommandError && step === 'pushTag') {
    const text = err.stderr;
    if (/TF402455/.test(text)) {
      return new UserError(`the branch '${opts.branch.branch}' has policies that block direct pushes. ${nothing}`, {
        input: 'commitVersionFiles',
        fix: "grant the build service 'Bypass policies when pushing' on this branch, or turn commitVersionFiles off and keep versions in tags only.",
      });
    }
    if (/\b40[13]\b|Authentication failed|could not read Username|TF401027|TF401019/i.test(text)) {
      return new UserError(`the remote refused the credentials: ${gitReason(text)}. ${nothing}`, {
        input: 'pushTag',
        fix: "give the build service identity 'Contribute' and 'Create tag' on the repository (Project settings → Repositories → Security).",
      });
    }
    if (/non-fast-forward|fetch first|stale info|already exists/i.test(text)) {
      return new UserError(`the remote changed while this run was working: ${gitReason(text)}. ${nothing}`, { input: 'pushTag', fix: 're-run the pipeline.' });
    }
    return new UserError(`the remote rejected the push: ${gitReason(text)}. ${nothing}`, {
      input: 'pushTag',
      fix: 'check the branch and tag permissions or server hooks named above, or turn pushTag off.',
    });
  }
  if (err instanceof GitCommandError) {
    return new UserError(`git ${err.args[0]} failed: ${gitReason(err.stderr)}. ${undone}`, { input: step, fix: 'see the git message above.' });
  }
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code && (step === 'versionFiles' || step === 'changelogFile')) {
    return new UserError(`cannot write the file (${code}: ${(err as Error).message}). ${undone}`, { input: step, fix: 'make the file writable by the agent, or remove it from the input.' });
  }
  return err;
}
