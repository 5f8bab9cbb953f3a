/**
 * The Azure DevOps contract server: the one place the tests say what Azure DevOps answers to
 * the calls of shared/clients/azureDevOps/. HTTP on 127.0.0.1, random port, one organization
 * ("org"), one bearer token it accepts; stops by itself after `lifetimeMs` and on `stop()`.
 *
 * It answers the discovery azure-devops-node-api v17 really does (OPTIONS per area with the
 * route templates and versions, ResourceAreas, connectionData) and then exactly the endpoints
 * below, with Azure DevOps' status codes and error bodies. The api-version is read where the
 * library sends it, the Accept header (`application/json;api-version=7.2-preview.2`), or from the
 * query string, and checked against the advertised versions as Azure DevOps does.
 *
 * Sources: R = /work/shared/reference/azure-devops-rest.md (table row or section), L = the
 * library source (node_modules/azure-devops-node-api v17: WebApi.js, VsoClient.js, GitApi.js,
 * BuildApi.js, LocationsApi.js), I = a public issue quoting Azure DevOps' answer. "modeled"
 * marks a body text not taken from a source (shape as Azure DevOps' errors, wording ours).
 *
 * | method  | path (after /org/)                                                     | answers                                             | source |
 * |---------|------------------------------------------------------------------------|-----------------------------------------------------|--------|
 * | OPTIONS | _apis/Location                                                         | locations of ConnectionData, ResourceAreas          | R "How … finds a route" 1; L LocationsApi.getResourceAreas |
 * | GET     | _apis/ResourceAreas                                                    | services: [{id,name,locationUrl}] for git and build; onPremises: {"count":0,"value":null} | R 1; L WebApi._getResourceAreaUrl |
 * | GET     | _apis/connectionData                                                   | authenticatedUser {id, providerDisplayName}         | R 1 + "Auto-complete" row; L WebApi.connect (no api-version) |
 * | OPTIONS | _apis/git, _apis/build                                                 | {count,value:[ApiResourceLocation]}                 | R 2, 3; L VsoClient.beginGetAreaLocations |
 * | GET     | {project}/_apis/git/repositories/{nameOrId}                            | 200 repository; 404 TF401019 (missing or hidden)    | R "Repository by name"; L GitApi.getRepository |
 * | GET     | {project}/_apis/git/repositories/{repo}/pullRequests?searchCriteria.*  | 200 {count,value}                                   | R "Find open PRs"; L GitApi.getPullRequests |
 * | POST    | {project}/_apis/git/repositories/{repo}/pullRequests                   | 201; 409 TF401179; 400 TF401398; 403 TF401027       | R "Pull request"; I Azure/azure-cli#29914 (TF401179), shayki5/azure-devops-create-pr-task#120 (TF401398), githubnext/ado-aw docs (TF401027) |
 * | GET     | {project}/_apis/git/repositories/{repo}/pullRequests/{id}              | 200; 404 TF401180 (modeled)                         | L GitApi.getPullRequest |
 * | PATCH   | {project}/_apis/git/repositories/{repo}/pullRequests/{id}              | 200 (title, description, autoCompleteSetBy (the empty id turns it off), completionOptions, status, isDraft); 403 | R "Auto-complete"; L GitApi.updatePullRequest; azure-devops-cli-extension update_pull_request (EMPTY_UUID) |
 * | PUT     | {project}/_apis/git/repositories/{repo}/pullRequests/{id}/reviewers/{reviewerId} | 200 reviewer; 403                         | brief; L GitApi.createPullRequestReviewer |
 * | GET     | {project}/_apis/git/repositories/{repo}/commits/{commit}/statuses      | 200 {count,value}, newest first; latestOnly          | R "Commit statuses"; L GitApi.getStatuses |
 * | GET     | {project}/_apis/build/definitions?name=                                | 200 {count,value}; 403 (modeled)                    | L BuildApi.getDefinitions |
 * | GET     | {project}/_apis/build/builds?definitions=&repositoryId=&branchName=&minTime=&$top=&continuationToken=&queryOrder= | 200 {count,value}, at most $top newest first, the next page's token in x-ms-continuationtoken; 403 (modeled) | R "Builds for a commit"; L BuildApi.getBuilds |
 *
 * Everything needs `Authorization: Bearer <token>`: otherwise 401 TF400813 with WWW-Authenticate.
 * Faults (`fail`): the next N requests matching a path answer a status (503, 429 + Retry-After,
 * any Azure DevOps error body), or are never answered (`hang`, for timeouts). `failAt(k)`: the
 * k-th request from then on, whatever it is (discovery included), gets a fault's answer (default
 * 403 TF401027, which no client retries), for the tests that fail every answer of a run in turn;
 * `failFrom(k)`: every request from the k-th on (the service down from there, undo included).
 * A pull request is abandoned by a PATCH with `status: abandoned` (or its enum value 2).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenLocal, type Fault } from './localServer';

export type { Fault } from './localServer';
import { createHash, randomUUID } from 'node:crypto';

// ---------------------------------------------------------------------------------------------
// Locations (ids from the reference, checked against GitApi.js / BuildApi.js / LocationsApi.js)
// ---------------------------------------------------------------------------------------------

export const AREA_IDS = { git: '4e080c62-fa21-4fbc-8fef-2a10a2b38049', build: '965220d5-5bb9-42cf-8d67-9b146df2a5a4' } as const;

export const LOCATION_IDS = {
  connectionData: '00d9565f-ed9c-4a06-9a50-00e7896ccab4',
  resourceAreas: 'e81700f7-3be2-46de-8624-2eb35882fcaa',
  repositories: '225f7195-f9c7-4d14-ab28-a83f7ff77e1f',
  pullRequests: '9946fd70-0d40-406e-b686-b4744cbbcc37',
  pullRequestReviewers: '4b6702c7-aa35-4b89-9c96-b9abf6d3e540',
  statuses: '428dd4fb-fda5-4722-af02-9313b80305da',
  builds: '0cd358e1-9217-4d94-8269-1c1ee6f93dcf',
  definitions: 'dbeaf647-6167-421a-bda9-c9327b25e2e6',
} as const;

interface Location {
  id: string;
  area: string;
  resourceName: string;
  routeTemplate: string;
  resourceVersion: number;
  preview?: boolean;
}

/** Route templates as Azure DevOps advertises them; resourceVersion = what the v17 client asks for. */
const LOCATIONS: Location[] = [
  {
    id: LOCATION_IDS.connectionData,
    area: 'Location',
    resourceName: 'ConnectionData',
    routeTemplate: '_apis/{resource}',
    resourceVersion: 1,
    preview: true,
  },
  {
    id: LOCATION_IDS.resourceAreas,
    area: 'Location',
    resourceName: 'ResourceAreas',
    routeTemplate: '_apis/{resource}/{areaId}',
    resourceVersion: 1,
    preview: true,
  },
  {
    id: LOCATION_IDS.repositories,
    area: 'git',
    resourceName: 'repositories',
    routeTemplate: '{project}/_apis/git/{resource}/{repositoryId}',
    resourceVersion: 2,
  },
  {
    id: LOCATION_IDS.pullRequests,
    area: 'git',
    resourceName: 'pullRequests',
    routeTemplate: '{project}/_apis/git/repositories/{repositoryId}/{resource}/{pullRequestId}',
    resourceVersion: 2,
  },
  {
    id: LOCATION_IDS.pullRequestReviewers,
    area: 'git',
    resourceName: 'reviewers',
    routeTemplate: '{project}/_apis/git/repositories/{repositoryId}/pullRequests/{pullRequestId}/{resource}/{reviewerId}',
    resourceVersion: 1,
  },
  {
    id: LOCATION_IDS.statuses,
    area: 'git',
    resourceName: 'statuses',
    routeTemplate: '{project}/_apis/git/repositories/{repositoryId}/commits/{commitId}/{resource}',
    resourceVersion: 2,
  },
  {
    id: LOCATION_IDS.builds,
    area: 'build',
    resourceName: 'builds',
    routeTemplate: '{project}/_apis/build/{resource}/{buildId}',
    resourceVersion: 7,
  },
  {
    id: LOCATION_IDS.definitions,
    area: 'build',
    resourceName: 'definitions',
    routeTemplate: '{project}/_apis/build/{resource}/{definitionId}',
    resourceVersion: 7,
  },
];

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

