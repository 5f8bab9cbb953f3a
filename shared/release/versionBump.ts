import { UserError } from '../errors';
import { FileChanges, isInside, readOptionalBytes, resolveWriteTarget } from '../files';
import type { BranchContext } from '../git/branch';
import { Git, GitCommandError, ZERO_SHA, type IndexSnapshot, type TagRef } from '../git';
import { PartialPushError, PushError, pushAll, putBackRemoteRefs, type RefUpdate } from '../git/push';
import { explainPushRefusal } from '../git/pushRefusals';
import { journal } from '../undo';
import type { Log } from '../log';
import { checkComponentTagFormat, readComponentChanges } from '../submodules/changes';
import { componentLevel, describeChange, type ComponentChange } from '../versioning/componentChange';
import { CANDIDATE_LABEL, decideVersion, fitsChannel, highest, releaseOf, type Reason } from '../versioning/decide';
import { changelogSection, insertChangelogSection } from '../versioning/changelog';
import { channelFor, type Channel, type ChannelRule } from '../versioning/channels';
import { summarizeCommits, type BumpLevel, type CommitAnalysis } from '../versioning/conventional';
import {
  baseAndCommits,
  collectTags,
  CommitRanges,
  finalTags,
  listRemote,
  tagsOnReleaseCommits,
  versionCommitFilter,
  type ComponentTag,
  type HistoryQuery,
} from '../versioning/history';
import { toPep440 } from '../versioning/pep440';
import { levelBetween, parseVersion, rcompare, SemVer } from '../versioning/semver';
import { parseTagFormat, type TagFormat } from '../versioning/tagFormat';
import { planVersionFileEdits, type VersionFileEdit, type VersionFileSpec } from '../versioning/versionFiles';

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
  /** A dry run reads the remote if it can, and goes on with local tags if it cannot. */
  dryRun: boolean;
  /** Build.BuildId: the dev number of branch builds' PEP 440 versions (unique in the organization). */
  buildId?: number;
  /**
   * An orchestration repository: the changes of its submodules' versions since the base count
   * too, each component's version read from its tags in `tagFormat` (`{component}` is the
   * submodule's name).
   */
  submodules?: { tagFormat: string };
}

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
  /**
   * True when the commit this build ends on carries the version's tag on a channel that
   * publishes (final or release candidate): made by this run (or, in a dry run, by the run it
   * stands for) or already there (a promotion or an earlier run tagged HEAD).
   */
  release: boolean;
  channel: Channel;
  baseTag?: string;
  reason: Reason;
  analysis: CommitAnalysis;
  /** With `submodules`: the component changes since the base (undefined when they were not read). */
  components?: ComponentChange[];
  /** What apply will do, in order. */
  actions: {
    files: VersionFileEdit[];
    changelog?: { path: string; before?: Buffer; after: Buffer };
    commit?: { message: string };
    tag?: { name: string; message: string };
    push?: { remote: string; branchRef?: string };
  };
  head: string;
  /** Problems the author should look at (also raised as warnings). */
  warnings: string[];
  /** Facts worth saying in the log and the Summary that are not problems. */
  notes: string[];
}

/** Computes the next version and everything applying it would do. Touches nothing. */
export async function planVersion(git: Git, opts: VersionBumpOptions, log: Log): Promise<VersionPlan> {
  const format = parseTagFormat(opts.tagFormat, opts.component);
  const initial = parseVersion(opts.initialVersion);
  if (!initial || initial.prerelease.length) {
    throw new UserError(`'${opts.initialVersion}' is not a release version.`, {
      input: 'initialVersion',
      fix: 'use MAJOR.MINOR.PATCH, e.g. 0.1.0.',
    });
  }
  if (opts.pushTag && !opts.createTag) {
    throw new UserError(
      'pushTag is on but createTag is off: there is no tag to push, and a version commit without its tag would be released twice.',
      {
        input: 'pushTag',
        fix: "set 'createTag: true' as well, or turn 'pushTag' off.",
      },
    );
  }
  if (opts.submodules) checkComponentTagFormat(opts.submodules.tagFormat);
  // The local tags first (in a full clone the range log waits for them alone), the remote's
  // alongside, and all while git checks the folder (startRepository): that answer is awaited
  // first, so a folder that is no work tree is reported as such, not as the failure of a
  // command started alongside.
  const localTagsRead = git.localTags(format.refPattern);
  const ranges = new CommitRanges(git, opts.paths, versionCommitFilter(format));
  try {
    return await planWithRanges(git, opts, log, format, initial.version, localTagsRead, ranges);
  } finally {
    ranges.stopUnused();
  }
}

