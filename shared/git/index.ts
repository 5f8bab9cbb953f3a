import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { UserError } from '../errors';
import { DEFAULT_NO_PROGRESS_SECONDS, execGit, withoutCredentials, GitCommandError, GitTimeoutError, remoteEnv, taskGitEnv } from './exec';
import { readCheckout } from './checkout';
import { organizationOf, tokenGoesTo } from '../clients/organization';

export { isValidRefName } from './refs';
export { GitCommandError, GitTimeoutError } from './exec';

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
  /** A network command that shows no progress for this long is stopped (default 60). */
  noProgressSeconds?: number;
}

/**
 * One wrapper over the git CLI for the whole core. Every command is spawned directly, with a
 * fixed locale and no terminal prompt, and every exit status is checked: a command that fails
 * throws a GitCommandError carrying git's own stderr (hook output included). Two kinds:
 * - `run`: local commands;
 * - `remote`: commands that talk to a remote, with the job token as an
 *   `http.<scope>.extraheader` passed through GIT_CONFIG_* variables (it lives for that one
 *   process only, never in a URL, argv or `.git/config`), and stopped when they show no
 *   progress for `noProgressSeconds`.
 */
export class Git {
  private readonly baseEnv: NodeJS.ProcessEnv;
  /** Local commands: also fully buffered output (GIT_FLUSH=0); git flushes every record into a pipe otherwise. */
  private readonly localEnv: NodeJS.ProcessEnv;
  private readonly authEnv: NodeJS.ProcessEnv;
  readonly noProgressSeconds: number;
  /** What `notRepositoryReason` (and so `openRepository`) found, in the same process: see `Opened`. */
  opened?: Opened;
  /** Set by startRepository: resolves once the folder is known to be a work tree (and `opened` is set). */
  ready?: Promise<void>;
  private shallowFile?: string;

