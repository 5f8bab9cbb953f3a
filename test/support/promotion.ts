/**
 * Repositories with environment branches (dev, pre, pro or develop, main) on a bare remote, and
 * agent checkouts of them, for the PromoteBranch tests, the demo and the bench.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTask, type RunOptions, type TaskRun } from './agentRunner';
import { git, Repo, tempDir } from './repo';

export interface EnvRepo {
  name: string;
  /** Where commits are made (the "developers"). */
  author: Repo;
  /** The bare remote (Azure Repos' stand-in). */
  bare: string;
}

/**
 * A repository whose first commit (`v1.0.0` by default) is on every branch of `branches`
 * (the first one checked out in `author`), pushed to a bare remote `<base>/<name>.git`.
 */
export function envRepo(name = 'app', branches = ['dev', 'pre', 'pro'], opts: { base?: string; firstTag?: string } = {}): EnvRepo {
  const base = opts.base ?? tempDir('relevo-promote-');
  const author = Repo.init(branches[0], join(base, 'work', name));
  author.write('README.md', `# ${name}\n`).commitAll('chore: start');
  if (opts.firstTag !== '') author.tag(opts.firstTag ?? 'v1.0.0');
  const bare = join(base, `${name}.git`);
  mkdirSync(bare, { recursive: true });
  git(bare, 'init', '-q', '--bare', '-b', branches[0]);
  author.git('remote', 'add', 'origin', bare);
  for (const b of branches) author.git('push', '-q', 'origin', `HEAD:refs/heads/${b}`);
  author.git('push', '-q', 'origin', '--tags');
  return { name, author, bare };
}

/** Commits on `branch` of the author's clone (fetched first) and pushes it; returns the commit. */
export function commitOn(r: EnvRepo, branch: string, message: string, path = 'file.txt', content?: string): string {
  r.author.git('fetch', '-q', 'origin');
  r.author.git('checkout', '-q', '-B', branch, `origin/${branch}`);
  if (content !== undefined) {
    r.author.write(path, content);
    r.author.git('add', '-A');
    r.author.git('commit', '-q', '-m', message);
  } else r.author.commit(message, path);
  r.author.git('push', '-q', 'origin', `HEAD:refs/heads/${branch}`);
  return r.author.head();
}

/** A new agent checkout of `branch` (a full clone unless `depth`), HEAD detached at its tip. */
export function checkout(r: EnvRepo, branch: string, depth?: number): Repo {
  const dir = tempDir('relevo-agent-');
  git(dir, 'clone', '-q', ...(depth ? [`--depth=${depth}`, '--no-single-branch'] : []), `file://${r.bare}`, '.');
  const repo = new Repo(dir);
  repo.git('checkout', '-q', '--detach', `origin/${branch}`);
  return repo;
}

/** Every ref of the bare remote, `name sha` a line: to check that nothing moved. */
export function refsOf(bare: string): string {
  return git(bare, 'for-each-ref', '--format=%(refname) %(objectname)');
}

/** A server-side `update` hook (per ref, runs for every ref the push updates) that refuses refs matching `pattern`. */
export function refuseOnServer(bare: string, pattern: string, message: string): void {
  const hook = join(bare, 'hooks', 'update');
  writeFileSync(hook, `#!/bin/sh\ncase "$1" in\n  ${pattern}) echo "${message}" >&2; exit 1;;\nesac\nexit 0\n`);
  chmodSync(hook, 0o755);
}

/** The server stops advertising atomic pushes, as Azure Repos has been reported to. */
export function noAtomic(bare: string): void {
  git(bare, 'config', 'receive.advertiseAtomic', 'false');
}

/** Runs PromoteBranch on `repo` as a build of `branch` at the checkout's HEAD. */
export function promote(
  repo: Repo,
  branch: string,
  inputs: RunOptions['inputs'] = {},
  options: Omit<RunOptions, 'inputs'> = {},
): Promise<TaskRun> {
  return runTask('promote-branch', {
    ...options,
    inputs: { workingDirectory: repo.dir, ...inputs },
    variables: { 'Build.SourceBranch': `refs/heads/${branch}`, 'Build.SourceVersion': repo.head(), ...options.variables },
  });
}