async function planWithRanges(
  git: Git,
  opts: VersionBumpOptions,
  log: Log,
  format: TagFormat,
  initialVersion: string,
  localTagsRead: Promise<TagRef[]>,
  ranges: CommitRanges,
): Promise<VersionPlan> {
  const warnings: string[] = [];
  const notes: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    log.warn(m);
  };
  const note = (m: string) => {
    notes.push(m);
    log.info(m);
  };
  // A full clone's usual base is the highest release tag it has: its log starts as soon as the
  // local tags are known, while the remote's are listed, and is used if the remote names no
  // higher release (CommitRanges). Without paths only: with them the base is searched first.
  if (!opts.paths.length) {
    Promise.all([git.ready, localTagsRead])
      .then(([, local]) => {
        const top = finalTags(collectTags(format, local, undefined, opts.branch.ref, false, () => undefined).tags)[0];
        if (git.opened?.head && !git.opened.shallow && top && top.commit !== git.opened.head) void ranges.start(top.commit);
      })
      .catch(() => undefined);
  }
  const remoteName = git.remotes().then((names) => (names.includes('origin') ? 'origin' : names[0]));
  const first = [
    remoteName,
    localTagsRead,
    remoteName.then((name) => (name ? listRemote(git, name, format, opts.branch.ref) : undefined)),
    checkPaths(git, opts.paths, warn),
  ] as const;
  for (const p of first) p.catch(() => undefined);
  await git.ready;
  const noCommits = () =>
    new UserError('the repository has no commits yet.', {
      input: 'workingDirectory',
      fix: 'commit something first, or point at the right repository.',
    });
  const opened = git.opened;
  const readHead = async () => {
    if (!opened)
      return git.state().catch(() => {
        throw noCommits();
      });
    // openRepository read HEAD already, in the process that checked the folder.
    if (!opened.head) throw noCommits();
    return { head: opened.head, shallow: opened.shallow };
  };
  const [{ head, shallow }, remote, localTags, listing] = await Promise.all([readHead(), ...first]);
  const { tags, branchTip } = collectTags(format, localTags, listing, opts.branch.ref, (shallow || opts.pushTag) && !opts.dryRun, warn);
  const channel = channelFor(opts.branch.branch, opts.channels);
  log.info(
    `${opts.branch.kind === 'tag' ? 'Tag' : 'Branch'} '${opts.branch.branch}' → ${channel.label ? `pre-release '${channel.label}'` : 'final release'} channel.`,
  );

  const finals = finalTags(tags);
  const query = (candidates: ComponentTag[]): HistoryQuery => ({
    finals: candidates,
    local: localTags,
    refPattern: format.refPattern,
    head,
    remote,
    ref: opts.branch.ref,
    shallow,
    ranges,
  });
  const direct = highest(tags.filter((t) => t.commit === head && fitsChannel(t, channel)));
  const candidate =
    !direct && !channel.label ? highest(tags.filter((t) => t.commit === head && t.version.prerelease[0] === CANDIDATE_LABEL)) : undefined;
  // The base of the usual case is looked for while checking for an earlier run's version
  // commit (which it narrows when the remote's branch tip is unknown); on a shallow clone
  // (where looking fetches) only after.
  const usual = direct || candidate || shallow ? undefined : baseAndCommits(git, query(finals), log);
  usual?.catch(() => undefined);
  const onReleaseCommit = direct
    ? undefined
    : highest(await tagsOnReleaseCommits(git, tags, head, (t) => fitsChannel(t, channel), remote, shallow, branchTip, usual));
  let released: { tag: ComponentTag; onReleaseCommit: boolean } | undefined;
  if (direct) released = { tag: direct, onReleaseCommit: false };
  else if (onReleaseCommit) released = { tag: onReleaseCommit, onReleaseCommit: true };

  // An already released HEAD reports the base below its version, as the first run did.
  const promoted = released ? undefined : candidate;
  const ceiling = released?.tag ?? promoted;
  const { base, commits } =
    ceiling || !usual
      ? await baseAndCommits(
          git,
          query(ceiling ? finals.filter((t) => rcompare(t.version, new SemVer(releaseOf(ceiling.version))) > 0) : finals),
          log,
        )
      : await usual;
  const analysis = summarizeCommits(commits);
  const components =
    opts.submodules && base && !promoted ? await componentsSince(git, base, head, remote, opts, log, warn, note) : undefined;

  const { version, reason } = decideVersion({
    released,
    promoted,
    base,
    analysis,
    componentLevel: components && componentLevel(components),
    bump: opts.bump,
    label: channel.label,
    initial: initialVersion,
    tags,
    finals,
  });
  const parsed = new SemVer(version);
  const changed = reason.kind !== 'already-tagged' && reason.kind !== 'no-relevant-commits';
  const pep440Version = toPep440(version, { devNumber: opts.buildId });
  const files = planVersionFileEdits(opts.versionFiles, { semver: version, pep440: pep440Version });
  for (const n of files.notes) note(n);
  for (const e of files.edits) if (e.via) note(`${e.via}: the version is written to '${e.path}'.`);
  const plan: VersionPlan = {
    version,
    previousVersion: base?.version.version ?? '',
    bump: base ? levelBetween(base.version, new SemVer(releaseOf(parsed))) : 'initial',
    tag: format.tagFor(version),
    isPrerelease: parsed.prerelease.length > 0,
    pep440Version,
    commitCount: analysis.commits.length,
    changed,
    release: false,
    channel,
    baseTag: base?.name,
    reason,
    analysis,
    components,
    actions: { files: files.edits },
    head,
    warnings,
    notes,
  };
  await planActions(git, plan, opts, tags, remote, warn, note);
  plan.release = isRelease(plan, opts.branch);
  return plan;
}

