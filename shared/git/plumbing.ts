/**
 * Commits built from objects rather than from the work tree: a temporary index on top of a
 * parent, so gitlinks can move without checking submodules out and whatever the user staged
 * stays out of the commit.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Git } from './index';

export interface TreeEntry {
  /** 100644 file, 100755 executable, 120000 link, 160000 gitlink (submodule pin). */
  mode: '100644' | '100755' | '120000' | '160000';
  /** The blob, or for a gitlink the commit. */
  sha: string;
  /** From the repository's top level. */
  path: string;
}

/** `git update-index -z --index-info` input for entries. */
export function indexInfo(entries: TreeEntry[]): string {
  return entries.map((e) => `${e.mode} ${e.sha}\t${e.path}`).join('\0') + '\0';
}

/** Stores text as a blob; returns its id. */
export async function writeBlob(git: Git, text: string): Promise<string> {
  return (await git.run(['hash-object', '-w', '--stdin'], { input: text })).trim();
}

/** A commit whose tree is `parent`'s with `entries` changed; touches no ref, index or file. */
export async function commitOnTop(git: Git, top: string, parent: string, entries: TreeEntry[], message: string): Promise<string> {
  const gitDir = (await git.run(['-C', top, 'rev-parse', '--absolute-git-dir'])).trim();
  const env = { GIT_INDEX_FILE: join(gitDir, `relevo-index-${process.pid}-${Date.now()}`) };
  try {
    await git.run(['-C', top, 'read-tree', parent], { env });
    await git.run(['-C', top, 'update-index', '-z', '--index-info'], { env, input: indexInfo(entries) });
    const tree = (await git.run(['-C', top, 'write-tree'], { env })).trim();
    return (
      await git.run(['-C', top, 'commit-tree', tree, '-p', parent, '-F', '-'], { env: await git.identityEnv(), input: message })
    ).trim();
  } finally {
    rmSync(env.GIT_INDEX_FILE, { force: true });
  }
}
