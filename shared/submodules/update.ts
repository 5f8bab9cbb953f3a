/**
 * UpdateSubmodules: move an orchestration repository's submodule pins under their policies.
 * A plan first (every submodule, its policy, candidates and decision: what a dry run prints),
 * then one commit with the new gitlinks and the lock file, then delivery (local commit, push
 * to the built branch, or a pull request). All or nothing.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mapLimit } from '../concurrency';
import { UserError } from '../errors';
import { FileChanges } from '../files';
import { Git, GitCommandError, GitTimeoutError, isValidRefName, ZERO_SHA } from '../git';
import type { BranchContext } from '../git/branch';
import { commitOnTop, indexInfo, writeBlob, type TreeEntry } from '../git/plumbing';
import { pushAll, PushError, putBackRemoteRefs, type RefUpdate } from '../git/push';
import { explainPushRefusal } from '../git/pushRefusals';
import type { Log } from '../log';
import { markdownText } from '../markdown';
import { quoteForeign as q } from '../output';
import { journal } from '../undo';
import { channelFor, globToRegExp, type ChannelRule } from '../versioning/channels';
import { maxLevel, type BumpLevel } from '../versioning/conventional';
import type { ComponentTag } from '../versioning/history';
import { parseTagFormat, type TagFormat } from '../versioning/tagFormat';
import { componentTags, versionAt } from './components';
import { checkOutSubmodules } from './checkout';
import { readSubmodules, type Submodule } from './gitmodules';
import { checkLockFile, LOCK_GENERATOR, type LockAtHead } from './lock';
import { decideSubmodule, describePolicy, eligible, parsePolicy, type Decision, type Policy } from './policy';
import { TargetReader } from './targets';
import { displayUrl, resolveSubmoduleUrl } from './urls';

export type DeliveryMode = 'commit' | 'push' | 'pull-request';

export interface PullRequestRequest {
  sourceRef: string;
  targetRef: string;
  title: string;
  description: string;
  /** Only find the open pull request: change nothing on it (open one only when none is open). */
  leaveAsIs?: boolean;
}

/** Opens a pull request, or updates the open one for the same source and target. */
export type OpenPullRequest = (req: PullRequestRequest) => Promise<{ id: number; url: string; reused: boolean }>;

export interface UpdateSubmodulesOptions {
  mode: DeliveryMode;
  defaultPolicy: string;
  include: string[];
  exclude: string[];
  tagFormat: string;
  allowPrerelease: boolean;
  channels: ChannelRule[];
  branch: BranchContext;
  /** Path of the bill of materials from the top level; empty for none. */
  lockFile: string;
  parallel: number;
  checkout: boolean;
  triggerCi: boolean;
  /** Where scratch repositories go (the agent's temp folder); default the system's. */
  tempDirectory?: string;
  /** The branch a pull request targets (refs/heads/…); default the built branch. */
  targetBranch?: string;
}

export interface ComponentPlan {
  name: string;
  path: string;
  /** Resolved, without credentials. */
  url: string;
  /** As .gitmodules writes it. */
  declaredUrl: string;
  policy: string;
  included: boolean;
  pinned?: string;
  current?: { version: string; tag: string };
  /** Versions the channel and allowPrerelease admit. */
  eligible: number;
  decision: Decision | { action: 'excluded'; why: string };
  /** The component's tags were read (false for an excluded submodule whose remote could not be read). */
  tagsRead: boolean;
}

export interface ComponentUpdate {
  name: string;
  path: string;
  from?: string;
  fromTag?: string;
  to: string;
  toTag: string;
  change: BumpLevel;
  commit: string;
  url: string;
  /** The URL git fetches from (resolved, credentials as .gitmodules writes them): never printed. */
  fetchUrl?: string;
  previousCommit?: string;
}

export interface SubmodulePlan {
  top: string;
  /** The commit the update is built on: HEAD, or in pull-request mode the target's tip. */
  head: string;
  /** The checked-out commit; the checkout follows the update only when it is `head`. */
  localHead: string;
  remote?: string;
  components: ComponentPlan[];
  updates: ComponentUpdate[];
  maxChange: BumpLevel;
  lock?: { path: string; content: string };
  commitMessage?: string;
  delivery: { mode: DeliveryMode; branchRef?: string; sourceRef?: string; targetRef?: string };
  warnings: string[];
  notes: string[];
}