/** Whether this build is a release to build and publish, whoever made its tag (see VersionPlan.release). */
function isRelease(plan: VersionPlan, branch: BranchContext): boolean {
  const publishes = !plan.channel.label || plan.channel.label === CANDIDATE_LABEL;
  if (!publishes || branch.kind !== 'branch') return false;
  const taggedHead = plan.reason.kind === 'already-tagged' && !plan.reason.onReleaseCommit;
  return taggedHead || plan.actions.tag !== undefined;
}

/**
 * The orchestration's component changes since the base: gitlinks at the base and at HEAD, each
 * changed component's versions from its remote. Not read when the bump is forced (they could
 * not change it).
 */
async function componentsSince(
  git: Git,
  base: ComponentTag,
  head: string,
  remote: string | undefined,
  opts: VersionBumpOptions,
  log: Log,
  warn: (m: string) => void,
  note: (m: string) => void,
): Promise<ComponentChange[] | undefined> {
  if (opts.bump !== 'auto') {
    note(`bump is set to '${opts.bump}': the submodules' versions are not read.`);
    return undefined;
  }
  const [superUrl, top] = await Promise.all([remote ? git.configValue(`remote.${remote}.url`) : undefined, git.topLevel()]);
  const changes = await readComponentChanges(
    git,
    { base: base.commit, head, paths: opts.paths, tagFormat: opts.submodules!.tagFormat, superUrl, top },
    warn,
  );
  log.info(
    changes.length
      ? `Submodules changed since ${base.name}: ${changes.map(describeChange).join('; ')}.`
      : `No submodule changed since ${base.name}.`,
  );
  return changes;
}

