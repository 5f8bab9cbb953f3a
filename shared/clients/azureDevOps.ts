/**
 * The Azure DevOps client of the tasks that talk to Azure DevOps' REST API (UpdateSubmodules,
 * PromoteBranch), built once on azure-devops-node-api (v17).
 *
 * - Plain data in and out: every method returns small typed records, never the library's types.
 * - One retry policy (./http.ts) around every call: 429 and 5xx with Retry-After, bounded in
 *   attempts and time; writes that create something are only repeated when the server cannot
 *   have acted (see classifyHttpFailure).
 * - Every request has a timeout (the library's socket timeout) and the whole call a time bound.
 * - Errors are AzureDevOpsError: Azure DevOps' own message quoted, the request (method and URL,
 *   never the token) and a fix naming the permission and the identity.
 *
 * How it fits the library (v17):
 * - Discovery: `getGitApi()`/`getBuildApi()` first ask `OPTIONS _apis/Location` and
 *   `GET _apis/ResourceAreas` through a LocationsApi that WebApi creates with its own retries
 *   forced on (allowRetries, maxRetries 5, 10–160 ms apart, no Retry-After, 502/503/504 only).
 *   Left as is, that multiplies with our policy (up to 6 × 4 requests) and ignores Retry-After,
 *   so `RelevoWebApi` overrides `getLocationsApi` to build it with our options (library retries
 *   off); the discovery then runs inside our retry loop like any other request.
 * - The api-version goes in the Accept header (`application/json;api-version=7.2-preview.2`),
 *   negotiated down against the area's OPTIONS answer; never in the query string.
 * - A 404 does not reject: the library resolves with a null result and drops the body, so a
 *   missing repository or pull request is detected here from the null, and Azure DevOps' 404
 *   message is not available to quote.
 * - Work items can only be linked when the pull request is created (`workItemRefs` in the create
 *   body). Linking them to an existing pull request needs the work item tracking API (an
 *   ArtifactLink relation per work item) and "Edit work items" for the build identity; not
 *   offered here.
 */
import { organizationOf, tokenGoesTo } from './organization';
import { AsyncLocalStorage } from 'node:async_hooks';
import { STATUS_CODES, type RequestOptions } from 'node:http';
import { WebApi, getBearerHandler } from 'azure-devops-node-api';
import { LocationsApi, type ILocationsApi } from 'azure-devops-node-api/LocationsApi';
import type { IGitApi } from 'azure-devops-node-api/GitApi';
import type { IBuildApi } from 'azure-devops-node-api/BuildApi';
import type { IRequestHandler, IRequestOptions, IHttpClientResponse } from 'azure-devops-node-api/interfaces/common/VsoBaseInterfaces';
import {
  GitPullRequestMergeStrategy,
  GitStatusState,
  PullRequestStatus,
  type GitPullRequest,
  type GitRepository,
} from 'azure-devops-node-api/interfaces/GitInterfaces';
import {
  BuildQueryOrder,
  BuildResult,
  BuildStatus,
  TypeInfo as BuildTypeInfo,
  type Build,
} from 'azure-devops-node-api/interfaces/BuildInterfaces';
import { UserError } from '../errors';
import {
  DeadlineExceededError,
  RetriesExhaustedError,
  classifyHttpFailure,
  parseRetryAfter,
  retryPolicy,
  seconds,
  withRetries,
  type RetryPolicy,
  type RetryVerdict,
} from './http';

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

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

export interface AnnotatedTagInfo {
  name: string;
  /** The tag object's id. */
  objectId: string;
  /** The commit it tags. */
  commit: string;
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
  createAnnotatedTag(repositoryId: string, name: string, commit: string, message: string): Promise<AnnotatedTagInfo>;
}

export type AzureDevOpsErrorKind =
  | 'unauthorized'
  | 'forbidden'
  | 'notFound'
  | 'conflict'
  | 'pullRequestExists'
  | 'policy'
  | 'badRequest'
  | 'throttled'
  | 'unavailable'
  | 'timeout'
  | 'network'
  | 'unsupported'
  | 'other';

/** A call to Azure DevOps that failed; its message quotes Azure DevOps and says what to do. */
export class AzureDevOpsError extends UserError {
  readonly kind: AzureDevOpsErrorKind;
  /** HTTP status, when Azure DevOps answered. */
  readonly status?: number;
  /** Azure DevOps' own message, verbatim. */
  readonly serverMessage?: string;
  readonly typeKey?: string;
  readonly errorCode?: number;
  readonly method?: string;
  /** The request's URL (no credentials are ever in it). */
  readonly url?: string;
  readonly fix: string;
  readonly attempts?: number;

  constructor(
    message: string,
    details: {
      kind: AzureDevOpsErrorKind;
      fix: string;
      status?: number;
      serverMessage?: string;
      typeKey?: string;
      errorCode?: number;
      method?: string;
      url?: string;
      attempts?: number;
      cause?: unknown;
    },
  ) {
    super(message, { fix: details.fix, cause: details.cause });
    this.name = 'AzureDevOpsError';
    this.kind = details.kind;
    this.fix = details.fix;
    this.status = details.status;
    this.serverMessage = details.serverMessage;
    this.typeKey = details.typeKey;
    this.errorCode = details.errorCode;
    this.method = details.method;
    this.url = details.url;
    this.attempts = details.attempts;
  }
}

