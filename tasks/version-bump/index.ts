import * as agent from '../../shared/agent';
import { startRepository } from '../../shared/git';
import { applyVersion, planVersion } from '../../shared/release/versionBump';
import { componentChangesJson, explainReason, versionSummary } from '../../shared/release/summary';
import { readSettings, resolveBranch } from './settings';

void agent.runTask(async () => {
  const settings = readSettings();
  // git checks the folder while the first commands of the plan start (planVersion awaits it).
  const git = startRepository(settings.dir, agent.gitOptions(), 'workingDirectory');
  const options = settings.options(await resolveBranch(() => git.ready!.then(() => git.currentBranch())));
  const plan = await planVersion(git, options, agent.agentLog);
  console.log(
    `Version ${plan.version} (previous ${plan.previousVersion || 'none'}, bump ${plan.bump}, ${plan.commitCount} commit(s)). ${explainReason(plan)}`,
  );
  const result = settings.dryRun ? undefined : await applyVersion(git, plan, options, agent.agentLog);
  if (settings.dryRun) {
    const a = plan.actions;
    console.log(
      `Dry run: would write ${a.files.length} version file(s)${a.commit ? ', commit' : ''}${a.tag ? `, tag ${a.tag.name}` : ''}${a.push ? `, push to ${a.push.remote}` : ''}.`,
    );
  }

  agent.setOutput('version', plan.version);
  agent.setOutput('previousVersion', plan.previousVersion);
  agent.setOutput('bump', plan.bump);
  agent.setOutput('tag', plan.tag);
  agent.setOutput('isPrerelease', plan.isPrerelease);
  agent.setOutput('pep440Version', plan.pep440Version);
  agent.setOutput('commitCount', plan.commitCount);
  agent.setOutput('changed', plan.changed);
  agent.setOutput('release', plan.release);
  agent.setOutput('channel', plan.channel.label || 'final');
  agent.setOutput('tagCreated', !!result?.tagged);
  agent.setOutput('tagPushed', !!result?.tagged && result.pushed.includes(`refs/tags/${result.tagged}`));
  agent.setOutput('componentChanges', componentChangesJson(plan.components ?? []));
  if (settings.updateBuildNumber && !settings.dryRun) agent.updateBuildNumber(plan.version);
  agent.uploadSummary('version-bump', versionSummary(plan, result, settings.dryRun, settings.dir));
});
