import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { UserError } from '../errors';
import type { BranchContext } from '../git/branch';
import { Git, GitCommandError, ZERO_SHA, type RefUpdate, type TagRef } from '../git';
import type { Log } from '../log';
import { changelogSection, prependChangelog } from './changelog';
import { channelFor, type Channel, type ChannelRule } from './channels';
import { parseCommit, summarizeCommits, type BumpLevel, type CommitAnalysis, type ParsedCommit } from './conventional';
import { toPep440 } from './pep440';
import { effectiveLevel, levelBetween, nextRelease, parseVersion, rcompare, type SemVer } from './semver';
import { parseTagFormat, type TagFormat } from './tagFormat';
import { planVersionFileEdit, type VersionFileEdit, type VersionFileSpec } from './versionFiles';

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

interface ComponentTag extends TagRef {
  version: SemVer;
}

/** Why the version is what it is: shown in the log and on the Summary tab. */
export type Reason =
  | { kind: 'already-tagged'; tag: string }
  | { kind: 'promoted-candidate'; candidate: string }
  | { kind: 'initial' }
  | { kind: 'no-relevant-commits' }
  | { kind: 'commits'; level: BumpLevel; requested: 'auto' | BumpLevel; zeroMajor: boolean };

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

const DEEPEN_FIRST = 50;

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
  const [{ head, shallow }, remotes] = await Promise.all([
    git.state().catch(() => {
      throw new UserError('the repository has no commits yet.', { input: 'workingDirectory', fix: 'commit something first, or point at the right repository.' });
    }),
    git.remotes(),
  ]);
  const remote = remotes.includes('origin') ? 'origin' : remotes[0];
  const tags = await collectTags(git, format, remote, shallow || opts.pushTag, warn);
  const channel = channelFor(opts.branch.branch, opts.channels);
  log.info(`Branch '${opts.branch.branch}' → ${channel.label ? `pre-release '${channel.label}'` : 'final release'} channel.`);

  const finals = tags.filter((t) => !t.version.prerelease.length).sort((a, b) => rcompare(a.version, b.version));
  const onHead = tags.filter((t) => t.commit === head).sort((a, b) => rcompare(a.version, b.version));
  const headFinal = onHead.find((t) => !t.version.prerelease.length);
  const headSameChannel = channel.label ? onHead.find((t) => t.version.prerelease[0] === channel.label) : undefined;
  const headCandidate = !channel.label ? onHead.find((t) => t.version.prerelease.length) : undefined;

  const { base, commits } = headFinal || headSameChannel ? { base: undefined, commits: [] } : await baseAndCommits(git, finals, head, remote, shallow, opts.paths, log);
  const baseVersion = base?.version;
  const analysis: CommitAnalysis = summarizeCommits(commits);

  let release: string;
  let version: string;
  let reason: Reason;
  let changed: boolean;
  if (headFinal || headSameChannel) {
    const t = (headFinal ?? headSameChannel)!;
    version = t.version.version;
    release = version;
    reason = { kind: 'already-tagged', tag: t.name };
    changed = false;
  } else if (headCandidate) {
    release = `${headCandidate.version.major}.${headCandidate.version.minor}.${headCandidate.version.patch}`;
    version = release;
    reason = { kind: 'promoted-candidate', candidate: headCandidate.name };
    changed = true;
  } else if (!baseVersion) {
    release = initial.version;
    version = withLabel(release, channel.label, tags);
    reason = { kind: 'initial' };
    changed = true;
  } else {
    const requested = opts.bump === 'auto' ? analysis.level : opts.bump;
    const level = effectiveLevel(baseVersion, requested);
    if (level === 'none') {
      release = baseVersion.version;
      version = release;
      reason = { kind: 'no-relevant-commits' };
      changed = false;
    } else {
      release = nextRelease(baseVersion, level);
      version = withLabel(release, channel.label, tags);
      reason = { kind: 'commits', level, requested: opts.bump, zeroMajor: level !== requested };
      changed = true;
    }
  }
  const parsed = parseVersion(version)!;
  const previous = baseVersion ?? (headFinal ? previousFinal(finals, headFinal) : undefined);
  const plan: VersionPlan = {
    version,
    previousVersion: previous?.version ?? '',
    bump: reason.kind === 'initial' ? 'initial' : levelBetween(previous, parseVersion(release)!),
    tag: format.tagFor(version),
    isPrerelease: parsed.prerelease.length > 0,
    pep440Version: toPep440(version),
    commitCount: analysis.commits.length,
    changed,
    channel,
    baseTag: base?.name,
    reason,
    analysis,
    actions: { files: opts.versionFiles.map((spec) => planVersionFileEdit(spec, version)) },
    head,
    warnings,
  };
  await planActions(git, plan, opts, tags, remote, warn);
  return plan;
}

