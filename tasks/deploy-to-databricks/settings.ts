/**
 * DeployToDatabricks' inputs, read and checked into what the release, the plan and the apply
 * take: every input is refused here, naming it, before anything is read from git or the
 * workspace (the Databricks credentials included).
 */
import * as agent from '../../shared/agent';
import { databricksConnection, type DatabricksConnection } from '../../shared/agent/databricks';
import type { PlanOptions } from '../../shared/deploy/plan';
import { parseComponents, type ReleaseOptions } from '../../shared/deploy/release';
import { UserError } from '../../shared/errors';

export interface DeploySettings {
  dryRun: boolean;
  /** The orchestration checkout. */
  dir: string;
  /** Every component is listed as name=tag: no orchestration checkout is needed. */
  explicitOnly: boolean;
  release: ReleaseOptions;
  plan: PlanOptions & { discardLocalChanges: boolean; gitCredentialId?: number };
  databricks: DatabricksConnection;
}

export function readSettings(): DeploySettings {
  const dryRun = agent.boolInput('dryRun');
  const parallel = agent.intInput('parallel', 1, 64);
  const gitFolders = agent.listInput('gitFolders');
  const jobs = agent.listInput('jobs');
  if (!gitFolders.length && !jobs.length)
    throw new UserError('there is nowhere to deploy to.', {
      input: 'gitFolders',
      fix: 'set gitFolders (e.g. /Workspace/pro/{component}), jobs, or both.',
    });
  const components = agent.listInput('components');
  const plan = {
    gitFolders,
    jobs,
    createMissing: agent.boolInput('createMissing'),
    jobsPin: agent.choiceInput('jobsPin', ['commit', 'tag'] as const),
    discardLocalChanges: agent.boolInput('discardLocalChanges'),
    gitCredentialId: credentialId(),
    parallel,
  };
  const databricks = databricksConnection({
    connection: 'databricksConnection',
    azureSubscription: 'databricksAzureSubscription',
    workspaceUrl: 'databricksWorkspaceUrl',
    neededBy: 'the deployment',
  });
  return {
    dryRun,
    dir: agent.pathInput('workingDirectory') ?? process.cwd(),
    explicitOnly: components.length > 0 && parseComponents(components).every((c) => c.tag),
    release: {
      components,
      lockFile: agent.input('lockFile') ?? '',
      tagFormat: agent.input('tagFormat') ?? 'v{version}',
      parallel,
      orchestrationTag: jobs.length > 0 && plan.jobsPin === 'tag',
    },
    plan,
    databricks,
  };
}

/** `gitCredentialId`: the number `databricks git-credentials list` shows; undefined when empty. */
function credentialId(): number | undefined {
  const text = agent.input('gitCredentialId');
  if (!text) return undefined;
  if (!/^\d+$/.test(text))
    throw new UserError(`'${text}' is not a Git credential id.`, {
      input: 'gitCredentialId',
      fix: 'use the number databricks git-credentials list shows, or leave it empty.',
    });
  return Number(text);
}
