/**
 * The branch a run builds, from the pipeline's variables. Never from HEAD: agents check out
 * a detached HEAD (and, for pull requests, a merge commit on refs/pull/N/merge).
 */
export interface BranchContext {
  /** Branch name without refs/heads/, e.g. `main` or `release/1.3`. */
  branch: string;
  /** The full ref the run builds (refs/heads/..., refs/pull/N/merge, refs/tags/...). */
  ref: string;
  /** True for a pull-request validation build: versions are computed, nothing is pushed. */
  isPullRequest: boolean;
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
  if (prSource) return { branch: stripRefsHeads(prSource), ref: ref || prSource, isPullRequest: true };
  if (!ref) return undefined;
  if (ref.startsWith('refs/pull/')) return { branch: ref.slice('refs/'.length), ref, isPullRequest: true };
  return { branch: stripRefsHeads(ref), ref, isPullRequest: false };
}