const LOCK_VERSION = 1;

/** Reads every submodule's versions and decides each pin; changes nothing. */
export async function planSubmoduleUpdate(git: Git, opts: UpdateSubmodulesOptions, log: Log): Promise<SubmodulePlan> {
  const warnings: string[] = [];
  const notes: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    log.warn(m);
  };
  const [localHead, remotes] = await Promise.all([git.head(), git.remotes()]);
  const remote = remotes.includes('origin') ? 'origin' : remotes[0];
  // A pull request is built on its target's tip, whatever this build checked out (a pull-request
  // build's merge commit carries an unmerged feature), and pins what the target's channel admits.
  let head = localHead;
  let channelBranch = opts.branch.branch;
  if (opts.mode === 'pull-request') {
    const targetRef = pullRequestTarget(opts);
    channelBranch = targetRef.replace(/^refs\/heads\//, '');
    if (!remote) throw noRemote();
    const tip = await remoteTip(git, remote, targetRef);
    if (!tip)
      throw new UserError(
        `the branch '${q(targetRef)}' does not exist on '${q(remote)}', so there is nothing to open a pull request into.`,
        {
          input: 'targetBranch',
          fix: 'set targetBranch to an existing branch, e.g. main.',
        },
      );
    if (tip !== localHead) {
      await git.fetchObjects(remote, [targetRef], git.opened?.shallow ?? false);
      head = tip;
      log.info(`The pull request is built on ${q(targetRef)} at ${tip.slice(0, 12)}, not on the checked-out ${localHead.slice(0, 12)}.`);
    }
  }
  const { top, submodules, undeclared } = await readSubmodules(git, head);
  if (!submodules.length)
    throw new UserError(`'${q(top)}/.gitmodules' declares no submodules.`, {
      input: 'workingDirectory',
      fix: 'point it at the orchestration repository.',
    });
  // The lock file's path is checked before any remote is read: a bad one fails a dry run too.
  const lockAtHead = opts.lockFile
    ? await checkLockFile(
        git,
        top,
        head,
        opts.lockFile,
        submodules.map((s) => s.path),
      )
    : undefined;
  const superUrl = remote ? await git.configValue(`remote.${remote}.url`) : undefined;
  const included = selection(opts.include, opts.exclude);
  const channel = channelFor(channelBranch, opts.channels);
  const eligibility = { channelLabel: channel.label, allowPrerelease: opts.allowPrerelease };
  log.info(
    `${submodules.length} submodule(s); branch '${q(channelBranch)}' → ${channel.label ? `pre-release channel '${channel.label}' (release candidates${channel.label === 'rc' ? '' : ` and '${channel.label}' versions`} are eligible)` : 'final channel (final versions only)'}${opts.allowPrerelease ? '; allowPrerelease: every pre-release is eligible' : ''}.`,
  );

  const readings = await mapLimit(submodules, opts.parallel, async (sub) => {
    const isIncluded = included(sub);
    const policy = parsePolicy(sub.policy ?? opts.defaultPolicy, sub.policy ? { submodule: sub.name } : { input: 'defaultPolicy' });
    // An entry HEAD has no gitlink for is left out: its remote is never read (it may be long gone).
    if (!sub.commit) return { sub, url: sub.url, policy, isIncluded, tags: undefined };
    let url: string;
    try {
      url = resolveSubmoduleUrl(sub.url, superUrl);
    } catch {
      throw new UserError(
        `submodule '${q(sub.name)}' has the relative URL '${q(sub.url)}', but the repository has no remote to resolve it against.`,
        {
          input: 'workingDirectory',
          fix: "check the orchestration repository out from its remote (the pipeline's checkout step does), or give the submodule an absolute URL.",
        },
      );
    }
    const format = componentFormat(opts.tagFormat, sub.name);
    try {
      return { sub, url, policy, isIncluded, tags: await componentTags(git, url, format) };
    } catch (err) {
      const detail = (err instanceof GitCommandError ? err.stderr.trim() || err.message : String(err))
        .replace(/\s+/g, ' ')
        .replace(/\.$/, '');
      if (!isIncluded) return { sub, url, policy, isIncluded, tags: undefined, unreadable: detail };
      const why = remoteFailure(err);
      throw new UserError(
        `cannot read the remote of submodule '${q(sub.name)}' (${q(displayUrl(url))}): ${why === 'auth' ? 'the remote did not accept the credentials (401): ' : ''}${q(detail)}. Nothing was committed or pushed.`,
        {
          fix: REMOTE_FAILURE_FIXES[why],
        },
      );
    }
  });

  // Decided in parallel (a moving pin's target is read from its remote), reported in order.
  // A failure starts no new reading, and the scratch folder goes only once every git process
  // reading into it has ended (removing it under a running fetch fails, and hides the cause).
  const targets = new TargetReader(git, opts.tempDirectory ?? tmpdir());
  let failure: { error: unknown } | undefined;
  const settled = await mapLimit(readings, opts.parallel, async (r) => {
    if (failure) return undefined;
    if (!r.isIncluded || !r.sub.commit || !r.tags) return { decision: { action: 'keep', why: '' } as Decision, warnings: [] };
    try {
      return await decideChecked(targets, r.url, r.sub, r.policy, r.tags, eligibility);
    } catch (error) {
      failure ??= { error };
      return undefined;
    }
  });
  targets.dispose();
  if (failure) throw failure.error;
  const decided = settled as { decision: Decision; warnings: string[] }[];

  const components: ComponentPlan[] = [];
  const updates: ComponentUpdate[] = [];
  let maxChange: BumpLevel = 'none';
  for (const [i, r] of readings.entries()) {
    const current = r.tags ? versionAt(r.tags, r.sub.commit) : undefined;
    const base = {
      name: r.sub.name,
      path: r.sub.path,
      url: displayUrl(r.url),
      declaredUrl: r.sub.url,
      policy: describePolicy(r.policy),
      included: r.isIncluded,
      pinned: r.sub.commit,
      current: current && { version: current.version.version, tag: current.name },
      eligible: r.tags?.filter((t) => eligible(t, eligibility)).length ?? 0,
      tagsRead: !!r.tags,
    };
    if (!r.sub.commit) warn(`${q(r.sub.name)}: .gitmodules names '${q(r.sub.path)}', but HEAD has no submodule there; left out.`);
    if (!r.isIncluded || !r.sub.commit) {
      components.push({
        ...base,
        decision: { action: 'excluded', why: r.sub.commit ? 'excluded by include/exclude' : 'no gitlink at its path' },
      });
      if (r.unreadable)
        warn(`${q(r.sub.name)} (excluded): its remote could not be read (${q(r.unreadable)}); the lock file records no version for it.`);
      continue;
    }
    const { decision, warnings: found } = decided[i];
    for (const w of found) warn(w);
    if ('warning' in decision && decision.warning) warn(decision.warning);
    components.push({ ...base, decision });
    if (decision.action === 'update') {
      maxChange = maxLevel(maxChange, decision.change);
      updates.push({ ...toUpdate(r.sub, base.url, current, decision.target, decision.change), fetchUrl: r.url });
    }
  }

  const plan: SubmodulePlan = {
    top,
    head,
    localHead,
    remote,
    components,
    updates,
    maxChange,
    delivery: { mode: opts.mode },
    warnings,
    notes,
  };
  for (const c of components) log.info(`  ${q(c.name)} (${q(c.path)}): ${q(c.policy)}; ${describePin(c)}; ${q(describeDecision(c))}`);
  for (const g of undeclared)
    warn(
      `the gitlink '${q(g.path)}' (${g.commit.slice(0, 12)}) has no entry in .gitmodules: it is not updated, and the lock file records it without a version.`,
    );
  // The lock file is read back: one that disagrees with the gitlinks (edited by hand, or a
  // gitlink moved by hand) is reported and written anew, as is one that was deleted.
  const lockIssue = lockAtHead ? lockDisagreement(lockAtHead, components, undeclared) : undefined;
  if (lockIssue) (lockIssue.missing ? notes : warnings).push(lockIssue.message);
  if (lockIssue && !lockIssue.missing) log.warn(lockIssue.message);
  if (!updates.length && !lockIssue) {
    notes.push('Every pin is current: nothing to commit.');
    return plan;
  }
  if (lockAtHead) plan.lock = { path: lockAtHead.path, content: lockFileContent(components, updates, undeclared) };
  plan.commitMessage = updates.length
    ? commitMessage(updates, opts.triggerCi)
    : `chore(components): ${lockIssue!.missing ? 'recreate' : 'correct'} ${lockAtHead!.path}\n\n${lockIssue!.message}\n${opts.triggerCi ? '' : '\n***NO_CI***\n'}`;
  plan.delivery = await planDelivery(opts, remote);
  return plan;
}