export type Permission = 'pullRequestContribute' | 'viewBuilds';

export interface ProjectRecord {
  id: string;
  name: string;
}
export interface RepositoryRecord {
  id: string;
  name: string;
  projectId: string;
  defaultBranch?: string;
  /** When set, pull requests between other refs are refused (TF401398). */
  branches?: string[];
  /** Not visible to the job token (job authorization scope): 404 like a missing one. */
  hidden?: boolean;
}
export interface PullRequestRecord {
  pullRequestId: number;
  repositoryId: string;
  sourceRefName: string;
  targetRefName: string;
  title: string;
  description: string;
  isDraft: boolean;
  status: 'active' | 'abandoned' | 'completed';
  reviewers: Array<{ id: string; vote: number; isRequired?: boolean }>;
  workItemRefs: Array<{ id: string }>;
  createdBy: { id: string; displayName: string };
  creationDate: string;
  autoCompleteSetBy?: { id: string };
  completionOptions?: Record<string, unknown>;
}
export interface DefinitionRecord {
  id: number;
  name: string;
  path: string;
  projectId: string;
}
export interface BuildRecord {
  id: number;
  buildNumber: string;
  definitionId: number;
  projectId: string;
  repositoryId?: string;
  sourceVersion: string;
  sourceBranch: string;
  status: 'notStarted' | 'inProgress' | 'completed' | 'cancelling' | 'postponed';
  result?: 'succeeded' | 'partiallySucceeded' | 'failed' | 'canceled';
  queueTime: string;
}
export interface StatusRecord {
  repositoryId: string;
  commitId: string;
  state: 'pending' | 'succeeded' | 'failed' | 'error' | 'notApplicable';
  context: { genre?: string; name: string };
  description?: string;
  targetUrl?: string;
  creationDate: string;
}

export interface ServerState {
  /** The identity behind the token (connectionData.authenticatedUser). */
  user: { id: string; displayName: string };
  /** Which build identity the token is: TF401027 names `Build\<project id>` or `Build\<collection guid>`. */
  identityScope: 'project' | 'collection';
  collectionBuildIdentityId: string;
  projects: ProjectRecord[];
  repositories: RepositoryRecord[];
  pullRequests: PullRequestRecord[];
  definitions: DefinitionRecord[];
  builds: BuildRecord[];
  statuses: StatusRecord[];
  /** Permissions the build identity lacks: the calls that need them answer 403. */
  denied: Set<Permission>;
}

export interface RecordedRequest {
  method: string;
  /** Decoded path, e.g. `/org/Data Platform/_apis/git/repositories/ingest`. */
  path: string;
  query: Record<string, string>;
  /** From the Accept header (`api-version=`) or the query string. */
  apiVersion?: string;
  /** Whether an Authorization header came, and whether it was the accepted bearer token. */
  authorization: 'none' | 'valid' | 'invalid';
  body?: unknown;
  status?: number;
}

export interface AzureDevOpsServerOptions {
  token?: string;
  organization?: string;
  project?: string;
  lifetimeMs?: number;
  /** `services` (default): ResourceAreas lists git and build; `onPremises`: {"count":0,"value":null}. */
  resourceAreas?: 'services' | 'onPremises';
  /** Versions advertised by every location (default max 7.2, released 7.1, as Azure DevOps Services). */
  maxVersion?: string;
  releasedVersion?: string;
}