/** Adds the commit, tag and push steps; checks up front everything that would make them fail. */
async function planActions(git: Git, plan: VersionPlan, opts: VersionBumpOptions, tags: ComponentTag[], remote: string | undefined, warn: (m: string) => void) {
  const isNew = plan.changed;
  if (isNew && opts.changelogFile) {
    const before = readOptional(opts.changelogFile);
    const after = prependChangelog(before, plan.version, changelogSection(plan.version, opts.today, plan.analysis.commits));
    if (after !== before) plan.actions.changelog = { path: opts.changelogFile, before, after };
  }
  if (!isNew) return;
  const wantsGit = opts.createTag || opts.commitVersionFiles || opts.pushTag;
  if (wantsGit && opts.branch.isPullRequest) {
    warn(`Pull-request build (${opts.branch.ref}): the version is computed but no commit, tag or push is made. Versions are released from branch builds.`);
    return;
  }
  const toCommit = [...plan.actions.files.filter((f) => f.after !== f.before).map((f) => f.path), ...(plan.actions.changelog ? [plan.actions.changelog.path] : [])];
  if (opts.commitVersionFiles && toCommit.length) {
    for (const file of toCommit) {
      if (relative(git.dir, file).startsWith('..')) {
        throw new UserError(`'${file}' is outside the repository and cannot be committed.`, {
          input: opts.changelogFile === file ? 'changelogFile' : 'versionFiles',
          fix: 'list files inside workingDirectory, or turn commitVersionFiles off.',
        });
      }
    }
    plan.actions.commit = { message: `chore(release): ${plan.tag} ***NO_CI***` };
  }
  const existing = tags.find((t) => t.name === plan.tag);
  if (existing && existing.commit !== plan.head) {
    throw new UserError(`the tag '${plan.tag}' already exists at commit ${existing.commit.slice(0, 12)}, not at this commit (${plan.head.slice(0, 12)}).`, {
      input: 'tagFormat',
      fix: 'merge the branch that carries that release into this one so it becomes the base, or delete the stray tag; nothing was changed.',
    });
  }
  if (opts.createTag || (opts.pushTag && plan.actions.commit)) {
    if (!opts.createTag) warn("pushTag is on but createTag is off: the version commit is pushed without a tag.");
    else plan.actions.tag = { name: plan.tag, message: `Release ${opts.component ? `${opts.component} ` : ''}${plan.version}` };
  }
  if (opts.pushTag && (plan.actions.tag || plan.actions.commit)) {
    if (!remote) {
      throw new UserError('there is no git remote to push to.', { input: 'pushTag', fix: "add a remote named 'origin', or turn pushTag off." });
    }
    plan.actions.push = { remote, branchRef: plan.actions.commit ? `refs/heads/${opts.branch.branch}` : undefined };
  } else if (opts.pushTag === false && plan.actions.commit) {
    warn('commitVersionFiles is on but pushTag is off: the version commit stays on the agent.');
  }
}

function withLabel(release: string, label: string, tags: ComponentTag[]): string {
  if (!label) return release;
  let highest = 0;
  for (const t of tags) {
    const v = t.version;
    if (`${v.major}.${v.minor}.${v.patch}` !== release || v.prerelease[0] !== label) continue;
    const n = v.prerelease[1];
    if (typeof n === 'number' && n > highest) highest = n;
  }
  return `${release}-${label}.${highest + 1}`;
}

function previousFinal(finals: ComponentTag[], current: ComponentTag): SemVer | undefined {
  return finals.find((t) => rcompare(t.version, current.version) > 0)?.version;
}