// ---------------------------------------------------------------------------------------------
// Library plumbing: token handler, request trace, discovery without the library's own retries
// ---------------------------------------------------------------------------------------------

/** The request a call is making right now (method and URL), for error messages. */
interface CallTrace {
  method?: string;
  url?: string;
  attempt?: number;
}
const currentCall = new AsyncLocalStorage<CallTrace>();

/**
 * Puts the job token on requests to the collection's host (and Azure DevOps Services hosts
 * that resource areas point to), never on a redirect elsewhere; records each request's method
 * and URL in the current call's trace.
 */
class JobTokenHandler implements IRequestHandler {
  private readonly bearer: IRequestHandler;

  constructor(
    token: string,
    private readonly protocol: string,
    private readonly collectionHost: string,
    private readonly organization: string,
  ) {
    this.bearer = getBearerHandler(token, true);
  }

  prepareRequest(options: RequestOptions): void {
    const host = String(options.hostname ?? options.host ?? '').toLowerCase();
    if (this.sendsTokenTo(host, String(options.path ?? ''))) this.bearer.prepareRequest(options);
    else if (options.headers) (options.headers as Record<string, string>)['X-TFS-FedAuthRedirect'] = 'Suppress';
    const trace = currentCall.getStore();
    if (trace) {
      const defaultPort = this.protocol === 'https:' ? 443 : 80;
      const port = options.port !== undefined && Number(options.port) !== defaultPort ? `:${options.port}` : '';
      trace.method = options.method ?? 'GET';
      trace.url = `${this.protocol}//${host}${port}${options.path ?? ''}`;
    }
  }

  private sendsTokenTo(host: string, path: string): boolean {
    return tokenGoesTo(host, path, this.collectionHost, this.organization);
  }

  canHandleAuthentication(): boolean {
    return false;
  }

  handleAuthentication(): Promise<IHttpClientResponse> {
    return Promise.reject(new Error('the job token handler does not negotiate authentication'));
  }
}

/** WebApi whose resource-area lookup uses our request options (no library retries). */
class RelevoWebApi extends WebApi {
  override async getLocationsApi(serverUrl?: string, handlers?: IRequestHandler[]): Promise<ILocationsApi> {
    return new LocationsApi(serverUrl || this.serverUrl, handlers || [this.authHandler], this.options, this.userAgent);
  }
}

/** What the library attaches to a failed request (typed-rest-client + v17's rate-limit fields). */
interface LibraryError {
  message?: string;
  statusCode?: number;
  result?: unknown;
  responseHeaders?: Record<string, string | string[] | undefined>;
  rateLimit?: { retryAfter?: number };
  code?: string;
}

const REQUEST_TIMEOUT = /^Request timeout: /;

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

const MERGE_STRATEGY: Record<MergeStrategy, GitPullRequestMergeStrategy> = {
  noFastForward: GitPullRequestMergeStrategy.NoFastForward,
  squash: GitPullRequestMergeStrategy.Squash,
  rebase: GitPullRequestMergeStrategy.Rebase,
  rebaseMerge: GitPullRequestMergeStrategy.RebaseMerge,
};

/** The identity id that, as `autoCompleteSetBy`, turns auto-complete off. */
const EMPTY_IDENTITY = '00000000-0000-0000-0000-000000000000';

/** Azure DevOps refuses longer pull request descriptions. */
/** The builds resource (area build): R "How … finds a route" 3. */
const BUILDS_LOCATION = '0cd358e1-9217-4d94-8269-1c1ee6f93dcf';

export const PULL_REQUEST_DESCRIPTION_LIMIT = 4000;

type Permission = 'read' | 'pullRequestContribute' | 'createTag' | 'viewBuilds';

interface Operation {
  /** "Could not create the pull request from … into …" */
  what: string;
  idempotent: boolean;
  permission?: Permission;
  repository?: string;
  notFoundFix?: string;
  conflictFix?: string;
  source?: string;
  target?: string;
}

export function connectAzureDevOps(options: AzureDevOpsConnectionOptions): AzureDevOpsClient {
  return new Client(options);
}

class Client implements AzureDevOpsClient {
  readonly collectionUri: string;
  readonly project: string;
  private readonly token: string;
  private readonly organization: string;
  private readonly policy: RetryPolicy;
  private readonly web: RelevoWebApi;
  private readonly onRetry?: AzureDevOpsConnectionOptions['onRetry'];
  private gitApi?: Promise<IGitApi>;
  private buildApi?: Promise<IBuildApi>;
  private me?: Promise<{ id: string; displayName?: string }>;
  /** Learnt from repository lookups: tells the project's build identity from the collection's. */
  private projectId?: string;
  private readonly repositoryNames = new Map<string, string>();

