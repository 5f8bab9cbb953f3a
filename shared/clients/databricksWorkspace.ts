/**
 * The Databricks calls DeployToDatabricks makes: Git folders (the Repos API), workspace object
 * status, and jobs' `git_source`. The transport is the Databricks client's own
 * (./databricks.ts: the token, one retry policy, DatabricksError quoting Databricks'
 * `error_code` and message); this module says only which calls exist, which may be repeated, and
 * what to do when each is refused.
 *
 * Fields as the Databricks SDK for Python defines them (service/workspace.py `ReposAPI`,
 * `RepoInfo`, `GetRepoResponse`, `ObjectInfo`; service/jobs.py `GitSource`, `JobsAPI.get/update/list`):
 *   GET    /api/2.0/repos?path_prefix=&next_page_token=   listRepos (only folders the caller can MANAGE; not Git-CLI folders)
 *   GET    /api/2.0/repos/{id}                            getRepo
 *   POST   /api/2.0/repos {url, provider, path, git_credential_id?}        createRepo
 *   PATCH  /api/2.0/repos/{id} {branch | tag, git_credential_id?, dangerously_force_discard_all?}  updateRepo
 *   DELETE /api/2.0/repos/{id}                            deleteRepo
 *   GET    /api/2.0/workspace/get-status?path=            objectStatus (RESOURCE_DOES_NOT_EXIST → undefined)
 *   GET    /api/2.2/jobs/get?job_id=                      getJob
 *   GET    /api/2.2/jobs/list?name=&page_token=           jobsNamed (exact, case-insensitive name)
 *   POST   /api/2.2/jobs/update {job_id, new_settings: {git_source}}        setJobGitSource (a top-level field is replaced whole)
 *   GET    /api/2.0/permissions/jobs/{id}                 canManageJob (only a job's managers may read its permissions)
 */
import { DatabricksError, databricksRequest, type DatabricksAuth, type DatabricksClient } from './databricks';

type Operation = Parameters<typeof databricksRequest>[3];

/** A Git folder as Databricks describes it (`RepoInfo`). A folder on a tag has no branch (a detached HEAD). */
export interface RepoInfo {
  id: number;
  path: string;
  url?: string;
  provider?: string;
  branch?: string;
  headCommitId?: string;
}

/** `git_source` of a job, as Databricks holds it (unknown fields kept, so it can be put back whole). */
export interface GitSource {
  git_url: string;
  git_provider: string;
  git_branch?: string;
  git_tag?: string;
  git_commit?: string;
  [field: string]: unknown;
}

export interface JobInfo {
  jobId: number;
  name?: string;
  gitSource?: GitSource;
}

export interface WorkspaceObject {
  /** NOTEBOOK, DIRECTORY, LIBRARY, FILE, REPO, DASHBOARD */
  objectType: string;
  objectId?: number;
  path: string;
}

export interface WorkspaceClient {
  readonly host: string;
  listRepos(pathPrefix: string): Promise<RepoInfo[]>;
  getRepo(id: number): Promise<RepoInfo>;
  createRepo(request: { url: string; provider: string; path: string; gitCredentialId?: number }): Promise<RepoInfo>;
  updateRepo(
    id: number,
    to: { branch: string } | { tag: string },
    options?: { gitCredentialId?: number; discardLocalChanges?: boolean; path?: string },
  ): Promise<void>;
  deleteRepo(id: number): Promise<void>;
  objectStatus(path: string): Promise<WorkspaceObject | undefined>;
  getJob(id: number): Promise<JobInfo>;
  jobsNamed(name: string): Promise<JobInfo[]>;
  setJobGitSource(id: number, gitSource: GitSource): Promise<void>;
  canManageJob(id: number): Promise<boolean>;
}

const MANAGE_FOLDER = (path: string) =>
  `give the connection's identity CAN MANAGE on the Git folder ${path} (folder → Share), or on its parent folder.`;

