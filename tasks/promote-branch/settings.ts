/**
 * PromoteBranch's inputs, read and checked into what the plan and the apply take: the route,
 * the repositories (and which commit of each), the gates, and the REST API when something
 * needs it. Every input is refused here, naming it, before any repository is read.
 */
import { resolve } from 'node:path';
import * as agent from '../../shared/agent';
import {
  azureDevOpsConnection,
  buildRepositoryId,
  optionalAzureDevOpsConnection,
  repositoryIds,
  type RepositoryLookup,
} from '../../shared/agent/azureDevOps';
import type { AzureDevOpsClient } from '../../shared/clients/azureDevOps';
import { UserError } from '../../shared/errors';
import { isBuildRepository } from '../../shared/git/buildRepository';
import { resolveRoute } from '../../shared/promotion/flow';
import { parseGates, type Gate } from '../../shared/promotion/gates';
import type { PromotionOptions, RepositoryInput } from '../../shared/promotion/plan';
import type { PullRequestInputs } from '../../shared/promotion/pullRequests';

/** Repositories planned and applied at once. */
const PARALLEL = 8;

export interface PromoteSettings {
  dryRun: boolean;
  repositories: RepositoryInput[];
  options: Omit<PromotionOptions, 'checkGates'>;
  gates: Gate[];
  /** The REST API on the job token, when gates, pull requests or back-merge conflicts need it. */
  azureDevOps?: () => Promise<AzureDevOpsClient>;
  /** A repository's id (the build's own from Build.Repository.ID, others looked up once by name in their remote's project). */
  repositoryId: (repo: RepositoryLookup) => Promise<string>;
  /** Reviewers, work items and auto-complete, when this run may open a pull request. */
  pullRequests?: PullRequestInputs;
}

export function readSettings(): PromoteSettings {
  const dryRun = agent.boolInput('dryRun');
  const built = agent.buildBranch();
  if (built?.kind === 'pull-request') {
    throw new UserError(`a pull-request validation build (${built.ref}) tested a merge that is on no branch: it cannot be promoted.`, {
      fix: 'run the promotion in a build of the source branch (e.g. a stage that runs only for dev, pre or release/*).',
    });
  }
  const flow = agent.choiceInput('flow', ['environments', 'gitflow'] as const);
  const route = resolveRoute({
    flow,
    branches: agent.listInput('branches'),
    to: agent.input('to'),
    action: flow === 'gitflow' ? agent.choiceInput('action', ['release-start', 'release-finish', 'hotfix-finish'] as const) : undefined,
    developBranch: agent.input('developBranch') ?? 'develop',
    mainBranch: agent.input('mainBranch') ?? 'main',
    releasePrefix: agent.input('releasePrefix') ?? 'release/',
    hotfixPrefix: agent.input('hotfixPrefix') ?? 'hotfix/',
    built,
  });
  const strategy = agent.choiceInput('strategy', ['fast-forward', 'merge', 'pull-request'] as const);
  const gates = parseGates(agent.listInput('requireSucceeded'));
  const { repositories, several } = repositoryInputs();

  // Gates and pull requests cannot do without the REST API; a back-merge conflict's pull request can (it is reported instead).
  const required = gates.length > 0 || strategy === 'pull-request';
  const needsRest = gates.length > 0 || (strategy === 'pull-request' && !dryRun) || (route.backMerge.length > 0 && !dryRun);
  const connection = () =>
    required ? azureDevOpsConnection({ input: gates.length ? 'requireSucceeded' : 'strategy' }) : optionalAzureDevOpsConnection();
  const azureDevOps = needsRest ? connection() : undefined;
  // One repository is the build's own; of several, the one checked out at Build.Repository.LocalPath.
  const own = several ? buildRepositoryId : () => agent.variable('Build.Repository.ID');
  return {
    dryRun,
    repositories,
    gates,
    azureDevOps,
    repositoryId: repositoryIds(azureDevOps, own),
    pullRequests: azureDevOps && !dryRun ? agent.pullRequestInputs() : undefined,
    options: {
      route,
      remote: agent.input('remote') ?? 'origin',
      strategy,
      tagFormat: agent.input('tagFormat') ?? 'v{version}',
      component: agent.input('component') ?? '',
      paths: agent.listInput('paths'),
      allowUntested: agent.boolInput('allowUntested'),
      gitOptions: agent.gitOptions(),
      scratch: agent.tempDirectory(),
      parallel: PARALLEL,
    },
  };
}

/**
 * One repository (workingDirectory: the build's own, at the commit it tested) or several
 * checkouts (`repositories`: each at its HEAD; the build's own at Build.SourceVersion).
 */
function repositoryInputs(): { repositories: RepositoryInput[]; several: boolean } {
  const sourceVersion = agent.variable('Build.SourceVersion');
  const ownPath = agent.variable('Build.Repository.LocalPath');
  const listed = agent.listInput('repositories');
  const repositories: RepositoryInput[] = listed.length
    ? listed.map((p) => {
        const dir = resolve(agent.variable('Build.SourcesDirectory') ?? process.cwd(), p);
        return { dir, input: 'repositories', commit: isBuildRepository(dir, ownPath) ? sourceVersion : undefined };
      })
    : [{ dir: agent.pathInput('workingDirectory') ?? process.cwd(), input: 'workingDirectory', commit: sourceVersion }];
  const dirs = repositories.map((i) => i.dir);
  const dup = dirs.find((d, i) => dirs.indexOf(d) !== i);
  if (dup) throw new UserError(`'${dup}' is listed twice.`, { input: 'repositories', fix: 'list each checkout once.' });
  for (const i of repositories)
    if (i.commit && !/^[0-9a-f]{40}$/i.test(i.commit))
      throw new UserError(`Build.SourceVersion '${i.commit}' is not a commit id.`, {
        fix: 'run the task in a pipeline (the agent sets Build.SourceVersion).',
      });
  return { repositories, several: listed.length > 0 };
}
