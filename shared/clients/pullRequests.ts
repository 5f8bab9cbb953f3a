/**
 * Opening a pull request the way the tasks need it: reuse the open one for the same source and
 * target (updating its title, description and reviewers) instead of opening another; then
 * auto-complete, which Azure DevOps only takes in a PATCH after creation.
 */
import type { AutoCompleteOptions, AzureDevOpsClient } from './azureDevOps';

export interface PullRequestOptions {
  sourceRef: string;
  targetRef: string;
  title: string;
  description: string;
  reviewerIds?: string[];
  workItemIds?: number[];
  isDraft?: boolean;
  autoComplete?: AutoCompleteOptions;
}

export async function openOrUpdatePullRequest(client: AzureDevOpsClient, repositoryId: string, o: PullRequestOptions): Promise<{ id: number; url: string; reused: boolean }> {
  const open = await client.findActivePullRequest(repositoryId, o.sourceRef, o.targetRef);
  let pr = open
    ? await client.updatePullRequest(repositoryId, open.id, { title: o.title, description: o.description })
    : await client.createPullRequest(repositoryId, {
        sourceRefName: o.sourceRef,
        targetRefName: o.targetRef,
        title: o.title,
        description: o.description,
        isDraft: o.isDraft,
        reviewerIds: o.reviewerIds,
        workItemIds: o.workItemIds,
      });
  if (open && o.reviewerIds?.length) await client.addReviewers(repositoryId, pr.id, o.reviewerIds);
  if (o.autoComplete) pr = await client.setAutoComplete(repositoryId, pr.id, o.autoComplete);
  return { id: pr.id, url: pr.webUrl ?? pr.url, reused: !!open };
}
