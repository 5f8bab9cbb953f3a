/**
 * The promotion plan: for every repository, what moves where, which tags, which gates passed
 * and which branches get the change back. Everything is checked here, for every repository,
 * before anything moves: the commit is on the source branch, the target can take it with the
 * strategy, the tag names are free, the gates passed, an orchestration's pins are on their
 * components' targets. Building it touches no ref (merge commits are objects only).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { mapLimit } from '../concurrency';
import { UserError } from '../errors';
import { Git, GitCommandError, startRepository, ZERO_SHA, type GitOptions, type TagRef } from '../git';
import type { Log } from '../log';
import { markdownText } from '../markdown';
import { quoteForeign } from '../output';
import { gitmodulesAt } from '../submodules/changes';
import { displayUrl, resolveSubmoduleUrl } from '../submodules/urls';
import { collectTags } from '../versioning/history';
import { parseTagFormat } from '../versioning/tagFormat';
import { VERSION_PLACEHOLDER, type Route, type Strategy } from './flow';
import type { GateResult } from './gates';
import { registerTrackingRefs } from './tracking';
import { decideTag, type TagDecision } from './version';

export interface RepositoryInput {
  dir: string;
  /** The commit to promote; HEAD when undefined. */
  commit?: string;
  /** Which input named the folder (workingDirectory or repositories). */
  input: string;
}

export interface PromotionOptions {
  route: Route;
  remote: string;
  strategy: Strategy;
  tagFormat: string;
  component: string;
  paths: string[];
  allowUntested: boolean;
  gitOptions: GitOptions;
  /** Checks the gates of one repository's commit (undefined: no gate). */
  checkGates?: (repo: { name: string; dir: string; remoteUrl?: string }, commit: string) => Promise<GateResult[]>;
  /** Where worktrees and scratch clones go (the agent's temp folder). */
  scratch: string;
  parallel: number;
}

/** How the target branch takes the commit. */
export type MoveKind = 'fast-forward' | 'merge' | 'create' | 'up-to-date' | 'contains' | 'pull-request';

export interface BranchMove {
  branch: string;
  ref: string;
  /** The target's commit when the run read it; ZERO_SHA when it does not exist. */
  from: string;
  /** The target's commit after the promotion (from when it does not move). */
  to: string;
  kind: MoveKind;
  mergeCommit?: string;
}

export type BackMergeStatus = 'up-to-date' | 'fast-forward' | 'merged' | 'pull-request' | 'missing';

export interface BackMerge {
  branch: string;
  ref: string;
  from: string;
  to: string;
  status: BackMergeStatus;
  /** A conflict: the files, and the branch the pull request comes from. */
  conflicts?: string[];
  pullRequestRef?: string;
}

/** One ref the push changes: the branch, back-merged branches, pull-request branches, the tag. */
export interface PlannedRef {
  ref: string;
  /** The commit (or for a tag, the commit it tags; the tag object is made when applying). */
  to: string;
  previous: string;
  tag?: { name: string; message: string };
}

export interface RepositoryPlan {
  name: string;
  dir: string;
  git: Git;
  remote: string;
  remoteUrl?: string;
  commit: string;
  subject: string;
  source: { branch: string; ref: string; tip: string };
  move: BranchMove;
  tag: TagDecision;
  gates: GateResult[];
  backMerges: BackMerge[];
  /** The pull request the promotion opens (strategy pull-request). */
  pullRequest?: { sourceRef: string; targetRef: string; title: string; description: string };
  refs: PlannedRef[];
  /** Orchestrations: each pinned component and where its pin stands. */
  pins: { name: string; commit: string; on: string }[];
  notes: string[];
  /** The promoted commit has a .gitmodules: its pins are checked. */
  orchestration: boolean;
  /** `Name <email>` for the annotated tag, as git would pick it (environment, repository config, the run's identity). */
  tagger: string;
}

export interface PromotionPlan {
  route: Route;
  strategy: Strategy;
  repositories: RepositoryPlan[];
}

const short = (sha: string) => sha.slice(0, 12);