function readOptional(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new UserError(`cannot read '${path}' (${(err as NodeJS.ErrnoException).code}).`, { input: 'changelogFile', fix: 'point it at a Markdown file, or leave it empty.' });
  }
}

/** This component's tags, local and remote. The remote wins when both name one tag. */
async function collectTags(git: Git, format: TagFormat, remote: string | undefined, remoteRequired: boolean, warn: (m: string) => void): Promise<ComponentTag[]> {
  const byName = new Map<string, string>();
  for (const t of await git.localTags(format.refPattern)) byName.set(t.name, t.commit);
  if (remote) {
    try {
      for (const t of await git.remoteTags(remote, format.refPattern)) {
        const local = byName.get(t.name);
        if (local && local !== t.commit) warn(`Tag '${t.name}' differs locally (${local.slice(0, 12)}) and on '${remote}' (${t.commit.slice(0, 12)}); using the remote's.`);
        byName.set(t.name, t.commit);
      }
    } catch (err) {
      const detail = err instanceof GitCommandError ? err.stderr.trim() : String(err);
      if (remoteRequired) {
        throw new UserError(`cannot list the tags on remote '${remote}': ${detail}`, {
          fix: "let the job read the repository: keep the checkout step's token (System.AccessToken) available, grant the build service 'Read' on the repository, or check out with 'fetchDepth: 0' and 'fetchTags: true'.",
        });
      }
      warn(`Could not list the tags on remote '${remote}' (${detail}); using local tags only.`);
    }
  }
  const tags: ComponentTag[] = [];
  for (const [name, commit] of byName) {
    const version = format.versionOf(name);
    if (version) tags.push({ name, commit, version });
  }
  return tags;
}

/**
 * The highest release tag HEAD descends from, and the commits since it that touch `paths`.
 * On a full clone the ancestry check of the most likely base runs alongside the log of its
 * range (both walk the same commits; two cores do them at once). On a shallow clone, first
 * deepens the history step by step (doubling) until the tag's commit is reached or the
 * history is complete, so the cost grows with the commits since the release, not with the
 * repository's age.
 */
async function baseAndCommits(
  git: Git,
  finals: ComponentTag[],
  head: string,
  remote: string | undefined,
  shallow: boolean,
  paths: string[],
  log: Log,
): Promise<{ base?: ComponentTag; commits: ParsedCommit[] }> {
  if (!shallow) {
    for (const [i, t] of finals.entries()) {
      const isBase = t.commit === head ? Promise.resolve(true) : git.isAncestor(t.commit, head);
      // Read the range of the highest tag speculatively; a later candidate is read after its check.
      const range = i === 0 ? readCommits(git, t.commit, paths) : undefined;
      range?.catch(() => undefined);
      if (await isBase) return { base: t, commits: await (range ?? readCommits(git, t.commit, paths)) };
    }
    return { commits: await readCommits(git, undefined, paths) };
  }
  const base = await deepenToBase(git, finals, head, remote, log);
  return { base, commits: await readCommits(git, base?.commit, paths) };
}

async function deepenToBase(git: Git, finals: ComponentTag[], head: string, remote: string | undefined, log: Log): Promise<ComponentTag | undefined> {
  let step = DEEPEN_FIRST;
  let fetched = 0;
  for (;;) {
    const present = await git.present(finals.map((t) => t.commit));
    for (const t of finals) {
      if (present.has(t.commit) && (t.commit === head || (await git.isAncestor(t.commit, head)))) return t;
    }
    if (!(await git.isShallow())) return undefined;
    if (!remote) throw shallowError('the clone is shallow and has no remote to fetch more history from.');
    try {
      if (!finals.length) {
        log.info('Shallow clone and no release tag yet: fetching the full history to count commits.');
        await git.unshallow(remote);
      } else {
        log.info(`Shallow clone: fetching ${step} more commits to reach the last release tag (${fetched} fetched so far).`);
        await git.deepen(remote, step);
        fetched += step;
        step *= 2;
      }
    } catch (err) {
      const detail = err instanceof GitCommandError ? err.stderr.trim() : String(err);
      throw shallowError(`fetching more history failed: ${detail}`);
    }
  }
}