/**
 * The policy's decision, with its target read from the remote: a tag that does not peel to a
 * commit is no version (skipped with a warning, and the next match taken); from a pin no
 * version tag names, a tag in the pin's own history is a move backwards (kept). When that
 * cannot be read, the pin stays, with a warning.
 */
async function decideChecked(
  targets: TargetReader,
  url: string,
  sub: Submodule,
  policy: Policy,
  all: ComponentTag[],
  eligibility: { channelLabel: string; allowPrerelease: boolean },
): Promise<{ decision: Decision; warnings: string[] }> {
  const warnings: string[] = [];
  let tags = all;
  for (;;) {
    const current = versionAt(tags, sub.commit);
    const decision = decideSubmodule({ name: sub.name, policy, tags, current, commit: sub.commit, eligibility });
    if (decision.action !== 'update') return { decision, warnings };
    const target = decision.target;
    const { type, dir } = await targets.peeledType(url, target.name, target.commit);
    if (type !== 'commit') {
      warnings.push(
        `${q(sub.name)}: the tag '${q(target.name)}' points at ${type === 'missing' ? 'an object the remote did not send' : `a ${type}`}, not a commit: it is not a version, and was skipped.`,
      );
      tags = tags.filter((t) => t !== target);
      continue;
    }
    if (current || !sub.commit) return { decision, warnings };
    const behind = await targets.isAncestorOfPin(dir, url, target.name, target.commit, sub.commit);
    if (behind === false) return { decision, warnings };
    const pin = sub.commit.slice(0, 12);
    if (behind)
      return {
        decision: { action: 'keep', why: `the pinned commit ${pin} already contains ${target.name}: a pin never moves backwards` },
        warnings,
      };
    return {
      decision: {
        action: 'keep',
        why: `cannot tell whether ${target.name} is behind the pinned commit ${pin}`,
        warning: `${q(sub.name)}: the pinned commit ${pin} carries no version tag, and its remote did not say whether '${q(target.name)}' is in its history; the pin stays (a pin never moves backwards). Pin a tagged version to move it.`,
      },
      warnings,
    };
  }
}

