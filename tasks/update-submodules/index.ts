import * as agent from '../../shared/agent';
import { openRepository } from '../../shared/git';
import { changeLogs, submoduleSummary, type ChangeLog } from '../../shared/submodules/summary';
import { applySubmoduleUpdate, planSubmoduleUpdate, type SubmodulePlan } from '../../shared/submodules/update';
import { readSettings } from './settings';

void agent.runTask(async () => {
  const s = readSettings();
  const git = await openRepository(s.dir, agent.gitOptions(), 'workingDirectory');
  const plan = await planSubmoduleUpdate(git, s.options, agent.agentLog);
  const openPullRequest =
    s.pullRequestOpener && plan.updates.length
      ? s.pullRequestOpener(plan.remote ? await git.remoteUrl(plan.remote) : undefined)
      : undefined;
  const result = s.dryRun ? undefined : await applySubmoduleUpdate(git, plan, s.options, openPullRequest, agent.agentLog);
  if (s.dryRun) {
    const delivery = describeDelivery(plan.delivery);
    agent.agentLog.info(`Dry run: would ${plan.updates.length ? `commit ${plan.updates.length} pin(s)${delivery}` : 'change nothing'}.`);
  }

  // A dry run moves nothing: a later step conditioned on updatedCount must not fire.
  agent.setOutput('updatedCount', s.dryRun ? 0 : plan.updates.length);
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
    ? await changeLogs(git, plan.updates, agent.tempDirectory(), s.options.parallel)
    : new Map<string, ChangeLog>();
  agent.uploadSummary('update-submodules', submoduleSummary(plan, result, s.dryRun, logs));
});

/** What a dry run would do after the commit. */
function describeDelivery(d: SubmodulePlan['delivery']): string {
  if (d.mode === 'commit') return '';
  if (d.mode === 'push') return ` and push to ${d.branchRef}`;
  return ` and open a pull request into ${d.targetRef}`;
}
