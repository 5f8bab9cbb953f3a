import { resolve } from 'node:path';
import * as agent from '../../shared/agent';
import type { AzureDevOpsClient } from '../../shared/clients/azureDevOps';
import { UserError } from '../../shared/errors';
import { branchContext } from '../../shared/git/branch';
import { applyPromotion, type OpenPullRequest } from '../../shared/promotion/apply';
import { resolveRoute } from '../../shared/promotion/flow';
import { checkGates, parseGates } from '../../shared/promotion/gates';
import { azureReposProject } from '../../shared/git/remoteUrl';
import { planPromotion, type RepositoryIdentity, type RepositoryInput } from '../../shared/promotion/plan';
import { pullRequestOpener } from '../../shared/promotion/pullRequests';
import { backMergeStatus, planLines, promotionSummary, repositoriesOutput } from '../../shared/promotion/summary';
import { describeUnwind, journal } from '../../shared/undo';

const PARALLEL = 8;

void agent.runTask(async () => {
  const dryRun = agent.boolInput('dryRun');
  const built = branchContext({
    sourceBranch: agent.variable('Build.SourceBranch'),
    pullRequestSourceBranch: agent.variable('System.PullRequest.SourceBranch'),
  });
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

  // One repository (the build's own, at the commit it tested) or several checkouts (each at its HEAD; the build's own at Build.SourceVersion).
  const sourceVersion = agent.variable('Build.SourceVersion');
  const ownPath = agent.variable('Build.Repository.LocalPath');
  const listed = agent.listInput('repositories');
  const inputs: RepositoryInput[] = listed.length
    ? listed.map((p) => {
        const dir = resolve(agent.variable('Build.SourcesDirectory') ?? process.cwd(), p);
        return { dir, input: 'repositories', commit: ownPath && resolve(ownPath) === dir ? sourceVersion : undefined };
      })
    : [{ dir: agent.pathInput('workingDirectory') ?? process.cwd(), input: 'workingDirectory', commit: sourceVersion }];
  const dirs = inputs.map((i) => i.dir);
  const dup = dirs.find((d, i) => dirs.indexOf(d) !== i);
  if (dup) throw new UserError(`'${dup}' is listed twice.`, { input: 'repositories', fix: 'list each checkout once.' });
  for (const i of inputs)
    if (i.commit && !/^[0-9a-f]{40}$/i.test(i.commit))
      throw new UserError(`Build.SourceVersion '${i.commit}' is not a commit id.`, {
        fix: 'run the task in a pipeline (the agent sets Build.SourceVersion).',
      });

  const needsRest = gates.length > 0 || (strategy === 'pull-request' && !dryRun) || (route.backMerge.length > 0 && !dryRun);
  const rest = needsRest
    ? await restClient(gates.length ? 'requireSucceeded' : 'strategy', gates.length > 0 || strategy === 'pull-request')
    : undefined;
  const ownId = agent.variable('Build.Repository.ID');
  const isOwn = (dir: string) => (listed.length ? !!ownPath && resolve(ownPath) === dir : true);
  const repositoryId = repositoryIds(rest?.client, (dir) => (ownId && isOwn(dir) ? ownId : undefined));
  const openPullRequest: OpenPullRequest | undefined =
    rest?.client && !dryRun ? pullRequestOpener(rest.client, repositoryId, agent.pullRequestInputs()) : undefined;

  const plan = await planPromotion(
    inputs,
    {
      route,
      remote: agent.input('remote') ?? 'origin',
      strategy,
      tagFormat: agent.input('tagFormat') ?? 'v{version}',
      component: agent.input('component') ?? '',
      paths: agent.listInput('paths'),
      allowUntested: agent.boolInput('allowUntested'),
      gitOptions: agent.gitOptions(),
      checkGates: gates.length
        ? (repo, commit, where) => checkGates(rest!.client!, gates, commit, () => repositoryId(repo), where)
        : undefined,
      scratch: agent.tempDirectory(),
      parallel: PARALLEL,
    },
    agent.agentLog,
  );
  for (const line of planLines(plan)) console.log(line);
  const result = dryRun ? undefined : await applyPromotion(plan, { openPullRequest, parallel: PARALLEL, log: agent.agentLog });
  if (dryRun) {
    // What reading the plan moved (a fetch moves the fetched branches' remote-tracking refs) goes back too.
    for (const line of describeUnwind(await journal.unwind())) console.log(line);
    console.log('Dry run: nothing was pushed, tagged or opened.');
  }

  const first = plan.repositories[0];
  const firstResult = result?.repositories[0];
  agent.setOutput('promotedCommit', first.commit);
  agent.setOutput('version', first.tag.version);
  agent.setOutput('tag', first.tag.tag);
  agent.setOutput('pullRequestId', firstResult?.pullRequest?.id ?? '');
  agent.setOutput('pullRequestUrl', firstResult?.pullRequest?.url ?? '');
  agent.setOutput('backMergeStatus', backMergeStatus(first));
  agent.setOutput('repositories', JSON.stringify(repositoriesOutput(plan, result)));
  agent.uploadSummary('promote-branch', promotionSummary(plan, result, dryRun));
});

/** The REST client on the job token; `required`: fail without it (gates, pull requests), else only back-merge conflicts need it. */
async function restClient(input: string, required: boolean): Promise<{ client?: AzureDevOpsClient }> {
  const connection = agent.restConnection();
  if (!connection) {
    if (!required) return {};
    throw new UserError(
      'needs the Azure DevOps REST API with the job token and the project (System.AccessToken, System.TeamFoundationCollectionUri, System.TeamProject).',
      {
        input,
        fix: "run in an Azure Pipelines job whose token is available to tasks (classic: 'Allow scripts to access the OAuth token').",
      },
    );
  }
  // Loaded only when needed: the REST library is most of the bundle and most of its start-up.
  const { connectAzureDevOps } = await import('../../shared/clients/azureDevOps');
  return { client: connectAzureDevOps(connection) };
}

/**
 * Repository ids by remote URL (two repositories of a run may have the same name in two
 * projects), looked up once each by name in the project the URL names; the build's own from
 * Build.Repository.ID.
 */
function repositoryIds(
  client: AzureDevOpsClient | undefined,
  own: (dir: string) => string | undefined,
): (repo: RepositoryIdentity) => Promise<string> {
  const cache = new Map<string, Promise<string>>();
  return (repo) => {
    const id = own(repo.dir);
    if (id) return Promise.resolve(id);
    if (!client) return Promise.reject(new Error('no REST client'));
    const key = repo.remoteUrl ?? repo.dir;
    if (!cache.has(key))
      cache.set(
        key,
        client.repository(repo.name, azureReposProject(repo.remoteUrl)).then((r) => r.id),
      );
    return cache.get(key)!;
  };
}