/** Warns about each path that matches nothing in HEAD (a typo); fails when none does. */
async function checkPaths(git: Git, paths: string[], warn: (m: string) => void): Promise<void> {
  if (!paths.length) return;
  const matches = await Promise.all(
    paths.map((p) =>
      git.run(['ls-files', '--', p]).then(
        (out) => out.trim() !== '',
        () => false,
      ),
    ),
  );
  const missing = paths.filter((_, i) => !matches[i]);
  if (missing.length === paths.length) {
    throw new UserError(`none of the paths matches a file in the built commit: ${missing.map((p) => `'${p}'`).join(', ')}.`, {
      input: 'paths',
      fix: 'list folders or files that exist, relative to workingDirectory, one a line (git pathspecs).',
    });
  }
  for (const p of missing) warn(`paths: '${p}' matches no file in the built commit (a typo?); commits under it cannot count.`);
}

/** Adds the changelog, commit, tag and push steps; checks up front everything that would make them fail. */
async function planActions(
  git: Git,
  plan: VersionPlan,
  opts: VersionBumpOptions,
  tags: ComponentTag[],
  remote: string | undefined,
  warn: (m: string) => void,
  note: (m: string) => void,
) {
  const top = await git.topLevel();
  // Links are followed to the file they name: that file is written and committed, and only inside the repository.
  const target = (path: string, input: string) => {
    let resolved: ReturnType<typeof resolveWriteTarget>;
    try {
      resolved = resolveWriteTarget(path, top);
    } catch (err) {
      throw new UserError(`${(err as Error).message}.`, { input, fix: 'point it at an existing file, or remove the broken link.' });
    }
    if (resolved.escapes) {
      throw new UserError(
        `'${path}' leads outside the repository (to '${resolved.target}') through a symbolic link; Relevo writes only inside the repository. Nothing was changed.`,
        {
          input,
          fix: 'list the file the link points to, inside the repository, or replace the link with the file.',
        },
      );
    }
    return resolved.target;
  };
  for (const f of plan.actions.files) f.path = target(f.path, 'versionFiles');
  if (!plan.changed) return;
  if (opts.changelogFile) {
    const path = target(opts.changelogFile, 'changelogFile');
    let before: Buffer | undefined;
    try {
      before = readOptionalBytes(path);
    } catch (err) {
      throw new UserError(`cannot read '${opts.changelogFile}' (${(err as NodeJS.ErrnoException).code}).`, {
        input: 'changelogFile',
        fix: 'point it at a Markdown file, or leave it empty.',
      });
    }
    const after = insertChangelogSection(
      before,
      plan.version,
      changelogSection(plan.version, opts.today, plan.analysis.commits, plan.components),
    );
    if (!before || !after.equals(before)) plan.actions.changelog = { path, before, after };
  }
  if ((opts.createTag || opts.commitVersionFiles || opts.pushTag) && opts.branch.kind !== 'branch') {
    const what = opts.branch.kind === 'tag' ? 'Tag build' : 'Pull-request build';
    note(
      `${what} (${opts.branch.ref}): the version is computed, but no commit, tag or push is made; versions are released from branch builds.`,
    );
    return;
  }
  const toCommit = [
    ...plan.actions.files.filter((f) => !f.after.equals(f.before)).map((f) => f.path),
    ...(plan.actions.changelog ? [plan.actions.changelog.path] : []),
  ];
  if (opts.commitVersionFiles && toCommit.length) {
    for (const file of toCommit) {
      if (!isInside(file, top)) {
        throw new UserError(`'${file}' is outside the repository and cannot be committed.`, {
          input: plan.actions.changelog?.path === file ? 'changelogFile' : 'versionFiles',
          fix: 'list files inside the repository, or turn commitVersionFiles off.',
        });
      }
    }
    plan.actions.commit = { message: `chore(release): ${plan.tag} ***NO_CI***` };
  }
  if (opts.createTag) {
    const existing = tags.find((t) => t.name === plan.tag);
    if (existing && existing.commit !== plan.head) {
      throw new UserError(
        `the tag '${plan.tag}' already exists at commit ${existing.commit.slice(0, 12)}, not at this commit (${plan.head.slice(0, 12)}).`,
        {
          input: 'createTag',
          fix: 'merge the branch that carries that release into this one so it becomes the base, or delete the stray tag; nothing was changed.',
        },
      );
    }
    plan.actions.tag = { name: plan.tag, message: `Release ${opts.component ? `${opts.component} ` : ''}${plan.version}` };
  }
  if (opts.pushTag && plan.actions.tag) {
    if (!remote)
      throw new UserError('there is no git remote to push to.', {
        input: 'pushTag',
        fix: "add a remote named 'origin', or turn pushTag off.",
      });
    plan.actions.push = { remote, branchRef: plan.actions.commit ? `refs/heads/${opts.branch.branch}` : undefined };
  } else if (plan.actions.commit) {
    warn('commitVersionFiles is on but pushTag is off: the version commit stays on the agent.');
  }
}