function shallowError(problem: string): UserError {
  return new UserError(`${problem} VersionBump needs the history back to the last release tag.`, {
    fix: "check out the full history in the YAML:\n  steps:\n  - checkout: self\n    fetchDepth: 0\n    fetchTags: true",
  });
}

/**
 * Commits since `base` (all of history when undefined) that touch `paths`, in one streamed
 * log, each parsed as it arrives so that only its header and flags are kept.
 */
async function readCommits(git: Git, base: string | undefined, paths: string[]): Promise<ParsedCommit[]> {
  const commits: ParsedCommit[] = [];
  const args = ['log', '--format=%H%x1f%B%x1e', base ? `${base}..HEAD` : 'HEAD'];
  if (paths.length) args.push('--', ...paths);
  await git.streamRecords(args, '\x1e', (record) => {
    const text = record.replace(/^\n/, '');
    const sep = text.indexOf('\x1f');
    if (sep > 0) commits.push(parseCommit({ hash: text.slice(0, sep), message: text.slice(sep + 1) }));
  });
  return commits;
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
  const writes = [...plan.actions.files.map((f) => ({ path: f.path, before: f.before, after: f.after })), ...(plan.actions.changelog ? [plan.actions.changelog] : [])];
  try {
    for (const w of writes) {
      if (w.after === w.before) continue;
      writeFileSync(w.path, w.after);
      result.filesWritten.push(w.path);
    }
    let target = plan.head;
    if (plan.actions.commit && result.filesWritten.length) {
      target = await git.commitFiles(result.filesWritten, plan.actions.commit.message);
      result.committed = target;
      log.info(`Committed ${result.filesWritten.length} file(s) as ${target.slice(0, 12)}.`);
    }
    if (plan.actions.tag) {
      await git.createAnnotatedTag(plan.actions.tag.name, target, plan.actions.tag.message);
      result.tagged = plan.actions.tag.name;
      log.info(`Created tag ${plan.actions.tag.name} at ${target.slice(0, 12)}.`);
    }
    if (plan.actions.push) {
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
    throw explainPushError(err, opts);
  }
}

async function refUpdates(git: Git, plan: VersionPlan, result: ApplyResult, target: string): Promise<RefUpdate[]> {
  const remote = plan.actions.push!.remote;
  const updates: RefUpdate[] = [];
  const branchRef = plan.actions.push!.branchRef;
  if (branchRef && result.committed) {
    const out = await git.run(['ls-remote', remote, branchRef], { auth: true });
    const previous = out.split('\t')[0].trim() || ZERO_SHA;
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

/** The lines of git's push output that say why: the server's messages and the refused refs. */
function pushReason(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => /^(remote:|!|error:)/.test(l) && !/^remote:\s*$/.test(l));
  return (lines.length ? lines : [stderr.trim()]).join('; ').replace(/\s+/g, ' ');
}

function explainPushError(err: unknown, opts: VersionBumpOptions): unknown {
  if (!(err instanceof GitCommandError)) return err;
  const text = err.stderr;
  const nothing = 'Nothing was pushed and the local commit and tag were undone.';
  if (/TF402455/.test(text)) {
    return new UserError(`the branch '${opts.branch.branch}' has policies that block direct pushes. ${nothing}`, {
      input: 'commitVersionFiles',
      fix: "grant the build service 'Bypass policies when pushing' on this branch, or turn commitVersionFiles off and keep versions in tags only.",
    });
  }
  if (/\b40[13]\b|Authentication failed|could not read Username|TF401027|TF401019/i.test(text)) {
    return new UserError(`the remote refused the credentials: ${pushReason(text)}. ${nothing}`, {
      input: 'pushTag',
      fix: "give the build service identity 'Contribute' and 'Create tag' on the repository (Project settings → Repositories → Security).",
    });
  }
  if (/non-fast-forward|fetch first|stale info|already exists/i.test(text)) {
    return new UserError(`the remote changed while this run was working: ${pushReason(text)}. ${nothing}`, { input: 'pushTag', fix: 're-run the pipeline.' });
  }
  if (err.args[0] === 'push') {
    return new UserError(`the remote rejected the push: ${pushReason(text)}. ${nothing}`, {
      input: 'pushTag',
      fix: 'check the branch and tag permissions or server hooks named above, or turn pushTag off.',
    });
  }
  return err;
}
