import * as agent from '../../shared/agent';
import { UserError } from '../../shared/errors';
import { branchContext } from '../../shared/git/branch';
import { startRepository } from '../../shared/git';
import { DEFAULT_BRANCH_CHANNELS, parseBranchChannels } from '../../shared/versioning/channels';
import { parseVersionFileSpecs } from '../../shared/versioning/versionFiles';
import { applyVersion, planVersion, type VersionBumpOptions } from '../../shared/release/versionBump';
import { componentChangesJson, explainReason, versionSummary } from '../../shared/release/summary';

void agent.runTask(async () => {
  const dir = agent.pathInput('workingDirectory') ?? process.cwd();
  const dryRun = agent.boolInput('dryRun');
  // git checks the folder while the first commands of the plan start (planVersion awaits it).
  const git = startRepository(dir, agent.gitOptions(), 'workingDirectory');
  const branch =
    branchContext({ sourceBranch: agent.variable('Build.SourceBranch'), pullRequestSourceBranch: agent.variable('System.PullRequest.SourceBranch') }) ??
    (await git.ready.then(() => git.currentBranch()).then((b) => (b ? { branch: b, ref: `refs/heads/${b}`, kind: 'branch' as const } : undefined)));
  if (!branch) {
    throw new UserError('cannot tell which branch this run builds: Build.SourceBranch is not set and HEAD is detached.', {
      fix: 'run the task in a pipeline (the agent sets Build.SourceBranch), or set the variable Build.SourceBranch to refs/heads/<branch>.',
    });
  }
  const buildId = Number(agent.variable('Build.BuildId'));
  const options: VersionBumpOptions = {
    tagFormat: agent.input('tagFormat') ?? 'v{version}',
    component: agent.input('component') ?? '',
    paths: agent.listInput('paths'),
    bump: agent.choiceInput('bump', ['auto', 'major', 'minor', 'patch', 'none'] as const),
    channels: parseBranchChannels(agent.input('branchChannels') ?? DEFAULT_BRANCH_CHANNELS),
    initialVersion: agent.input('initialVersion') ?? '0.1.0',
    versionFiles: parseVersionFileSpecs(agent.input('versionFiles') ?? '', dir),
    createTag: agent.boolInput('createTag'),
    pushTag: agent.boolInput('pushTag'),
    commitVersionFiles: agent.boolInput('commitVersionFiles'),
    changelogFile: agent.pathInput('changelogFile', dir),
    branch,
    today: new Date().toISOString().slice(0, 10),
    dryRun,
    buildId: Number.isSafeInteger(buildId) && buildId > 0 ? buildId : undefined,
    submodules: agent.boolInput('submodules') ? { tagFormat: agent.input('submoduleTagFormat') ?? 'v{version}' } : undefined,
  };
  const plan = await planVersion(git, options, agent.agentLog);
  console.log(`Version ${plan.version} (previous ${plan.previousVersion || 'none'}, bump ${plan.bump}, ${plan.commitCount} commit(s)). ${explainReason(plan)}`);
  const result = dryRun ? undefined : await applyVersion(git, plan, options, agent.agentLog);
  if (dryRun) console.log(`Dry run: would write ${plan.actions.files.length} version file(s)${plan.actions.commit ? ', commit' : ''}${plan.actions.tag ? `, tag ${plan.actions.tag.name}` : ''}${plan.actions.push ? `, push to ${plan.actions.push.remote}` : ''}.`);

  agent.setOutput('version', plan.version);
  agent.setOutput('previousVersion', plan.previousVersion);
  agent.setOutput('bump', plan.bump);
  agent.setOutput('tag', plan.tag);
  agent.setOutput('isPrerelease', plan.isPrerelease);
  agent.setOutput('pep440Version', plan.pep440Version);
  agent.setOutput('commitCount', plan.commitCount);
  agent.setOutput('changed', plan.changed);
  agent.setOutput('channel', plan.channel.label || 'final');
  agent.setOutput('tagCreated', !!result?.tagged);
  agent.setOutput('tagPushed', !!result?.tagged && result.pushed.includes(`refs/tags/${result.tagged}`));
  agent.setOutput('componentChanges', componentChangesJson(plan.components ?? []));
  if (agent.boolInput('updateBuildNumber') && !dryRun) agent.updateBuildNumber(plan.version);
  agent.uploadSummary('version-bump', versionSummary(plan, result, dryRun, dir));
});
