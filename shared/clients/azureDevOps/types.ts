/**
 * The Azure DevOps client's public types: plain records in and out, never the library's types.
 */
import type { RetryPolicy } from '../http';

export interface AzureDevOpsConnectionOptions {
  /** `System.TeamFoundationCollectionUri`, e.g. https://dev.azure.com/contoso/ */
  collectionUri: string;
  /** The job token (`System.AccessToken`). Sent as a bearer token to the collection's host only. */
  token: string;
  /** Project name or id (`System.TeamProject`). */
  project: string;
  /** Overrides of the retry policy (attempts, total time, backoff, sleep for tests). */
  retry?: Partial<RetryPolicy>;
  /** Timeout of one request without an answer, in ms (default 30 s; same as retry.timeoutMs). */
  timeoutMs?: number;
  userAgent?: string;
  /** Told about each retry (for a debug line): never carries the token. */
  onRetry?: (event: { method?: string; url?: string; attempt: number; delayMs: number; reason: string }) => void;
}

export interface RepositoryInfo {
  id: string;
  name: string;
  remoteUrl: string;
  webUrl?: string;
  /** `refs/heads/main`; undefined for an empty repository. */
  defaultBranch?: string;
  project: { id: string; name: string };
}

export interface PullRequestInfo {
  id: number;
  title: string;
  description: string;
  sourceRefName: string;
  targetRefName: string;
  isDraft: boolean;
  status: string;
  /** The REST URL of the pull request. */
  url: string;
  /** The page people open (`…/_git/<repo>/pullrequest/<id>`), when Azure DevOps says it. */
  webUrl?: string;
  reviewerIds: string[];
  autoCompleteSetById?: string;
}

export interface CreatePullRequestInput {
  sourceRefName: string;
  targetRefName: string;
  title: string;
  description?: string;
  isDraft?: boolean;
  /** Identity ids (GUIDs) of people or groups. */
  reviewerIds?: string[];
  /** Work item ids, linked on creation. */
  workItemIds?: Array<number | string>;
}

export type MergeStrategy = 'noFastForward' | 'squash' | 'rebase' | 'rebaseMerge';

export interface AutoCompleteOptions {
  mergeStrategy: MergeStrategy;
  deleteSourceBranch?: boolean;
  transitionWorkItems?: boolean;
  mergeCommitMessage?: string;
}

export interface BuildInfo {
  id: number;
  buildNumber?: string;
  definitionId: number;
  definitionName: string;
  /** `inProgress`, `completed`, `notStarted`, `cancelling`, `postponed`, `none` */
  status: string;
  /** `succeeded`, `partiallySucceeded`, `failed`, `canceled`, `none`; undefined while running */
  result?: string;
  sourceVersion: string;
  sourceBranch?: string;
  /** The build's page when Azure DevOps gives it, otherwise its REST URL. */
  url: string;
}

export interface CommitStatusInfo {
  /** `succeeded`, `failed`, `pending`, `error`, `notApplicable`, `notSet` */
  state: string;
  /** When it was posted (ISO 8601): a later status of the same context replaces it. */
  createdAt?: string;
  genre?: string;
  name: string;
  description?: string;
  targetUrl?: string;
}

export interface AzureDevOpsClient {
  readonly collectionUri: string;
  readonly project: string;
  /** The identity behind the token (`connectionData.authenticatedUser`). */
  authenticatedUser(): Promise<{ id: string; displayName?: string }>;
  /** By name or id, in the client's project or in `project` (a repository of another project of the collection). */
  repository(nameOrId: string, project?: string): Promise<RepositoryInfo>;
  findActivePullRequest(repositoryId: string, sourceRef: string, targetRef: string): Promise<PullRequestInfo | undefined>;
  createPullRequest(repositoryId: string, input: CreatePullRequestInput): Promise<PullRequestInfo>;
  updatePullRequest(
    repositoryId: string,
    pullRequestId: number,
    changes: { title?: string; description?: string },
  ): Promise<PullRequestInfo>;
  setAutoComplete(repositoryId: string, pullRequestId: number, options: AutoCompleteOptions): Promise<PullRequestInfo>;
  /** Abandons a pull request (status `abandoned`): what undoes one this run opened. */
  abandonPullRequest(repositoryId: string, pullRequestId: number): Promise<PullRequestInfo>;
  /** Turns auto-complete off (Azure DevOps: `autoCompleteSetBy` set to the empty identity, as `az repos pr update --auto-complete false` does). */
  cancelAutoComplete(repositoryId: string, pullRequestId: number): Promise<PullRequestInfo>;
  /** Adds the reviewers the pull request does not have yet (existing votes are left alone); returns those added. */
  addReviewers(repositoryId: string, pullRequestId: number, reviewerIds: string[]): Promise<string[]>;
  /**
   * Builds of `commit`, newest first: every page (`x-ms-continuationtoken`) of the builds
   * narrowed by pipeline (id or name), repository, branch and `minTime` (queued since), `top`
   * (default 200) a page. The API has no commit filter: without `minTime` the walk stops after
   * `maxPages` (default 50) pages.
   */
  buildsForCommit(
    commit: string,
    options?: { definition?: number | string; repositoryId?: string; branch?: string; minTime?: Date; top?: number; maxPages?: number },
  ): Promise<BuildInfo[]>;
  /** Every status posted on `commit` (not only the latest of each context), newest first, each with its creation date. */
  commitStatuses(repositoryId: string, commit: string): Promise<CommitStatusInfo[]>;
}
