/** Real git repositories in temp folders, for tests and the demo. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const made: string[] = [];

export function tempDir(prefix = 'relevo-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Removes every temp folder made so far (called from a root after-hook). */
export function cleanTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Test Author',
  GIT_AUTHOR_EMAIL: 'author@example.com',
  GIT_COMMITTER_NAME: 'Test Author',
  GIT_COMMITTER_EMAIL: 'author@example.com',
  LC_ALL: 'C',
};

export function git(dir: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd: dir, env: GIT_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

export class Repo {
  private n = 0;
  constructor(readonly dir: string) {}

  static init(branch = 'main', dir = tempDir()): Repo {
    mkdirSync(dir, { recursive: true });
    git(dir, 'init', '-q', '-b', branch);
    return new Repo(dir);
  }

  write(path: string, content: string): this {
    const file = join(this.dir, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
    return this;
  }

  /** Commits a change to `path` (default a counter file) with the message; returns the sha. */
  commit(message: string, path = 'file.txt'): string {
    this.n++;
    this.write(path, `change ${this.n} ${message}\n`);
    git(this.dir, 'add', '-A');
    git(this.dir, 'commit', '-q', '-m', message);
    return this.head();
  }

  commitAll(message: string): string {
    git(this.dir, 'add', '-A');
    git(this.dir, 'commit', '-q', '--allow-empty', '-m', message);
    return this.head();
  }

  tag(name: string, annotated = true, at = 'HEAD'): this {
    if (annotated) git(this.dir, 'tag', '-a', name, '-m', name, at);
    else git(this.dir, 'tag', name, at);
    return this;
  }

  head(): string {
    return git(this.dir, 'rev-parse', 'HEAD');
  }

  git(...args: string[]): string {
    return git(this.dir, ...args);
  }

  /** A full clone (all branches and tags) of another repo, HEAD detached at its HEAD. */
  static fullCloneOf(origin: Repo): Repo {
    const dir = tempDir('relevo-clone-');
    git(dir, 'clone', '-q', '--no-local', origin.dir, '.');
    return new Repo(dir).detach();
  }

  /** Creates a bare repository, adds it as `origin` and pushes all branches and tags. */
  addBareRemote(dir = tempDir('relevo-remote-')): string {
    mkdirSync(dir, { recursive: true });
    git(dir, 'init', '-q', '--bare', '-b', 'main');
    git(this.dir, 'remote', 'add', 'origin', dir);
    git(this.dir, 'push', '-q', 'origin', '--all');
    git(this.dir, 'push', '-q', 'origin', '--tags');
    return dir;
  }

  /** Checks out HEAD detached, as the agent does. */
  detach(): this {
    git(this.dir, 'checkout', '-q', '--detach');
    return this;
  }
}

/** Tags on a remote (bare repo or URL), name → peeled commit. */
export function remoteTags(remote: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of git(tmpdir(), 'ls-remote', '--tags', remote).split('\n').filter(Boolean)) {
    const [sha, ref] = line.split('\t');
    const name = ref.replace('refs/tags/', '').replace('^{}', '');
    if (ref.endsWith('^{}') || !out[name]) out[name] = sha;
  }
  return out;
}