/** The components' tag format for one submodule; a name that cannot stand for '{component}' is named as the submodule's. */
function componentFormat(format: string, name: string): TagFormat {
  if (!format.includes('{component}')) return parseTagFormat(format, '');
  try {
    return parseTagFormat(format, name);
  } catch (err) {
    if (!(err instanceof UserError) || err.input !== 'component') throw err;
    throw new UserError(`submodule '${q(name)}': its name cannot stand for '{component}' in a tag name ('${format}').`, {
      input: 'tagFormat',
      fix: "use a format without '{component}' (e.g. 'v{version}'), or rename the submodule in .gitmodules to letters, digits, dots, hyphens and underscores.",
    });
  }
}

function toUpdate(
  sub: Submodule,
  url: string,
  current: ComponentTag | undefined,
  target: ComponentTag,
  change: BumpLevel,
): ComponentUpdate {
  return {
    name: sub.name,
    path: sub.path,
    from: current?.version.version,
    fromTag: current?.name,
    to: target.version.version,
    toTag: target.name,
    change,
    commit: target.commit,
    url,
    previousCommit: sub.commit,
  };
}

/** Where a component is pinned now, for the log. */
function describePin(c: ComponentPlan): string {
  if (c.current) return `at ${q(c.current.tag)}`;
  return c.pinned ? `at untagged ${c.pinned.slice(0, 12)}` : 'not pinned';
}

