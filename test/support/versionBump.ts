/** What the VersionBump task tests share: running it on a repo, and the repos it runs on. */
import { strict as assert } from 'node:assert';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTask, type RunOptions, type TaskRun } from './agentRunner';
export { failed, ok } from './agentRunner';
import { git, Repo, tempDir } from './repo';

export function bump(repo: Repo, inputs: RunOptions['inputs'] = {}, options: Omit<RunOptions, 'inputs'> = {}): Promise<TaskRun> {
  repo.detach(); // agents check out a detached HEAD; so does every run here
  return runTask('version-bump', {
    // RELEVO_TASKS_DIR: a copy of dist/tasks, for runs that must not see a rebuild in the middle.
    tasksDir: process.env.RELEVO_TASKS_DIR || undefined,
    ...options,
    inputs: { workingDirectory: repo.dir, ...inputs },
    variables: { 'Build.SourceBranch': 'refs/heads/main', ...options.variables },
  });
}

/** Every write input on: version file, commit, tag, push. */
export const RELEASE_ALL = { versionFiles: 'VERSION', commitVersionFiles: true, createTag: true, pushTag: true };

/** A released repo with a VERSION file and a feat to release, pushed to a bare remote, HEAD detached. */
export function readyToRelease(): { repo: Repo; remote: string; head: string } {
  const repo = released('feat: a');
  repo.write('VERSION', '1.2.0\n').commitAll('chore: version file');
  const remote = repo.addBareRemote();
  return { repo, remote, head: repo.detach().head() };
}

/** main with v1.2.0 and then the given commits. */
export function released(...messages: string[]): Repo {
  const repo = Repo.init();
  repo.commit('feat: first');
  repo.tag('v1.0.0');
  repo.commit('fix: second');
  repo.tag('v1.2.0');
  for (const m of messages) repo.commit(m);
  return repo;
}

/** A depth-1 clone over file:// (which honours --depth), checked out detached as agents do. */
export function shallowCloneOf(origin: Repo): Repo {
  const bare = tempDir('relevo-shallow-remote-');
  git(bare, 'clone', '-q', '--bare', origin.dir, '.');
  const work = tempDir('relevo-shallow-');
  git(work, 'clone', '-q', '--depth', '1', '--no-tags', `file://${bare}`, '.');
  return new Repo(work).detach();
}

/** A pre-receive hook on a bare remote that refuses every tag. */
export function rejectTagsOn(remote: string): void {
  const hook = join(remote, 'hooks', 'pre-receive');
  writeFileSync(
    hook,
    '#!/bin/sh\nwhile read old new ref; do case "$ref" in refs/tags/*) echo "tags are protected" >&2; exit 1;; esac; done\nexit 0\n',
  );
  chmodSync(hook, 0o755);
}

export function assertLocalUntouched(repo: Repo, head: string): void {
  assert.equal(repo.head(), head, 'HEAD moved');
  assert.equal(repo.git('tag', '--list', 'v1.3.0'), '', 'local tag left behind');
  assert.equal(repo.git('status', '--porcelain'), '', 'work tree changed');
  if (existsSync(join(repo.dir, 'VERSION'))) assert.equal(readFileSync(join(repo.dir, 'VERSION'), 'utf8'), '1.2.0\n');
}

export function remoteTagsOrLocal(repo: Repo): Record<string, string> {
  return Object.fromEntries(
    repo
      .git('tag', '--list')
      .split('\n')
      .filter(Boolean)
      .map((t) => [t, repo.git('rev-parse', `${t}^{commit}`)]),
  );
}

/**
 * A component repository whose history is one commit per entry, tagged `v<version>` (annotated
 * and lightweight in turn; several versions on one commit when an entry is a list, null for an
 * untagged commit), pushed to the bare `<remotes>/<name>.git`. `at(version)` is the commit
 * carrying a version, `commits` every commit in order.
 */
export function componentRemote(
  remotes: string,
  name: string,
  history: (string | string[] | null)[],
  tagName = (version: string) => `v${version}`,
): { bare: string; commits: string[]; at: (version: string) => string } {
  const repo = Repo.init('main', tempDir(`relevo-component-${name}-`));
  const commits: string[] = [];
  const byVersion = new Map<string, string>();
  let n = 0;
  for (const entry of history) {
    const sha = repo.commit(`feat: ${name} change ${commits.length + 1}`);
    commits.push(sha);
    for (const version of entry === null ? [] : Array.isArray(entry) ? entry : [entry]) {
      repo.tag(tagName(version), n++ % 2 === 0);
      byVersion.set(version, sha);
    }
  }
  const bare = join(remotes, `${name}.git`);
  repo.addBareRemote(bare);
  return {
    bare,
    commits,
    at: (version) => {
      const sha = byVersion.get(version);
      if (!sha) throw new Error(`${name} has no version ${version}`);
      return sha;
    },
  };
}

/**
 * An orchestration repository whose submodules are gitlinks written straight into the index
 * (`update-index --cacheinfo 160000,…`) with their `.gitmodules` entries: no clone of any
 * component, no network. Each gitlink's folder exists empty, as an uninitialised submodule's does.
 */
export class Orchestration {
  constructor(readonly repo: Repo) {}

  static init(): Orchestration {
    return new Orchestration(Repo.init());
  }

  /** Pins `path` (default: the name) at `commit`; declares it with `url` (default `../<name>.git`). */
  pin(name: string, commit: string, url = `../${name}.git`, path = name): this {
    const r = this.repo;
    r.git('config', '-f', '.gitmodules', `submodule.${name}.path`, path);
    r.git('config', '-f', '.gitmodules', `submodule.${name}.url`, url);
    mkdirSync(join(r.dir, path), { recursive: true });
    r.git('update-index', '--add', '--cacheinfo', `160000,${commit},${path}`);
    r.git('add', '.gitmodules');
    return this;
  }

  /** Removes the gitlink and its .gitmodules entry. */
  unpin(name: string): this {
    const r = this.repo;
    const path = r.git('config', '-f', '.gitmodules', `submodule.${name}.path`);
    r.git('rm', '-q', '--cached', path);
    r.git('config', '-f', '.gitmodules', '--remove-section', `submodule.${name}`);
    r.git('add', '.gitmodules');
    return this;
  }

  /** Commits what is staged (pins, .gitmodules) plus a change to a file of its own. */
  commit(message: string): string {
    return this.repo.commit(message);
  }

  tag(name: string, annotated = true): this {
    this.repo.tag(name, annotated);
    return this;
  }
}
