/**
 * The one rule for "this folder is the build's own repository" (the checkout at
 * Build.Repository.LocalPath, whose id is Build.Repository.ID): the repository git finds from
 * the folder — the nearest folder up that holds a `.git` — is that checkout itself. A subfolder
 * of the checkout is in it; a repository nested in it (a submodule, another repository checked
 * out or cloned under it) is not, and neither is a checkout beside it. Both paths are compared
 * with their links resolved.
 */
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export function isBuildRepository(dir: string, buildCheckout: string | undefined): boolean {
  if (!buildCheckout) return false;
  const top = repositoryTop(realPath(dir));
  return top !== undefined && top === realPath(buildCheckout);
}

/** The nearest folder at or above `dir` that holds a `.git` (folder or file); undefined when there is none. */
function repositoryTop(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, '.git'))) return d;
    if (dirname(d) === d) return undefined;
  }
}

function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}