/** How `failNth` fails its request: as a Fault, or (`acted`) with the service having done what was asked before the answer is lost. */
export type NthFault = Omit<Fault, 'path' | 'times' | 'method'> & { acted?: boolean };

export interface AzureDevOpsServer {
  /** The collection URI, `http://127.0.0.1:<port>/org/`. */
  url: string;
  token: string;
  organization: string;
  /** The default project. */
  project: ProjectRecord;
  state: ServerState;
  requests: RecordedRequest[];
  fail(fault: Fault): void;
  /**
   * The `n`-th request from now on (counting every request, discovery included) gets this
   * answer instead (default: 500 with Azure DevOps' error body); the tests that fail each
   * answer in turn. `answered()` counts the requests since the last call.
   */
  failNth(n: number, fault?: NthFault): void;
  /** The k-th request from now on answers `fault` (default 403 TF401027, the build identity lacking Contribute); 0: none. Restarts the count (failNth with another default). */
  failAt(k: number, fault?: NthFault): void;
  /** Every request from the k-th on answers `fault` (default 403 TF401027): the service down from there on, undo included; 0: none. */
  failFrom(k: number, fault?: NthFault): void;
  /** Called with each request before it is answered (synchronously: what it does happens before the answer). */
  onRequest(fn: ((request: RecordedRequest) => void) | undefined): void;
  answered(): number;
  addRepository(name: string, options?: Partial<Omit<RepositoryRecord, 'name'>>): RepositoryRecord;
  addDefinition(name: string, options?: Partial<Omit<DefinitionRecord, 'name'>>): DefinitionRecord;
  addBuild(build: Partial<BuildRecord> & { definitionId: number; sourceVersion: string }): BuildRecord;
  addStatus(
    repositoryId: string,
    commitId: string,
    status: Partial<StatusRecord> & { state: StatusRecord['state']; context: StatusRecord['context'] },
  ): StatusRecord;
  /** Requests whose decoded path ends with `suffix` (case-insensitive), discovery excluded unless asked. */
  requestsTo(suffix: string, method?: string): RecordedRequest[];
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Azure DevOps error bodies
// ---------------------------------------------------------------------------------------------

export function adoError(typeKey: string, message: string, namespace = 'Microsoft.TeamFoundation.Git.Server'): Record<string, unknown> {
  return {
    $id: '1',
    innerException: null,
    message,
    typeName: `${namespace}.${typeKey}, ${namespace}`,
    typeKey,
    errorCode: 0,
    eventId: 3000,
  };
}

class Reply {
  constructor(
    readonly status: number,
    readonly body?: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}
const json = (status: number, body: unknown, headers?: Record<string, string>) => new Reply(status, body, headers);
/** The most builds one answer holds, whatever $top asks (modeled: the service caps its pages). */
export const BUILDS_PAGE_LIMIT = 1000;
const list = (value: unknown[]) => json(200, { count: value.length, value });

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

interface Context {
  method: string;
  segments: string[]; // decoded, after /org/
  query: Record<string, string>;
  body: unknown;
  apiVersion?: string;
}

interface Route {
  method: string;
  /** Matched against the decoded path after /org/, case-insensitively. */
  pattern: RegExp;
  location?: string;
  handle: (ctx: Context, match: string[]) => Reply;
}

export async function startAzureDevOpsServer(options: AzureDevOpsServerOptions = {}): Promise<AzureDevOpsServer> {
  const token = options.token ?? `test-token-${randomUUID()}`;
  const organization = options.organization ?? 'org';
  const maxVersion = options.maxVersion ?? '7.2';
  const releasedVersion = options.releasedVersion ?? '7.1';
  const project: ProjectRecord = { id: randomUUID(), name: options.project ?? 'Data Platform' };
  const state: ServerState = {
    user: { id: randomUUID(), displayName: `${project.name} Build Service (${organization})` },
    identityScope: 'project',
    collectionBuildIdentityId: randomUUID(),
    projects: [project],
    repositories: [],
    pullRequests: [],
    definitions: [],
    builds: [],
    statuses: [],
    denied: new Set(),
  };
  const requests: RecordedRequest[] = [];
  const faults: Array<Fault & { left: number }> = [];
  let counted = 0;
  let nth: { at: number; fault: NthFault; onward?: boolean } | undefined;
  let onRequest: ((request: RecordedRequest) => void) | undefined;
  const failNth = (n: number, fault: NthFault = {}) => {
    counted = 0;
    nth = n > 0 ? { at: n, fault: { status: 500, ...fault } } : undefined;
  };
  let nextPullRequestId = 1;
  let nextDefinitionId = 1;
  let nextBuildId = 100;
  /** Continuation tokens of the builds list (opaque to the client): where the next page starts. */
  const pageTokens = new Map<string, number>();
  let lastQueued = 0;
  let base = ''; // http://127.0.0.1:port/org/

  // --- lookups ----------------------------------------------------------------------------------

  const projectOf = (nameOrId: string) =>
    state.projects.find((p) => p.id.toLowerCase() === nameOrId.toLowerCase() || p.name.toLowerCase() === nameOrId.toLowerCase());
  const needProject = (nameOrId: string): ProjectRecord => {
    const p = projectOf(nameOrId);
    if (!p)
      throw json(
        404,
        adoError(
          'ProjectDoesNotExistWithNameException',
          `VS800075: The project with id 'vstfs:///Classification/TeamProject/${nameOrId}' does not exist, or you do not have permission to access it.`,
          'Microsoft.TeamFoundation.Core.WebApi',
        ),
      );
    return p;
  };
  const needRepository = (projectName: string, nameOrId: string): RepositoryRecord => {
    const p = needProject(projectName);
    const key = nameOrId.toLowerCase();
    const repo = state.repositories.find((r) => r.projectId === p.id && (r.id.toLowerCase() === key || r.name.toLowerCase() === key));
    if (!repo || repo.hidden) {
      throw json(
        404,
        adoError(
          'GitRepositoryNotFoundException',
          `TF401019: The Git repository with name or identifier ${nameOrId} does not exist or you do not have permissions for the operation you are attempting.`,
        ),
      );
    }
    return repo;
  };
  const needPullRequest = (repo: RepositoryRecord, id: string): PullRequestRecord => {
    const pr = state.pullRequests.find((p) => p.repositoryId === repo.id && String(p.pullRequestId) === id);
    if (!pr) throw json(404, adoError('GitPullRequestNotFoundException', 'TF401180: The requested pull request was not found.'));
    return pr;
  };
  const identity = () => `Build\\${state.identityScope === 'project' ? project.id : state.collectionBuildIdentityId}`;
  const needPermission = (permission: Permission, gitName: string) => {
    if (!state.denied.has(permission)) return;
    if (permission === 'viewBuilds') {
      // modeled: the wording is ours, the shape is Azure DevOps' error body.
      throw json(
        403,
        adoError(
          'AccessDeniedException',
          `Access denied. ${state.user.displayName} needs View builds permissions for the pipelines in team project ${project.name} to perform the action.`,
          'Microsoft.TeamFoundation.Build.WebApi',
        ),
      );
    }
    throw json(
      403,
      adoError(
        'GitNeedsPermissionException',
        `TF401027: You need the Git '${gitName}' permission to perform this action. Details: identity '${identity()}', scope 'repository'.`,
      ),
    );
  };
  const badRequest = (typeKey: string, message: string) => json(400, adoError(typeKey, message));

  // --- JSON shapes --------------------------------------------------------------------------------

  const projectJson = (p: ProjectRecord) => ({
    id: p.id,
    name: p.name,
    url: `${base}_apis/projects/${p.id}`,
    state: 'wellFormed',
    visibility: 'private',
  });
  const repositoryJson = (r: RepositoryRecord) => {
    const p = state.projects.find((x) => x.id === r.projectId)!;
    const web = `${base}${encodeURIComponent(p.name)}/_git/${encodeURIComponent(r.name)}`;
    return {
      id: r.id,
      name: r.name,
      url: `${base}${p.id}/_apis/git/repositories/${r.id}`,
      project: projectJson(p),
      ...(r.defaultBranch ? { defaultBranch: r.defaultBranch } : {}),
      size: 0,
      remoteUrl: web,
      sshUrl: `git@127.0.0.1:v3/${organization}/${p.name}/${r.name}`,
      webUrl: web,
      isDisabled: false,
      isInMaintenance: false,
    };
  };
  const MERGE_STRATEGIES = ['', 'noFastForward', 'squash', 'rebase', 'rebaseMerge'];
  const pullRequestJson = (pr: PullRequestRecord) => {
    const repo = state.repositories.find((r) => r.id === pr.repositoryId)!;
    const completionOptions = pr.completionOptions && {
      ...pr.completionOptions,
      ...(typeof pr.completionOptions.mergeStrategy === 'number'
        ? { mergeStrategy: MERGE_STRATEGIES[pr.completionOptions.mergeStrategy] }
        : {}),
    };
    return {
      repository: repositoryJson(repo),
      pullRequestId: pr.pullRequestId,
      codeReviewId: pr.pullRequestId,
      status: pr.status,
      createdBy: pr.createdBy,
      creationDate: pr.creationDate,
      title: pr.title,
      description: pr.description,
      sourceRefName: pr.sourceRefName,
      targetRefName: pr.targetRefName,
      mergeStatus: 'succeeded',
      isDraft: pr.isDraft,
      mergeId: createHash('sha1').update(`merge${pr.pullRequestId}`).digest('hex'),
      reviewers: pr.reviewers.map((r) => ({
        id: r.id,
        vote: r.vote,
        isRequired: r.isRequired ?? false,
        hasDeclined: false,
        isFlagged: false,
      })),
      url: `${base}${repo.projectId}/_apis/git/repositories/${repo.id}/pullRequests/${pr.pullRequestId}`,
      supportsIterations: true,
      artifactId: `vstfs:///Git/PullRequestId/${repo.projectId}%2f${repo.id}%2f${pr.pullRequestId}`,
      ...(pr.autoCompleteSetBy ? { autoCompleteSetBy: pr.autoCompleteSetBy } : {}),
      ...(completionOptions ? { completionOptions } : {}),
    };
  };
  const definitionJson = (d: DefinitionRecord) => ({
    id: d.id,
    name: d.name,
    path: d.path,
    type: 'build',
    queueStatus: 'enabled',
    revision: 1,
    project: projectJson(needProject(d.projectId)),
    url: `${base}${d.projectId}/_apis/build/Definitions/${d.id}`,
  });
  const buildJson = (b: BuildRecord) => {
    const d = state.definitions.find((x) => x.id === b.definitionId);
    const p = needProject(b.projectId);
    return {
      id: b.id,
      buildNumber: b.buildNumber,
      status: b.status,
      ...(b.result ? { result: b.result } : {}),
      queueTime: b.queueTime,
      sourceBranch: b.sourceBranch,
      sourceVersion: b.sourceVersion,
      definition: { id: b.definitionId, name: d?.name ?? `definition ${b.definitionId}`, path: d?.path ?? '\\', type: 'build' },
      project: projectJson(p),
      ...(b.repositoryId ? { repository: { id: b.repositoryId, type: 'TfsGit' } } : {}),
      url: `${base}${p.id}/_apis/build/Builds/${b.id}`,
      _links: { web: { href: `${base}${encodeURIComponent(p.name)}/_build/results?buildId=${b.id}` } },
    };
  };

  // --- routes (the table at the top of the file) ------------------------------------------------

  const R = '([^/]+)/_apis/git/repositories/([^/]+)';
  const routes: Route[] = [
    { method: 'OPTIONS', pattern: /^_apis\/location$/i, handle: () => list(locationsOf('Location')) },
    {
      method: 'GET',
      pattern: /^_apis\/resourceareas(?:\/[^/]+)?$/i,
      location: LOCATION_IDS.resourceAreas,
      handle: () =>
        options.resourceAreas === 'onPremises'
          ? json(200, { count: 0, value: null })
          : list([
              { id: AREA_IDS.git, name: 'git', locationUrl: base },
              { id: AREA_IDS.build, name: 'build', locationUrl: base },
            ]),
    },
    {
      method: 'GET',
      pattern: /^_apis\/connectiondata$/i,
      handle: () => {
        const user = {
          id: state.user.id,
          descriptor: `Microsoft.TeamFoundation.ServiceIdentity;build:${identity().slice('Build\\'.length)}`,
          providerDisplayName: state.user.displayName,
          isActive: true,
          properties: {},
          resourceVersion: 2,
          metaTypeId: 255,
        };
        return json(200, {
          authenticatedUser: user,
          authorizedUser: user,
          instanceId: randomUUID(),
          deploymentType: 'hosted',
          locationServiceData: { serviceOwner: '00025394-6065-48ca-87d9-7f5672854ef7', defaultAccessMappingMoniker: 'PublicAccessMapping' },
        });
      },
    },
    { method: 'OPTIONS', pattern: /^_apis\/(git|build)$/i, handle: (_ctx, m) => list(locationsOf(m[1].toLowerCase())) },
    {
      method: 'GET',
      pattern: new RegExp(`^${R}$`, 'i'),
      location: LOCATION_IDS.repositories,
      handle: (_ctx, m) => json(200, repositoryJson(needRepository(m[1], m[2]))),
    },
    {
      method: 'GET',
      pattern: new RegExp(`^${R}/pullrequests$`, 'i'),
      location: LOCATION_IDS.pullRequests,
      handle: (ctx, m) => {
        const repo = needRepository(m[1], m[2]);
        const q = ctx.query;
        const status = (q['searchCriteria.status'] ?? 'active').toLowerCase();
        const wanted = ({ '1': 'active', '2': 'abandoned', '3': 'completed', '4': 'all' } as Record<string, string>)[status] ?? status;
        const same = (a: string, b: string | undefined) => b === undefined || a.toLowerCase() === b.toLowerCase();
        const found = state.pullRequests
          .filter((p) => p.repositoryId === repo.id && (wanted === 'all' || p.status === wanted))
          .filter(
            (p) => same(p.sourceRefName, q['searchCriteria.sourceRefName']) && same(p.targetRefName, q['searchCriteria.targetRefName']),
          )
          .sort((a, b) => b.pullRequestId - a.pullRequestId)
          .slice(0, q.$top ? Number(q.$top) : 101);
        return list(found.map(pullRequestJson));
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`^${R}/pullrequests$`, 'i'),
      location: LOCATION_IDS.pullRequests,
      handle: (ctx, m) => {
        const repo = needRepository(m[1], m[2]);
        needPermission('pullRequestContribute', 'PullRequestContribute');
        const body = (ctx.body ?? {}) as Record<string, unknown>;
        const source = typeof body.sourceRefName === 'string' ? body.sourceRefName : '';
        const target = typeof body.targetRefName === 'string' ? body.targetRefName : '';
        if (!source || !target)
          return badRequest(
            'InvalidArgumentValueException',
            'The source and target branch of a pull request must be given (sourceRefName, targetRefName).',
          ); // modeled
        if (repo.branches && (!repo.branches.includes(source) || !repo.branches.includes(target))) {
          return badRequest(
            'GitPullRequestCannotBeActivated',
            'TF401398: The pull request cannot be activated because the source and/or the target branch no longer exists, or the requested refs are not branches',
          );
        }
        const description = typeof body.description === 'string' ? body.description : '';
        if (description.length > 4000)
          return badRequest(
            'InvalidArgumentValueException',
            'The pull request description is too long: at most 4000 characters are allowed.',
          ); // modeled
        const exists = state.pullRequests.some(
          (p) => p.repositoryId === repo.id && p.status === 'active' && p.sourceRefName === source && p.targetRefName === target,
        );
        if (exists)
          return json(
            409,
            adoError('GitPullRequestExistsException', 'TF401179: An active pull request for the source and target branch already exists.'),
          );
        const ids = (v: unknown) => (Array.isArray(v) ? v.map((x) => String((x as { id?: unknown })?.id ?? '')).filter(Boolean) : []);
        // Auto-complete fields in a create body are ignored (R "Pull request" row).
        const pr: PullRequestRecord = {
          pullRequestId: nextPullRequestId++,
          repositoryId: repo.id,
          sourceRefName: source,
          targetRefName: target,
          title: String(body.title ?? ''),
          description,
          isDraft: body.isDraft === true,
          status: 'active',
          reviewers: ids(body.reviewers).map((id) => ({ id, vote: 0 })),
          workItemRefs: ids(body.workItemRefs).map((id) => ({ id })),
          createdBy: { id: state.user.id, displayName: state.user.displayName },
          creationDate: new Date().toISOString(),
        };
        state.pullRequests.push(pr);
        return json(201, pullRequestJson(pr));
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^${R}/pullrequests/(\\d+)$`, 'i'),
      location: LOCATION_IDS.pullRequests,
      handle: (_ctx, m) => json(200, pullRequestJson(needPullRequest(needRepository(m[1], m[2]), m[3]))),
    },
    {
      method: 'PATCH',
      pattern: new RegExp(`^${R}/pullrequests/(\\d+)$`, 'i'),
      location: LOCATION_IDS.pullRequests,
      handle: (ctx, m) => {
        const pr = needPullRequest(needRepository(m[1], m[2]), m[3]);
        needPermission('pullRequestContribute', 'PullRequestContribute');
        const body = (ctx.body ?? {}) as Record<string, unknown>;
        if (typeof body.title === 'string') pr.title = body.title;
        if (typeof body.description === 'string') {
          if (body.description.length > 4000)
            return badRequest(
              'InvalidArgumentValueException',
              'The pull request description is too long: at most 4000 characters are allowed.',
            ); // modeled
          pr.description = body.description;
        }
        if (typeof body.isDraft === 'boolean') pr.isDraft = body.isDraft;
        if (body.status === 'abandoned' || body.status === 2) pr.status = 'abandoned';
        if (body.status === 'active' || body.status === 1) pr.status = 'active';
        const setBy = body.autoCompleteSetBy as { id?: unknown } | undefined;
        // The empty identity turns auto-complete off (as `az repos pr update --auto-complete false` sends it).
        if (setBy && typeof setBy.id === 'string') {
          if (/^0{8}-0{4}-0{4}-0{4}-0{12}$/.test(setBy.id)) {
            delete pr.autoCompleteSetBy;
          } else pr.autoCompleteSetBy = { id: setBy.id };
        }
        if (body.completionOptions && typeof body.completionOptions === 'object') {
          const options = { ...(pr.completionOptions ?? {}), ...(body.completionOptions as Record<string, unknown>) };
          if (typeof options.mergeStrategy === 'string') options.mergeStrategy = MERGE_STRATEGIES.indexOf(options.mergeStrategy);
          pr.completionOptions = options;
        }
        return json(200, pullRequestJson(pr));
      },
    },
    {
      method: 'PUT',
      pattern: new RegExp(`^${R}/pullrequests/(\\d+)/reviewers/([^/]+)$`, 'i'),
      location: LOCATION_IDS.pullRequestReviewers,
      handle: (ctx, m) => {
        const pr = needPullRequest(needRepository(m[1], m[2]), m[3]);
        needPermission('pullRequestContribute', 'PullRequestContribute');
        const reviewerId = m[4];
        if (!/^[0-9a-f-]{36}$/i.test(reviewerId))
          return badRequest('InvalidArgumentValueException', `The reviewer id '${reviewerId}' is not an identity id.`); // modeled
        const body = (ctx.body ?? {}) as { vote?: unknown; isRequired?: unknown };
        let reviewer = pr.reviewers.find((r) => r.id.toLowerCase() === reviewerId.toLowerCase());
        if (!reviewer) pr.reviewers.push((reviewer = { id: reviewerId, vote: 0 }));
        if (typeof body.vote === 'number') reviewer.vote = body.vote;
        if (typeof body.isRequired === 'boolean') reviewer.isRequired = body.isRequired;
        return json(200, {
          id: reviewer.id,
          vote: reviewer.vote,
          isRequired: reviewer.isRequired ?? false,
          hasDeclined: false,
          isFlagged: false,
        });
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^${R}/commits/([0-9a-f]+)/statuses$`, 'i'),
      location: LOCATION_IDS.statuses,
      handle: (ctx, m) => {
        const repo = needRepository(m[1], m[2]);
        const commit = m[3].toLowerCase();
        let found = state.statuses
          .filter((s) => s.repositoryId === repo.id && s.commitId.toLowerCase() === commit)
          .sort((a, b) => b.creationDate.localeCompare(a.creationDate));
        if (ctx.query.latestOnly === 'true') {
          const seen = new Set<string>();
          found = found.filter((s) => {
            const key = `${s.context.genre ?? ''}/${s.context.name}`.toLowerCase();
            if (seen.has(key)) return false;
            seen.add(key);
            return true;
          });
        }
        return list(
          found.map((s, i) => ({
            id: i + 1,
            state: s.state,
            description: s.description,
            context: s.context,
            creationDate: s.creationDate,
            updatedDate: s.creationDate,
            targetUrl: s.targetUrl,
            createdBy: { id: state.user.id, displayName: state.user.displayName },
          })),
        );
      },
    },
    {
      method: 'GET',
      pattern: /^([^/]+)\/_apis\/build\/definitions$/i,
      location: LOCATION_IDS.definitions,
      handle: (ctx, m) => {
        const p = needProject(m[1]);
        needPermission('viewBuilds', '');
        const name = ctx.query.name;
        const pattern =
          name === undefined ? undefined : new RegExp(`^${name.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i');
        return list(state.definitions.filter((d) => d.projectId === p.id && (!pattern || pattern.test(d.name))).map(definitionJson));
      },
    },
    {
      method: 'GET',
      pattern: /^([^/]+)\/_apis\/build\/builds$/i,
      location: LOCATION_IDS.builds,
      handle: (ctx, m) => {
        const p = needProject(m[1]);
        needPermission('viewBuilds', '');
        const q = ctx.query;
        const definitions = q.definitions ? q.definitions.split(',').map(Number) : undefined;
        const order = (q.queryOrder ?? '').toLowerCase();
        let found = state.builds.filter((b) => b.projectId === p.id && (!definitions || definitions.includes(b.definitionId)));
        if (q.repositoryId) found = found.filter((b) => (b.repositoryId ?? '').toLowerCase() === q.repositoryId.toLowerCase());
        if (q.branchName) found = found.filter((b) => b.sourceBranch === q.branchName);
        // minTime: builds queued at or after it (the order is by queue time).
        if (q.minTime) {
          const min = Date.parse(q.minTime);
          if (Number.isNaN(min)) return badRequest('InvalidArgumentValueException', `'${q.minTime}' is not a valid date.`); // modeled
          found = found.filter((b) => Date.parse(b.queueTime) >= min);
        }
        found.sort((a, b) =>
          order === 'queuetimeascending' || order === '5'
            ? a.queueTime.localeCompare(b.queueTime) || a.id - b.id
            : b.queueTime.localeCompare(a.queueTime) || b.id - a.id,
        );
        // R "Builds for a commit": at most $top a page; the next page's token in x-ms-continuationtoken, sent back as continuationToken=.
        const top = Math.min(q.$top ? Number(q.$top) : BUILDS_PAGE_LIMIT, BUILDS_PAGE_LIMIT);
        let from = 0;
        if (q.continuationToken) {
          const token = pageTokens.get(q.continuationToken);
          if (token === undefined) return badRequest('InvalidArgumentValueException', 'The continuation token is not valid.'); // modeled
          from = token;
        }
        const page = found.slice(from, from + top);
        const headers: Record<string, string> = {};
        if (from + top < found.length) {
          const token = randomUUID().replace(/-/g, '');
          pageTokens.set(token, from + top);
          headers['x-ms-continuationtoken'] = token;
        }
        return json(200, { count: page.length, value: page.map(buildJson) }, headers);
      },
    },
  ];

  function locationsOf(area: string) {
    return LOCATIONS.filter((l) => l.area.toLowerCase() === area.toLowerCase()).map((l) => ({
      id: l.id,
      area: l.area,
      resourceName: l.resourceName,
      routeTemplate: l.routeTemplate,
      resourceVersion: l.resourceVersion,
      minVersion: '1.0',
      maxVersion,
      releasedVersion: l.preview ? '0.0' : releasedVersion,
    }));
  }

  /** Azure DevOps' api-version rules against one location; an error reply or undefined. */
  function checkVersion(method: string, requested: string | undefined, locationId: string): Reply | undefined {
    const loc = LOCATIONS.find((l) => l.id === locationId)!;
    const released = loc.preview ? 0 : Number(releasedVersion);
    if (!requested) {
      if (method === 'GET') return undefined;
      return json(
        400,
        adoError(
          'VssVersionNotSpecifiedException',
          `No api-version was supplied for the ${method} request. An api-version must be supplied for any non-GET request.`,
          'Microsoft.VisualStudio.Services.WebApi',
        ),
      ); // modeled
    }
    const m = /^(\d+\.\d+)(-preview(?:\.(\d+))?)?$/.exec(requested);
    if (!m)
      return json(
        400,
        adoError('VssInvalidApiVersionException', `The api-version '${requested}' is not valid.`, 'Microsoft.VisualStudio.Services.WebApi'),
      ); // modeled
    const version = Number(m[1]);
    if (version > Number(maxVersion) || (m[3] !== undefined && Number(m[3]) > loc.resourceVersion)) {
      return json(
        400,
        adoError(
          'VssVersionOutOfRangeException',
          `The requested REST API version of ${requested} is out of range for this server. The latest REST API version this server supports is ${maxVersion}.`,
          'Microsoft.VisualStudio.Services.WebApi',
        ),
      );
    }
    if (version > released && !m[2]) {
      return json(
        400,
        adoError(
          'VssInvalidPreviewVersionException',
          `The requested version "${requested}" of the resource is under preview. The -preview flag must be supplied in the api-version for such requests. For example: "${requested}-preview"`,
          'Microsoft.VisualStudio.Services.WebApi',
        ),
      );
    }
    return undefined;
  }

  // --- HTTP ---------------------------------------------------------------------------------------

  const prefix = `/${organization.toLowerCase()}/`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parsed = new URL(req.url ?? '/', 'http://127.0.0.1');
    const rawPath = parsed.pathname;
    const decodedPath = rawPath.split('/').map(safeDecode).join('/');
    const query: Record<string, string> = {};
    parsed.searchParams.forEach((value, key) => (query[key] = value));
    const accept = String(req.headers.accept ?? '');
    const apiVersion = /api-version=([^;,\s]+)/i.exec(accept)?.[1] ?? query['api-version'];
    const auth = req.headers.authorization;
    const authorization: RecordedRequest['authorization'] = auth === undefined ? 'none' : auth === `Bearer ${token}` ? 'valid' : 'invalid';
    const text = await readBody(req);
    let body: unknown;
    let badJson = false;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        badJson = true;
        body = text;
      }
    }
    const method = (req.method ?? 'GET').toUpperCase();
    const record: RecordedRequest = {
      method,
      path: decodedPath,
      query,
      apiVersion,
      authorization,
      ...(body !== undefined ? { body } : {}),
    };
    requests.push(record);
    // The test acts while the request waits (another run pushing while this one's gate is asked).
    onRequest?.(record);

    const send = (reply: Reply) => {
      record.status = reply.status;
      const headers: Record<string, string> = { ...reply.headers };
      let payload = '';
      if (reply.body !== undefined) {
        if (typeof reply.body === 'string') {
          payload = reply.body;
          headers['content-type'] ??= 'text/plain; charset=utf-8';
        } else {
          payload = JSON.stringify(reply.body);
          headers['content-type'] ??= `application/json; charset=utf-8${apiVersion ? `; api-version=${apiVersion}` : ''}`;
        }
      }
      headers['content-length'] = String(Buffer.byteLength(payload));
      res.writeHead(reply.status, headers);
      res.end(payload);
    };

    if (!decodedPath.toLowerCase().startsWith(prefix))
      return send(json(404, adoError('HttpException', `No organization at ${decodedPath}.`, 'System.Web'))); // modeled
    const rest = decodedPath.slice(prefix.length);
    // Faults come first: a gateway or throttler answers before the service looks at the request.
    counted++;
    const mine = nth && (nth.at === counted || (nth.onward && counted > nth.at)) ? nth.fault : undefined;
    // `acted`: the request is served, then its answer replaced by the failure (a gateway error after the service acted).
    const lost = mine?.acted ? mine : undefined;
    const fault =
      mine && !lost
        ? { ...mine, path: rest, left: 1 }
        : faults.find(
            (f) =>
              f.left > 0 &&
              (!f.method || f.method.toUpperCase() === method) &&
              (typeof f.path === 'string' ? rest.toLowerCase().includes(f.path.toLowerCase()) : f.path.test(rest)),
          );
    if (fault) {
      fault.left--;
      if (fault.hang) {
        record.status = 0;
        return; // never answered; the socket is destroyed by the client's timeout or by stop()
      }
      const status = fault.status ?? 503;
      return send(json(status, fault.body ?? defaultFaultBody(status), fault.headers));
    }
    if (authorization !== 'valid') {
      return send(
        json(
          401,
          adoError(
            'UnauthorizedRequestException',
            'TF400813: Resource not available for anonymous access. Client authentication required.',
            'Microsoft.TeamFoundation.Framework.Server',
          ),
          { 'www-authenticate': 'Bearer authorization_uri=https://login.microsoftonline.com/common' },
        ),
      );
    }
    if (badJson) return send(badRequest('VssRequestContentException', 'The request body is not valid JSON.')); // modeled
    for (const route of routes) {
      if (route.method !== method) continue;
      const m = route.pattern.exec(rest);
      if (!m) continue;
      if (route.location) {
        const versionError = checkVersion(method, apiVersion, route.location);
        if (versionError) return send(versionError);
      }
      const answer = (reply: Reply) =>
        send(lost ? json(lost.status ?? 500, lost.body ?? defaultFaultBody(lost.status ?? 500), lost.headers) : reply);
      try {
        return answer(route.handle({ method, segments: rest.split('/'), query, body, apiVersion }, m));
      } catch (err) {
        if (err instanceof Reply) return answer(err);
        return send(json(500, adoError('InternalServerErrorException', `contract server bug: ${(err as Error).message}`, 'Relevo.Test')));
      }
    }
    return send(
      json(
        404,
        adoError('RouteNotFoundException', `The contract server has no ${method} route for /${organization}/${rest}.`, 'Relevo.Test'),
      ),
    );
  }

  function defaultFaultBody(status: number): unknown {
    if (status === 429)
      return adoError(
        'RequestThrottledException',
        'TF400733: The request has been throttled. Retry after the delay the Retry-After header gives.',
        'Microsoft.VisualStudio.Services.WebApi',
      ); // modeled
    if (status === 503)
      return adoError(
        'ServiceUnavailableException',
        'TF400898: The service is temporarily unavailable. Try again later.',
        'Microsoft.VisualStudio.Services.WebApi',
      ); // modeled
    return adoError('InternalServerErrorException', `The server answered ${status}.`, 'Microsoft.VisualStudio.Services.WebApi'); // modeled
  }

  const { port, stop } = await listenLocal(handle, options.lifetimeMs);
  base = `http://127.0.0.1:${port}/${organization}/`;

  return {
    url: base,
    token,
    organization,
    project,
    state,
    requests,
    fail(fault) {
      faults.push({ ...fault, left: fault.times ?? 1 });
    },
    failNth,
    failAt(k, fault = {}) {
      const body = adoError(
        'GitNeedsPermissionException',
        `TF401027: You need the Git 'GenericContribute' permission to perform this action. Details: identity '${identity()}', scope 'repository'.`,
      );
      failNth(k, { status: 403, body, ...fault });
    },
    failFrom(k, fault = {}) {
      const body = adoError(
        'GitNeedsPermissionException',
        `TF401027: You need the Git 'GenericContribute' permission to perform this action. Details: identity '${identity()}', scope 'repository'.`,
      );
      failNth(k, { status: 403, body, ...fault });
      if (nth) nth.onward = true;
    },
    onRequest(fn) {
      onRequest = fn;
    },
    answered: () => counted,
    addRepository(name, extra = {}) {
      const repo: RepositoryRecord = { id: randomUUID(), projectId: project.id, defaultBranch: 'refs/heads/main', ...extra, name };
      state.repositories.push(repo);
      return repo;
    },
    addDefinition(name, extra = {}) {
      const definition: DefinitionRecord = { id: nextDefinitionId++, path: '\\', projectId: project.id, ...extra, name };
      state.definitions.push(definition);
      return definition;
    },
    addBuild(build) {
      const id = build.id ?? nextBuildId++;
      const record: BuildRecord = {
        id,
        buildNumber: `20260101.${id}`,
        projectId: project.id,
        sourceBranch: 'refs/heads/main',
        status: 'completed',
        result: 'succeeded',
        // Queued when added (after the commits a test made), later ones later: the order of ids.
        queueTime: new Date(Math.max(Date.now(), lastQueued + 1)).toISOString(),
        ...build,
      };
      lastQueued = Math.max(lastQueued, Date.parse(record.queueTime));
      state.builds.push(record);
      return record;
    },
    addStatus(repositoryId, commitId, status) {
      const record: StatusRecord = {
        repositoryId,
        commitId,
        creationDate: new Date(Date.UTC(2026, 0, 1) + state.statuses.length * 1000).toISOString(),
        ...status,
      };
      state.statuses.push(record);
      return record;
    },
    requestsTo(suffix, method) {
      return requests.filter((r) => r.path.toLowerCase().endsWith(suffix.toLowerCase()) && (!method || r.method === method.toUpperCase()));
    },
    stop,
  };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
