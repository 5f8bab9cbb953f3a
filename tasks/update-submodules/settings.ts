/**
 * UpdateSubmodules' inputs, read and checked into the options the core takes, and the pull
 * request's way in when mode is pull-request. Every input is refused here, naming it, before
 * the repository is touched.
 */
import * as agent from '../../shared/agent';
import { azureDevOpsConnection, buildRepositoryId, repositoryIds } from '../../shared/agent/azureDevOps';
import { UserError } from '../../shared/errors';
import type { OpenPullRequest, UpdateSubmodulesOptions } from '../../shared/submodules/update';
import { repositoryName } from '../../shared/submodules/urls';
import { journal } from '../../shared/undo';
import { DEFAULT_BRANCH_CHANNELS, parseBranchChannels } from '../../shared/versioning/channels';

export interface UpdateSubmodulesSettings {
  dir: string;
  dryRun: boolean;
  options: UpdateSubmodulesOptions;
  /** Pull-request mode (not a dry run): opens or updates the pull request in the repository its remote URL names. */
  pullRequestOpener?: (remoteUrl: string | undefined) => OpenPullRequest;
}

export function readSettings(): UpdateSubmodulesSettings {
  const dir = agent.pathInput('workingDirectory') ?? process.cwd();
  const dryRun = agent.boolInput('dryRun');
  const branch = agent.buildBranch();
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
  return {
    dir,
    dryRun,
    options,
    pullRequestOpener: options.mode === 'pull-request' && !dryRun ? pullRequestOpener(dir) : undefined,
  };
}

/**
 * Pull requests through the job token, in the repository being updated: the build's own
 * (Build.Repository.ID) when workingDirectory is its checkout, else the one its remote names.
 */
function pullRequestOpener(dir: string): (remoteUrl: string | undefined) => OpenPullRequest {
  const client = azureDevOpsConnection({ input: 'mode', neededBy: 'pull-request mode', otherwise: "use mode 'push'" });
  const inputs = agent.pullRequestInputs();
  const repositoryId = repositoryIds(client, buildRepositoryId);
  return (remoteUrl) => async (req) => {
    // Loaded only when a pull request is opened, as the REST client is.
    const { openOrUpdatePullRequest } = await import('../../shared/clients/pullRequests');
    const id = await repositoryId({ name: repositoryName(remoteUrl, dir), dir, remoteUrl });
    // Each change to the pull request is registered with the run's undo journal before it is made.
    return openOrUpdatePullRequest(await client(), id, { ...req, ...inputs }, journal);
  };
}