export function describeDecision(c: ComponentPlan): string {
  const d = c.decision;
  if (d.action === 'update') return `→ ${d.target.name} (${d.change}; ${d.why}; ${c.eligible} eligible version(s))`;
  return `${d.action}: ${d.why}`;
}

/** Include (default: everything) and exclude lists, by submodule name or path glob. */
function selection(include: string[], exclude: string[]): (s: Submodule) => boolean {
  const matches = (patterns: string[], s: Submodule) =>
    patterns.some((p) => globToRegExp(p).test(s.name) || globToRegExp(p.replace(/\/+$/, '')).test(s.path));
  return (s) => (!include.length || matches(include, s)) && !matches(exclude, s);
}

/** The commit message: one line per change, and `***NO_CI***` unless the commit should trigger CI. */
export function commitMessage(updates: ComponentUpdate[], triggerCi: boolean): string {
  const subject = `chore(components): update ${updates.length} component${updates.length === 1 ? '' : 's'}`;
  const lines = updates.map(
    (u) => `${u.name}: ${u.fromTag ?? (u.previousCommit ? u.previousCommit.slice(0, 12) : 'none')} → ${u.toTag} (${u.change})`,
  );
  return [subject, '', ...lines, ...(triggerCi ? [] : ['', '***NO_CI***'])].join('\n') + '\n';
}

/** Why the lock file HEAD records is not the one the gitlinks make (undefined when it is). */
function lockDisagreement(
  lock: LockAtHead,
  components: ComponentPlan[],
  undeclared: { path: string; commit: string }[],
): { missing: boolean; message: string } | undefined {
  if (lock.text === undefined)
    return lock.deleted ? { missing: true, message: `The lock file ${lock.path} was deleted: it is written anew.` } : undefined;
  const recorded = new Map<string, string>();
  for (const e of (JSON.parse(lock.text) as { components: { path?: unknown; commit?: unknown }[] }).components)
    if (typeof e?.path === 'string') recorded.set(e.path, String(e.commit));
  const pinned = new Map([
    ...components.filter((c) => c.pinned).map((c): [string, string] => [c.path, c.pinned!]),
    ...undeclared.map((g): [string, string] => [g.path, g.commit]),
  ]);
  const problems: string[] = [];
  for (const [path, commit] of pinned) {
    const says = recorded.get(path);
    if (says === undefined) problems.push(`'${path}' is pinned but not in it`);
    else if (says !== commit) problems.push(`'${path}': the gitlink pins ${commit.slice(0, 12)}, the lock file says ${says.slice(0, 12)}`);
  }
  for (const path of recorded.keys()) if (!pinned.has(path)) problems.push(`'${path}' is in it, but nothing is pinned there`);
  if (!problems.length) return undefined;
  return {
    missing: false,
    message: `The lock file ${lock.path} disagrees with the gitlinks (${problems.join('; ')}): it was edited or a gitlink moved by hand; it is written anew from the gitlinks.`,
  };
}

/** The bill of materials: every submodule's name, path, url, version, tag and commit, after the update. */
export function lockFileContent(
  components: ComponentPlan[],
  updates: ComponentUpdate[],
  undeclared: { path: string; commit: string }[] = [],
): string {
  const moved = new Map(updates.map((u) => [u.name, u]));
  const entries = [
    ...components
      .filter((c) => c.pinned)
      .map((c) => {
        const u = moved.get(c.name);
        return {
          name: c.name,
          path: c.path,
          // As .gitmodules writes it (a relative URL stays relative), without any user:password.
          url: displayUrl(c.declaredUrl),
          version: u ? u.to : (c.current?.version ?? null),
          tag: u ? u.toTag : (c.current?.tag ?? null),
          commit: u ? u.commit : c.pinned!,
        };
      }),
    // A gitlink .gitmodules does not declare is still pinned: recorded, with nothing known of it.
    ...undeclared.map((g) => ({ name: g.path, path: g.path, url: null, version: null, tag: null, commit: g.commit })),
  ]
    // Code-point order: the same bytes whatever the agent's locale.
    .sort((a, b) => byCodePoint(a.path, b.path));
  return JSON.stringify({ lockfileVersion: LOCK_VERSION, generatedBy: LOCK_GENERATOR, components: entries }, null, 2) + '\n';
}