  constructor(options: AzureDevOpsConnectionOptions) {
    let uri: URL;
    try {
      uri = new URL(options.collectionUri);
    } catch {
      throw new UserError(`'${options.collectionUri}' is not a collection URL`, {
        fix: 'pass System.TeamFoundationCollectionUri, e.g. https://dev.azure.com/contoso/',
      });
    }
    if (uri.protocol !== 'https:' && uri.protocol !== 'http:')
      throw new UserError(`'${options.collectionUri}' is not an http(s) collection URL`, {
        fix: 'pass System.TeamFoundationCollectionUri, e.g. https://dev.azure.com/contoso/',
      });
    if (!options.token) {
      throw new UserError('there is no job token to call Azure DevOps with', { fix: TOKEN_FIX });
    }
    if (!options.project) throw new UserError('no Azure DevOps project given', { fix: 'pass System.TeamProject' });
    uri.username = '';
    uri.password = '';
    uri.search = '';
    uri.hash = '';
    if (!uri.pathname.endsWith('/')) uri.pathname += '/';
    this.collectionUri = uri.toString();
    this.project = options.project;
    this.token = options.token;
    this.organization = organizationOf(uri);
    this.policy = retryPolicy({ ...options.retry, ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) });
    this.onRetry = options.onRetry;
    const requestOptions: IRequestOptions = {
      socketTimeout: this.policy.timeoutMs,
      // The agent's sockets get the same timeout (typed-rest-client's default agent has 30 s).
      globalAgentOptions: { keepAlive: false, timeout: this.policy.timeoutMs },
      allowRetries: false,
      maxRetries: 0,
    };
    const handler = new JobTokenHandler(options.token, uri.protocol, uri.hostname.toLowerCase(), organizationOf(uri));
    this.web = new RelevoWebApi(this.collectionUri, handler, requestOptions, {
      productName: 'Relevo',
      productVersion: '1',
      userAgent: options.userAgent ?? 'Relevo (azure-devops-node-api)',
    });
  }

  // --- identity -------------------------------------------------------------------------------

  authenticatedUser(): Promise<{ id: string; displayName?: string }> {
    this.me ??= this.call({ what: 'Could not read who the job token belongs to (connectionData)', idempotent: true }, async () => {
      const data = await this.web.connect();
      const user = data?.authenticatedUser;
      if (!user?.id) throw new Error('connectionData has no authenticatedUser.id');
      return { id: user.id, displayName: user.providerDisplayName ?? user.customDisplayName };
    }).catch((err) => {
      this.me = undefined;
      throw err;
    });
    return this.me;
  }

  // --- repositories ---------------------------------------------------------------------------

  async repository(nameOrId: string, project = this.project): Promise<RepositoryInfo> {
    const repo = await this.call(
      {
        what: `Could not read the repository '${nameOrId}' in project '${project}'`,
        idempotent: true,
        permission: 'read',
        repository: nameOrId,
        notFoundFix: this.repositoryNotFoundFix(nameOrId),
      },
      async () => (await this.git()).getRepository(nameOrId, project).then(orNotFound),
    );
    const info = toRepository(repo);
    if (info.project.name.toLowerCase() === this.project.toLowerCase() || info.project.id === this.project)
      this.projectId = info.project.id;
    this.repositoryNames.set(info.id.toLowerCase(), info.name);
    return info;
  }

  // --- pull requests --------------------------------------------------------------------------

  async findActivePullRequest(repositoryId: string, sourceRef: string, targetRef: string): Promise<PullRequestInfo | undefined> {
    const sourceRefName = branchRef(sourceRef);
    const targetRefName = branchRef(targetRef);
    const repo = this.repoLabel(repositoryId);
    const prs = await this.call(
      {
        what: `Could not look for an active pull request from ${sourceRefName} into ${targetRefName} in ${repo}`,
        idempotent: true,
        permission: 'read',
        repository: repositoryId,
        notFoundFix: this.repositoryNotFoundFix(repositoryId),
      },
      async () =>
        (await this.git())
          .getPullRequests(repositoryId, { sourceRefName, targetRefName, status: PullRequestStatus.Active }, this.project)
          .then(orNotFound),
    );
    const match = prs.find((pr) => sameRef(pr.sourceRefName, sourceRefName) && sameRef(pr.targetRefName, targetRefName));
    return match ? toPullRequest(match, this.collectionUri) : undefined;
  }

  async createPullRequest(repositoryId: string, input: CreatePullRequestInput): Promise<PullRequestInfo> {
    if (!input.title?.trim()) throw new UserError('a pull request needs a title');
    const sourceRefName = branchRef(input.sourceRefName);
    const targetRefName = branchRef(input.targetRefName);
    const body: GitPullRequest = {
      sourceRefName,
      targetRefName,
      title: input.title,
      description: limitDescription(input.description ?? ''),
      isDraft: input.isDraft ?? false,
    };
    if (input.reviewerIds?.length) body.reviewers = input.reviewerIds.map((id) => ({ id }));
    if (input.workItemIds?.length) body.workItemRefs = input.workItemIds.map((id) => ({ id: String(id) }));
    const repo = this.repoLabel(repositoryId);
    const pr = await this.call(
      {
        what: `Could not create the pull request from ${sourceRefName} into ${targetRefName} in ${repo}`,
        idempotent: false,
        permission: 'pullRequestContribute',
        repository: repositoryId,
        source: sourceRefName,
        target: targetRefName,
        notFoundFix: this.repositoryNotFoundFix(repositoryId),
      },
      async (attempt) => {
        const git = await this.git();
        try {
          return await git.createPullRequest(body, repositoryId, this.project).then(orNotFound);
        } catch (err) {
          // A retried create that finds "already exists" most likely met its own first attempt.
          if (attempt > 1 && isPullRequestExists(err)) {
            const existing = await git.getPullRequests(
              repositoryId,
              { sourceRefName, targetRefName, status: PullRequestStatus.Active },
              this.project,
            );
            const mine = existing?.find((p) => p.title === input.title);
            if (mine) return mine;
          }
          throw err;
        }
      },
    );
    return toPullRequest(pr, this.collectionUri);
  }

  async updatePullRequest(
    repositoryId: string,
    pullRequestId: number,
    changes: { title?: string; description?: string },
  ): Promise<PullRequestInfo> {
    const body: GitPullRequest = {};
    if (changes.title !== undefined) body.title = changes.title;
    if (changes.description !== undefined) body.description = limitDescription(changes.description);
    const pr = await this.call(
      this.pullRequestOperation(`Could not update pull request ${pullRequestId}`, repositoryId, pullRequestId),
      async () => (await this.git()).updatePullRequest(body, repositoryId, pullRequestId, this.project).then(orNotFound),
    );
    return toPullRequest(pr, this.collectionUri);
  }

  async setAutoComplete(repositoryId: string, pullRequestId: number, options: AutoCompleteOptions): Promise<PullRequestInfo> {
    const mergeStrategy = MERGE_STRATEGY[options.mergeStrategy];
    if (mergeStrategy === undefined)
      throw new UserError(`unknown merge strategy '${options.mergeStrategy}'`, {
        fix: `use one of ${Object.keys(MERGE_STRATEGY).join(', ')}`,
      });
    const me = await this.authenticatedUser();
    const completionOptions: NonNullable<GitPullRequest['completionOptions']> = { mergeStrategy };
    if (options.deleteSourceBranch !== undefined) completionOptions.deleteSourceBranch = options.deleteSourceBranch;
    if (options.transitionWorkItems !== undefined) completionOptions.transitionWorkItems = options.transitionWorkItems;
    if (options.mergeCommitMessage !== undefined) completionOptions.mergeCommitMessage = options.mergeCommitMessage;
    const body: GitPullRequest = { autoCompleteSetBy: { id: me.id }, completionOptions };
    const pr = await this.call(
      this.pullRequestOperation(`Could not set auto-complete on pull request ${pullRequestId}`, repositoryId, pullRequestId),
      async () => (await this.git()).updatePullRequest(body, repositoryId, pullRequestId, this.project).then(orNotFound),
    );
    return toPullRequest(pr, this.collectionUri);
  }

  async abandonPullRequest(repositoryId: string, pullRequestId: number): Promise<PullRequestInfo> {
    const pr = await this.call(
      this.pullRequestOperation(`Could not abandon pull request ${pullRequestId}`, repositoryId, pullRequestId),
      async () =>
        (await this.git())
          .updatePullRequest({ status: PullRequestStatus.Abandoned }, repositoryId, pullRequestId, this.project)
          .then(orNotFound),
    );
    return toPullRequest(pr, this.collectionUri);
  }

  async cancelAutoComplete(repositoryId: string, pullRequestId: number): Promise<PullRequestInfo> {
    const pr = await this.call(
      this.pullRequestOperation(`Could not turn auto-complete off on pull request ${pullRequestId}`, repositoryId, pullRequestId),
      async () =>
        (await this.git())
          .updatePullRequest({ autoCompleteSetBy: { id: EMPTY_IDENTITY } }, repositoryId, pullRequestId, this.project)
          .then(orNotFound),
    );
    return toPullRequest(pr, this.collectionUri);
  }

  async addReviewers(repositoryId: string, pullRequestId: number, reviewerIds: string[]): Promise<string[]> {
    if (reviewerIds.length === 0) return [];
    const op = this.pullRequestOperation(`Could not add reviewers to pull request ${pullRequestId}`, repositoryId, pullRequestId);
    const pr = await this.call({ ...op, what: `Could not read pull request ${pullRequestId}`, permission: 'read' }, async () =>
      (await this.git()).getPullRequest(repositoryId, pullRequestId, this.project).then(orNotFound),
    );
    const present = new Set((pr.reviewers ?? []).map((r) => (r.id ?? '').toLowerCase()));
    const added: string[] = [];
    for (const id of reviewerIds) {
      if (present.has(id.toLowerCase())) continue;
      // PUT …/reviewers/{id} is idempotent for a reviewer who has not voted; voters are skipped above.
      await this.call(op, async () =>
        (await this.git()).createPullRequestReviewer({ id, vote: 0 }, repositoryId, pullRequestId, id, this.project).then(orNotFound),
      );
      present.add(id.toLowerCase());
      added.push(id);
    }
    return added;
  }

  // --- builds and statuses --------------------------------------------------------------------

  async buildsForCommit(
    commit: string,
    options: { definition?: number | string; repositoryId?: string; branch?: string; minTime?: Date; top?: number; maxPages?: number } = {},
  ): Promise<BuildInfo[]> {
    let definitions: number[] | undefined;
    const definition = options.definition;
    if (typeof definition === 'number' || (typeof definition === 'string' && /^\d+$/.test(definition.trim()))) {
      definitions = [Number(definition)];
    } else if (typeof definition === 'string' && definition.trim()) {
      definitions = [await this.definitionId(definition.trim())];
    }
    const top = options.top ?? 200;
    const maxPages = options.minTime ? Infinity : (options.maxPages ?? 50);
    const wanted = commit.toLowerCase();
    const found: BuildInfo[] = [];
    let token: string | undefined;
    for (let page = 0; page < maxPages; page++) {
      const answer = await this.call(
        {
          what: `Could not list the builds of commit ${commit.slice(0, 12)}${definition !== undefined ? ` for pipeline '${definition}'` : ''}`,
          idempotent: true,
          permission: 'viewBuilds',
          notFoundFix: `check that the project '${this.project}' exists and the job token can see it.`,
        },
        () =>
          this.buildsPage({
            definitions,
            minTime: options.minTime,
            top,
            continuationToken: token,
            branchName: options.branch ? branchRef(options.branch) : undefined,
            repositoryId: options.repositoryId,
          }),
      );
      found.push(...answer.builds.filter((b) => (b.sourceVersion ?? '').toLowerCase() === wanted).map(toBuild));
      token = answer.continuationToken;
      if (!token) break;
    }
    return found;
  }

  /**
   * One page of GET _apis/build/builds. BuildApi.getBuilds drops the response headers, and the
   * next page's token is one (`x-ms-continuationtoken`): the same request, made through the
   * library's routing and its rest client, keeping them.
   */
  private async buildsPage(q: {
    definitions?: number[];
    minTime?: Date;
    top: number;
    continuationToken?: string;
    branchName?: string;
    repositoryId?: string;
  }): Promise<{ builds: Build[]; continuationToken?: string }> {
    const api = await this.build();
    const query = {
      definitions: q.definitions?.join(','),
      minTime: q.minTime,
      $top: q.top,
      continuationToken: q.continuationToken,
      queryOrder: BuildQueryOrder.QueueTimeDescending,
      branchName: q.branchName,
      repositoryId: q.repositoryId,
      repositoryType: q.repositoryId ? 'TfsGit' : undefined,
    };
    const versioning = await api.vsoClient.getVersioningData('7.2-preview.7', 'build', BUILDS_LOCATION, { project: this.project }, query);
    const res = await api.rest.get<unknown>(versioning.requestUrl!, api.createRequestOptions('application/json', versioning.apiVersion));
    const builds = orNotFound(api.formatResponse(res.result, BuildTypeInfo.Build, true) as Build[] | null);
    const headers = res.headers as Record<string, string | string[] | undefined>;
    const next = headers['x-ms-continuationtoken'];
    return { builds, continuationToken: (Array.isArray(next) ? next[0] : next) || undefined };
  }

  private async definitionId(name: string): Promise<number> {
    const found = await this.call(
      { what: `Could not look up the pipeline '${name}' in project '${this.project}'`, idempotent: true, permission: 'viewBuilds' },
      async () => (await this.build()).getDefinitions(this.project, name).then(orNotFound),
    );
    const exact = found.filter((d) => (d.name ?? '').toLowerCase() === name.toLowerCase());
    if (exact.length === 1 && exact[0].id !== undefined) return exact[0].id;
    if (exact.length === 0) {
      throw new AzureDevOpsError(`There is no pipeline named '${name}' in project '${this.project}' (or the job token cannot see it).`, {
        kind: 'notFound',
        fix: `give the pipeline's id or its exact name; the job token's identity, ${this.identityNames()}, needs 'View builds' on it.`,
      });
    }
    const list = exact.map((d) => `${d.id} (${(d.path ?? '\\').replace(/\\$/, '')}\\${d.name})`).join(', ');
    throw new AzureDevOpsError(`${exact.length} pipelines are named '${name}' in project '${this.project}': ${list}.`, {
      kind: 'badRequest',
      fix: "give the pipeline's id instead of its name.",
    });
  }

  async commitStatuses(repositoryId: string, commit: string): Promise<CommitStatusInfo[]> {
    const statuses = await this.call(
      {
        what: `Could not read the statuses of commit ${commit.slice(0, 12)} in ${this.repoLabel(repositoryId)}`,
        idempotent: true,
        permission: 'read',
        repository: repositoryId,
        notFoundFix: this.repositoryNotFoundFix(repositoryId),
      },
      // Every status, not latestOnly: the gate takes the newest of each context itself (a failed after a succeeded counts).
      async () => (await this.git()).getStatuses(commit, repositoryId, this.project, undefined, undefined, false).then(orNotFound),
    );
    return statuses.map((s) => ({
      createdAt: s.creationDate ? new Date(s.creationDate).toISOString() : undefined,
      state: enumName(GitStatusState, s.state) ?? 'notSet',
      genre: s.context?.genre || undefined,
      name: s.context?.name ?? '',
      description: s.description || undefined,
      targetUrl: s.targetUrl || undefined,
    }));
  }

  // --- tags -----------------------------------------------------------------------------------

  async createAnnotatedTag(repositoryId: string, name: string, commit: string, message: string): Promise<AnnotatedTagInfo> {
    const tagName = name.replace(/^refs\/tags\//, '');
    if (!tagName) throw new UserError('an annotated tag needs a name');
    if (!/^[0-9a-f]{40}$/i.test(commit)) throw new UserError(`'${commit}' is not a full commit id (40 hexadecimal digits)`);
    if (!message.trim()) throw new UserError(`the tag '${tagName}' needs a message (Azure DevOps refuses annotated tags without one)`);
    const tag = await this.call(
      {
        what: `Could not create the tag '${tagName}' on ${commit.slice(0, 12)} in ${this.repoLabel(repositoryId)}`,
        idempotent: false,
        permission: 'createTag',
        repository: repositoryId,
        notFoundFix: this.repositoryNotFoundFix(repositoryId),
        conflictFix: `the tag '${tagName}' already exists in the repository: a release of that version was made before. Delete the stray tag, or release the next version.`,
      },
      async () =>
        (await this.git())
          .createAnnotatedTag({ name: tagName, message, taggedObject: { objectId: commit } }, this.project, repositoryId)
          .then(orNotFound),
    );
    return { name: tag.name ?? tagName, objectId: tag.objectId ?? '', commit: tag.taggedObject?.objectId ?? commit };
  }

  // --- plumbing -------------------------------------------------------------------------------

  private git(): Promise<IGitApi> {
    this.gitApi ??= this.web.getGitApi().catch((err) => {
      this.gitApi = undefined;
      throw err;
    });
    return this.gitApi;
  }

  private build(): Promise<IBuildApi> {
    this.buildApi ??= this.web.getBuildApi().catch((err) => {
      this.buildApi = undefined;
      throw err;
    });
    return this.buildApi;
  }

  private pullRequestOperation(what: string, repositoryId: string, pullRequestId: number): Operation {
    return {
      what: `${what} in ${this.repoLabel(repositoryId)}`,
      idempotent: true,
      permission: 'pullRequestContribute',
      repository: repositoryId,
      notFoundFix: `pull request ${pullRequestId} does not exist in ${this.repoLabel(repositoryId)}, or the repository cannot be seen with the job token; check the id (a pull request that was deleted cannot be updated).`,
    };
  }

  /** One logical call: retried per the policy, its failure turned into an AzureDevOpsError. */
  private async call<T>(op: Operation, run: (attempt: number) => Promise<T>): Promise<T> {
    const trace: CallTrace = {};
    try {
      return await withRetries(
        (attempt) => {
          trace.attempt = attempt;
          return currentCall.run(trace, () => run(attempt));
        },
        (err) => this.classify(err, op.idempotent),
        this.policy,
        (event) =>
          this.onRetry?.({ method: trace.method, url: trace.url, attempt: event.attempt, delayMs: event.delayMs, reason: event.reason }),
      );
    } catch (err) {
      throw this.toError(err, op, trace);
    }
  }

  private classify(err: unknown, idempotent: boolean): RetryVerdict {
    if (err instanceof AzureDevOpsError || err instanceof UserError) return { retry: false };
    const e = (err ?? {}) as LibraryError;
    return classifyHttpFailure(
      {
        status: typeof e.statusCode === 'number' ? e.statusCode : undefined,
        code: typeof e.code === 'string' ? e.code : undefined,
        timedOut: typeof e.message === 'string' && REQUEST_TIMEOUT.test(e.message),
        retryAfterMs: retryAfterOf(e, this.policy.now()),
      },
      idempotent,
    );
  }

  private toError(err: unknown, op: Operation, trace: CallTrace): Error {
    if (err instanceof AzureDevOpsError) return err;
    if (err instanceof UserError) return err;
    let inner = err;
    let note: string | undefined;
    if (err instanceof RetriesExhaustedError) {
      inner = err.lastError;
      note = err.reason;
    }
    const e = (inner ?? {}) as LibraryError;
    const method = trace.method;
    const url = trace.url ? stripCredentials(trace.url) : undefined;
    const request = method && url ? `${method} ${url}` : 'the request';
    const redact = (text: string) => (this.token.length >= 8 ? text.split(this.token).join('***') : text);
    const withNote = (text: string) => (note ? `${text} (${note})` : text);
    const attempts = trace.attempt;
    const common = { method, url, attempts, cause: inner };

    if (inner instanceof DeadlineExceededError) {
      return new AzureDevOpsError(
        redact(`${op.what}: ${request} was still unanswered when the ${seconds(inner.maxTotalMs)} bound for this call ran out (${note}).`),
        {
          ...common,
          kind: 'timeout',
          fix: this.networkFix(),
        },
      );
    }

    const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
    if (status === undefined) {
      const message = typeof e.message === 'string' ? e.message : String(inner);
      if (REQUEST_TIMEOUT.test(message)) {
        return new AzureDevOpsError(
          redact(withNote(`${op.what}: ${request} did not answer within ${seconds(this.policy.timeoutMs)}`)) + '.',
          {
            ...common,
            kind: 'timeout',
            fix: this.networkFix(),
          },
        );
      }
      if (typeof e.code === 'string') {
        return new AzureDevOpsError(redact(withNote(`${op.what}: ${request} failed: ${message}`)) + '.', {
          ...common,
          kind: 'network',
          fix: this.networkFix(),
        });
      }
      if (/Failed to find api location|Could not find information for resource area/.test(message)) {
        return new AzureDevOpsError(redact(`${op.what}: this Azure DevOps does not offer the API the call needs (${message}).`), {
          ...common,
          kind: 'unsupported',
          fix: 'use Azure DevOps Services or Azure DevOps Server 2022 or newer.',
        });
      }
      return new AzureDevOpsError(redact(withNote(`${op.what}: ${message}`)), {
        ...common,
        kind: 'other',
        fix: 'see the message above; re-run if it was a passing failure.',
      });
    }

    const body = e.result && typeof e.result === 'object' ? (e.result as Record<string, unknown>) : undefined;
    const serverMessage =
      typeof body?.message === 'string'
        ? body.message
        : typeof e.message === 'string' && !/^Failed request: \(\d+\)$/.test(e.message) && e.message !== 'Not Found'
          ? e.message
          : undefined;
    const typeKey = typeof body?.typeKey === 'string' ? body.typeKey : undefined;
    const errorCode = typeof body?.errorCode === 'number' ? body.errorCode : undefined;
    const { kind, fix } = this.explain(status, op, serverMessage, typeKey);
    const answered = `${request} answered ${status} ${STATUS_CODES[status] ?? ''}`.trimEnd() + (typeKey ? ` (${typeKey})` : '');
    const quoted = serverMessage ? `: "${serverMessage.trim()}"` : '';
    const text = withNote(`${op.what}: ${answered}${quoted}`);
    return new AzureDevOpsError(redact(/["')]$/.test(text) ? text : `${text}.`), {
      ...common,
      kind,
      fix: redact(fix),
      status,
      serverMessage: serverMessage === undefined ? undefined : redact(serverMessage),
      typeKey,
      errorCode,
    });
  }

  private explain(status: number, op: Operation, serverMessage = '', typeKey = ''): { kind: AzureDevOpsErrorKind; fix: string } {
    if (status === 401) return { kind: 'unauthorized', fix: TOKEN_FIX };
    if (/TF40245\d|TF402460|PolicyViolation|rejected by (a )?polic/i.test(`${serverMessage} ${typeKey}`)) {
      return {
        kind: 'policy',
        fix: `a branch policy refused it (quoted above). Grant ${this.identityNames()} 'Bypass policies when completing pull requests' / 'Bypass policies when pushing' on the repository only if the policy should not apply to the pipeline; otherwise go through a pull request that satisfies the policy.`,
      };
    }
    if (status === 403) return { kind: 'forbidden', fix: this.permissionFix(op, serverMessage) };
    if (status === 404) return { kind: 'notFound', fix: op.notFoundFix ?? 'check the names and ids passed to the task.' };
    if (status === 409 && (/TF401179/.test(serverMessage) || /PullRequestExists/i.test(typeKey))) {
      return {
        kind: 'pullRequestExists',
        fix: `an active pull request from ${op.source ?? 'the source branch'} into ${op.target ?? 'the target branch'} already exists; Azure DevOps allows one at a time. Reuse it (findActivePullRequest) or complete or abandon it first.`,
      };
    }
    if (status === 409)
      return {
        kind: 'conflict',
        fix: op.conflictFix ?? 'the object already exists or was changed meanwhile; re-run to start from the current state.',
      };
    if (status === 429)
      return {
        kind: 'throttled',
        fix: 'Azure DevOps throttled this identity and the retry bound was reached: re-run later, or spread out pipelines that call Azure DevOps at the same time.',
      };
    if (status >= 500)
      return { kind: 'unavailable', fix: 'Azure DevOps failed or is unavailable (see https://status.dev.azure.com); re-run the job.' };
    if (status === 400)
      return { kind: 'badRequest', fix: 'Azure DevOps refused the request as quoted above; correct the inputs it names.' };
    return { kind: 'other', fix: "see Azure DevOps' message above." };
  }

  private permissionFix(op: Operation, serverMessage: string): string {
    const who = this.identityFromMessage(serverMessage) ?? this.identityNames();
    const repo = op.repository ? this.repoLabel(op.repository) : 'the repository';
    const where = `Project settings → Repositories → ${op.repository ? (this.repositoryNames.get(op.repository.toLowerCase()) ?? op.repository) : '(repository)'} → Security`;
    switch (op.permission) {
      case 'pullRequestContribute':
        return `give ${who} 'Contribute to pull requests' on ${repo} (${where}).`;
      case 'createTag':
        return `give ${who} 'Create tag' on ${repo} (${where}).`;
      case 'viewBuilds':
        return `give ${who} 'View builds' on the pipeline (Pipelines → the pipeline → ⋯ → Manage security), or project-wide under Project settings → Pipelines → Security.`;
      case 'read':
        return `give ${who} 'Read' on ${repo} (${where}).`;
      default:
        return `give ${who} the permission Azure DevOps names above.`;
    }
  }

  /** Both build identities, quoted: which one the job token is depends on the job's authorization scope. */
  private identityNames(): string {
    return `"${this.project} Build Service (${this.organization})" or, when 'Limit job authorization scope to current project' is off, "Project Collection Build Service (${this.organization})"`;
  }

  /** TF401027 names the identity as `Build\<guid>`: the project's id means the project's build identity. */
  private identityFromMessage(serverMessage: string): string | undefined {
    const match = /identity '(?:[^'\\]*\\)?([0-9a-f-]{36})'/i.exec(serverMessage);
    if (!match || !this.projectId) return undefined;
    return match[1].toLowerCase() === this.projectId.toLowerCase()
      ? `"${this.project} Build Service (${this.organization})" (the job token's identity, Build\\${match[1]})`
      : `"Project Collection Build Service (${this.organization})" (the job token's identity, Build\\${match[1]})`;
  }

  private repositoryNotFoundFix(nameOrId: string): string {
    return (
      `check the name. If '${nameOrId}' exists, the job token cannot see it: new organizations turn on 'Limit job authorization scope to referenced repositories', ` +
      `so declare it under resources.repositories (or check it out) in the pipeline; if it is in another project, turn off 'Limit job authorization scope to current project' ` +
      `or give "Project Collection Build Service (${this.organization})" Read on it.`
    );
  }

  private networkFix(): string {
    return `the agent could not reach ${new URL(this.collectionUri).host} in time: check the agent's network and proxy, and https://status.dev.azure.com; re-run the job.`;
  }

  private repoLabel(repositoryId: string): string {
    const name = this.repositoryNames.get(repositoryId.toLowerCase());
    return name ? `repository '${name}'` : `repository '${repositoryId}'`;
  }
}