  constructor(
    readonly dir: string,
    private readonly options: GitOptions = {},
  ) {
    this.baseEnv = taskGitEnv({ ...process.env, LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0' });
    this.localEnv = { ...this.baseEnv, GIT_FLUSH: '0' };
    this.noProgressSeconds = options.noProgressSeconds ?? DEFAULT_NO_PROGRESS_SECONDS;
    this.authEnv = remoteEnv(this.baseEnv, this.noProgressSeconds, options.token, options.tokenScope);
  }

  /** Runs a local command; returns stdout. */
  async run(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; encoding?: 'latin1' } = {}): Promise<string> {
    const env = opts.env ? { ...this.localEnv, ...opts.env } : this.localEnv;
    return (await execGit(args, { cwd: this.dir, env, input: opts.input, encoding: opts.encoding })).stdout;
  }

  /**
   * Runs a command that talks to `remote`, with the token when one is set. `doing` says what
   * for, so that a remote that stops answering is reported as "'origin' (url) did not answer
   * for 60 s while listing tags".
   */
  async remote(args: string[], remote: string, doing: string): Promise<string> {
    refuseOptionLike(remote, 'a remote');
    // The remote comes from data (a .gitmodules URL, a remote's name): options end before it.
    const at = args.indexOf(remote);
    if (at >= 0 && args[at - 1] !== '--') throw new Error(`git ${args[0]}: the remote operand must follow '--'`);
    try {
      return (
        await execGit(args, {
          cwd: this.dir,
          env: this.authEnvFor(remote),
          noProgressMs: this.noProgressSeconds * 1000,
          secret: this.options.token,
        })
      ).stdout;
    } catch (err) {
      if (err instanceof GitTimeoutError) {
        const url = await this.remoteUrl(remote);
        throw new GitTimeoutError(
          err.args,
          `'${withoutCredentials(remote)}'${url ? ` (${url})` : ''} did not answer for ${err.seconds} s while ${doing}`,
          err.seconds,
        );
      }
      throw err;
    }
  }

  /**
   * The environment for a command to `remote`. git matches `http.<url>.extraheader` with the
   * path's case as written, so a URL of this organization spelled otherwise (`dev.azure.com/Org`
   * for `/org`, `org.visualstudio.com`) gets the token scoped to that URL itself; a URL of
   * anyone else never does (the organization's rule: shared/clients/organization.ts).
   */
  private authEnvFor(remote: string): NodeJS.ProcessEnv {
    const { token, tokenScope } = this.options;
    if (!token || !tokenScope || !/^https?:\/\//i.test(remote)) return this.authEnv;
    let url: URL;
    let scope: URL;
    try {
      url = new URL(remote);
      scope = new URL(tokenScope);
    } catch {
      return this.authEnv;
    }
    const scopePath = scope.pathname.replace(/\/?$/, '/');
    if (url.protocol === scope.protocol && url.host === scope.host && `${url.pathname}/`.startsWith(scopePath)) return this.authEnv;
    if (!tokenGoesTo(url.hostname, url.pathname, scope.hostname, organizationOf(scope))) return this.authEnv;
    return remoteEnv(this.baseEnv, this.noProgressSeconds, token, `${url.protocol}//${url.host}${url.pathname}`);
  }

  /** Like run, but resolves to false instead of throwing when git exits non-zero. */
  async succeeds(args: string[]): Promise<boolean> {
    try {
      await this.run(args);
      return true;
    } catch (err) {
      if (err instanceof GitCommandError) return false;
      throw err;
    }
  }

  /**
   * Streams stdout of one git command as records split on `separator` (one character, so it
   * never spans two chunks), so that a long log is parsed as it arrives instead of being held
   * whole. Resolves when git exits.
   */
  async streamRecords(
    args: string[],
    separator: string,
    signal: AbortSignal | undefined,
    onRecord: (record: string) => void,
  ): Promise<void> {
    if (separator.length !== 1) throw new Error('streamRecords takes a one-character separator');
    let pending = '';
    await execGit(args, {
      cwd: this.dir,
      env: this.localEnv,
      signal,
      onStdout: (chunk) => {
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
      },
    });
    if (pending.trim()) onRecord(pending);
  }

  /** HEAD and whether the clone is shallow, in one process. */
  async state(): Promise<{ head: string; shallow: boolean }> {
    const [shallow, head] = (await this.run(['rev-parse', '--is-shallow-repository', '--verify', '--end-of-options', 'HEAD^{commit}']))
      .trim()
      .split('\n');
    return { head, shallow: shallow === 'true' };
  }

  /**
   * Undefined when `dir` is a work tree; otherwise why not, in git's words. The same process
   * also reads the top level, HEAD and whether the clone is shallow (kept in `opened`).
   */
  async notRepositoryReason(): Promise<string | undefined> {
    // The usual agent checkout answers from its files, without a process (checkout.ts).
    const checkout = readCheckout(this.dir, this.baseEnv);
    if (checkout) {
      this.opened = { top: checkout.top, shallow: checkout.shallow, head: checkout.head };
      this.shallowFile = checkout.shallowFile;
      return undefined;
    }
    let out: string;
    try {
      out = await this.run([
        'rev-parse',
        '--is-inside-work-tree',
        '--show-toplevel',
        '--is-shallow-repository',
        '--git-path',
        'shallow',
        '--verify',
        '-q',
        'HEAD^{commit}',
      ]);
    } catch (err) {
      if (!(err instanceof GitCommandError)) return String(err);
      // A work tree without a commit yet: every line but HEAD is there.
      if (err.stdout.split('\n').length < 5 || !err.stdout.startsWith('true\n'))
        return err.stdout.startsWith('false') ? 'it is not a work tree' : err.stderr.trim();
      out = err.stdout;
    }
    const [inside, top, shallow, shallowFile, head] = out.split('\n');
    if (inside !== 'true') return 'it is not a work tree';
    this.opened = { top, shallow: shallow === 'true', head: head || undefined };
    this.shallowFile = shallowFile;
    return undefined;
  }

  async topLevel(): Promise<string> {
    // The top level of a work tree does not change while it is open.
    return this.opened?.top ?? (await this.run(['rev-parse', '--show-toplevel'])).trim();
  }

  async head(): Promise<string> {
    return (await this.run(['rev-parse', '--verify', 'HEAD^{commit}'])).trim();
  }

  /** The branch HEAD is on, or undefined when detached (as agents check out). */
  async currentBranch(): Promise<string | undefined> {
    const out = await this.run(['symbolic-ref', '--quiet', '--short', 'HEAD']).catch(() => '');
    return out.trim() || undefined;
  }

  /** The commits whose parents a shallow clone does not have (empty for a full clone). */
  async shallowBoundary(): Promise<Set<string>> {
    const path = (this.shallowFile ??= (await this.run(['rev-parse', '--git-path', 'shallow'])).trim());
    try {
      return new Set(
        readFileSync(isAbsolute(path) ? path : join(this.dir, path), 'utf8')
          .split('\n')
          .filter(Boolean),
      );
    } catch {
      return new Set();
    }
  }

  /** Commit ids in a range, e.g. ['HEAD', '^v1.0.0']. */
  async revList(revisions: string[]): Promise<string[]> {
    return (await this.run(['rev-list', ...revisions, '--'])).split('\n').filter(Boolean);
  }

  async remotes(): Promise<string[]> {
    return (await this.run(['remote']))
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean);
  }

  async remoteUrl(remote: string): Promise<string | undefined> {
    return (await this.configValue(`remote.${remote}.url`))?.replace(/\/\/[^/@]*@/, '//');
  }

  /** Local tags matching a ref pattern, with the commit each peels to; `mergedInto`: only those it contains. */
  async localTags(pattern: string, mergedInto?: string): Promise<TagRef[]> {
    const merged = mergedInto ? [`--merged=${mergedInto}`] : [];
    const out = await this.run([
      'for-each-ref',
      ...merged,
      '--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)%00%(*objecttype)',
      pattern,
    ]);
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
      const commits = (await this.run(['rev-parse', ...nested.map((t) => `refs/tags/${t.name}^{commit}`)])).split('\n');
      nested.forEach((t, i) => (t.commit = commits[i]));
    }
    return tags.map(({ name, commit }) => ({ name, commit }));
  }

