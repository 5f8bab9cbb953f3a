/** What the VersionBump task tests share: running it on a repo, and the repos it runs on. */
import { strict as assert } from 'node:assert';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { explain, runTask, type RunOptions, type TaskRun } from './agentRunner';
import { git, Repo, tempDir } from './repo';

export function bump(repo: Repo, inputs: RunOptions['inputs'] = {}, options: Omit<RunOptions, 'inputs'> = {}): Promise<TaskRun> {
  repo.detach(); // agents check out a detached HEAD; so does every run here
  return runTask('version-bump', {
    ...options,
    inputs: { workingDirectory: repo.dir, ...inputs },
    variables: { 'Build.SourceBranch': 'refs/heads/main', ...options.variables },
  });
}

export function ok(run: TaskRun): TaskRun {
  assert.equal(run.result, 'Succeeded', explain(run));
  return run;
}

export function failed(run: TaskRun, pattern: RegExp): TaskRun {
  assert.equal(run.result, 'Failed', explain(run));
  assert.match(run.resultMessage ?? '', pattern, explain(run));
  return run;
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
  writeFileSync(hook, '#!/bin/sh\nwhile read old new ref; do case "$ref" in refs/tags/*) echo "tags are protected" >&2; exit 1;; esac; done\nexit 0\n');
  chmodSync(hook, 0o755);
}

export function assertLocalUntouched(repo: Repo, head: string): void {
  assert.equal(repo.head(), head, 'HEAD moved');
  assert.equal(repo.git('tag', '--list', 'v1.3.0'), '', 'local tag left behind');
  assert.equal(repo.git('status', '--porcelain'), '', 'work tree changed');
  if (existsSync(join(repo.dir, 'VERSION'))) assert.equal(readFileSync(join(repo.dir, 'VERSION'), 'utf8'), '1.2.0\n');
}

export function remoteTagsOrLocal(repo: Repo): Record<string, string> {
  return Object.fromEntries(repo.git('tag', '--list').split('\n').filter(Boolean).map((t) => [t, repo.git('rev-parse', `${t}^{commit}`)]));
}