export interface ApplyResult {
  committed?: string;
  tagged?: string;
  pushed: string[];
  filesWritten: string[];
}

/**
 * Carries out a plan. Either everything lands or nothing does: every change is registered with
 * the run's undo journal (shared/undo.ts) before it is made, from what was known before it (the
 * files' bytes, the index entries, HEAD, whether the tag existed, the remote refs' values), so
 * a failure or a cancellation at any step puts back the files, the index, the local commit and
 * tag, and the refs already pushed. Once the push has landed, the release is kept as it is.
 */
export async function applyVersion(git: Git, plan: VersionPlan, opts: VersionBumpOptions, log: Log): Promise<ApplyResult> {
  const result: ApplyResult = { pushed: [], filesWritten: [] };
  const writes = [
    ...plan.actions.files.filter((f) => !f.after.equals(f.before)).map((f) => ({ path: f.path, after: f.after, input: 'versionFiles' })),
    ...(plan.actions.changelog ? [{ ...plan.actions.changelog, input: 'changelogFile' }] : []),
  ];
  const files = new FileChanges();
  let step = '';
  try {
    if (plan.actions.commit && writes.length) {
      const index: IndexSnapshot = await git.indexEntries(writes.map((w) => w.path));
      journal.register('the index entries of the version files', () => git.restoreIndex(index));
    }
    for (const w of writes) {
      step = w.input;
      files.write(w.path, w.after);
    }
    result.filesWritten = files.written;
    let target = plan.head;
    if (plan.actions.commit && result.filesWritten.length) {
      step = 'commitVersionFiles';
      journal.register(`the local release commit (HEAD back to ${plan.head.slice(0, 12)})`, () => git.moveHead(plan.head));
      target = await git.commitFiles(result.filesWritten, plan.actions.commit.message);
      result.committed = target;
      log.info(`Committed ${result.filesWritten.length} file(s) as ${target.slice(0, 12)}.`);
    }
    if (plan.actions.tag) {
      step = 'createTag';
      const name = plan.actions.tag.name;
      if (!(await git.succeeds(['rev-parse', '--verify', '--quiet', `refs/tags/${name}`]))) {
        journal.register(`the local tag ${name}`, async () => {
          if (await git.succeeds(['rev-parse', '--verify', '--quiet', `refs/tags/${name}`])) await git.deleteLocalTag(name);
        });
      }
      await git.createAnnotatedTag(name, target, plan.actions.tag.message);
      result.tagged = name;
      log.info(`Created tag ${name} at ${target.slice(0, 12)}.`);
    }
    if (plan.actions.push) {
      step = 'pushTag';
      const remote = plan.actions.push.remote;
      const updates = await refUpdates(git, plan, result, target, opts);
      if (updates.length) {
        journal.register(`${updates.map((u) => u.ref).join(', ')} on '${remote}'`, () => putBackRemoteRefs(git, remote, updates));
        await pushAll(git, remote, updates);
        result.pushed = updates.map((u) => u.ref);
        journal.landed(`${result.pushed.join(', ')} pushed to '${remote}'`);
        log.info(`Pushed ${result.pushed.join(', ')} to ${remote}.`);
      }
    }
    files.keep();
    return result;
  } catch (err) {
    throw explainFailure(err, step, opts, plan.actions.push?.remote);
  }
}