const TOKEN_FIX =
  "Azure DevOps did not accept the job token: it is missing, expired or revoked. In classic pipelines turn on 'Allow scripts to access the OAuth token' on the agent job; " +
  'if the token is passed in explicitly, map System.AccessToken (env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)); a token also expires when a job outlives it, so re-run the job.';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** The library resolves a 404 with null: turn it back into a 404 failure. */
function orNotFound<T>(value: T | null | undefined): T {
  if (value === null || value === undefined) throw Object.assign(new Error('Not Found'), { statusCode: 404 });
  return value;
}

function isPullRequestExists(err: unknown): boolean {
  const e = (err ?? {}) as LibraryError;
  const body = (e.result ?? {}) as { typeKey?: unknown; message?: unknown };
  return (
    e.statusCode === 409 && (body.typeKey === 'GitPullRequestExistsException' || /TF401179/.test(String(body.message ?? e.message ?? '')))
  );
}

function retryAfterOf(e: LibraryError, now: number): number | undefined {
  const header = e.responseHeaders?.['retry-after'];
  const fromHeader = parseRetryAfter(header, now);
  if (fromHeader !== undefined) return fromHeader;
  // v17 keeps the header's number on err.rateLimit even when the body was not JSON (and
  // responseHeaders is empty); an HTTP date there is lost (the library parses it with parseInt).
  return parseRetryAfter(e.rateLimit?.retryAfter, now);
}

