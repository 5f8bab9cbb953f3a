import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as agent from '../../shared/agent';
import { workspaceClient } from '../../shared/clients/databricksWorkspace';
import { applyDeploy, plannedEntries } from '../../shared/deploy/apply';
import { planDeploy } from '../../shared/deploy/plan';
import { readRelease } from '../../shared/deploy/release';
import { deploySummary } from '../../shared/deploy/summary';
import { Git, openRepository } from '../../shared/git';
import { readSettings } from './settings';

void agent.runTask(async () => {
  const s = readSettings();
  let git: Git;
  let orchestration = false;
  try {
    git = await openRepository(s.dir, agent.gitOptions(), 'workingDirectory');
    orchestration = existsSync(join(await git.topLevel(), '.gitmodules'));
  } catch (err) {
    // A list of name=tag needs no orchestration: the tags are read from each component's remote.
    if (!s.explicitOnly) throw err;
    git = new Git(agent.tempDirectory(), agent.gitOptions());
  }
  agent.agentLog.group?.('The release');
  const release = await readRelease(git, orchestration, s.release, agent.agentLog);
  agent.agentLog.endGroup?.();

  const client = workspaceClient(await s.databricks());
  const plan = await planDeploy(client, git, release, s.plan, agent.agentLog);
  const deployed = s.dryRun
    ? plannedEntries(plan)
    : (await applyDeploy(client, plan, { ...s.plan, authKind: s.databricks.authKind, log: agent.agentLog })).deployed;
  const moved = deployed.filter((d) => d.changed).length;
  if (s.dryRun) agent.agentLog.info(`Dry run: ${moved} target(s) would move; nothing was changed.`);
  else agent.agentLog.info(`Deployed: ${moved} target(s) moved, ${deployed.length - moved} already there.`);
  agent.setOutput(
    'deployed',
    JSON.stringify(deployed.map(({ component, target, from, to, commit, changed }) => ({ component, target, from, to, commit, changed }))),
  );
  agent.uploadSummary('deploy-to-databricks', deploySummary(plan, deployed, s.dryRun));
});
