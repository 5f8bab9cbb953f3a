/**
 * The lock file UpdateSubmodules keeps: where it may be written (never over a file of the
 * repository's own, a submodule, `.git` or outside the work tree), and what HEAD records in it.
 */
import { lstatSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { UserError } from '../errors';
import type { Git } from '../git';
import { quoteForeign as q } from '../output';

export const LOCK_GENERATOR = 'Relevo UpdateSubmodules';

/** The lock file as HEAD records it: its path from the top level, and its text when HEAD has it. */
export interface LockAtHead {
  path: string;
  text?: string;
  /** HEAD has none, but an earlier commit had one: it was deleted. */
  deleted?: boolean;
}

/**
 * Checks that `lockFile` names a file this task may write: inside the work tree, not under
 * `.git`, not a submodule's path (nor a folder holding one), and, when HEAD tracks it, a lock
 * file this task wrote. Returns its path from the top level and what HEAD holds there.
 */
export async function checkLockFile(git: Git, top: string, head: string, lockFile: string, submodulePaths: string[]): Promise<LockAtHead> {
  const refuse = (why: string, fix = 'point it at a file of its own, e.g. components.lock.json, or leave it empty.') =>
    new UserError(`'${q(lockFile)}' ${why}; nothing was changed.`, { input: 'lockFile', fix });
  const rel = relative(top, resolve(top, lockFile));
  if (!rel || rel.startsWith('..') || isAbsolute(rel)) throw refuse('is not a file inside the repository');
  const path = rel.split(sep).join('/');
  if (path.split('/').some((part) => part.toLowerCase() === '.git')) throw refuse("is under '.git', git's own folder");
  const sub = submodulePaths.find((p) => path === p || path.startsWith(`${p}/`) || p.startsWith(`${path}/`));
  if (sub) throw refuse(`is ${placeAgainst(sub, path)} the submodule '${q(sub)}'`);
  try {
    const stat = lstatSync(join(top, path));
    if (stat.isSymbolicLink() || stat.isDirectory())
      throw refuse(`is ${stat.isDirectory() ? 'a folder' : 'a symbolic link'} in the work tree`);
  } catch (err) {
    if (err instanceof UserError) throw err;
  }
  const listed = (await git.run(['-C', top, 'ls-tree', '-z', head, '--', path])).split('\0').filter(Boolean);
  const entry = listed.find((l) => l.slice(l.indexOf('\t') + 1) === path);
  if (!entry) {
    if (listed.length) throw refuse('is a folder in the repository');
    // Deleted (an earlier commit has it) is recreated; one that never was is written with the next update.
    const had = (await git.run(['-C', top, 'log', '-1', '--format=%H', head, '--', path])).trim();
    return { path, deleted: !!had };
  }
  const [mode, type, sha] = entry.slice(0, entry.indexOf('\t')).split(' ');
  if (type !== 'blob' || mode === '120000') throw refuse(`is ${notAFile(type)} in the repository`);
  const text = await git.run(['-C', top, 'cat-file', 'blob', sha]);
  if (!isLockText(text))
    throw refuse(
      `is a file the repository tracks, and not a lock file UpdateSubmodules wrote (no "generatedBy": "${LOCK_GENERATOR}")`,
      'point it at a file of its own, e.g. components.lock.json (it is created), or leave it empty.',
    );
  return { path, text };
}

function isLockText(text: string): boolean {
  try {
    const json = JSON.parse(text) as { generatedBy?: unknown; components?: unknown };
    return json?.generatedBy === LOCK_GENERATOR && Array.isArray(json.components);
  } catch {
    return false;
  }
}

/** Where the lock file's path lies against a submodule's path that it collides with. */
function placeAgainst(submodule: string, path: string): string {
  if (submodule === path) return 'the path of';
  return path.startsWith(`${submodule}/`) ? 'inside' : 'a folder holding';
}

/** What a tracked entry that is not a regular file is, by its git object type. */
function notAFile(type: string): string {
  if (type === 'tree') return 'a folder';
  if (type === 'commit') return 'a submodule';
  return 'a symbolic link';
}