function stripCredentials(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url;
  }
}

/** The organization (or collection) name in a collection URL, for the build identities' names. */

function branchRef(ref: string): string {
  const r = ref.trim();
  return r.startsWith('refs/') ? r : `refs/heads/${r}`;
}

function sameRef(a: string | undefined, b: string): boolean {
  return (a ?? '').toLowerCase() === b.toLowerCase();
}

function limitDescription(text: string): string {
  if (text.length <= PULL_REQUEST_DESCRIPTION_LIMIT) return text;
  const marker = '\n\n… (truncated)';
  return text.slice(0, PULL_REQUEST_DESCRIPTION_LIMIT - marker.length) + marker;
}

/** `GitStatusState.Succeeded` (2) → "succeeded". */
function enumName(enumObject: Record<string | number, string | number>, value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const name = typeof value === 'number' ? enumObject[value] : String(value);
  return typeof name === 'string' ? name.charAt(0).toLowerCase() + name.slice(1) : undefined;
}

function toRepository(repo: GitRepository): RepositoryInfo {
  return {
    id: repo.id ?? '',
    name: repo.name ?? '',
    remoteUrl: repo.remoteUrl ?? '',
    webUrl: repo.webUrl,
    defaultBranch: repo.defaultBranch || undefined,
    project: { id: repo.project?.id ?? '', name: repo.project?.name ?? '' },
  };
}

