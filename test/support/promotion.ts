/**
 * Repositories with environment branches (dev, pre, pro or develop, main) on a bare remote, and
 * agent checkouts of them, for the PromoteBranch tests, the demo and the bench.
 */
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
export function promote(repo: Repo, branch: string, inputs: RunOptions['inputs'] = {}, options: Omit<RunOptions, 'inputs'> = {}): Promise<TaskRun> {
  return runTask('promote-branch', {
    ...options,
    inputs: { workingDirectory: repo.dir, ...inputs },
    variables: { 'Build.SourceBranch': `refs/heads/${branch}`, 'Build.SourceVersion': repo.head(), ...options.variables },
  });
}
