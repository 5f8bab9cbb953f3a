/**
 * The Azure DevOps client: each method one logical call (see ./transport.ts), its answer turned
 * into the plain records of ./types.ts.
 */
import type { WebApi } from 'azure-devops-node-api';
import type { IGitApi } from 'azure-devops-node-api/GitApi';
import type { IBuildApi } from 'azure-devops-node-api/BuildApi';
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
import { UserError } from '../../errors';
import { retryPolicy, type RetryPolicy } from '../http';
import { organizationOf } from '../organization';
import { AzureDevOpsError, ErrorTranslator, TOKEN_FIX, type Operation } from './errors';
import { call, createWebApi, isPullRequestExists, orNotFound } from './transport';
import type {
  AutoCompleteOptions,
  AzureDevOpsClient,
  AzureDevOpsConnectionOptions,
  BuildInfo,
  CommitStatusInfo,
  CreatePullRequestInput,
  MergeStrategy,
  PullRequestInfo,
  RepositoryInfo,
} from './types';

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

export function connectAzureDevOps(options: AzureDevOpsConnectionOptions): AzureDevOpsClient {
  return new Client(options);
}

class Client implements AzureDevOpsClient {
  readonly collectionUri: string;
  readonly project: string;
  private readonly policy: RetryPolicy;
  private readonly web: WebApi;
  private readonly errors: ErrorTranslator;
  private readonly onRetry?: AzureDevOpsConnectionOptions['onRetry'];
  private gitApi?: Promise<IGitApi>;
  private buildApi?: Promise<IBuildApi>;
  private me?: Promise<{ id: string; displayName?: string }>;

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
    const organization = organizationOf(uri);
    this.policy = retryPolicy({ ...options.retry, ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) });
    this.onRetry = options.onRetry;
    this.errors = new ErrorTranslator(this.collectionUri, this.project, organization, options.token, this.policy.timeoutMs);
    this.web = createWebApi(uri, organization, options.token, this.policy, options.userAgent);
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
        notFoundFix: this.errors.repositoryNotFoundFix(nameOrId),
      },
      async () => (await this.git()).getRepository(nameOrId, project).then(orNotFound),
    );
    const info = toRepository(repo);
    if (info.project.name.toLowerCase() === this.project.toLowerCase() || info.project.id === this.project)
      this.errors.projectId = info.project.id;
    this.errors.learnRepository(info.id, info.name);
    return info;
  }

  // --- pull requests --------------------------------------------------------------------------

  async findActivePullRequest(repositoryId: string, sourceRef: string, targetRef: string): Promise<PullRequestInfo | undefined> {
    const sourceRefName = branchRef(sourceRef);
    const targetRefName = branchRef(targetRef);
    const repo = this.errors.repoLabel(repositoryId);
    const prs = await this.call(
      {
        what: `Could not look for an active pull request from ${sourceRefName} into ${targetRefName} in ${repo}`,
        idempotent: true,
        permission: 'read',
        repository: repositoryId,
        notFoundFix: this.errors.repositoryNotFoundFix(repositoryId),
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
    const repo = this.errors.repoLabel(repositoryId);
    const pr = await this.call(
      {
        what: `Could not create the pull request from ${sourceRefName} into ${targetRefName} in ${repo}`,
        idempotent: false,
        permission: 'pullRequestContribute',
        repository: repositoryId,
        source: sourceRefName,
        target: targetRefName,
        notFoundFix: this.errors.repositoryNotFoundFix(repositoryId),
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
        fix: `give the pipeline's id or its exact name; the job token's identity, ${this.errors.identityNames()}, needs 'View builds' on it.`,
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
        what: `Could not read the statuses of commit ${commit.slice(0, 12)} in ${this.errors.repoLabel(repositoryId)}`,
        idempotent: true,
        permission: 'read',
        repository: repositoryId,
        notFoundFix: this.errors.repositoryNotFoundFix(repositoryId),
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
      what: `${what} in ${this.errors.repoLabel(repositoryId)}`,
      idempotent: true,
      permission: 'pullRequestContribute',
      repository: repositoryId,
      notFoundFix: `pull request ${pullRequestId} does not exist in ${this.errors.repoLabel(repositoryId)}, or the repository cannot be seen with the job token; check the id (a pull request that was deleted cannot be updated).`,
    };
  }

  /** One logical call: retried per the policy, its failure turned into an AzureDevOpsError. */
  private call<T>(op: Operation, run: (attempt: number) => Promise<T>): Promise<T> {
    return call(op, run, this.policy, this.errors, this.onRetry);
  }
}

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
