/**
 * Where a promotion goes: from which branch to which, what kind of tag the target carries
 * (a release candidate or a final), and which branches get the change back afterwards.
 * Plain data from the inputs and the branch the run built; no git.
 */
import { UserError } from '../errors';
import type { BranchContext } from '../git/branch';
import { isValidRefName } from '../git/refs';
import { quoteForeign } from '../output';

export type Flow = 'environments' | 'gitflow';
export type GitflowAction = 'release-start' | 'release-finish' | 'hotfix-finish';
export type Strategy = 'fast-forward' | 'merge' | 'pull-request';
/** `candidate`: the target carries `vX.Y.Z-rc.N`; `final`: `vX.Y.Z`. */
export type TagKind = 'candidate' | 'final';

/** Where the target branch's name has the version (git-flow release-start: `release/{version}`). */
export const VERSION_PLACEHOLDER = '{version}';

export interface FlowOptions {
  flow: Flow;
  /** environments: the promotion order, e.g. dev, pre, pro. */
  branches: string[];
  /** environments: the environment to promote into. */
  to?: string;
  /** gitflow: what to do. */
  action?: GitflowAction;
  developBranch: string;
  mainBranch: string;
  releasePrefix: string;
  hotfixPrefix: string;
  /** The branch this run built (Build.SourceBranch), if known. */
  built?: BranchContext;
}

export interface Route {
  flow: Flow;
  action?: GitflowAction;
  source: string;
  /** The target branch; contains `{version}` for a release start. */
  target: string;
  kind: TagKind;
  /** Branches that get the promoted commit back afterwards (hotfixes, release finishes), in order. */
  backMerge: string[];
  hotfix: boolean;
  /** The input that chose the source and target, for error messages. */
  input: 'to' | 'action';
}

function checkBranchName(name: string, input: string): void {
  if (!isValidRefName(`refs/heads/${name.replace(VERSION_PLACEHOLDER, '1.0.0')}`)) {
    throw new UserError(`'${quoteForeign(name)}' is not a valid branch name.`, {
      input,
      fix: 'use a branch name git accepts (no spaces, no ~ ^ : ? * [ \\, no ..).',
    });
  }
}

/** The branch the run built (Build.SourceBranch), when it is the source: a name git accepts, so it can be read and printed. */
function checkBuiltBranch(name: string): void {
  if (!isValidRefName(`refs/heads/${name}`)) {
    throw new UserError(
      `the branch this run built, '${quoteForeign(name)}' (Build.SourceBranch), is not a valid branch name: nothing was promoted.`,
      {
        fix: 'run the promotion in a build of a branch (a hotfix/* or release/* branch pushed to the repository).',
      },
    );
  }
}

export function resolveRoute(o: FlowOptions): Route {
  const builtBranch = o.built?.kind === 'branch' ? o.built.branch : undefined;
  if (o.flow === 'environments') {
    const branches = o.branches;
    if (branches.length < 2) {
      throw new UserError(
        `needs at least two environments in promotion order (got ${branches.length ? `'${branches.join(', ')}'` : 'none'}).`,
        { input: 'branches', fix: 'list the branches in order, e.g. dev, pre, pro.' },
      );
    }
    for (const b of branches) checkBranchName(b, 'branches');
    const dup = branches.find((b, i) => branches.indexOf(b) !== i);
    if (dup)
      throw new UserError(`'${dup}' is listed twice.`, {
        input: 'branches',
        fix: 'list each environment branch once, in promotion order.',
      });
    if (!o.to)
      throw new UserError('says nothing: which environment should this run promote into?', {
        input: 'to',
        fix: `set it to one of ${branches.slice(1).join(', ')}.`,
      });
    const at = branches.indexOf(o.to);
    if (at < 0)
      throw new UserError(`'${o.to}' is not one of the environments (${branches.join(', ')}).`, {
        input: 'to',
        fix: `set it to one of ${branches.slice(1).join(', ')}, or add it to 'branches'.`,
      });
    if (at === 0)
      throw new UserError(`'${o.to}' is the first environment: nothing comes before it.`, {
        input: 'to',
        fix: `promote into one of ${branches.slice(1).join(', ')}.`,
      });
    const hotfix = !!builtBranch && builtBranch.startsWith(o.hotfixPrefix) && builtBranch.length > o.hotfixPrefix.length;
    if (hotfix) checkBuiltBranch(builtBranch);
    return {
      flow: 'environments',
      source: hotfix ? builtBranch : branches[at - 1],
      target: o.to,
      kind: at === branches.length - 1 ? 'final' : 'candidate',
      // A hotfix skipped the environments before the target: they get it back, nearest first.
      backMerge: hotfix ? branches.slice(0, at).reverse() : [],
      hotfix,
      input: 'to',
    };
  }
  for (const [name, input] of [
    [o.developBranch, 'developBranch'],
    [o.mainBranch, 'mainBranch'],
    [`${o.releasePrefix}x`, 'releasePrefix'],
    [`${o.hotfixPrefix}x`, 'hotfixPrefix'],
  ] as const)
    checkBranchName(name, input);
  switch (o.action) {
    case 'release-start':
      return {
        flow: 'gitflow',
        action: o.action,
        source: o.developBranch,
        target: `${o.releasePrefix}${VERSION_PLACEHOLDER}`,
        kind: 'candidate',
        backMerge: [],
        hotfix: false,
        input: 'action',
      };
    case 'release-finish':
    case 'hotfix-finish': {
      const prefix = o.action === 'release-finish' ? o.releasePrefix : o.hotfixPrefix;
      if (!builtBranch || !builtBranch.startsWith(prefix) || builtBranch.length === prefix.length) {
        throw new UserError(
          `${o.action} promotes the ${prefix}* branch this run built, but the run built '${o.built?.ref ? quoteForeign(o.built.ref) : 'nothing (Build.SourceBranch is not set)'}'.`,
          {
            input: 'action',
            fix: `run it in a pipeline triggered on ${prefix}* (Build.SourceBranch refs/heads/${prefix}<version>), or check '${o.action === 'release-finish' ? 'releasePrefix' : 'hotfixPrefix'}'.`,
          },
        );
      }
      checkBuiltBranch(builtBranch);
      return {
        flow: 'gitflow',
        action: o.action,
        source: builtBranch,
        target: o.mainBranch,
        kind: 'final',
        backMerge: [o.developBranch],
        hotfix: o.action === 'hotfix-finish',
        input: 'action',
      };
    }
    default:
      throw new UserError(`'${o.action ?? ''}' is not a git-flow action.`, {
        input: 'action',
        fix: 'set it to release-start, release-finish or hotfix-finish.',
      });
  }
}

export function describeRoute(r: Route): string {
  return `${r.source} → ${r.target}${routeKind(r)}`;
}

function routeKind(r: Route): string {
  if (r.action) return ` (git-flow ${r.action})`;
  return r.hotfix ? ' (hotfix)' : '';
}