async function planDelivery(opts: UpdateSubmodulesOptions, remote: string | undefined): Promise<SubmodulePlan['delivery']> {
  if (opts.mode === 'commit') return { mode: 'commit' };
  if (!remote) throw noRemote();
  if (opts.mode === 'push') {
    if (opts.branch.kind !== 'branch') {
      throw new UserError(
        `a ${opts.branch.kind === 'tag' ? 'tag' : 'pull-request'} build (${q(opts.branch.ref)}) has no branch to push the pins to.`,
        {
          input: 'mode',
          fix: "run the update from a branch build (scheduled or manual), or use mode 'pull-request' with targetBranch.",
        },
      );
    }
    return { mode: 'push', branchRef: opts.branch.ref };
  }
  const target = pullRequestTarget(opts);
  return {
    mode: 'pull-request',
    targetRef: target,
    sourceRef: `refs/heads/relevo/update-components-${target.replace(/^refs\/heads\//, '')}`,
  };
}

function noRemote(): UserError {
  return new UserError('there is no git remote to push to.', {
    input: 'mode',
    fix: "check the repository out from its remote, or use mode 'commit'.",
  });
}

/** The branch a pull request goes into: targetBranch, else the built branch; a pull-request or tag build must name it. */
function pullRequestTarget(opts: UpdateSubmodulesOptions): string {
  if (opts.targetBranch) {
    const ref = opts.targetBranch.startsWith('refs/') ? opts.targetBranch : `refs/heads/${opts.targetBranch}`;
    if (opts.targetBranch.startsWith('-') || !isValidRefName(ref))
      throw new UserError(`'${q(opts.targetBranch)}' is not a branch name.`, {
        input: 'targetBranch',
        fix: 'set it to a branch, e.g. main.',
      });
    return ref;
  }
  if (opts.branch.kind === 'branch') return opts.branch.ref;
  throw new UserError(
    `a ${opts.branch.kind} build (${q(opts.branch.ref)}) has no branch to open the pull request against: its checkout is not a branch of the orchestration.`,
    {
      input: 'targetBranch',
      fix: 'set targetBranch, e.g. main (the update is built on its tip).',
    },
  );
}

export interface SubmoduleResult {
  commit?: string;
  /** Pull-request mode: the update branch already carried these pins; nothing was pushed and the pull request was left as it was. */
  unchanged?: boolean;
  pushed: string[];
  pullRequest?: { id: number; url: string; reused: boolean };
  checkedOut: string[];
}

/**
 * Carries a plan out: one commit on top of HEAD with the new gitlinks and the lock file (built
 * from objects, so no submodule is checked out unless asked and nothing the user staged goes
 * in), HEAD moved to it, the lock file written; then the push or the pull request. Every change
 * is registered with the run's undo journal (shared/undo.ts) before it is made, from what was
 * known before it (HEAD, the index entries, the lock file's bytes, each submodule's checkout,
 * the remote branch's value, the pull request as it was): a failure or a cancellation at any
 * step puts all of it back. Once the pins are delivered (committed in `commit` mode, pushed in
 * `push` mode, the pull request opened or updated), they are kept, reported as landed.
 */
