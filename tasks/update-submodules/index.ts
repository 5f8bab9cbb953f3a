import * as agent from '../../shared/agent';
import { UserError } from '../../shared/errors';
import { openRepository } from '../../shared/git';
import { branchContext } from '../../shared/git/branch';
import { changeLogs, submoduleSummary, type ChangeLog } from '../../shared/submodules/summary';
import {
  applySubmoduleUpdate,
  planSubmoduleUpdate,
  type OpenPullRequest,
  type UpdateSubmodulesOptions,
} from '../../shared/submodules/update';
import { DEFAULT_BRANCH_CHANNELS, parseBranchChannels } from '../../shared/versioning/channels';
import { repositoryName } from '../../shared/submodules/urls';
import { isInside } from '../../shared/files';
import { journal } from '../../shared/undo';
import { resolve } from 'node:path';

void agent.runTask(async () => {
  const dir = agent.pathInput('workingDirectory') ?? process.cwd();
  const dryRun = agent.boolInput('dryRun');
  const git = await openRepository(dir, agent.gitOptions(), 'workingDirectory');
  const branch = branchContext({
    sourceBranch: agent.variable('Build.SourceBranch'),
    pullRequestSourceBranch: agent.variable('System.PullRequest.SourceBranch'),
  });
  if (!branch) {
    throw new UserError('cannot tell which branch this run builds: Build.SourceBranch is not set.', {
      fix: 'run the task in a pipeline (the agent sets Build.SourceBranch), or set the variable Build.SourceBranch to refs/heads/<branch>.',
    });
  }
  const options: UpdateSubmodulesOptions = {
    mode: agent.choiceInput('mode', ['commit', 'push', 'pull-request'] as const),
    defaultPolicy: agent.input('defaultPolicy') ?? 'minor',
    include: agent.listInput('include'),
    exclude: agent.listInput('exclude'),
    tagFormat: agent.input('tagFormat') ?? 'v{version}',
    allowPrerelease: agent.boolInput('allowPrerelease'),
    channels: parseBranchChannels(agent.input('branchChannels') ?? DEFAULT_BRANCH_CHANNELS),
    branch,
    lockFile: agent.input('lockFile') ?? '',
    parallel: agent.intInput('parallel', 1, 64),
    checkout: agent.boolInput('checkout'),
    triggerCi: agent.boolInput('triggerCi'),
    targetBranch: agent.input('targetBranch'),
    tempDirectory: agent.tempDirectory(),
  };
  const plan = await planSubmoduleUpdate(git, options, agent.agentLog);
  const openPullRequest =
    options.mode === 'pull-request' && plan.updates.length && !dryRun
      ? pullRequestOpener(dir, plan.remote ? await git.remoteUrl(plan.remote) : undefined)
      : undefined;
  const result = dryRun ? undefined : await applySubmoduleUpdate(git, plan, options, openPullRequest, agent.agentLog);
  if (dryRun)
    console.log(
      `Dry run: would ${plan.updates.length ? `commit ${plan.updates.length} pin(s)${plan.delivery.mode === 'commit' ? '' : plan.delivery.mode === 'push' ? ` and push to ${plan.delivery.branchRef}` : ` and open a pull request into ${plan.delivery.targetRef}`}` : 'change nothing'}.`,
    );

  // A dry run moves nothing: a later step conditioned on updatedCount must not fire.
  agent.setOutput('updatedCount', dryRun ? 0 : plan.updates.length);
  agent.setOutput('plannedCount', plan.updates.length);
  // JSON whose `#` is written \u0023: the value parses the same, and no name or path from
  // .gitmodules puts a `##vso[` or `##[` into the log's lines (the output's and its debug line).
  const updates = JSON.stringify(
    plan.updates.map(({ name, path, from, fromTag, to, toTag, change, commit }) => ({
      name,
      path,
      from: from ?? null,
      fromTag: fromTag ?? null,
      to,
      toTag,
      change,
      commit,
    })),
  );
  agent.setOutput('updates', updates.replace(/#/g, '\\u0023'));
  agent.setOutput('maxChange', plan.maxChange);
  agent.setOutput('commit', result?.commit ?? '');
  agent.setOutput('pullRequestId', result?.pullRequest?.id ?? '');
  agent.setOutput('pullRequestUrl', result?.pullRequest?.url ?? '');
  const logs = plan.updates.length
    ? await changeLogs(git, plan.updates, agent.tempDirectory(), options.parallel)
    : new Map<string, ChangeLog>();
  agent.uploadSummary('update-submodules', submoduleSummary(plan, result, dryRun, logs));
});

/**
 * Pull requests through the job token, in the repository being updated: the build's own
 * (Build.Repository.ID) when workingDirectory is its checkout, else the one its remote names.
 */
function pullRequestOpener(dir: string, remoteUrl: string | undefined): OpenPullRequest {
  const connection = agent.restConnection();
  if (!connection) {
    throw new UserError(
      'pull-request mode needs the job token and the project (System.AccessToken, System.TeamFoundationCollectionUri, System.TeamProject).',
      {
        input: 'mode',
        fix: "run in an Azure Pipelines job whose token is available to tasks (classic: 'Allow scripts to access the OAuth token'), or use mode 'push'.",
      },
    );
  }
  const options = agent.pullRequestInputs();
  return async (req) => {
    // The REST client is most of the bundle: loaded only when a pull request is opened.
    const [{ connectAzureDevOps }, { openOrUpdatePullRequest }] = await Promise.all([
      import('../../shared/clients/azureDevOps'),
      import('../../shared/clients/pullRequests'),
    ]);
    const client = connectAzureDevOps(connection);
    const ownCheckout = agent.variable('Build.Repository.LocalPath');
    const own = ownCheckout && isInside(resolve(dir), resolve(ownCheckout)) ? agent.variable('Build.Repository.ID') : undefined;
    const repositoryId = own ?? (await client.repository(repositoryName(remoteUrl, dir))).id;
    // Each change to the pull request is registered with the run's undo journal before it is made.
    return openOrUpdatePullRequest(client, repositoryId, { ...req, ...options }, journal);
  };
}