async function refUpdates(
  git: Git,
  plan: VersionPlan,
  result: ApplyResult,
  target: string,
  opts: VersionBumpOptions,
): Promise<RefUpdate[]> {
  const remote = plan.actions.push!.remote;
  const updates: RefUpdate[] = [];
  const branchRef = plan.actions.push!.branchRef;
  if (branchRef && result.committed) {
    const [current] = await git.remoteRefs(remote, [branchRef], `reading ${branchRef}`);
    if (!current) {
      throw new UserError(
        `the branch '${opts.branch.branch}' does not exist on '${remote}', so the version commit has nowhere to go; nothing was pushed.`,
        {
          input: 'commitVersionFiles',
          fix: `push the branch first (git push ${remote} HEAD:${branchRef}), check Build.SourceBranch, or turn commitVersionFiles off to release with a tag only.`,
        },
      );
    }
    if (current.commit !== plan.head) {
      throw new UserError(
        `'${branchRef}' on '${remote}' has moved since this run started (now ${current.commit.slice(0, 12)}, run built ${plan.head.slice(0, 12)}); nothing was pushed.`,
        {
          input: 'commitVersionFiles',
          fix: 're-run the pipeline on the new commit: it gets the next version.',
        },
      );
    }
    updates.push({ source: target, ref: branchRef, pushed: target, previous: current.commit });
  }
  if (result.tagged) {
    const tagRef = `refs/tags/${result.tagged}`;
    const tagObject = (await git.run(['rev-parse', tagRef])).trim();
    updates.push({ source: tagRef, ref: tagRef, pushed: tagObject, previous: ZERO_SHA });
  }
  return updates;
}

/** Turns a failure while applying into a UserError that names the input, or passes a bug on. */
function explainFailure(err: unknown, step: string, opts: VersionBumpOptions, remote: string | undefined): unknown {
  if (err instanceof UserError) return err;
  // What was put back is said by the undo journal's report, after this message.
  if (err instanceof PartialPushError) {
    const left = err.left.map((u) => `${u.ref} now points at ${u.pushed.slice(0, 12)}`).join(', ');
    return new UserError(`the push was refused part-way (${err.reason}) and undoing it was refused too: on the remote, ${left}.`, {
      input: 'pushTag',
      fix: `reset ${err.left.map((u) => u.ref).join(', ')} on the remote by hand (or push the missing tag), then fix the cause named above; a server with atomic push avoids this.`,
    });
  }
  if (err instanceof PushError) {
    const policy = err.refusal === 'policy';
    const { what, fix } = explainPushRefusal(err, {
      remote: remote!,
      repository: 'the repository',
      refs: 'the branch or tag',
      branch: opts.branch.branch,
      permissions: ['Contribute', 'Create tag'],
      rerun: 'it starts from the new commit and gives the next version',
      withoutDirectPush: 'turn commitVersionFiles off and keep versions in tags only',
      notes: { timeout: 'A re-run finds a tag that did land.', server: 'Or turn pushTag off.' },
    });
    // A stalled connection says nothing of what the server did: the undo reads the remote to know.
    return new UserError(`${what}.${err.refusal === 'timeout' ? '' : ' Nothing was pushed.'}`, {
      input: policy ? 'commitVersionFiles' : 'pushTag',
      fix,
    });
  }
  if (err instanceof GitCommandError) {
    return new UserError(`git ${err.args[0]} failed: ${err.stderr.trim().replace(/\s+/g, ' ')}.`, {
      input: step,
      fix: 'see the git message above.',
    });
  }
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code && (step === 'versionFiles' || step === 'changelogFile')) {
    return new UserError(`cannot write the file (${code}: ${(err as Error).message}).`, {
      input: step,
      fix: 'make the file writable by the agent, or remove it from the input.',
    });
  }
  return err;
}