export async function applySubmoduleUpdate(
  git: Git,
  plan: SubmodulePlan,
  opts: UpdateSubmodulesOptions,
  openPullRequest: OpenPullRequest | undefined,
  log: Log,
): Promise<SubmoduleResult> {
  const result: SubmoduleResult = { pushed: [], checkedOut: [] };
  if (!plan.commitMessage) return result;
  const files = new FileChanges();
  try {
    const entries: TreeEntry[] = plan.updates.map((u) => ({ mode: '160000', sha: u.commit, path: u.path }));
    if (plan.lock) entries.push({ mode: '100644', sha: await writeBlob(git, plan.lock.content), path: plan.lock.path });
    // Objects only (the commit and the lock file's blob): nothing to put back yet.
    const commit = await commitOnTop(git, plan.top, plan.head, entries, plan.commitMessage);
    const d = plan.delivery;
    if (d.mode === 'pull-request') {
      // The update branch already carries these very pins and lock file: a new commit would be a
      // new iteration of the pull request (its policies re-run, votes may reset) for nothing.
      const carried = await unchangedBranch(git, plan.remote!, d.sourceRef!, commit);
      if (carried) {
        if (!openPullRequest) throw new Error('pull-request mode without a pull-request service');
        result.commit = carried;
        result.unchanged = true;
        result.pullRequest = await openPullRequest({ ...pullRequestRequest(plan), leaveAsIs: true });
        log.info(
          `${q(d.sourceRef!)} already carries these pins (${carried.slice(0, 12)}): nothing pushed; pull request ${result.pullRequest.id} left as it is.`,
        );
        return result;
      }
    }
    // The local checkout follows the commit when it is at the commit the update is built on: HEAD
    // (and the branch it is on), the index entries of what changed, the lock file.
    if (plan.head === plan.localHead) {
      const index = await git.indexEntries(entries.map((e) => join(plan.top, e.path)));
      journal.register(`the local commit of the pins (HEAD back to ${plan.head.slice(0, 12)})`, () => git.moveHead(plan.head));
      await git.run(['-C', plan.top, 'update-ref', '-m', 'relevo: update components', 'HEAD', commit, plan.head]);
      journal.register('the index entries of the moved submodules and the lock file', () => git.restoreIndex(index));
      await git.run(['-C', plan.top, 'update-index', '-z', '--index-info'], { input: indexInfo(entries) });
      if (plan.lock) files.write(join(plan.top, plan.lock.path), Buffer.from(plan.lock.content));
    }
    result.commit = commit;
    log.info(`Committed ${commit.slice(0, 12)}: ${plan.commitMessage.split('\n')[0]}.`);
    if (opts.checkout && plan.head === plan.localHead) {
      await checkOutSubmodules(git, plan.top, plan.remote ?? 'origin', plan.updates);
      result.checkedOut = plan.updates.map((u) => u.path);
    }
    if (d.mode === 'push') {
      const previous = await remoteTip(git, plan.remote!, d.branchRef!);
      if (!previous) {
        throw new UserError(`the branch '${q(d.branchRef!)}' does not exist on '${q(plan.remote!)}'; nothing was pushed.`, {
          input: 'mode',
          fix: "push the branch first, or use mode 'commit'.",
        });
      }
      if (previous !== plan.head) {
        throw new UserError(
          `'${q(d.branchRef!)}' on '${q(plan.remote!)}' has moved since this run started (now ${previous.slice(0, 12)}, run built ${plan.head.slice(0, 12)}); nothing was pushed.`,
          {
            input: 'mode',
            fix: 're-run the pipeline: it updates the new commit.',
          },
        );
      }
      await push(git, plan.remote!, { source: commit, ref: d.branchRef!, pushed: commit, previous });
      result.pushed.push(d.branchRef!);
      journal.landed(`the pins, pushed to ${q(d.branchRef!)} on '${q(plan.remote!)}'`);
    } else if (d.mode === 'pull-request') {
      if (!openPullRequest) throw new Error('pull-request mode without a pull-request service');
      const previous = (await remoteTip(git, plan.remote!, d.sourceRef!)) ?? ZERO_SHA;
      await push(git, plan.remote!, { source: commit, ref: d.sourceRef!, pushed: commit, previous });
      result.pushed.push(d.sourceRef!);
      result.pullRequest = await openPullRequest(pullRequestRequest(plan));
      journal.landed(`${q(d.sourceRef!)} on '${q(plan.remote!)}' and pull request ${result.pullRequest.id}`);
      log.info(
        `${result.pullRequest.reused ? 'Updated the open' : 'Opened'} pull request ${result.pullRequest.id}: ${q(result.pullRequest.url)}`,
      );
    } else {
      journal.landed(`the local commit ${commit.slice(0, 12)} with the new pins`);
    }
    files.keep();
    return result;
  } catch (err) {
    // What was put back is said by the undo journal's report, after this message.
    throw explainApplyFailure(err, plan);
  }
}