  /** Remote refs matching patterns, peeled, without fetching any object. */
  async remoteRefs(remote: string, patterns: string[], doing = 'listing tags'): Promise<TagRef[]> {
    const out = await this.remote(['ls-remote', '--', remote, ...patterns], remote, doing);
    const byName = new Map<string, string>();
    for (const line of out.split('\n').filter(Boolean)) {
      const [sha, ref] = line.split('\t');
      const peeled = ref.endsWith('^{}');
      const name = ref.replace(/^refs\/tags\//, '').replace(/\^\{\}$/, '');
      if (peeled || !byName.has(name)) byName.set(name, sha);
    }
    return [...byName].map(([name, commit]) => ({ name, commit }));
  }

  /** Which of the given objects exist locally as commits (one process for all of them). */
  async present(shas: string[]): Promise<Set<string>> {
    if (!shas.length) return new Set();
    const out = await this.run(['cat-file', '--batch-check=%(objectname) %(objecttype)'], { input: shas.join('\n') + '\n' });
    return new Set(
      out
        .split('\n')
        .filter((l) => l.endsWith(' commit'))
        .map((l) => l.split(' ')[0]),
    );
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
    // latin1: one character per byte, so the sizes cat-file prints are string offsets.
    const out = await this.run(['cat-file', '--batch'], { input: shas.join('\n') + '\n', encoding: 'latin1' });
    let at = 0;
    while (at < out.length) {
      const eol = out.indexOf('\n', at);
      const [sha, type, size] = out.slice(at, eol).split(' ');
      if (type === 'missing' || size === undefined) {
        at = eol + 1;
        continue;
      }
      const body = out.slice(eol + 1, eol + 1 + Number(size));
      at = eol + 1 + Number(size) + 1;
      if (type !== 'commit') continue;
      const split = body.indexOf('\n\n');
      const headers = body.slice(0, split < 0 ? body.length : split).split('\n');
      const subject = Buffer.from(split < 0 ? '' : body.slice(split + 2).split('\n')[0], 'latin1').toString('utf8');
      result.set(sha, { parents: headers.filter((h) => h.startsWith('parent ')).map((h) => h.slice(7)), subject });
    }
    return result;
  }

  /** Fetches refs' objects without updating any local ref (depth 1 on a shallow clone). */
  async fetchObjects(remote: string, refs: string[], shallow: boolean): Promise<void> {
    await this.remote(
      // --refmap=: objects only; the remote's fetch refspec would move the user's remote-tracking refs of those branches.
      ['fetch', '--no-tags', '--quiet', '--no-write-fetch-head', '--refmap=', ...(shallow ? ['--depth=1'] : []), '--', remote, ...refs],
      remote,
      `fetching ${refs.join(', ')}`,
    );
  }

  /**
   * Fetches `depth` more commits of `ref` only (no other branch, no tags), or with `depth`
   * 'all' the rest of its history. Falls back to the remote's configured refspec when the ref
   * is gone from the remote.
   */
  async deepen(remote: string, depth: number | 'all', ref?: string, options: { trackingRefs?: boolean } = {}): Promise<void> {
    const how = depth === 'all' ? '--unshallow' : `--deepen=${depth}`;
    const doing = depth === 'all' ? 'fetching the rest of the history' : `fetching ${depth} more commits`;
    // trackingRefs false: the user's remote-tracking ref of `ref` stays where it was (no fallback to the configured refspec).
    const refmap = options.trackingRefs === false ? ['--refmap='] : [];
    try {
      await this.remote(
        ['fetch', '--no-tags', '--quiet', '--no-write-fetch-head', ...refmap, how, '--', remote, ...(ref ? [ref] : [])],
        remote,
        doing,
      );
    } catch (err) {
      if (
        !ref ||
        options.trackingRefs === false ||
        !(err instanceof GitCommandError) ||
        err instanceof GitTimeoutError ||
        !/couldn't find remote ref/i.test(err.stderr)
      )
        throw err;
      await this.remote(['fetch', '--no-tags', '--quiet', '--no-write-fetch-head', how, '--', remote], remote, doing);
    }
  }

  async configValue(key: string): Promise<string | undefined> {
    const out = await this.run(['config', '--get', key]).catch(() => '');
    return out.trim() || undefined;
  }

  /** Environment that supplies an author when the repository has none configured. */
  async identityEnv(): Promise<NodeJS.ProcessEnv> {
    const id = this.options.identity;
    if (!id || (await this.configValue('user.email'))) return {};
    return { GIT_AUTHOR_NAME: id.name, GIT_AUTHOR_EMAIL: id.email, GIT_COMMITTER_NAME: id.name, GIT_COMMITTER_EMAIL: id.email };
  }

  /** The index entries of `files` (absolute paths inside the work tree), to put back later. */
  async indexEntries(files: string[]): Promise<IndexSnapshot> {
    const top = await this.topLevel();
    const out = await this.run(['-C', top, 'ls-files', '--stage', '-z', '--', ...files.map((f) => relative(top, f))]);
    const entries = new Map(
      out
        .split('\0')
        .filter(Boolean)
        .map((line) => [line.slice(line.indexOf('\t') + 1), line]),
    );
    return { top, names: files.map((f) => relative(top, f)), entries };
  }

  /** Puts the index entries of a snapshot's files back as they were (removing ones that were not there). */
  async restoreIndex(snapshot: IndexSnapshot): Promise<void> {
    const lines = snapshot.names.map((name) => snapshot.entries.get(name) ?? `0 ${ZERO_SHA}\t${name}`);
    await this.run(['-C', snapshot.top, 'update-index', '-z', '--index-info'], { input: lines.join('\0') + '\0' });
  }

  /** Moves HEAD back to `commit` without touching the index or the work tree. */
  async moveHead(commit: string): Promise<void> {
    await this.run(['reset', '--quiet', '--soft', commit]);
  }

  /**
   * Commits exactly `files` (other staged changes stay staged and out of the commit) and
   * returns the new HEAD. Throws when git made no commit.
   */
  async commitFiles(files: string[], message: string): Promise<string> {
    const before = await this.head();
    await this.run(['add', '--force', '--', ...files]);
    await this.run(['commit', '--quiet', '--no-verify', '--no-gpg-sign', '-m', message, '--only', '--', ...files], {
      env: await this.identityEnv(),
    });
    const after = await this.head();
    if (after === before) throw new GitCommandError(['commit'], 'git made no commit');
    return after;
  }

  async createAnnotatedTag(name: string, commit: string, message: string): Promise<void> {
    await this.run(['tag', '--no-sign', '-a', name, commit, '-m', message], { env: await this.identityEnv() });
  }

  async deleteLocalTag(name: string): Promise<void> {
    await this.run(['tag', '-d', name]);
  }
}

/**
 * Refuses an operand from data (a URL, a path, a name, a branch) that git would read as an
 * option: `--upload-pack=<command>` as a URL runs that command. git's own `git submodule`
 * refuses such URLs too. Callers also put `--` before such operands.
 */
export function refuseOptionLike(value: string, what: string): string {
  if (value.startsWith('-'))
    throw new UserError(`'${withoutCredentials(value)}' as ${what} starts with '-', so git would read it as an option: refused.`, {
      fix: 'correct it where it is written (a URL, path or name never starts with a hyphen).',
    });
  return value;
}

/** The work tree as `openRepository` found it, read in the process that checked it is one. */
export interface Opened {
  top: string;
  shallow: boolean;
  /** HEAD's commit; undefined when there is no commit yet. */
  head?: string;
}

export interface IndexSnapshot {
  top: string;
  /** The files, relative to the top level. */
  names: string[];
  /** `git ls-files --stage` lines by path, for the files that had an entry. */
  entries: Map<string, string>;
}

/** Turns "not a git repository" into an error that names the input to fix. */
export async function openRepository(dir: string, options: GitOptions, inputName: string): Promise<Git> {
  const git = startRepository(dir, options, inputName);
  await git.ready;
  return git;
}

/**
 * openRepository without waiting for git's answer: the caller starts its first commands while
 * the folder is checked, then awaits `git.ready`, which rejects with the same error
 * openRepository throws. A folder that does not exist throws at once.
 */
export function startRepository(dir: string, options: GitOptions, inputName: string): Git & { ready: Promise<void> } {
  if (!existsSync(dir)) {
    throw new UserError(`the folder '${dir}' does not exist.`, {
      input: inputName,
      fix: 'point it at the checked-out repository (default $(Build.SourcesDirectory)).',
    });
  }
  const git = new Git(dir, options);
  const ready = git.notRepositoryReason().then((reason) => {
    if (!reason) return;
    const dubious = /dubious ownership/.test(reason);
    throw new UserError(dubious ? `git refuses '${dir}': ${reason}` : `'${dir}' is not inside a git repository (${reason}).`, {
      input: inputName,
      fix: dubious
        ? `run the job as the user that owns the checkout, or add a script step before this one: git config --global --add safe.directory '${dir}'.`
        : "point it at the checked-out repository (default $(Build.SourcesDirectory)) and make sure the job has a 'checkout' step.",
    });
  });
  // Awaited by the caller; never an unhandled rejection if the caller fails first for another reason.
  ready.catch(() => undefined);
  git.ready = ready;
  return git as Git & { ready: Promise<void> };
}
