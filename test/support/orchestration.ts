/**
 * Component repositories and an orchestration repository that pins them as submodules, for
 * tests, the demo and the bench: bare remotes in one folder (served by `git daemon` or used as
 * paths), gitlinks written directly (no network, no checkout of the components).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git, Repo, tempDir } from './repo';

export interface ComponentRepo {
  name: string;
  /** The bare remote. */
  bare: string;
  /** The work repository the tags were made in. */
  work: Repo;
  /** Commit of each tag name. */
  commits: Record<string, string>;
}

/**
 * A component with one commit per tag, in the order given (`v1.0.0`, `v1.1.0-rc.1`, …);
 * tags are annotated unless `lightweight` names them. `untagged` commits can follow.
 */
export function makeComponent(
  base: string,
  name: string,
  tags: string[],
  opts: { lightweight?: string[]; untaggedAfter?: number; subjects?: Record<string, string[]> } = {},
): ComponentRepo {
  const work = Repo.init('main', join(base, 'work', name));
  const commits: Record<string, string> = {};
  work.write('README.md', `# ${name}\n`).commitAll(`chore: start ${name}`);
  for (const tag of tags) {
    for (const subject of opts.subjects?.[tag] ?? []) work.commit(subject, `src/${name}.py`);
    commits[tag] = work.commit(`feat: ${name} ${tag}`, `src/${name}.py`);
    work.tag(tag, !opts.lightweight?.includes(tag));
  }
  for (let i = 0; i < (opts.untaggedAfter ?? 0); i++)
    commits[`untagged-${i}`] = work.commit(`fix: ${name} untagged ${i}`, `src/${name}.py`);
  const bare = join(base, `${name}.git`);
  mkdirSync(bare, { recursive: true });
  git(bare, 'init', '-q', '--bare', '-b', 'main');
  git(work.dir, 'push', '-q', bare, 'HEAD:refs/heads/main', '--tags');
  return { name, bare, work, commits };
}

export interface Pin {
  name: string;
  path: string;
  url: string;
  commit: string;
  policy?: string;
}

/** A value as git config reads it back: quoted when it holds a comment character (`#`, `;`) or a quote. */
function configValue(value: string): string {
  return /[#;"\\]/.test(value) ? `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"` : value;
}

/** Writes .gitmodules and the gitlinks for `pins` into `repo` and commits them. */
export function pinSubmodules(repo: Repo, pins: Pin[], message = 'chore: pin components'): string {
  const lines: string[] = [];
  for (const p of pins) {
    lines.push(`[submodule "${p.name}"]`, `\tpath = ${configValue(p.path)}`, `\turl = ${configValue(p.url)}`);
    if (p.policy) lines.push(`\trelevo-version = ${p.policy}`);
  }
  writeFileSync(join(repo.dir, '.gitmodules'), lines.join('\n') + '\n');
  repo.git('add', '.gitmodules');
  for (const p of pins) repo.git('update-index', '--add', '--cacheinfo', `160000,${p.commit},${p.path}`);
  // Not `add -A`: the submodules are not checked out, and git would stage their removal.
  repo.git('commit', '-q', '-m', message);
  return repo.head();
}

/**
 * An orchestration repository pinning `pins`, pushed to a bare remote `orchestration.git` in
 * `base` (so `../<name>.git` URLs resolve beside it), and a clone of it checked out detached
 * at main, as the agent checks out.
 */
export function makeOrchestration(base: string, pins: Pin[], remoteUrl?: (bare: string) => string): { bare: string; work: Repo } {
  const source = Repo.init('main', join(base, 'work', 'orchestration'));
  source.write('README.md', '# orchestration\n').commitAll('chore: start');
  pinSubmodules(source, pins);
  const bare = join(base, 'orchestration.git');
  mkdirSync(bare, { recursive: true });
  git(bare, 'init', '-q', '--bare', '-b', 'main');
  git(source.dir, 'push', '-q', bare, 'HEAD:refs/heads/main', '--tags');
  const work = join(base, 'checkout');
  execFileSync('git', ['clone', '-q', '--no-checkout', remoteUrl ? remoteUrl(bare) : bare, work], { stdio: 'ignore' });
  const repo = new Repo(work);
  repo.git('checkout', '-q', '--detach', 'origin/main');
  return { bare, work: repo };
}

export interface OrchestrationCopy {
  /** The copied folder: components' bare remotes, `orchestration.git`, `checkout`. */
  base: string;
  repo: Repo;
  bare: string;
  head: string;
  /** Removes the copy (the loops that make many remove each as they go). */
  remove(): void;
}

/**
 * A fresh copy of a folder `makeOrchestration` built (components, orchestration remote and
 * checkout), its checkout's origin pointed at the copy: the tests that run a task many times
 * build the fixture once and copy it per run. Only the remotes and the checkout are copied (not
 * the work repositories the tags were made in).
 */
export function copyOrchestration(template: string, into = tempDir('relevo-orch-copy-')): OrchestrationCopy {
  const base = join(into, 'o');
  mkdirSync(base);
  const parts = readdirSync(template).filter((name) => name !== 'work');
  execFileSync('cp', ['-a', ...parts.map((name) => join(template, name)), base]);
  const bare = join(base, 'orchestration.git');
  const repo = new Repo(join(base, 'checkout'));
  repo.git('remote', 'set-url', 'origin', bare);
  return { base, repo, bare, head: repo.head(), remove: () => rmSync(into, { recursive: true, force: true }) };
}

/**
 * Everything about a checkout and its remote a run may change, to compare before and after:
 * HEAD (and the branch it is on), the index, the work tree's status and files (submodule
 * folders included), the repository's own configuration, and the remote's refs. The clones git
 * keeps under `.git/modules` are left out (git keeps them after a deinit too).
 */
export function checkoutState(repo: Repo, bare: string): Record<string, string> {
  const files: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (!rel && entry.name === '.git') continue;
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      files.push(
        entry.isDirectory()
          ? `${path}/`
          : `${path} ${
              entry.isFile()
                ? createHash('sha1')
                    .update(readFileSync(join(dir, entry.name)))
                    .digest('hex')
                : ''
            }`,
      );
      if (entry.isDirectory() && entry.name !== '.git') walk(join(dir, entry.name), path);
    }
  };
  walk(repo.dir, '');
  return {
    head: repo.git('rev-parse', 'HEAD'),
    on: repo.git('rev-parse', '--symbolic-full-name', 'HEAD'),
    index: repo.git('ls-files', '--stage'),
    status: repo.git('status', '--porcelain', '--untracked-files=all', '--ignore-submodules=none'),
    config: readFileSync(join(repo.dir, '.git', 'config'), 'utf8'),
    files: files.join('\n'),
    remote: git(bare, 'for-each-ref', '--format=%(refname) %(objectname)'),
  };
}