/** Plans every repository (several at once), then checks orchestrations against their components' plans. */
export async function planPromotion(inputs: RepositoryInput[], opts: PromotionOptions, log: Log): Promise<PromotionPlan> {
  if (opts.strategy === 'pull-request' && opts.route.action === 'release-start') {
    throw new UserError('a release start creates the release branch: there is nothing to open a pull request into.', {
      input: 'strategy',
      fix: "use 'fast-forward' for release-start.",
    });
  }
  const settled = await mapLimit(inputs, opts.parallel, (i) =>
    planRepository(i, opts, log, inputs.length > 1).then(
      (plan) => ({ plan }),
      (error: unknown) => ({ error: gitFailure(error), dir: i.dir }),
    ),
  );
  const failures = settled.filter((s): s is { error: unknown; dir: string } => 'error' in s);
  if (failures.length === 1 && inputs.length === 1) throw failures[0].error;
  if (failures.length) {
    const bug = failures.find((f) => !(f.error instanceof UserError));
    if (bug) throw bug.error;
    throw new UserError(
      `${failures.length} of ${inputs.length} repositories cannot be promoted; nothing was promoted. ${failures.map((f) => `[${f.dir}] ${(f.error as Error).message}`).join(' ')}`,
    );
  }
  const repositories = settled.map((s) => (s as { plan: RepositoryPlan }).plan);
  const failedGates = repositories.flatMap((r) =>
    r.gates.filter((g) => !g.passed).map((g) => `${inputs.length > 1 ? `${r.name}: ` : ''}${g.gate} (${g.detail})`),
  );
  if (failedGates.length) {
    throw new UserError(
      `commit${inputs.length > 1 ? 's' : ` ${short(repositories[0].commit)}`} did not pass: ${failedGates.join('; ')}. Nothing was promoted.`,
      {
        input: 'requireSucceeded',
        fix: 'promote a commit whose builds and checks succeeded (re-run the failed ones), or correct the gate names.',
      },
    );
  }
  await checkPins(repositories, opts, log).catch((err: unknown) => {
    throw gitFailure(err);
  });
  return { route: opts.route, strategy: opts.strategy, repositories };
}

