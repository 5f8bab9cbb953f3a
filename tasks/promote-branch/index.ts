import * as agent from '../../shared/agent';
import { applyPromotion } from '../../shared/promotion/apply';
import { checkGates } from '../../shared/promotion/gates';
import { planPromotion } from '../../shared/promotion/plan';
import { pullRequestOpener } from '../../shared/promotion/pullRequests';
import { backMergeStatus, planLines, promotionSummary, repositoriesOutput } from '../../shared/promotion/summary';
import { describeUnwind, journal } from '../../shared/undo';
import { readSettings } from './settings';

void agent.runTask(async () => {
  const s = readSettings();
  const client = await s.azureDevOps?.();
  const openPullRequest = client && s.pullRequests ? pullRequestOpener(client, s.repositoryId, s.pullRequests) : undefined;
  const plan = await planPromotion(
    s.repositories,
    {
      ...s.options,
      checkGates:
        client && s.gates.length
          ? (repo, commit, where) => checkGates(client, s.gates, commit, () => s.repositoryId(repo), where)
          : undefined,
    },
    agent.agentLog,
  );
  for (const line of planLines(plan)) agent.agentLog.info(line);
  const result = s.dryRun ? undefined : await applyPromotion(plan, { openPullRequest, parallel: s.options.parallel, log: agent.agentLog });
  if (s.dryRun) {
    // What reading the plan moved (a fetch moves the fetched branches' remote-tracking refs) goes back too.
    for (const line of describeUnwind(await journal.unwind())) agent.agentLog.info(line);
    agent.agentLog.info('Dry run: nothing was pushed, tagged or opened.');
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
  agent.uploadSummary('promote-branch', promotionSummary(plan, result, s.dryRun));
});