/** What a checkout holds that a run could change: every ref (remote-tracking too), HEAD, the index and work tree, its worktrees. */
export function localState(repo: Repo): string {
  return [
    repo.git('for-each-ref', '--format=%(refname) %(objectname)'),
    repo.git('rev-parse', 'HEAD'),
    repo.git('status', '--porcelain', '--ignored'),
    repo.git('worktree', 'list', '--porcelain'),
  ].join('\n--\n');
}

/** Puts every ref of a bare remote back to a snapshot taken with refsOf (refs made since are deleted). */
export function resetRefs(bare: string, snapshot: string): void {
  const before = new Map(
    snapshot
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ') as [string, string]),
  );
  const now = new Map(
    refsOf(bare)
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ') as [string, string]),
  );
  // A symbolic ref (refs/remotes/origin/HEAD) follows the ref it points to.
  for (const map of [before, now]) for (const ref of [...map.keys()]) if (ref.endsWith('/HEAD')) map.delete(ref);
  const lines: string[] = [];
  for (const [ref, sha] of now) if (!before.has(ref)) lines.push(`delete ${ref} ${sha}`);
  for (const [ref, sha] of before) if (now.get(ref) !== sha) lines.push(`update ${ref} ${sha}`);
  if (lines.length) execFileSync('git', ['update-ref', '--stdin'], { cwd: bare, input: lines.join('\n') + '\n' });
}

export interface TwoRepositories {
  ingest: EnvRepo;
  picker: EnvRepo;
  /** The agent's checkouts, at dev's tip. */
  agents: [Repo, Repo];
  /** The commits on dev that the run promotes into pre. */
  commits: [string, string];
  /** The `repositories` input. */
  repositories: string;
  /** The pipeline variables of the run (`ownBehind`: the build's own repository and the commit it tested). */
  variables: Record<string, string>;
  /** Both remotes' refs, in one string. */
  remotes(): string;
  /** Both checkouts' state (localState). */
  locals(): string;
}

/**
 * Two repositories (ingest, picker) promoted together dev → pre, each with a feature on dev, so
 * that each run makes a tag on each. `atomic: false`: picker's server does not advertise atomic
 * pushes (its refs go one by one). `ownBehind`: ingest is the build's own repository and its
 * checkout is one commit past the one the build tested. `staleTracking`: picker's pre moved on
 * (towards dev) after its checkout was made, so the checkout's origin/pre is not the remote's pre.
 */
export function twoRepositories(opts: { atomic?: boolean; ownBehind?: boolean; staleTracking?: boolean } = {}): TwoRepositories {
  const base = tempDir('relevo-promote-two-');
  const ingest = envRepo('ingest', undefined, { base });
  const picker = envRepo('picker', undefined, { base });
  const earlier = opts.staleTracking ? commitOn(picker, 'dev', 'fix: picker nulls', 'earlier.txt') : undefined;
  const commits: [string, string] = [commitOn(ingest, 'dev', 'feat: ingest parquet'), commitOn(picker, 'dev', 'feat: picker search')];
  if (opts.ownBehind) commitOn(ingest, 'dev', 'feat: pushed while the build ran', 'later.txt');
  if (opts.atomic === false) noAtomic(picker.bare);
  const agents: [Repo, Repo] = [checkout(ingest, 'dev'), checkout(picker, 'dev')];
  // picker's pre moves on after the agent's checkout: its origin/pre is older than the remote's pre.
  if (earlier) git(picker.bare, 'update-ref', 'refs/heads/pre', earlier);
  return {
    ingest,
    picker,
    agents,
    commits,
    repositories: agents.map((a) => a.dir).join('\n'),
    // ingest is the build's own repository; the build tested the commit before its checkout's HEAD (read through a worktree).
    variables: opts.ownBehind ? { 'Build.Repository.LocalPath': agents[0].dir, 'Build.SourceVersion': commits[0] } : {},
    remotes: () => `${refsOf(ingest.bare)}\n--\n${refsOf(picker.bare)}`,
    locals: () => agents.map(localState).join('\n==\n'),
  };
}

/** Runs PromoteBranch on several checkouts (`repositories` mode), as a build of `branch`. */
export function promoteAll(
  repositories: string,
  branch: string,
  inputs: RunOptions['inputs'] = {},
  options: Omit<RunOptions, 'inputs'> = {},
): Promise<TaskRun> {
  return runTask('promote-branch', {
    ...options,
    inputs: { repositories, ...inputs },
    variables: { 'Build.SourceBranch': `refs/heads/${branch}`, ...options.variables },
  });
}
