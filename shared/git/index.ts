import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { SimpleGit } from 'simple-git';
import { UserError } from '../errors';

export { isValidRefName } from './refs';

export const ZERO_SHA = '0000000000000000000000000000000000000000';

export interface TagRef {
  name: string;
  /** The commit the tag points at (peeled for annotated tags). */
  commit: string;
}

export interface GitOptions {
  /** Bearer token (System.AccessToken); sent per command, never stored. */
  token?: string;
  /**
   * The URL prefix the token is for (the organization, System.TeamFoundationCollectionUri).
   * git sends the header only to remotes under it, never to another host. Without a scope
   * the token is not sent at all.
   */
  tokenScope?: string;
  /** Author and committer for commits and annotated tags when the repo has none configured. */
  identity?: { name: string; email: string };
}

/**
 * One wrapper over git for the whole core. Every command runs with a fixed locale and no
 * terminal prompt. Three paths:
 * - `query`: local read-only commands, spawned directly (simple-git waits 50 ms after every
 *   command that prints nothing, which on the hot path would cost more than the git work);
 * - `remote`: commands that talk to a remote, spawned directly with the token as an
 *   `http.<scope>.extraheader` passed through GIT_CONFIG_* environment variables: it lives for
 *   that one process only, never in a URL, argv, `.git/config`, or a library's debug log;
 * - `run`: local commands that change the repository, through simple-git.
 */
export class Git {
  private simple?: SimpleGit;
  private readonly baseEnv: NodeJS.ProcessEnv;
  private readonly authEnv: NodeJS.ProcessEnv;

  constructor(readonly dir: string, private readonly options: GitOptions = {}) {
    this.baseEnv = { ...process.env, LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0' };
    const scope = options.tokenScope?.replace(/\/?$/, '/');
    this.authEnv =
      options.token && scope
        ? {
            ...this.baseEnv,
            // An empty value first resets any header for this scope inherited from the checkout step.
            GIT_CONFIG_COUNT: '2',
            GIT_CONFIG_KEY_0: `http.${scope}.extraheader`,
            GIT_CONFIG_VALUE_0: '',
            GIT_CONFIG_KEY_1: `http.${scope}.extraheader`,
            GIT_CONFIG_VALUE_1: `AUTHORIZATION: bearer ${options.token}`,
          }
        : this.baseEnv;
  }

  /**
   * simple-git, loaded on first use so that a run that only reads never pays for it.
   * It refuses environments that set editors, pagers or ssh commands, to guard against
   * untrusted input; here the arguments are fixed by the core and the environment is the
   * pipeline's own (self-hosted agents set GIT_SSH_COMMAND, EDITOR, ...).
   */
  private get git(): SimpleGit {
    if (!this.simple) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { simpleGit } = require('simple-git') as typeof import('simple-git');
      this.simple = simpleGit({
        baseDir: this.dir,
        maxConcurrentProcesses: 4,
        trimmed: false,
        unsafe: {
          allowUnsafeConfigEnvCount: true,
          allowUnsafeConfigPaths: true,
          allowUnsafeEditor: true,
          allowUnsafePager: true,
          allowUnsafeAskPass: true,
          allowUnsafeSshCommand: true,
          allowUnsafeGitProxy: true,
          allowUnsafeTemplateDir: true,
          allowUnsafeDiffExternal: true,
        },
      });
    }
    return this.simple;
  }