async function planRepository(input: RepositoryInput, opts: PromotionOptions, log: Log, several: boolean): Promise<RepositoryPlan> {
  const route = opts.route;
  const format = parseTagFormat(opts.tagFormat, opts.component);
  // The folder is checked while its configuration and local tags are read.
  const git = startRepository(input.dir, opts.gitOptions, input.input);
  const configRead = readConfig(git);
  const localRead = git.localTags(format.refPattern);
  configRead.catch(() => undefined);
  localRead.catch(() => undefined);
  await git.ready;
  const opened = git.opened!;
  if (!opened.head)
    throw new UserError(`'${input.dir}' has no commits yet.`, { input: input.input, fix: 'point it at the checked-out repository.' });
  const [config, local] = await Promise.all([configRead, localRead]);
  const head = opened.head;
  const shallow = opened.shallow;
  const remote = opts.remote;
  if (!config.remotes.has(remote)) {
    throw new UserError(
      `'${input.dir}' has no remote '${remote}' (it has ${config.remotes.size ? [...config.remotes.keys()].join(', ') : 'none'}).`,
      { input: 'remote', fix: "name the remote the checkout came from (the agent's is 'origin')." },
    );
  }
  const remoteUrl = config.remotes.get(remote)?.replace(/\/\/[^/@]*@/, '//');
  const name = repositoryName(remoteUrl, input.dir);
  const sourceRef = `refs/heads/${route.source}`;
  const targetPattern = route.target.includes(VERSION_PLACEHOLDER)
    ? `refs/heads/${route.target.replace(VERSION_PLACEHOLDER, '*')}`
    : `refs/heads/${route.target}`;
  const wanted = [sourceRef, targetPattern, ...route.backMerge.map((b) => `refs/heads/${b}`), 'refs/heads/relevo/*', format.refPattern];
  const listing = await git.remoteRefs(remote, wanted, 'reading the branches and tags').catch((err: unknown) => {
    const detail = quoteForeign(err instanceof GitCommandError ? err.stderr.trim() || err.message : String(err));
    throw new UserError(`cannot read the branches and tags of '${quoteForeign(name)}' on '${remote}': ${detail}. Nothing was promoted.`, {
      fix: "let the job read and push the repository: grant the build service 'Read' and 'Contribute' on it (and list it under resources.repositories when the job token is limited to referenced repositories).",
    });
  });
  const heads = new Map(listing.filter((r) => r.name.startsWith('refs/heads/')).map((r) => [r.name, r.commit]));
  const tagRefs: TagRef[] = listing.filter((r) => !r.name.startsWith('refs/'));
  const { tags } = collectTags(format, local, { remote, refs: tagRefs }, '', true, (m) =>
    log.warn(`${quoteForeign(name)}: ${quoteForeign(m)}`),
  );
  const sourceTip = heads.get(sourceRef);
  if (!sourceTip) {
    throw new UserError(
      `the source branch '${route.source}' does not exist on '${remote}' of ${quoteForeign(name)}; nothing was promoted.`,
      {
        input: route.hotfix && route.input === 'to' ? undefined : route.input === 'to' ? 'branches' : 'action',
        fix: `push '${route.source}' first, or check the branch names.`,
      },
    );
  }
  const commit = input.commit ?? head;

  // Everything the checks read must be here: the commit, and the tips of every branch involved.
  if (shallow) {
    log.info(`${quoteForeign(name)}: shallow checkout: fetching the history of '${route.source}' to check ancestry.`);
    // The fetch moves the source's remote-tracking ref (the completed history stays, as any fetch's objects).
    await registerTrackingRefs(git, remote, [sourceRef], several ? `${quoteForeign(name)}: ` : '');
    await git.deepen(remote, 'all', sourceRef).catch(() => undefined);
  }
  const branchTips = [...heads].filter(([ref]) => !ref.startsWith('refs/heads/relevo/'));
  // One process: which of them are here, the commit's subject, and whether it has a .gitmodules.
  let objects = await readObjects(git, [commit, `${commit}:.gitmodules`, ...new Set(branchTips.map(([, sha]) => sha))]);
  const missingRefs = branchTips.filter(([, sha]) => !objects.has(sha)).map(([ref]) => ref);
  if (!objects.has(commit) && !missingRefs.includes(sourceRef)) missingRefs.push(sourceRef);
  if (missingRefs.length) {
    await registerTrackingRefs(git, remote, missingRefs, several ? `${quoteForeign(name)}: ` : '');
    await git.fetchObjects(remote, missingRefs, false).catch((err: unknown) => {
      const detail = quoteForeign(err instanceof GitCommandError ? err.stderr.trim() || err.message : String(err));
      throw new UserError(
        `cannot fetch ${missingRefs.join(', ')} of ${quoteForeign(name)} from '${remote}': ${detail}. Nothing was promoted.`,
        { fix: "grant the build service 'Read' on the repository and check the remote." },
      );
    });
    objects = await readObjects(git, [commit, `${commit}:.gitmodules`]);
  }
  if (!objects.has(commit)) {
    throw new UserError(
      `commit ${short(commit)} (the commit this build tested) is not in ${name}, nor on '${route.source}' on '${remote}'; nothing was promoted.`,
      {
        fix: `run the promotion in a build of '${route.source}', or check out the repository that commit belongs to.`,
      },
    );
  }
  if (commit !== sourceTip && !(await git.isAncestor(commit, sourceTip))) {
    throw new UserError(
      `commit ${short(commit)} (the commit this build tested) is not on the source branch '${route.source}' (at ${short(sourceTip)}) on '${remote}' of ${name}; nothing was promoted.`,
      {
        fix: `promote from a build of '${route.source}': only what the source environment has can move on.`,
      },
    );
  }
  const subject = objects.get(commit)!.subject;

  const gates = opts.checkGates ? opts.checkGates({ name, dir: input.dir, remoteUrl }, commit) : Promise.resolve([]);
  gates.catch(() => undefined);
  const tag = await decideTag({
    git,
    gitOptions: opts.gitOptions,
    commit,
    head,
    shallow: shallow ? (await git.state()).shallow : false,
    kind: route.kind,
    format,
    tags,
    local,
    remoteTagNames: new Set(tagRefs.map((t) => t.name)),
    remote,
    sourceRef,
    paths: opts.paths,
    allowUntested: opts.allowUntested,
    candidateBranch: candidateBranchOf(route),
    scratch: opts.scratch,
    log,
  });
  const target = route.target.replace(VERSION_PLACEHOLDER, tag.version.replace(/-.*$/, ''));
  const targetRef = `refs/heads/${target}`;
  const notes: string[] = [];
  const move = await planMove(git, opts.strategy, {
    commit,
    target,
    targetRef,
    from: heads.get(targetRef),
    tag,
    source: route.source,
    name,
  });
  if (move.kind === 'create') notes.push(`'${target}' does not exist on '${remote}': it is created at ${short(commit)}.`);
  if (move.kind === 'contains') notes.push(`'${target}' contains ${short(commit)} already: the branch does not move.`);
  if (move.kind === 'up-to-date') notes.push(`'${target}' is at ${short(commit)} already.`);

  const refs: PlannedRef[] = [];
  let pullRequest: RepositoryPlan['pullRequest'];
  if (move.kind === 'pull-request') {
    const prRef = `refs/heads/relevo/promote-${target}`;
    refs.push({ ref: prRef, to: commit, previous: heads.get(prRef) ?? ZERO_SHA });
    pullRequest = {
      sourceRef: prRef,
      targetRef,
      title: `Promote ${tag.tag} to ${target}`,
      description: [
        `Promotes ${short(commit)} (${markdownText(subject)}) from '${route.source}' to '${target}' as ${tag.tag}.`,
        '',
        `Opened by Relevo PromoteBranch. ${tag.why}.`,
      ].join('\n'),
    };
  } else if (move.to !== move.from && move.kind !== 'contains') refs.push({ ref: targetRef, to: move.to, previous: move.from });

  const backMerges: BackMerge[] = [];
  for (const branch of route.backMerge) {
    const bm = await planBackMerge(git, {
      branch,
      from: heads.get(`refs/heads/${branch}`),
      commit,
      tag,
      route: `${route.source} → ${target}`,
      pullRequestRef: `refs/heads/relevo/back-merge-${tag.tag}-into-${branch}`,
      name,
    });
    backMerges.push(bm);
    if (bm.status === 'fast-forward' || bm.status === 'merged') refs.push({ ref: bm.ref, to: bm.to, previous: bm.from });
    if (bm.status === 'pull-request')
      refs.push({ ref: bm.pullRequestRef!, to: commit, previous: heads.get(bm.pullRequestRef!) ?? ZERO_SHA });
    if (bm.status === 'missing') notes.push(`'${branch}' does not exist on '${remote}': no back-merge into it.`);
  }
  if (!tag.existing || tag.pushExisting) {
    refs.push({
      ref: `refs/tags/${tag.tag}`,
      to: commit,
      previous: ZERO_SHA,
      tag: tag.existing
        ? undefined
        : {
            name: tag.tag,
            message: `${tag.kind === 'final' ? 'Release' : 'Release candidate'} ${opts.component ? `${opts.component} ` : ''}${tag.version}${tag.candidate ? ` (from ${tag.candidate})` : ''}, promoted ${route.source} → ${target}`,
          },
    });
  }
  return {
    name,
    dir: input.dir,
    git,
    remote,
    remoteUrl,
    commit,
    subject,
    source: { branch: route.source, ref: sourceRef, tip: sourceTip },
    move,
    tag,
    gates: await gates,
    backMerges,
    pullRequest,
    refs,
    pins: [],
    notes,
    orchestration: objects.has(`${commit}:.gitmodules`),
    tagger: tagger(config, opts.gitOptions),
  };
}

