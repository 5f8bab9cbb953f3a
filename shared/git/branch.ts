/**
 * The branch a run builds, from the pipeline's variables. Never from HEAD: agents check out
 * a detached HEAD (and, for pull requests, a merge commit on refs/pull/N/merge).
 */
export interface BranchContext {
  /** Branch name without refs/heads/ (e.g. `main`, `release/1.3`); for a tag build, the tag's name. */
  branch: string;
  /** The full ref the run builds (refs/heads/..., refs/pull/N/merge, refs/tags/...). */
  ref: string;
  /**
   * `pull-request` validation builds and `tag` builds compute a version but commit, tag and
   * push nothing: there is no branch of theirs to release from.
   */
  kind: 'branch' | 'pull-request' | 'tag';
}

export interface BranchVariables {
  sourceBranch?: string;
  pullRequestSourceBranch?: string;
}

export function stripRefsHeads(ref: string): string {
  return ref.replace(/^refs\/heads\//, '');
}

export function branchContext(vars: BranchVariables): BranchContext | undefined {
  const ref = vars.sourceBranch?.trim();
  const prSource = vars.pullRequestSourceBranch?.trim();
  if (prSource) return { branch: stripRefsHeads(prSource), ref: ref || prSource, kind: 'pull-request' };
  if (!ref) return undefined;
  if (ref.startsWith('refs/pull/')) return { branch: ref.slice('refs/'.length), ref, kind: 'pull-request' };
  if (ref.startsWith('refs/tags/')) return { branch: ref.slice('refs/tags/'.length), ref, kind: 'tag' };
  return { branch: stripRefsHeads(ref), ref, kind: 'branch' };
}