  /** Runs a local command that changes the repository, through simple-git. Returns stdout. */
  async run(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<string> {
    try {
      return await this.git.env({ ...this.baseEnv, ...opts.env }).raw(args);
    } catch (err) {
      throw new GitCommandError(args, err instanceof Error ? err.message : String(err));
    }
  }

  /** Runs a local, read-only command and returns stdout. */
  query(args: string[]): Promise<string> {
    return this.spawnGit(args, this.baseEnv);
  }

  /** Runs a command that talks to a remote, with the token when one is set. Returns stdout. */
  remote(args: string[]): Promise<string> {
    return this.spawnGit(args, this.authEnv);
  }

  private spawnGit(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile('git', args, { cwd: this.dir, env, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) reject(new GitCommandError(args, this.redact(String(stderr) || err.message)));
        else resolve(String(stdout));
      });
    });
  }

  /** Like query, but resolves to false instead of throwing when git exits non-zero. */
  async succeeds(args: string[]): Promise<boolean> {
    try {
      await this.query(args);
      return true;
    } catch (err) {
      if (err instanceof GitCommandError) return false;
      throw err;
    }
  }

  private redact(text: string): string {
    return this.options.token ? text.split(this.options.token).join('***') : text;
  }

  /**
   * Streams stdout of one git command as records split on `separator` (one character, so it
   * never spans two chunks), so that a long log is parsed as it arrives instead of being held
   * whole. Resolves when git exits.
   */
  streamRecords(args: string[], separator: string, onRecord: (record: string) => void): Promise<void> {
    if (separator.length !== 1) throw new Error('streamRecords takes a one-character separator');
    return new Promise((resolve, reject) => {
      const child = spawn('git', args, { cwd: this.dir, env: this.baseEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      let pending = '';
      let stderr = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        let at = chunk.indexOf(separator);
        if (at < 0) {
          pending += chunk;
          return;
        }
        onRecord(pending + chunk.slice(0, at));
        let start = at + 1;
        while ((at = chunk.indexOf(separator, start)) >= 0) {
          onRecord(chunk.slice(start, at));
          start = at + 1;
        }
        pending = chunk.slice(start);
      });
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code !== 0) return reject(new GitCommandError(args, this.redact(stderr)));
        if (pending.trim()) onRecord(pending);
        resolve();
      });
    });
  }

  /** HEAD and whether the clone is shallow, in one process. */
  async state(): Promise<{ head: string; shallow: boolean }> {
    const [shallow, head] = (await this.query(['rev-parse', '--is-shallow-repository', '--verify', '--end-of-options', 'HEAD^{commit}'])).trim().split('\n');
    return { head, shallow: shallow === 'true' };
  }

  /** Undefined when `dir` is a work tree; otherwise why not, in git's words. */
  async notRepositoryReason(): Promise<string | undefined> {
    try {
      return (await this.query(['rev-parse', '--is-inside-work-tree'])).trim() === 'true' ? undefined : 'it is not a work tree';
    } catch (err) {
      return err instanceof GitCommandError ? err.stderr.trim() : String(err);
    }
  }

  async topLevel(): Promise<string> {
    return (await this.query(['rev-parse', '--show-toplevel'])).trim();
  }

  async head(): Promise<string> {
    return (await this.query(['rev-parse', '--verify', 'HEAD^{commit}'])).trim();
  }

  /** The branch HEAD is on, or undefined when detached (as agents check out). */
  async currentBranch(): Promise<string | undefined> {
    const out = await this.query(['symbolic-ref', '--quiet', '--short', 'HEAD']).catch(() => '');
    return out.trim() || undefined;
  }

  /** The commits whose parents a shallow clone does not have (empty for a full clone). */
  async shallowBoundary(): Promise<Set<string>> {
    const path = (await this.query(['rev-parse', '--git-path', 'shallow'])).trim();
    try {
      return new Set(readFileSync(isAbsolute(path) ? path : join(this.dir, path), 'utf8').split('\n').filter(Boolean));
    } catch {
      return new Set();
    }
  }

  /** Commit ids in a range, e.g. ['HEAD', '^v1.0.0']. */
  async revList(revisions: string[]): Promise<string[]> {
    return (await this.query(['rev-list', ...revisions, '--'])).split('\n').filter(Boolean);
  }

  async remotes(): Promise<string[]> {
    return (await this.query(['remote'])).split('\n').map((s) => s.trim()).filter(Boolean);
  }

  /** Local tags matching a ref pattern, with the commit each peels to. */
  async localTags(pattern: string): Promise<TagRef[]> {
    const out = await this.query(['for-each-ref', '--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)%00%(*objecttype)', pattern]);
    const tags = out
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [name, object, peeled, peeledType] = line.split('\0');
        return { name, commit: peeled || object, nested: peeledType === 'tag' };
      });
    // %(*objectname) peels one level; a tag of a tag needs git to peel it to its commit.
    const nested = tags.filter((t) => t.nested);
    if (nested.length) {
      const commits = (await this.query(['rev-parse', ...nested.map((t) => `refs/tags/${t.name}^{commit}`)])).split('\n');
      nested.forEach((t, i) => (t.commit = commits[i]));
    }
    return tags.map(({ name, commit }) => ({ name, commit }));
  }

  /** Remote refs matching a pattern, peeled, without fetching any object. */
  async remoteRefs(remote: string, patterns: string[], tagsOnly = false): Promise<TagRef[]> {
    const out = await this.remote(['ls-remote', ...(tagsOnly ? ['--tags'] : []), remote, ...patterns]);
    const byName = new Map<string, string>();
    for (const line of out.split('\n').filter(Boolean)) {
      const [sha, ref] = line.split('\t');
      const peeled = ref.endsWith('^{}');
      const name = ref.replace(/^refs\/tags\//, '').replace(/\^\{\}$/, '');
      if (peeled || !byName.has(name)) byName.set(name, sha);
    }
    return [...byName].map(([name, commit]) => ({ name, commit }));
  }

  remoteTags(remote: string, pattern: string): Promise<TagRef[]> {
    return this.remoteRefs(remote, [pattern], true);
  }

  /** Which of the given objects exist locally as commits (one process for all of them). */
  async present(shas: string[]): Promise<Set<string>> {
    if (!shas.length) return new Set();
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn('git', ['cat-file', '--batch-check=%(objectname) %(objecttype)'], { cwd: this.dir, env: this.baseEnv });
      let text = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (d: string) => (text += d));
      child.on('error', reject);
      child.on('close', () => resolve(text));
      child.stdin.end(shas.join('\n') + '\n');
    });
    return new Set(out.split('\n').filter((l) => l.endsWith(' commit')).map((l) => l.split(' ')[0]));
  }

  isAncestor(ancestor: string, descendant: string): Promise<boolean> {
    return this.succeeds(['merge-base', '--is-ancestor', ancestor, descendant]);
  }

  /**
   * Parents and subject of commits, read from the raw objects: unlike `git log`, whose parents
   * a shallow clone's grafts hide, `cat-file` shows them as recorded. Missing ones are left out.
   */
  async rawCommits(shas: string[]): Promise<Map<string, { parents: string[]; subject: string }>> {
    const result = new Map<string, { parents: string[]; subject: string }>();
    if (!shas.length) return result;
    const out = await new Promise<Buffer>((resolve, reject) => {
      const child = spawn('git', ['cat-file', '--batch'], { cwd: this.dir, env: this.baseEnv });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => chunks.push(d));
      child.on('error', reject);
      child.on('close', () => resolve(Buffer.concat(chunks)));
      child.stdin.end(shas.join('\n') + '\n');
    });
    let at = 0;
    while (at < out.length) {
      const eol = out.indexOf(10, at);
      const [sha, type, size] = out.subarray(at, eol).toString().split(' ');
      if (type === 'missing' || size === undefined) {
        at = eol + 1;
        continue;
      }
      const body = out.subarray(eol + 1, eol + 1 + Number(size)).toString();
      at = eol + 1 + Number(size) + 1;
      if (type !== 'commit') continue;
      const split = body.indexOf('\n\n');
      const headers = body.slice(0, split < 0 ? body.length : split).split('\n');
      const subject = split < 0 ? '' : body.slice(split + 2).split('\n')[0];
      result.set(sha, { parents: headers.filter((h) => h.startsWith('parent ')).map((h) => h.slice(7)), subject });
    }
    return result;
  }

  /** Fetches refs' objects without updating any local ref (depth 1 on a shallow clone). */
  async fetchObjects(remote: string, refs: string[], shallow: boolean): Promise<void> {
    await this.remote(['fetch', '--no-tags', '--quiet', '--no-write-fetch-head', ...(shallow ? ['--depth=1'] : []), remote, ...refs]);
  }

  /** Fetches `depth` more commits behind the current shallow boundary. */
  async deepen(remote: string, depth: number): Promise<void> {
    await this.remote(['fetch', '--no-tags', '--quiet', `--deepen=${depth}`, remote]);
  }

  async unshallow(remote: string): Promise<void> {
    await this.remote(['fetch', '--no-tags', '--quiet', '--unshallow', remote]);
  }

  async configValue(key: string): Promise<string | undefined> {
    const out = await this.query(['config', '--get', key]).catch(() => '');
    return out.trim() || undefined;
  }

  /** Environment that supplies an author when the repository has none configured. */
  async identityEnv(): Promise<NodeJS.ProcessEnv> {
    const id = this.options.identity;
    if (!id || (await this.configValue('user.email'))) return {};
    return { GIT_AUTHOR_NAME: id.name, GIT_AUTHOR_EMAIL: id.email, GIT_COMMITTER_NAME: id.name, GIT_COMMITTER_EMAIL: id.email };
  }

  async commitFiles(files: string[], message: string): Promise<string> {
    await this.run(['add', '--force', '--', ...files]);
    await this.run(['commit', '--quiet', '--no-verify', '--no-gpg-sign', '-m', message, '--', ...files], { env: await this.identityEnv() });
    return this.head();
  }

  async createAnnotatedTag(name: string, commit: string, message: string): Promise<void> {
    await this.run(['tag', '--no-sign', '-a', name, commit, '-m', message], { env: await this.identityEnv() });
  }

  async deleteLocalTag(name: string): Promise<void> {
    await this.run(['tag', '-d', name]);
  }

  /** Moves HEAD back (keeping the work tree) and unstages: undoes a local commit. */
  async resetSoft(commit: string): Promise<void> {
    await this.run(['reset', '--quiet', '--soft', commit]);
    await this.run(['reset', '--quiet', commit, '--']);
  }

  /**
   * Pushes refs so that either all land or none do. Uses `--atomic` where the server
   * advertises it; otherwise pushes ref by ref in the given order and, if one fails, puts
   * back the refs already pushed (with a lease, so nobody else's push is overwritten). If a
   * rollback itself is refused, throws a PartialPushError that names what was left.
   */
  async pushAll(remote: string, updates: RefUpdate[]): Promise<void> {
    if (!updates.length) return;
    const specs = updates.map((u) => `${u.source}:${u.ref}`);
    try {
      await this.remote(['push', '--atomic', '--porcelain', remote, ...specs]);
      return;
    } catch (err) {
      if (!(err instanceof GitCommandError) || !/does not support --atomic/i.test(err.stderr)) throw err;
    }
    const done: RefUpdate[] = [];
    try {
      for (const u of updates) {
        await this.remote(['push', '--porcelain', remote, `${u.source}:${u.ref}`]);
        done.push(u);
      }
    } catch (err) {
      const left: RefUpdate[] = [];
      for (const u of done.reverse()) {
        const lease = `--force-with-lease=${u.ref}:${u.pushed}`;
        const target = u.previous === ZERO_SHA ? `:${u.ref}` : `+${u.previous}:${u.ref}`;
        await this.remote(['push', '--porcelain', lease, remote, target]).catch(() => left.push(u));
      }
      if (left.length && err instanceof GitCommandError) throw new PartialPushError(err, left);
      throw err;
    }
  }
}