/** A git command that failed while planning (it could not read what it needed) is the environment's doing, not a bug: nothing moved yet. */
/** Where the commit gets its candidate tag by promotion; none for a hotfix, whose own build tags it (VersionBump). */
function candidateBranchOf(route: Route): string | undefined {
  if (route.hotfix) return undefined;
  return route.flow === 'environments' ? route.source : route.target;
}

function gitFailure(err: unknown): unknown {
  if (!(err instanceof GitCommandError)) return err;
  return new UserError(
    `git ${err.args[0]} failed while reading the repository: ${quoteForeign(err.stderr.trim().replace(/\s+/g, ' ') || err.message)}. Nothing was promoted.`,
    { fix: 'see the git message; re-run once git can read the checkout and its remote.' },
  );
}

/** The repository's name: the last part of its remote URL (Azure Repos: after `_git/`), else the folder's. */
export function repositoryName(url: string | undefined, dir: string): string {
  const from = (url ?? dir)
    .replace(/[?#].*$/, '')
    .replace(/\/+$/, '')
    .replace(/\.git$/, '');
  return decodeURIComponent(from.slice(Math.max(from.lastIndexOf('/'), from.lastIndexOf(':')) + 1)) || dir;
}

async function planMove(
  git: Git,
  strategy: Strategy,
  m: { commit: string; target: string; targetRef: string; from?: string; tag: TagDecision; source: string; name: string },
): Promise<BranchMove> {
  const base = { branch: m.target, ref: m.targetRef };
  if (!m.from) {
    if (strategy === 'pull-request') {
      throw new UserError(
        `the target branch '${m.target}' does not exist on the remote of ${m.name}: a pull request needs a branch to go into.`,
        { input: 'strategy', fix: "create the branch first, or use 'fast-forward' (it creates it)." },
      );
    }
    return { ...base, from: ZERO_SHA, to: m.commit, kind: 'create' };
  }
  if (m.from === m.commit) return { ...base, from: m.from, to: m.from, kind: 'up-to-date' };
  const common = m.tag.ancestors?.has(m.from) ? m.from : await mergeBase(git, m.commit, m.from);
  if (common === m.commit) return { ...base, from: m.from, to: m.from, kind: 'contains' };
  if (strategy === 'pull-request') return { ...base, from: m.from, to: m.from, kind: 'pull-request' };
  const fastForward = common === m.from;
  if (strategy === 'fast-forward') {
    if (fastForward) return { ...base, from: m.from, to: m.commit, kind: 'fast-forward' };
    const ahead = (await git.run(['log', '--format=%h %s', `${m.commit}..${m.from}`])).trim().split('\n').filter(Boolean);
    const shown =
      ahead
        .slice(0, 10)
        .map((l) => `'${quoteForeign(l)}'`)
        .join(', ') + (ahead.length > 10 ? ` and ${ahead.length - 10} more` : '');
    throw new UserError(
      `'${m.target}' has ${ahead.length} commit(s) that '${m.source}' lacks, so it cannot fast-forward to ${short(m.commit)}: ${shown}. Nothing was promoted.`,
      {
        input: 'strategy',
        fix: `use 'strategy: merge' (a merge commit on '${m.target}') or 'strategy: pull-request' (a pull request to review), or bring those commits back into '${m.source}' first.`,
      },
    );
  }
  const merged = await mergeCommit(
    git,
    m.from,
    m.commit,
    `Merge ${m.tag.tag} into ${m.target}\n\nPromoted ${short(m.commit)} from '${m.source}' to '${m.target}' by Relevo PromoteBranch.\n`,
  );
  if ('conflicts' in merged) {
    throw new UserError(
      `merging ${short(m.commit)} into '${m.target}' conflicts in ${merged.conflicts.map(quoteForeign).join(', ')}. Nothing was promoted.`,
      {
        input: 'strategy',
        fix: "use 'strategy: pull-request' and resolve the conflicts in the pull request, or merge by hand.",
      },
    );
  }
  return { ...base, from: m.from, to: merged.commit, kind: 'merge', mergeCommit: merged.commit };
}

async function planBackMerge(
  git: Git,
  b: { branch: string; from?: string; commit: string; tag: TagDecision; route: string; pullRequestRef: string; name: string },
): Promise<BackMerge> {
  const ref = `refs/heads/${b.branch}`;
  if (!b.from) return { branch: b.branch, ref, from: ZERO_SHA, to: ZERO_SHA, status: 'missing' };
  const common = b.from === b.commit ? b.commit : b.tag.ancestors?.has(b.from) ? b.from : await mergeBase(git, b.commit, b.from);
  if (common === b.commit) return { branch: b.branch, ref, from: b.from, to: b.from, status: 'up-to-date' };
  if (common === b.from) return { branch: b.branch, ref, from: b.from, to: b.commit, status: 'fast-forward' };
  const merged = await mergeCommit(
    git,
    b.from,
    b.commit,
    `Merge ${b.tag.tag} back into ${b.branch}\n\nBack-merge after ${b.route}, by Relevo PromoteBranch.\n`,
  );
  if ('conflicts' in merged)
    return {
      branch: b.branch,
      ref,
      from: b.from,
      to: b.from,
      status: 'pull-request',
      conflicts: merged.conflicts,
      pullRequestRef: b.pullRequestRef,
    };
  return { branch: b.branch, ref, from: b.from, to: merged.commit, status: 'merged' };
}

/** The best common ancestor of two commits; undefined when they have none. */
async function mergeBase(git: Git, a: string, b: string): Promise<string | undefined> {
  try {
    return (await git.run(['merge-base', a, b])).trim() || undefined;
  } catch (err) {
    if (err instanceof GitCommandError && !err.stderr.trim()) return undefined;
    throw err;
  }
}

/** A merge commit of `theirs` into `ours`, made from objects (`merge-tree --write-tree`): no checkout, no ref. */
async function mergeCommit(git: Git, ours: string, theirs: string, message: string): Promise<{ commit: string } | { conflicts: string[] }> {
  let out: string;
  try {
    out = await git.run(['merge-tree', '--write-tree', '--name-only', '--no-messages', ours, theirs]);
  } catch (err) {
    if (err instanceof GitCommandError && /^[0-9a-f]{40}\n/.test(err.stdout)) {
      const files = err.stdout.split('\n').slice(1).filter(Boolean);
      return { conflicts: [...new Set(files)] };
    }
    throw err;
  }
  const tree = out.split('\n')[0].trim();
  const commit = (
    await git.run(['commit-tree', tree, '-p', ours, '-p', theirs, '-F', '-'], { env: await git.identityEnv(), input: message })
  ).trim();
  return { commit };
}

/**
 * An orchestration is promoted only with its pins on their components' targets: each gitlink of
 * the promoted commit must be on the component's target branch after this run (the component's
 * plan when it is promoted in the same run, otherwise its remote).
 */
async function checkPins(plans: RepositoryPlan[], opts: PromotionOptions, log: Log): Promise<void> {
  const byUrl = new Map(plans.filter((p) => p.remoteUrl).map((p) => [normalizeUrl(p.remoteUrl!), p]));
  for (const plan of plans.filter((p) => p.orchestration)) {
    const modules = await gitmodulesAt(plan.git, plan.commit);
    if (!modules.length) continue;
    const links = new Map(
      (await plan.git.run(['ls-tree', '-r', '-z', plan.commit]))
        .split('\0')
        .filter((l) => l.startsWith('160000 '))
        .map((l) => [l.slice(l.indexOf('\t') + 1), l.split(' ')[2].split('\t')[0]]),
    );
    const problems: string[] = [];
    await mapLimit(modules, opts.parallel, async (m) => {
      const pinned = links.get(m.path);
      if (!pinned) return;
      let url: string;
      try {
        url = resolveSubmoduleUrl(m.url, plan.remoteUrl);
      } catch {
        url = m.url;
      }
      const component = byUrl.get(normalizeUrl(url));
      if (component) {
        const tip = component.move.kind === 'pull-request' ? component.move.from : component.move.to;
        const on = tip !== ZERO_SHA && (tip === pinned || (await component.git.isAncestor(pinned, tip)));
        plan.pins.push({ name: m.name, commit: pinned, on: on ? `on ${component.move.branch} after this run` : 'not on the target' });
        if (!on)
          problems.push(
            `${quoteForeign(m.name)} is pinned at ${short(pinned)}, which is not on '${component.move.branch}' of ${quoteForeign(component.name)}${component.move.kind === 'pull-request' ? ' (its promotion is a pull request, not merged yet)' : ''}`,
          );
        return;
      }
      if (opts.route.target.includes(VERSION_PLACEHOLDER)) {
        plan.pins.push({ name: m.name, commit: pinned, on: 'not checked (its release branch is its own)' });
        return;
      }
      const targetRef = plan.move.ref;
      const on = await pinOnRemote(plan.git, url, targetRef, pinned, opts.scratch, opts.gitOptions).catch((err: unknown) => {
        throw new UserError(
          `cannot read component '${quoteForeign(m.name)}' (${quoteForeign(displayUrl(url))}) to check its pin: ${quoteForeign(err instanceof GitCommandError ? err.stderr.trim() : String(err))}. Nothing was promoted.`,
          {
            input: 'repositories',
            fix: "list the component's checkout in 'repositories', or grant the build service 'Read' on it.",
          },
        );
      });
      plan.pins.push({ name: m.name, commit: pinned, on: on ? `on ${plan.move.branch}` : 'not on the target' });
      if (!on)
        problems.push(
          `${quoteForeign(m.name)} is pinned at ${short(pinned)}, which is not on '${plan.move.branch}' of ${quoteForeign(displayUrl(url))}`,
        );
    });
    if (problems.length) {
      throw new UserError(
        `the orchestration ${quoteForeign(plan.name)} pins component commits that are not promoted yet: ${problems.join('; ')}. Nothing was promoted.`,
        {
          input: 'repositories',
          fix: "promote those components first, or in the same run (list their checkouts in 'repositories').",
        },
      );
    }
    log.info(`${quoteForeign(plan.name)}: every pinned component is on its target.`);
  }
}

/** Whether `commit` is on `ref` of the repository at `url`, read without touching the checkout. */
async function pinOnRemote(git: Git, url: string, ref: string, commit: string, scratch: string, options: GitOptions): Promise<boolean> {
  const [tip] = await git.remoteRefs(url, [ref], `reading ${ref}`);
  if (!tip) return false;
  if (tip.commit === commit) return true;
  const dir = mkdtempSync(join(scratch, 'relevo-pin-'));
  try {
    await git.run(['init', '--quiet', '--bare', dir]);
    const bare = new Git(dir, options);
    await bare.remote(['fetch', '--quiet', '--no-tags', url, ref], url, `fetching ${ref}`);
    return await bare.isAncestor(commit, tip.commit);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function normalizeUrl(url: string): string {
  return displayUrl(url)
    .replace(/^file:\/\//, '')
    .replace(/\/+$/, '')
    .replace(/\.git$/, '')
    .toLowerCase();
}

/** Remote URLs and the user's identity, in one process. */
async function readConfig(git: Git): Promise<{ remotes: Map<string, string>; user: { name?: string; email?: string } }> {
  const out = await git.run(['config', '--null', '--get-regexp', '^(remote\\..*\\.url|user\\.(name|email))$']).catch((err: unknown) => {
    if (err instanceof GitCommandError && !err.stderr.trim()) return ''; // nothing matched
    throw err;
  });
  const remotes = new Map<string, string>();
  const user: { name?: string; email?: string } = {};
  for (const entry of out.split('\0').filter(Boolean)) {
    const eol = entry.indexOf('\n');
    const key = entry.slice(0, eol < 0 ? entry.length : eol);
    const value = eol < 0 ? '' : entry.slice(eol + 1);
    if (key === 'user.name') user.name = value;
    else if (key === 'user.email') user.email = value;
    else remotes.set(key.slice('remote.'.length, -'.url'.length), value);
  }
  return { remotes, user };
}

/** The tagger git would use: GIT_COMMITTER_* first, then the repository's user.*, then the run's identity. */
function tagger(config: { user: { name?: string; email?: string } }, options: GitOptions): string {
  const name = process.env.GIT_COMMITTER_NAME || config.user.name || options.identity?.name || 'Relevo';
  const email = process.env.GIT_COMMITTER_EMAIL || config.user.email || options.identity?.email || 'relevo@users.noreply.dev.azure.com';
  return `${name.replace(/[<>\n]/g, '')} <${email.replace(/[<>\n]/g, '')}>`;
}

/** Which of `revisions` name objects here (one `cat-file --batch`), with a commit's subject. */
async function readObjects(git: Git, revisions: string[]): Promise<Map<string, { type: string; subject: string }>> {
  const found = new Map<string, { type: string; subject: string }>();
  // latin1: one character per byte, so the sizes cat-file prints are string offsets.
  const out = await git.run(['cat-file', '--batch'], { input: revisions.join('\n') + '\n', encoding: 'latin1' });
  let at = 0;
  for (const rev of revisions) {
    const eol = out.indexOf('\n', at);
    if (eol < 0) break;
    const [, type, size] = out.slice(at, eol).split(' ');
    if (size === undefined) {
      at = eol + 1;
      continue;
    }
    const body = out.slice(eol + 1, eol + 1 + Number(size));
    at = eol + 1 + Number(size) + 1;
    const split = body.indexOf('\n\n');
    const subject = type === 'commit' && split >= 0 ? Buffer.from(body.slice(split + 2).split('\n')[0], 'latin1').toString('utf8') : '';
    found.set(rev, { type, subject });
  }
  return found;
}
