import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as agent from '../../shared/agent';
import { connectDatabricks, databricksAuthFromEndpoint, type DatabricksAuth } from '../../shared/clients/databricks';
import { workspaceClient } from '../../shared/clients/databricksWorkspace';
import { applyDeploy, plannedEntries } from '../../shared/deploy/apply';
import { planDeploy } from '../../shared/deploy/plan';
import { parseComponents, readRelease } from '../../shared/deploy/release';
import { deploySummary } from '../../shared/deploy/summary';
import { UserError } from '../../shared/errors';
import { Git, openRepository } from '../../shared/git';

void agent.runTask(async () => {
  // Every input is read and checked before anything is read from git or the workspace.
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
  const explicitOnly = components.length > 0 && parseComponents(components).every((c) => c.tag);
  const options = {
    gitFolders,
    jobs,
    createMissing: agent.boolInput('createMissing'),
    jobsPin: agent.choiceInput('jobsPin', ['commit', 'tag'] as const),
    discardLocalChanges: agent.boolInput('discardLocalChanges'),
    gitCredentialId: credentialId(),
    parallel,
  };
  const { connect, authKind } = databricksConnector();

  const dir = agent.pathInput('workingDirectory') ?? process.cwd();
  let git: Git;
  let orchestration = false;
  try {
    git = await openRepository(dir, agent.gitOptions(), 'workingDirectory');
    orchestration = existsSync(join(await git.topLevel(), '.gitmodules'));
  } catch (err) {
    // A list of name=tag needs no orchestration: the tags are read from each component's remote.
    if (!explicitOnly) throw err;
    git = new Git(agent.tempDirectory(), agent.gitOptions());
  }
  agent.agentLog.group?.('The release');
  const release = await readRelease(
    git,
    orchestration,
    {
      components,
      lockFile: agent.input('lockFile') ?? '',
      tagFormat: agent.input('tagFormat') ?? 'v{version}',
      parallel,
      orchestrationTag: jobs.length > 0 && options.jobsPin === 'tag',
    },
    agent.agentLog,
  );
  agent.agentLog.endGroup?.();

  const client = workspaceClient(connect());
  const plan = await planDeploy(client, git, release, options, agent.agentLog);
  const deployed = dryRun
    ? plannedEntries(plan)
    : (await applyDeploy(client, plan, { ...options, authKind, log: agent.agentLog })).deployed;
  if (dryRun) console.log(`Dry run: ${deployed.filter((d) => d.changed).length} target(s) would move; nothing was changed.`);
  else
    console.log(
      `Deployed: ${deployed.filter((d) => d.changed).length} target(s) moved, ${deployed.filter((d) => !d.changed).length} already there.`,
    );
  agent.setOutput(
    'deployed',
    JSON.stringify(deployed.map(({ component, target, from, to, commit, changed }) => ({ component, target, from, to, commit, changed }))),
  );
  agent.uploadSummary('deploy-to-databricks', deploySummary(plan, deployed, dryRun));
});

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

/** The workspace client's connection (its credentials read and checked now, before anything is read). */
function databricksConnector(): { connect: () => ReturnType<typeof connectDatabricks>; authKind: DatabricksAuth['kind'] } {
  const connection = agent.input('databricksConnection');
  const arm = agent.input('databricksAzureSubscription');
  if (!connection && !arm)
    throw new UserError('there is no Databricks connection.', {
      input: 'databricksConnection',
      fix: 'set databricksConnection (a Databricks (Relevo) service connection), or databricksAzureSubscription with databricksWorkspaceUrl.',
    });
  const input = connection ? 'databricksConnection' : 'databricksAzureSubscription';
  const e = agent.endpoint((connection ?? arm)!);
  if (!e)
    throw new UserError(`the service connection '${connection ?? arm}' is not available to this job.`, {
      input,
      fix: 'check its name, and that this pipeline is allowed to use it (service connection → Security → Pipeline permissions).',
    });
  const workspaceUrl = agent.input('databricksWorkspaceUrl');
  const oidcRequestUri = agent.variable('System.OidcRequestUri');
  const jobToken = e.scheme?.toLowerCase() === 'workloadidentityfederation' ? agent.jobToken() : undefined;
  const { host, auth } = databricksAuthFromEndpoint(e, { input, workspaceUrl, oidcRequestUri, jobToken });
  return {
    connect: () =>
      connectDatabricks({
        host,
        auth,
        onRetry: (r) => console.log(`Databricks: ${r.method} ${r.path} — ${r.reason}, retry ${r.attempt} in ${Math.round(r.delayMs)} ms`),
      }),
    authKind: auth.kind,
  };
}