export function workspaceClient(client: DatabricksClient): WorkspaceClient {
  const call = <T = Record<string, unknown>>(method: string, path: string, op: Operation, body?: unknown, query?: Record<string, string>) =>
    // Writes run to their answer even on a cancel: the undo then knows whether each landed.
    databricksRequest<T>(client, method, path, method === 'GET' ? op : { ...op, finishOnCancel: true }, body, query);
  return {
    host: client.host,

    async listRepos(pathPrefix) {
      const repos: RepoInfo[] = [];
      let token: string | undefined;
      for (let page = 0; page < 1000; page++) {
        const body = await call<{ repos?: unknown[]; next_page_token?: string }>(
          'GET',
          '/api/2.0/repos',
          { what: `list the Git folders under ${pathPrefix}`, idempotent: true, forbiddenFix: MANAGE_FOLDER(pathPrefix) },
          undefined,
          { path_prefix: pathPrefix, ...(token ? { next_page_token: token } : {}) },
        );
        for (const r of body.repos ?? []) repos.push(repoInfo(r));
        token = body.next_page_token || undefined;
        if (!token) break;
      }
      return repos;
    },

    async getRepo(id) {
      return repoInfo(
        await call('GET', `/api/2.0/repos/${id}`, {
          what: `read Git folder ${id}`,
          idempotent: true,
          forbiddenFix: MANAGE_FOLDER(`with id ${id}`),
          notFoundFix: `Git folder ${id} is gone: someone deleted it during the run; re-run.`,
        }),
      );
    },

    async createRepo(r) {
      const body: Record<string, unknown> = { url: r.url, provider: r.provider, path: r.path };
      if (r.gitCredentialId !== undefined) body.git_credential_id = r.gitCredentialId;
      const answer = await call(
        'POST',
        '/api/2.0/repos',
        {
          what: `create the Git folder ${r.path} from ${r.url}`,
          // A create that timed out may have landed: it is not repeated.
          idempotent: false,
          forbiddenFix: `give the connection's identity CAN MANAGE on ${parentOf(r.path)} (the parent folder).`,
          notFoundFix: `the parent folder ${parentOf(r.path)} does not exist: create it (databricks workspace mkdirs ${parentOf(r.path)}).`,
          conflictFix: `${r.path} already exists: remove it, or choose another gitFolders path.`,
        },
        body,
      );
      return repoInfo({ path: r.path, url: r.url, provider: r.provider, ...answer });
    },

    async updateRepo(id, to, options = {}) {
      const body: Record<string, unknown> = { ...to };
      if (options.gitCredentialId !== undefined) body.git_credential_id = options.gitCredentialId;
      if (options.discardLocalChanges) body.dangerously_force_discard_all = true;
      const where = options.path ?? `with id ${id}`;
      await call(
        'PATCH',
        `/api/2.0/repos/${id}`,
        {
          what: `move the Git folder ${where} to ${'tag' in to ? `tag ${to.tag}` : `branch ${to.branch}`}`,
          // The same target again changes nothing more: a repeat is safe.
          idempotent: true,
          forbiddenFix: MANAGE_FOLDER(where),
          notFoundFix: `the Git folder ${where} is gone: someone deleted it during the run; re-run.`,
        },
        body,
      );
    },

    async deleteRepo(id) {
      await call('DELETE', `/api/2.0/repos/${id}`, {
        what: `delete Git folder ${id}`,
        idempotent: true,
        forbiddenFix: MANAGE_FOLDER(`with id ${id}`),
      });
    },

    async objectStatus(path) {
      try {
        const body = await call<{ object_type?: string; object_id?: number; path?: string }>(
          'GET',
          '/api/2.0/workspace/get-status',
          { what: `read ${path}`, idempotent: true, forbiddenFix: `give the connection's identity CAN READ on ${parentOf(path)}.` },
          undefined,
          { path },
        );
        return {
          objectType: String(body.object_type ?? ''),
          objectId: typeof body.object_id === 'number' ? body.object_id : undefined,
          path: body.path ?? path,
        };
      } catch (err) {
        if (err instanceof DatabricksError && (err.errorCode === 'RESOURCE_DOES_NOT_EXIST' || (err.kind === 'notFound' && !err.errorCode)))
          return undefined;
        throw err;
      }
    },

    async getJob(id) {
      const body = await call<{ job_id?: number; settings?: { name?: string; git_source?: GitSource } }>(
        'GET',
        '/api/2.2/jobs/get',
        {
          what: `read job ${id}`,
          idempotent: true,
          forbiddenFix: `give the connection's identity CAN MANAGE on job ${id} (job → Permissions).`,
          notFoundFix: `job ${id} does not exist in this workspace: check jobs.`,
        },
        undefined,
        { job_id: String(id) },
      );
      return { jobId: Number(body.job_id ?? id), name: body.settings?.name, gitSource: body.settings?.git_source };
    },

    async jobsNamed(name) {
      const jobs: JobInfo[] = [];
      let token: string | undefined;
      for (let page = 0; page < 100; page++) {
        const body = await call<{
          jobs?: Array<{ job_id?: number; settings?: { name?: string; git_source?: GitSource } }>;
          next_page_token?: string;
          has_more?: boolean;
        }>(
          'GET',
          '/api/2.2/jobs/list',
          { what: `find the job named '${name}'`, idempotent: true, forbiddenFix: "give the connection's identity CAN VIEW on the job." },
          undefined,
          { name, limit: '100', ...(token ? { page_token: token } : {}) },
        );
        for (const j of body.jobs ?? [])
          if (typeof j.job_id === 'number') jobs.push({ jobId: j.job_id, name: j.settings?.name, gitSource: j.settings?.git_source });
        token = body.has_more === false ? undefined : body.next_page_token || undefined;
        if (!token) break;
      }
      return jobs;
    },

    async setJobGitSource(id, gitSource) {
      await call(
        'POST',
        '/api/2.2/jobs/update',
        {
          what: `set the git_source of job ${id}`,
          // A partial update with the same settings again changes nothing more.
          idempotent: true,
          forbiddenFix: `give the connection's identity CAN MANAGE on job ${id} (job → Permissions).`,
          notFoundFix: `job ${id} is gone: someone deleted it during the run.`,
        },
        { job_id: id, new_settings: { git_source: gitSource } },
      );
    },

    async canManageJob(id) {
      try {
        await call('GET', `/api/2.0/permissions/jobs/${id}`, {
          what: `read the permissions of job ${id}`,
          idempotent: true,
          forbiddenFix: `give the connection's identity CAN MANAGE on job ${id}.`,
        });
        return true;
      } catch (err) {
        if (err instanceof DatabricksError && err.kind === 'forbidden') return false;
        throw err;
      }
    },
  };
}