/** `collectionUri`: the web address when the answer has no repository webUrl (a PATCH's answer may not): never the REST URL. */
function toPullRequest(pr: GitPullRequest, collectionUri: string): PullRequestInfo {
  const repo = pr.repository;
  const webBase =
    repo?.webUrl ??
    (repo?.name && repo.project?.name
      ? `${collectionUri}${encodeURIComponent(repo.project.name)}/_git/${encodeURIComponent(repo.name)}`
      : undefined);
  return {
    id: pr.pullRequestId ?? 0,
    title: pr.title ?? '',
    description: pr.description ?? '',
    sourceRefName: pr.sourceRefName ?? '',
    targetRefName: pr.targetRefName ?? '',
    isDraft: pr.isDraft ?? false,
    status: enumName(PullRequestStatus, pr.status) ?? 'notSet',
    url: pr.url ?? '',
    webUrl: webBase && pr.pullRequestId !== undefined ? `${webBase}/pullrequest/${pr.pullRequestId}` : undefined,
    reviewerIds: (pr.reviewers ?? []).map((r) => r.id ?? '').filter(Boolean),
    autoCompleteSetById: pr.autoCompleteSetBy?.id && pr.autoCompleteSetBy.id !== EMPTY_IDENTITY ? pr.autoCompleteSetBy.id : undefined,
  };
}

function toBuild(b: Build): BuildInfo {
  const web = (b._links as { web?: { href?: string } } | undefined)?.web?.href;
  return {
    id: b.id ?? 0,
    buildNumber: b.buildNumber,
    definitionId: b.definition?.id ?? 0,
    definitionName: b.definition?.name ?? '',
    status: enumName(BuildStatus, b.status) ?? 'none',
    result: enumName(BuildResult, b.result),
    sourceVersion: b.sourceVersion ?? '',
    sourceBranch: b.sourceBranch,
    url: web ?? b.url ?? '',
  };
}

export { organizationOf, tokenGoesTo } from './organization';