/** Pushes one ref, registered first: the journal puts it back from what the remote holds then (landed, not landed or in part). */
async function push(git: Git, remote: string, update: RefUpdate): Promise<void> {
  journal.register(
    `${q(update.ref)} on '${q(remote)}' (${update.previous === ZERO_SHA ? 'deleted' : `back to ${update.previous.slice(0, 12)}`})`,
    () => putBackRemoteRefs(git, remote, [update]),
  );
  await pushAll(git, remote, [update]);
}

/** What to do about a remote that could not be read, by why. */
const REMOTE_FAILURE_FIXES: Record<ReturnType<typeof remoteFailure>, string> = {
  timeout: 'it timed out: check that the agent can reach that remote (proxy, firewall, service health) and re-run.',
  auth: "the job token goes only to this organization's URLs: check that the URL in .gitmodules is this organization's repository and that the job can use its token (classic: 'Allow scripts to access the OAuth token'); a remote elsewhere needs its own credentials.",
  other:
    "let the job read that repository: grant the build service 'Read' on it, and list it under resources.repositories (or check it out) when the job token is limited to referenced repositories; or exclude the submodule.",
};

/** Why reading a remote failed: it timed out, it did not accept the credentials, or anything else. */
function remoteFailure(err: unknown): 'timeout' | 'auth' | 'other' {
  if (err instanceof GitTimeoutError) return 'timeout';
  if (err instanceof GitCommandError && /\b401\b|Authentication failed|could not read Username|could not read Password/i.test(err.stderr))
    return 'auth';
  return 'other';
}

function pullRequestRequest(plan: SubmodulePlan): PullRequestRequest {
  return {
    sourceRef: plan.delivery.sourceRef!,
    targetRef: plan.delivery.targetRef!,
    title: plan.commitMessage!.split('\n')[0],
    description: pullRequestDescription(plan),
  };
}

/** The update branch's tip when its tree is `commit`'s (the same pins and lock file on the same target), else undefined. */
async function unchangedBranch(git: Git, remote: string, ref: string, commit: string): Promise<string | undefined> {
  const tip = await remoteTip(git, remote, ref);
  if (!tip) return undefined;
  await git.fetchObjects(remote, [ref], git.opened?.shallow ?? false);
  const [theirs, ours] = (await git.run(['rev-parse', `${tip}^{tree}`, `${commit}^{tree}`])).trim().split('\n');
  return theirs === ours ? tip : undefined;
}

async function remoteTip(git: Git, remote: string, ref: string): Promise<string | undefined> {
  return (await git.remoteRefs(remote, [ref], `reading ${ref}`)).find((r) => r.name === ref)?.commit;
}

function explainApplyFailure(err: unknown, plan: SubmodulePlan): unknown {
  if (err instanceof UserError) return err;
  if (err instanceof PushError) {
    const branch = plan.delivery.branchRef ?? plan.delivery.sourceRef;
    const { what, fix } = explainPushRefusal(err, {
      remote: plan.remote!,
      repository: 'the orchestration repository',
      refs: 'the branch',
      branch: branch?.replace(/^refs\/heads\//, ''),
      permissions: plan.delivery.mode === 'pull-request' ? ['Contribute', 'Create branch'] : ['Contribute'],
      rerun: 'it updates the new commit',
      withoutDirectPush: "use mode 'pull-request'",
    });
    return new UserError(`${what}.${err.refusal === 'timeout' ? '' : ' Nothing was pushed.'}`, { input: 'mode', fix });
  }
  if (err instanceof GitCommandError)
    return new UserError(
      `git ${err.args.find((a) => !a.startsWith('-') && !a.startsWith('/')) ?? err.args[0]} failed: ${q(err.stderr.trim().replace(/\s+/g, ' '))}.`,
      { fix: 'see the git message above.' },
    );
  return err;
}

function pullRequestDescription(plan: SubmodulePlan): string {
  const rows = plan.updates.map(
    (u) => `| ${markdownText(u.name)} | ${u.fromTag ? markdownText(u.fromTag) : '—'} | ${markdownText(u.toTag)} | ${u.change} |`,
  );
  return ['Component pins moved by Relevo UpdateSubmodules.', '', '| component | from | to | change |', '|---|---|---|---|', ...rows].join(
    '\n',
  );
}

function byCodePoint(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}