function repoInfo(raw: unknown): RepoInfo {
  const r = (raw ?? {}) as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  return {
    id: Number(r.id),
    path: String(r.path ?? ''),
    url: text(r.url),
    provider: text(r.provider),
    branch: text(r.branch),
    headCommitId: text(r.head_commit_id),
  };
}

export function parentOf(path: string): string {
  const cut = path.replace(/\/+$/, '').lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

/** `/Workspace/pro/x` and `/pro/x` name the same object (the API answers either form). */
export function samePath(a: string, b: string): boolean {
  const norm = (p: string) => p.replace(/\/+$/, '').replace(/^\/Workspace(?=\/)/, '');
  return norm(a) === norm(b);
}

/** The Git provider Databricks needs for a URL (`azureDevOpsServices` for Azure Repos, the default). */
export function gitProviderFor(url: string): string {
  const host = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?([^/:]+)/i.exec(url)?.[1]?.toLowerCase() ?? '';
  if (host === 'github.com') return 'gitHub';
  if (host === 'gitlab.com') return 'gitLab';
  if (host === 'bitbucket.org') return 'bitbucketCloud';
  return 'azureDevOpsServices';
}

// ---------------------------------------------------------------------------------------------
// What Databricks says when a folder cannot pull
// ---------------------------------------------------------------------------------------------

/**
 * Databricks refused because the calling identity has no (usable) Git credential for the
 * provider. Its words, from its answers: "Missing Git provider credentials. Go to User Settings >
 * Git Integration …", "Azure Active Directory credentials missing …", "Encountered an error with
 * your Azure Active Directory credentials …", and GIT_CLI_CANNOT_CHOOSE_CREDENTIAL.
 */
export function isGitCredentialError(err: unknown): err is DatabricksError {
  if (!(err instanceof DatabricksError)) return false;
  if (err.errorCode === 'GIT_CLI_CANNOT_CHOOSE_CREDENTIAL') return true;
  return /git (provider )?credential|git integration|linked accounts|active directory credentials|entra id credentials|personal access token \(pat\)/i.test(
    err.serverMessage ?? '',
  );
}

/** Databricks refused to move a folder because it holds uncommitted changes (someone edited it by hand). */
export function isUncommittedChangesError(err: unknown): err is DatabricksError {
  return (
    err instanceof DatabricksError &&
    err.status !== undefined &&
    err.status < 500 &&
    /uncommitted|local changes|would be overwritten/i.test(err.serverMessage ?? '')
  );
}

/** What to do about a missing or expired Git credential, for each way the connection can sign in. */
export function gitCredentialFix(auth: DatabricksAuth['kind'], options: { chooseCredential?: boolean } = {}): string {
  const who = {
    pat: 'This connection signs in with a personal access token, so Databricks pulls with the Git credential of the user who owns that token.',
    servicePrincipal:
      "This connection signs in as a service principal (client secret), so Databricks pulls with the service principal's own Git credential.",
    workloadIdentity:
      "This connection signs in as a service principal through workload identity federation, so Databricks pulls with that service principal's own Git credential.",
  }[auth];
  const lines = [
    who,
    '(a) Personal access token: the token\'s owner opens Databricks → Settings → Linked accounts → Git integration, provider "Azure DevOps Services", and links Microsoft Entra ID or pastes an Azure DevOps PAT with Code (Read); a PAT that expired must be replaced there.',
    '(b) Service principal: give it a Git credential of its own, run as the service principal: databricks git-credentials create azureDevOpsServices --git-username <name> --personal-access-token <an Azure DevOps PAT with Code (Read)> (POST /api/2.0/git-credentials).',
    '(c) Microsoft Entra ID federation (no PAT to renew): add the service principal to the Azure DevOps organization with Read on the component repositories, then create its Git credential with provider azureDevOpsServicesAad (databricks git-credentials create azureDevOpsServicesAad).',
  ];
  if (options.chooseCredential)
    lines.push(
      'The identity has several Git credentials and Databricks would not choose: set gitCredentialId to the one to use (databricks git-credentials list).',
    );
  else lines.push('If the identity has several Git credentials, set gitCredentialId to the one to use.');
  return lines.join(' ');
}
