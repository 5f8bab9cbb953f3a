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
import { mergeBase, mergeCommit, readConfig, readObjects, type ObjectInfo, type RepositoryConfig } from '../git/objects';
import { repositoryName } from '../git/remoteUrl';
import type { Log } from '../log';
import { markdownText } from '../markdown';
import { quoteForeign } from '../output';
import { gitmodulesAt } from '../submodules/changes';
import { displayUrl, resolveSubmoduleUrl } from '../submodules/urls';
import { CANDIDATE_LABEL, highest } from '../versioning/decide';
import { collectTags, type ComponentTag } from '../versioning/history';
import { parseTagFormat, type TagFormat } from '../versioning/tagFormat';
import { VERSION_PLACEHOLDER, type Route, type Strategy } from './flow';
import type { GateResult } from './gates';
import { decideTag, type TagDecision } from './version';

export interface RepositoryInput {
  dir: string;
  /** The commit to promote; HEAD when undefined. */
  commit?: string;
  /** Which input named the folder (workingDirectory or repositories). */
  input: string;
}

/** What identifies a repository of the run: its checkout and remote URL (its name alone does not). */
export interface RepositoryIdentity {
  name: string;
  dir: string;
  remoteUrl?: string;
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
  checkGates?: (repo: RepositoryIdentity, commit: string, where: { branch: string; committed?: Date }) => Promise<GateResult[]>;
  /** Where worktrees and scratch clones go (the agent's temp folder). */
  scratch: string;
  parallel: number;
  /** Opens a checkout (tests give a fake git). */
  openGit?: typeof startRepository;
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
  /** The last part of its remote URL: what Azure DevOps calls it (not unique: projA/common and projB/common). */
  name: string;
  /** How the log and the Summary name it: the name, with the checkout's path when another repository of the run has the same name. */
  label: string;
  /** The checkout: what identifies the repository in the run (with its remote URL). */
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
  /**
   * Refs the undo must leave where the push put them, with why: the source branch of a pull
   * request this run opened and could not abandon (the service down) stays, so the pull request
   * does not point at a deleted branch. Filled while undoing, read by the put-back of the push.
   */
  undoHolds: Map<string, string>;
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
  // projA/common and projB/common are both 'common': the log and the Summary tell them apart by their checkouts.
  for (const r of repositories)
    if (repositories.some((o) => o !== r && o.name.toLowerCase() === r.name.toLowerCase())) r.label = `${r.name} (${r.dir})`;
  const failedGates = repositories.flatMap((r) =>
    r.gates.filter((g) => !g.passed).map((g) => `${inputs.length > 1 ? `${r.label}: ` : ''}${g.gate} (${g.detail})`),
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
  const repo = await openRepository(input, opts, format.refPattern);
  const { git, name, remote } = repo;
  const prefix = several ? `${quoteForeign(name)} (${input.dir}): ` : '';
  const remoteState = await readRemoteState(repo, format, log);
  const commit = input.commit ?? repo.head;
  const objects = await fetchWhatIsMissing(repo, remoteState, commit, log, prefix);
  const subject = await checkOnSource(repo, remoteState, commit, objects);

  const gates = opts.checkGates
    ? opts.checkGates({ name, dir: input.dir, remoteUrl: repo.remoteUrl }, commit, {
        branch: route.source,
        committed: objects.get(commit)?.committed,
      })
    : Promise.resolve([]);
  gates.catch(() => undefined);
  let tag = await decideTag({
    git,
    gitOptions: opts.gitOptions,
    commit,
    head: repo.head,
    shallow: repo.shallow ? (await git.state()).shallow : false,
    kind: route.kind,
    format,
    tags: remoteState.tags,
    local: repo.local,
    remoteTagNames: new Set(remoteState.tagRefs.map((t) => t.name)),
    remote,
    sourceRef: remoteState.sourceRef,
    paths: opts.paths,
    allowUntested: opts.allowUntested,
    candidateBranch: candidateBranchOf(route),
    scratch: opts.scratch,
    log,
  });
  const target = route.target.replace(VERSION_PLACEHOLDER, tag.version.replace(/-.*$/, ''));
  const move = await planMove(git, opts.strategy, {
    commit,
    target,
    targetRef: `refs/heads/${target}`,
    from: remoteState.heads.get(`refs/heads/${target}`),
    tag,
    source: route.source,
    name,
  });
  if (move.kind === 'contains' && tag.kind === 'candidate' && !tag.existing)
    tag = (await candidateOnMerge(repo, remoteState, commit, move)) ?? tag;
  const planned = await planRefs(repo, remoteState, { commit, subject, tag, move, component: opts.component });
  return {
    name,
    label: name,
    dir: input.dir,
    git,
    remote,
    remoteUrl: repo.remoteUrl,
    commit,
    subject,
    source: { branch: route.source, ref: remoteState.sourceRef, tip: remoteState.sourceTip },
    move,
    tag,
    gates: await gates,
    ...planned,
    pins: [],
    orchestration: objects.has(`${commit}:.gitmodules`),
    tagger: tagger(repo.config, opts.gitOptions),
    undoHolds: new Map(),
  };
}

/** A checkout being planned: its git, configuration, local tags, HEAD, and the remote it promotes on. */
interface OpenedRepository {
  input: RepositoryInput;
  git: Git;
  config: RepositoryConfig;
  local: TagRef[];
  head: string;
  shallow: boolean;
  remote: string;
  remoteUrl?: string;
  name: string;
  route: Route;
}

/** Opens the checkout (its configuration and local tags read meanwhile) and checks it has commits and the remote. */
async function openRepository(input: RepositoryInput, opts: PromotionOptions, tagPattern: string): Promise<OpenedRepository> {
  const git = (opts.openGit ?? startRepository)(input.dir, opts.gitOptions, input.input);
  const configRead = readConfig(git);
  const localRead = git.localTags(tagPattern);
  configRead.catch(() => undefined);
  localRead.catch(() => undefined);
  await git.ready;
  const opened = git.opened!;
  if (!opened.head)
    throw new UserError(`'${input.dir}' has no commits yet.`, { input: input.input, fix: 'point it at the checked-out repository.' });
  const [config, local] = await Promise.all([configRead, localRead]);
  const remote = opts.remote;
  if (!config.remotes.has(remote)) {
    throw new UserError(
      `'${input.dir}' has no remote '${remote}' (it has ${config.remotes.size ? [...config.remotes.keys()].join(', ') : 'none'}).`,
      { input: 'remote', fix: "name the remote the checkout came from (the agent's is 'origin')." },
    );
  }
  const remoteUrl = config.remotes.get(remote)?.replace(/\/\/[^/@]*@/, '//');
  return {
    input,
    git,
    config,
    local,
    head: opened.head,
    shallow: opened.shallow,
    remote,
    remoteUrl,
    name: repositoryName(remoteUrl, input.dir),
    route: opts.route,
  };
}

/** The remote's branches and tags, as the run read them once (every later check works from these values). */
interface RemoteState {
  heads: Map<string, string>;
  tagRefs: TagRef[];
  tags: ComponentTag[];
  sourceRef: string;
  sourceTip: string;
}

/** Reads the source, the target(s), the back-merge branches, Relevo's branches and the component's tags in one ls-remote. */
async function readRemoteState(repo: OpenedRepository, format: TagFormat, log: Log): Promise<RemoteState> {
  const { route, remote, name, git } = repo;
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
  const { tags } = collectTags(format, repo.local, { remote, refs: tagRefs }, '', true, (m) =>
    log.warn(`${quoteForeign(name)}: ${quoteForeign(m)}`),
  );
  const sourceTip = heads.get(sourceRef);
  if (!sourceTip) {
    throw new UserError(
      `the source branch '${route.source}' does not exist on '${remote}' of ${quoteForeign(name)}; nothing was promoted.`,
      {
        input: sourceBranchInput(route),
        fix: `push '${route.source}' first, or check the branch names.`,
      },
    );
  }
  return { heads, tagRefs, tags, sourceRef, sourceTip };
}

/**
 * Brings in what the checks read and the checkout lacks (the commit, the branches' tips, a
 * shallow checkout's history), by object: no fetch moves a remote-tracking ref of the user's.
 * Returns which of the commit and its .gitmodules are here, with the commit's subject.
 */
async function fetchWhatIsMissing(
  repo: OpenedRepository,
  state: RemoteState,
  commit: string,
  log: Log,
  prefix: string,
): Promise<Map<string, ObjectInfo>> {
  const { git, remote, name } = repo;
  if (repo.shallow) {
    log.info(`${prefix || `${quoteForeign(name)}: `}shallow checkout: fetching the history of '${repo.route.source}' to check ancestry.`);
    await git.deepen(remote, 'all', state.sourceRef, { trackingRefs: false }).catch(() => undefined);
  }
  const branchTips = [...state.heads].filter(([ref]) => !ref.startsWith('refs/heads/relevo/'));
  // One process: which of them are here, the commit's subject, and whether it has a .gitmodules.
  let objects = await readObjects(git, [commit, `${commit}:.gitmodules`, ...new Set(branchTips.map(([, sha]) => sha))]);
  const missingRefs = branchTips.filter(([, sha]) => !objects.has(sha)).map(([ref]) => ref);
  if (!objects.has(commit) && !missingRefs.includes(state.sourceRef)) missingRefs.push(state.sourceRef);
  if (!missingRefs.length) return objects;
  await git.fetchObjects(remote, missingRefs, false).catch((err: unknown) => {
    const detail = quoteForeign(err instanceof GitCommandError ? err.stderr.trim() || err.message : String(err));
    throw new UserError(
      `cannot fetch ${missingRefs.join(', ')} of ${quoteForeign(name)} from '${remote}': ${detail}. Nothing was promoted.`,
      { fix: "grant the build service 'Read' on the repository and check the remote." },
    );
  });
  objects = await readObjects(git, [commit, `${commit}:.gitmodules`]);
  return objects;
}

/** Checks the commit is here and on the source branch; returns its subject. */
async function checkOnSource(
  repo: OpenedRepository,
  state: RemoteState,
  commit: string,
  objects: Map<string, ObjectInfo>,
): Promise<string> {
  const { route, remote, name, git } = repo;
  if (!objects.has(commit)) {
    throw new UserError(
      `commit ${short(commit)} (the commit this build tested) is not in ${name}, nor on '${route.source}' on '${remote}'; nothing was promoted.`,
      {
        fix: `run the promotion in a build of '${route.source}', or check out the repository that commit belongs to.`,
      },
    );
  }
  if (commit !== state.sourceTip && !(await git.isAncestor(commit, state.sourceTip))) {
    throw new UserError(
      `commit ${short(commit)} (the commit this build tested) is not on the source branch '${route.source}' (at ${short(state.sourceTip)}) on '${remote}' of ${name}; nothing was promoted.`,
      {
        fix: `promote from a build of '${route.source}': only what the source environment has can move on.`,
      },
    );
  }
  return objects.get(commit)!.subject;
}

/**
 * `strategy: merge` into a candidate environment tags its merge commit (what the environment
 * holds and tests): a re-run finds the commit contained in the target whose tip is that merge,
 * and reports its tag instead of making another candidate for the merged commit.
 */
async function candidateOnMerge(
  repo: OpenedRepository,
  state: RemoteState,
  commit: string,
  move: BranchMove,
): Promise<TagDecision | undefined> {
  const onTip = highest(state.tags.filter((t) => t.commit === move.from && t.version.prerelease[0] === CANDIDATE_LABEL));
  if (!onTip) return undefined;
  const merged = (await repo.git.run(['rev-parse', '--verify', '--quiet', `${move.from}^2`]).catch(() => '')).trim();
  if (merged !== commit) return undefined;
  return {
    version: onTip.version.version,
    tag: onTip.name,
    kind: 'candidate',
    existing: true,
    pushExisting: false,
    untested: false,
    why: `the merge commit that promoted it into '${move.branch}' carries ${onTip.name}`,
  };
}

/** The refs the push changes (target or pull-request branch, back-merges, the tag), the pull request, the notes. */
async function planRefs(
  repo: OpenedRepository,
  state: RemoteState,
  p: { commit: string; subject: string; tag: TagDecision; move: BranchMove; component: string },
): Promise<Pick<RepositoryPlan, 'refs' | 'pullRequest' | 'backMerges' | 'notes'>> {
  const { route, remote, git, name } = repo;
  const { commit, tag, move } = p;
  const target = move.branch;
  const notes: string[] = [];
  if (move.kind === 'create') notes.push(`'${target}' does not exist on '${remote}': it is created at ${short(commit)}.`);
  if (move.kind === 'contains') notes.push(`'${target}' contains ${short(commit)} already: the branch does not move.`);
  if (move.kind === 'up-to-date') notes.push(`'${target}' is at ${short(commit)} already.`);

  const refs: PlannedRef[] = [];
  let pullRequest: RepositoryPlan['pullRequest'];
  if (move.kind === 'pull-request') {
    const prRef = `refs/heads/relevo/promote-${target}`;
    refs.push({ ref: prRef, to: commit, previous: state.heads.get(prRef) ?? ZERO_SHA });
    pullRequest = {
      sourceRef: prRef,
      targetRef: move.ref,
      title: `Promote ${tag.tag} to ${target}`,
      description: [
        `Promotes ${short(commit)} (${markdownText(p.subject)}) from '${route.source}' to '${target}' as ${tag.tag}.`,
        '',
        `Opened by Relevo PromoteBranch. ${tag.why}.`,
      ].join('\n'),
    };
  } else if (move.to !== move.from && move.kind !== 'contains') refs.push({ ref: move.ref, to: move.to, previous: move.from });

  const backMerges: BackMerge[] = [];
  for (const branch of route.backMerge) {
    const bm = await planBackMerge(git, {
      branch,
      from: state.heads.get(`refs/heads/${branch}`),
      commit,
      tag,
      route: `${route.source} → ${target}`,
      // Named by the change, not the tag: a hotfix promoted into pre and then pro reuses one pull request per branch.
      pullRequestRef: `refs/heads/relevo/back-merge-${short(commit)}-into-${branch}`,
      name,
    });
    backMerges.push(bm);
    if (bm.status === 'fast-forward' || bm.status === 'merged') refs.push({ ref: bm.ref, to: bm.to, previous: bm.from });
    if (bm.status === 'pull-request')
      refs.push({ ref: bm.pullRequestRef!, to: commit, previous: state.heads.get(bm.pullRequestRef!) ?? ZERO_SHA });
    if (bm.status === 'missing') notes.push(`'${branch}' does not exist on '${remote}': no back-merge into it.`);
  }
  if (!tag.existing || tag.pushExisting) {
    refs.push({
      ref: `refs/tags/${tag.tag}`,
      // A candidate merged into its environment tags the merge commit: the next promotion releases what the environment tested.
      to: move.kind === 'merge' && tag.kind === 'candidate' ? move.to : commit,
      previous: ZERO_SHA,
      tag: tag.existing
        ? undefined
        : {
            name: tag.tag,
            message: `${tag.kind === 'final' ? 'Release' : 'Release candidate'} ${p.component ? `${p.component} ` : ''}${tag.version}${tag.candidate ? ` (from ${tag.candidate})` : ''}, promoted ${route.source} → ${target}`,
          },
    });
  }
  return { refs, pullRequest, backMerges, notes };
}

/** Where the commit gets its candidate tag by promotion; none for a hotfix, whose own build tags it (VersionBump). */
/** The input that named the source branch (a hotfix's source comes from no input). */
function sourceBranchInput(route: Route): string | undefined {
  if (route.input !== 'to') return 'action';
  return route.hotfix ? undefined : 'branches';
}

function candidateBranchOf(route: Route): string | undefined {
  if (route.hotfix) return undefined;
  return route.flow === 'environments' ? route.source : route.target;
}

/** A git command that failed while planning (it could not read what it needed) is the environment's doing, not a bug: nothing moved yet. */
function gitFailure(err: unknown): unknown {
  if (!(err instanceof GitCommandError)) return err;
  return new UserError(
    `git ${err.args[0]} failed while reading the repository: ${quoteForeign(err.stderr.trim().replace(/\s+/g, ' ') || err.message)}. Nothing was promoted.`,
    { fix: 'see the git message; re-run once git can read the checkout and its remote.' },
  );
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
  const common = await commonAncestor(git, b.commit, b.from, b.tag);
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

/**
 * An orchestration is promoted only with its pins on their components' targets: each gitlink of
 * the promoted commit must be on the component's target branch after this run (the component's
 * plan when it is promoted in the same run, otherwise its remote).
 */
/** The merge base of the commit and the branch, without asking git when the tag's ancestry already answers. */
async function commonAncestor(git: Git, commit: string, from: string, tag: TagDecision): Promise<string | undefined> {
  if (from === commit) return commit;
  if (tag.ancestors?.has(from)) return from;
  return mergeBase(git, commit, from);
}

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
            `${quoteForeign(m.name)} is pinned at ${short(pinned)}, which is not on '${component.move.branch}' of ${quoteForeign(component.label)}${component.move.kind === 'pull-request' ? ' (its promotion is a pull request, not merged yet)' : ''}`,
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
        `the orchestration ${quoteForeign(plan.label)} pins component commits that are not promoted yet: ${problems.join('; ')}. Nothing was promoted.`,
        {
          input: 'repositories',
          fix: "promote those components first, or in the same run (list their checkouts in 'repositories').",
        },
      );
    }
    log.info(`${quoteForeign(plan.label)}: every pinned component is on its target.`);
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
    await bare.remote(['fetch', '--quiet', '--no-tags', '--', url, ref], url, `fetching ${ref}`);
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

/** The tagger git would use: GIT_COMMITTER_* first, then the repository's user.*, then the run's identity. */
function tagger(config: { user: { name?: string; email?: string } }, options: GitOptions): string {
  const name = process.env.GIT_COMMITTER_NAME || config.user.name || options.identity?.name || 'Relevo';
  const email = process.env.GIT_COMMITTER_EMAIL || config.user.email || options.identity?.email || 'relevo@users.noreply.dev.azure.com';
  return `${name.replace(/[<>\n]/g, '')} <${email.replace(/[<>\n]/g, '')}>`;
}
