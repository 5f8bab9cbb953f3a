/**
 * The pull requests a promotion opens (strategy pull-request, and back-merges that conflict),
 * each registered with the undo journal before it is opened or updated, from what the run read
 * just before: no active pull request from that branch into that target, so the one there after
 * is this run's and is abandoned (looked up when undoing: right whether the create was answered,
 * lost on the way back, or never reached Azure DevOps); or an open one this run reuses, whose
 * title and description go back to what they were.
 */
import type { AutoCompleteOptions, AzureDevOpsClient } from '../clients/azureDevOps';
// The error class alone (no REST library): the client itself is loaded only when a run needs it.
import { AzureDevOpsError } from '../clients/azureDevOps/errors';
import { openOrUpdatePullRequest } from '../clients/pullRequests';
import { quoteForeign } from '../output';
import { journal } from '../undo';
import type { OpenPullRequest } from './apply';
import type { RepositoryIdentity } from './plan';

export interface PullRequestInputs {
  reviewerIds: string[];
  workItemIds: number[];
  autoComplete?: AutoCompleteOptions;
}

const branch = (ref: string) => ref.replace(/^refs\/heads\//, '');

export function pullRequestOpener(
  client: AzureDevOpsClient,
  repositoryId: (repo: RepositoryIdentity) => Promise<string>,
  inputs: PullRequestInputs,
): OpenPullRequest {
  return async (repo, req) => {
    const id = await repositoryId(repo);
    // Work items and auto-complete belong to the promotion's pull request, not to a back-merge's.
    const promotion = req.sourceRef.startsWith('refs/heads/relevo/promote-');
    const before = await client.findActivePullRequest(id, req.sourceRef, req.targetRef);
    const where = `from ${branch(req.sourceRef)} into ${branch(req.targetRef)} of ${quoteForeign(repo.label)}`;
    if (before) {
      const { title, description } = before;
      journal.register(`the title and description of pull request ${before.id} ${where}`, () =>
        client.updatePullRequest(id, before.id, { title, description }),
      );
    }
    // Whether the create was sent: until then there is nothing of this run's to abandon, whatever the service answers.
    let createSent = false;
    const tracked: AzureDevOpsClient = Object.assign(Object.create(client) as AzureDevOpsClient, {
      createPullRequest: async (...args: Parameters<AzureDevOpsClient['createPullRequest']>) => {
        createSent = true;
        try {
          return await client.createPullRequest(...args);
        } catch (err) {
          // Refused (a 4xx answer: a permission, a validation): nothing was opened. A 5xx or no answer may have opened it.
          if (
            err instanceof AzureDevOpsError &&
            err.status !== undefined &&
            err.status >= 400 &&
            err.status < 500 &&
            (err.attempts ?? 1) <= 1
          )
            createSent = false;
          throw err;
        }
      },
    });
    if (!before) {
      journal.register(`the pull request ${where}, if this run opened it (abandoned)`, async () => {
        if (!createSent) return;
        try {
          // Only the one this run opened: active, from this branch into this target, with this run's title.
          const opened = await client.findActivePullRequest(id, req.sourceRef, req.targetRef);
          if (opened && opened.title === req.title) await client.abandonPullRequest(id, opened.id);
        } catch (err) {
          // It may be open: its branch (and the tag it promotes) stay, so it is a whole promotion, not a pull request of a deleted branch.
          repo.undoHolds.set(req.sourceRef, `the pull request ${where} may be open (it could not be abandoned)`);
          throw err;
        }
      });
    }
    return openOrUpdatePullRequest(tracked, id, {
      ...req,
      reviewerIds: inputs.reviewerIds,
      workItemIds: promotion ? inputs.workItemIds : [],
      autoComplete: promotion ? inputs.autoComplete : undefined,
    });
  };
}