export interface RefUpdate {
  /** What to push: a commit sha or a local ref name. */
  source: string;
  /** The full remote ref, e.g. refs/heads/main or refs/tags/v1.0.0. */
  ref: string;
  /** The object id the remote ref will have after the push (the lease for rollback). */
  pushed: string;
  /** The remote ref's value before the push; ZERO_SHA when it did not exist. */
  previous: string;
}

export class GitCommandError extends Error {
  constructor(readonly args: string[], readonly stderr: string) {
    super(`git ${args[0]} failed: ${stderr.trim()}`);
    this.name = 'GitCommandError';
  }
}

/** A push refused part-way whose rollback was refused too: `left` are the refs that stayed. */
export class PartialPushError extends GitCommandError {
  constructor(cause: GitCommandError, readonly left: RefUpdate[]) {
    super(cause.args, cause.stderr);
    this.name = 'PartialPushError';
  }
}

/** Turns "not a git repository" into an error that names the input to fix. */
export async function openRepository(dir: string, options: GitOptions, inputName: string): Promise<Git> {
  if (!existsSync(dir)) {
    throw new UserError(`the folder '${dir}' does not exist.`, {
      input: inputName,
      fix: 'point it at the checked-out repository (default $(Build.SourcesDirectory)).',
    });
  }
  const git = new Git(dir, options);
  const reason = await git.notRepositoryReason();
  if (reason) {
    const dubious = /dubious ownership/.test(reason);
    throw new UserError(dubious ? `git refuses '${dir}': ${reason}` : `'${dir}' is not inside a git repository (${reason}).`, {
      input: inputName,
      fix: dubious
        ? `run the job as the user that owns the checkout, or add a script step before this one: git config --global --add safe.directory '${dir}'.`
        : "point it at the checked-out repository (default $(Build.SourcesDirectory)) and make sure the job has a 'checkout' step.",
    });
  }
  return git;
}
