/**
 * Opening a pull request the way the tasks need it: reuse the open one for the same source and
 * target (updating its title, description and reviewers) instead of opening another; then
 * auto-complete, which Azure DevOps only takes in a PATCH after creation.
 *
 * Given the run's undo journal, every change is registered before it is made, from what was
 * known before it: a pull request this run opens is abandoned; on one it reused, the title and
 * description are put back and auto-complete is turned off again if it was off. What the client
 * cannot put back (reviewers it added, auto-complete options on a pull request that already had
 * auto-complete on) is reported as not put back, and only when the change may have happened.
 */
import type { UndoJournal } from '../undo';
import type { AutoCompleteOptions, AzureDevOpsClient, PullRequestInfo } from './azureDevOps';

export interface PullRequestOptions {
  sourceRef: string;
  targetRef: string;
  title: string;
  description: string;
  reviewerIds?: string[];
  workItemIds?: number[];
  isDraft?: boolean;
  autoComplete?: AutoCompleteOptions;
  /** The source branch did not change: an open pull request is returned untouched (no new iteration, no PATCH). */
  leaveAsIs?: boolean;
}

export async function openOrUpdatePullRequest(
  client: AzureDevOpsClient,
  repositoryId: string,
  o: PullRequestOptions,
  journal?: UndoJournal,
): Promise<{ id: number; url: string; reused: boolean }> {
  const open = await client.findActivePullRequest(repositoryId, o.sourceRef, o.targetRef);
  if (open && o.leaveAsIs) return { id: open.id, url: open.webUrl ?? open.url, reused: true };
  let pr: PullRequestInfo;
  if (open) {
    journal?.register(`the title and description of pull request ${open.id}`, () =>
      client.updatePullRequest(repositoryId, open.id, { title: open.title, description: open.description }),
    );
    pr = await client.updatePullRequest(repositoryId, open.id, { title: o.title, description: o.description });
  } else {
    let created: PullRequestInfo | undefined;
    journal?.register(`the pull request from ${o.sourceRef} into ${o.targetRef} (abandoned)`, async () => {
      // There was no active one before: one there now with this run's title is this run's (its
      // create may have landed without an answer).
      const mine = created ?? (await client.findActivePullRequest(repositoryId, o.sourceRef, o.targetRef));
      if (mine && (created || mine.title === o.title)) await client.abandonPullRequest(repositoryId, mine.id);
    });
    pr = created = await client.createPullRequest(repositoryId, {
      sourceRefName: o.sourceRef,
      targetRefName: o.targetRef,
      title: o.title,
      description: o.description,
      isDraft: o.isDraft,
      reviewerIds: o.reviewerIds,
      workItemIds: o.workItemIds,
    });
  }
  if (open && o.reviewerIds?.length) {
    const had = new Set(open.reviewerIds.map((id) => id.toLowerCase()));
    const adding = o.reviewerIds.filter((id) => !had.has(id.toLowerCase()));
    if (adding.length) {
      journal?.register(`the reviewers added to pull request ${open.id}`, async () => {
        const now = await client.findActivePullRequest(repositoryId, o.sourceRef, o.targetRef);
        const present = new Set((now?.id === open.id ? now.reviewerIds : []).map((id) => id.toLowerCase()));
        const added = adding.filter((id) => present.has(id.toLowerCase()));
        if (added.length)
          throw new Error(
            `${added.join(', ')} stay reviewers: Relevo's client does not remove reviewers; remove them on the pull request by hand`,
          );
      });
    }
    await client.addReviewers(repositoryId, pr.id, o.reviewerIds);
  }
  if (o.autoComplete) {
    if (open?.autoCompleteSetById) {
      let sent = false;
      journal?.register(`the auto-complete options of pull request ${open.id}`, () => {
        if (sent) throw new Error('auto-complete was already on before this run, and its merge options stay as this run set them');
      });
      sent = true;
    } else if (open)
      journal?.register(`auto-complete on pull request ${open.id} (off again)`, () => client.cancelAutoComplete(repositoryId, open.id));
    pr = await client.setAutoComplete(repositoryId, pr.id, o.autoComplete);
  }
  return { id: pr.id, url: pr.webUrl ?? pr.url, reused: !!open };
}
