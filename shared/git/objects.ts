/**
 * Reading a repository without touching its refs or work tree: which objects are here, the
 * best common ancestor of two commits, a merge commit made from objects, and the remotes and
 * identity of its configuration.
 */
import { GitCommandError, type Git } from './index';

/** The best common ancestor of two commits; undefined when they have none. */
export async function mergeBase(git: Git, a: string, b: string): Promise<string | undefined> {
  try {
    return (await git.run(['merge-base', a, b])).trim() || undefined;
  } catch (err) {
    if (err instanceof GitCommandError && !err.stderr.trim()) return undefined;
    throw err;
  }
}

/** A merge commit of `theirs` into `ours`, made from objects (`merge-tree --write-tree`): no checkout, no ref. */
export async function mergeCommit(
  git: Git,
  ours: string,
  theirs: string,
  message: string,
): Promise<{ commit: string } | { conflicts: string[] }> {
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

export interface RepositoryConfig {
  remotes: Map<string, string>;
  user: { name?: string; email?: string };
}

/** Remote URLs and the user's identity, in one process. */
export async function readConfig(git: Git): Promise<RepositoryConfig> {
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

export interface ObjectInfo {
  type: string;
  /** A commit's subject; empty for other objects. */
  subject: string;
  /** A commit's committer date. */
  committed?: Date;
}

/** Which of `revisions` name objects here (one `cat-file --batch`), with a commit's subject and date. */
export async function readObjects(git: Git, revisions: string[]): Promise<Map<string, ObjectInfo>> {
  const found = new Map<string, ObjectInfo>();
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
    const seconds =
      type === 'commit' ? /^committer .* (\d+) [+-]\d{4}$/m.exec(body.slice(0, split < 0 ? body.length : split))?.[1] : undefined;
    found.set(rev, { type, subject, ...(seconds ? { committed: new Date(Number(seconds) * 1000) } : {}) });
  }
  return found;
}
