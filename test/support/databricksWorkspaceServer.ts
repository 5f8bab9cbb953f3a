/**
 * The Databricks contract server for Git folders (Repos), workspace object status and jobs'
 * `git_source`: what the tests say Databricks answers to the calls of
 * shared/clients/databricksWorkspace.ts. HTTP on 127.0.0.1, random port; stops by itself after
 * `lifetimeMs` and on `stop()`.
 *
 * Sources: S = the Databricks SDK for Python (service/workspace.py `ReposAPI`, `RepoInfo`,
 * `GetRepoResponse`, `CreateRepoResponse`, `ListReposResponse`, `ObjectInfo`, `WorkspaceAPI.get_status`;
 * service/jobs.py `GitSource`, `GitProvider`, `JobsAPI.get/list/update`, `Job`, `BaseJob`);
 * R = /work/shared/reference/databricks-rest.md; K = Databricks' own error texts as users quote
 * them (knowledge base, issue trackers); "modeled" marks a wording or status not taken from a
 * source (the shape is always Databricks' `{error_code, message}`).
 *
 * | method | path                              | answers                                                                    | source |
 * |--------|-----------------------------------|----------------------------------------------------------------------------|--------|
 * | GET    | /api/2.0/repos?path_prefix=&next_page_token= | {repos: RepoInfo[], next_page_token}: folders under the prefix the caller can MANAGE, Git-CLI folders left out; `pageSize` a page | S `ReposAPI.list` |
 * | GET    | /api/2.0/repos/{id}               | GetRepoResponse {id, path, url, provider, branch, head_commit_id, git_cli_enabled}; 404 RESOURCE_DOES_NOT_EXIST; 403 PERMISSION_DENIED | S `ReposAPI.get`, R "Errors" |
 * | POST   | /api/2.0/repos {url, provider, path, git_credential_id?} | CreateRepoResponse, on the remote's default branch; 400 INVALID_PARAMETER_VALUE (no url/provider, unknown provider, a remote it cannot clone); 400 RESOURCE_ALREADY_EXISTS (modeled); 404 parent missing (modeled); 403 no Git credential (K) | S `ReposAPI.create` |
 * | PATCH  | /api/2.0/repos/{id} {branch \| tag, git_credential_id?, dangerously_force_discard_all?} | 200 {}: the folder on the branch's tip or the tag's commit (detached: no branch); 400 both/neither, unknown ref (modeled); 400 uncommitted changes (modeled text) unless dangerously_force_discard_all; 403 no Git credential (K) or no CAN MANAGE; `stuck`: 200 with head unchanged; `patchDelayMs`: answered after the delay, applied at its end whether or not the client still waits | S `ReposAPI.update`, R |
 * | DELETE | /api/2.0/repos/{id}               | 200 {}; 404                                                                | S `ReposAPI.delete` |
 * | GET    | /api/2.0/workspace/get-status?path= | ObjectInfo {object_type: REPO \| DIRECTORY, object_id, path}; 404 RESOURCE_DOES_NOT_EXIST | S `WorkspaceAPI.get_status` |
 * | GET    | /api/2.2/jobs/get?job_id=         | Job {job_id, creator_user_name, settings: {name, git_source, tasks}}; 400 INVALID_PARAMETER_VALUE "Job N does not exist." (K); 403 | S `JobsAPI.get` |
 * | GET    | /api/2.2/jobs/list?name=&page_token= | {jobs: BaseJob[], has_more, next_page_token}: exact, case-insensitive name | S `JobsAPI.list` |
 * | POST   | /api/2.2/jobs/update {job_id, new_settings, fields_to_remove?} | 200 {}: top-level fields replaced whole; git_source needs git_url and git_provider, at most one of git_branch/git_tag/git_commit (400 INVALID_PARAMETER_VALUE); 403 without CAN MANAGE | S `JobsAPI.update`, `GitSource` |
 * | GET    | /api/2.0/permissions/jobs/{id}    | {object_id, object_type, access_control_list}; 403 PERMISSION_DENIED unless the caller manages the job (modeled) | S `JobsAPI.get_permissions` |
 *
 * Every /api/ call needs `Authorization: Bearer <a token it knows>` (otherwise 401
 * UNAUTHENTICATED, modeled). Faults: `fail` (the next N requests matching a path answer a status
 * or never), and `failNth(k)` (the k-th request from now, whatever it is). A missing Git
 * credential: `state.gitCredential = false` (the answer as Databricks words it, K).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { listenLocal, type Fault } from './localServer';

export type { Fault } from './localServer';

/** What a remote holds, as Databricks would fetch it: branch tips and tags (peeled), and its default branch. */
export interface RemoteRecord {
  branches: Record<string, string>;
  tags: Record<string, string>;
  defaultBranch: string;
}

export interface RepoRecord {
  id: number;
  path: string;
  url: string;
  provider: string;
  /** Undefined when detached (on a tag). */
  branch?: string;
  head: string;
  /** Files edited in the workspace and not committed: a move is refused unless they are discarded. */
  uncommitted: string[];
  /** The caller may MANAGE it (listed, movable); false: get-status shows it, GET /repos/{id} answers 403. */
  manageable: boolean;
  /** A Git-CLI folder: left out of the listing (S: "repos with the Git CLI enabled are not included"). */
  gitCliEnabled?: boolean;
  /** A move answers 200 and leaves head_commit_id as it was. */
  stuck?: boolean;
  /** Each PATCH of this folder takes this long (answered and applied at its end). */
  patchDelayMs?: number;
  /** Every PATCH body it received, in order. */
  patches: Array<Record<string, unknown>>;
}

export interface JobRecord {
  job_id: number;
  settings: { name: string; git_source?: Record<string, unknown>; [k: string]: unknown };
  manageable: boolean;
  visible: boolean;
}

export interface WorkspaceState {
  tokens: Set<string>;
  /** Other tokens it accepts, e.g. the Azure AD tokens databricksServer.ts's /aad issued (workload identity federation). */
  acceptToken?: (token: string) => boolean;
  remotes: Map<string, RemoteRecord>;
  repos: Map<number, RepoRecord>;
  directories: Set<string>;
  jobs: Map<number, JobRecord>;
  /** The caller has a Git credential for the provider (false: every clone, pull and checkout is refused as Databricks words it). */
  gitCredential: boolean;
  /** How the refusal is worded: 'missing' (a PAT user or service principal), 'aad' (Azure DevOps with Entra ID), 'choose' (several credentials). */
  gitCredentialError: 'missing' | 'aad' | 'choose';
  /** Repos listed per page. */
  pageSize: number;
  /** Every PATCH of every folder takes this long (unless the folder says otherwise). */
  patchDelayMs: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body?: unknown;
  status?: number;
  /** When it arrived and when it was answered (ms since the epoch). */
  at: number;
  answeredAt?: number;
}

export interface WorkspaceServer {
  url: string;
  token: string;
  state: WorkspaceState;
  requests: RecordedRequest[];
  /** Called with each request as it arrives (before it is answered): e.g. to cancel a run at a given call. */
  hooks: { onRequest?: (r: RecordedRequest) => void };
  fail(fault: Fault): void;
  /** The k-th request from now (1 = the next one), whatever it is, answers this fault (default 400 with a body that carries ##vso[). */
  failNth(k: number, fault?: Omit<Fault, 'path' | 'times'>): void;
  addRemote(url: string, remote: Partial<RemoteRecord> & Pick<RemoteRecord, 'tags'>): void;
  addDirectory(path: string): void;
  /** A Git folder at `path` linked to `url` (a known remote), on `branch` (default the remote's default) or detached at `tag`. */
  addRepo(
    path: string,
    url: string,
    options?: Partial<Omit<RepoRecord, 'id' | 'path' | 'url' | 'head' | 'patches'>> & { tag?: string },
  ): RepoRecord;
  addJob(name: string, gitSource?: Record<string, unknown>, options?: Partial<Pick<JobRecord, 'manageable' | 'visible'>>): JobRecord;
  repoAt(path: string): RepoRecord | undefined;
  /** Where every folder and job is: compared before and after a run. */
  snapshot(): string;
  requestsTo(pathPart: string, method?: string): RecordedRequest[];
  stop(): Promise<void>;
}

class Reply {
  constructor(
    readonly status: number,
    readonly body?: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}
const json = (status: number, body: unknown) => new Reply(status, body);
const dbError = (status: number, error_code: string, message: string) => json(status, { error_code, message });

/** Databricks' words for a missing Git credential (K: the knowledge base's and users' quotes). */
const GIT_CREDENTIAL_ERRORS = {
  missing: dbError(
    403,
    'PERMISSION_DENIED',
    'Missing Git provider credentials. Go to User Settings > Git Integration to set up your Git credentials.',
  ),
  aad: dbError(
    403,
    'PERMISSION_DENIED',
    'Azure Active Directory credentials missing. Ensure you are either logged in with your Azure Active Directory account or have setup an Azure DevOps personal access token (PAT) in User Settings > Git Integration.',
  ),
  choose: dbError(
    400,
    'GIT_CLI_CANNOT_CHOOSE_CREDENTIAL',
    'Multiple Git credentials found for provider azureDevOpsServices; specify git_credential_id.',
  ), // modeled text; the code is K
};

/** S GitProvider (and azureDevOpsServicesAad for credentials), compared case-insensitively. */
const PROVIDERS = [
  'gitHub',
  'bitbucketCloud',
  'gitLab',
  'azureDevOpsServices',
  'gitHubEnterprise',
  'bitbucketServer',
  'gitLabEnterpriseEdition',
  'awsCodeCommit',
];

const norm = (p: string) => p.replace(/\/+$/, '').replace(/^\/Workspace(?=\/)/, '');

export async function startWorkspaceServer(options: { token?: string; lifetimeMs?: number } = {}): Promise<WorkspaceServer> {
  const token = options.token ?? `dapi-ws-${randomUUID().replace(/-/g, '')}`;
  const state: WorkspaceState = {
    tokens: new Set([token]),
    remotes: new Map(),
    repos: new Map(),
    directories: new Set(['/Workspace', '/Workspace/Repos', '/Workspace/Shared']),
    jobs: new Map(),
    gitCredential: true,
    gitCredentialError: 'missing',
    pageSize: 20,
    patchDelayMs: 0,
  };
  const requests: RecordedRequest[] = [];
  const hooks: WorkspaceServer['hooks'] = {};
  const faults: Array<Fault & { left: number }> = [];
  const nth: Array<{ at: number; fault: Omit<Fault, 'path' | 'times'> }> = [];
  let counted = 0;
  let nextId = 1_000_000_001;
  /** One git operation at a time per folder, in arrival order. */
  const folderQueue = new Map<number, Promise<void>>();

  const repoOf = (id: string | number): RepoRecord => {
    const r = state.repos.get(Number(id));
    if (!r) throw dbError(404, 'RESOURCE_DOES_NOT_EXIST', `Repo ${id} does not exist.`); // modeled text
    return r;
  };
  const repoJson = (r: RepoRecord) => ({
    id: r.id,
    path: r.path,
    url: r.url,
    provider: r.provider,
    ...(r.branch ? { branch: r.branch } : {}),
    head_commit_id: r.head,
    ...(r.gitCliEnabled ? { git_cli_enabled: true } : {}),
  });
  const remoteOf = (url: string): RemoteRecord => {
    const remote = state.remotes.get(url);
    if (!remote) throw dbError(400, 'INVALID_PARAMETER_VALUE', `Error cloning or fetching ${url}: repository not found.`); // modeled
    return remote;
  };
  const needCredential = () => {
    if (!state.gitCredential) throw GIT_CREDENTIAL_ERRORS[state.gitCredentialError];
  };
  const objectAt = (path: string): { object_type: string; object_id: number; path: string } | undefined => {
    const repo = [...state.repos.values()].find((r) => norm(r.path) === norm(path));
    if (repo) return { object_type: 'REPO', object_id: repo.id, path: repo.path };
    const dir = [...state.directories].find((d) => norm(d) === norm(path));
    if (dir !== undefined) return { object_type: 'DIRECTORY', object_id: 4_000_000 + [...state.directories].indexOf(dir), path: dir };
    return undefined;
  };
  const jobOf = (id: unknown): JobRecord => {
    const j = state.jobs.get(Number(id));
    if (!j) throw dbError(400, 'INVALID_PARAMETER_VALUE', `Job ${String(id)} does not exist.`); // K
    if (!j.visible) throw dbError(403, 'PERMISSION_DENIED', `User does not have View permissions on job ${String(id)}.`); // modeled
    return j;
  };

  async function patchRepo(r: RepoRecord, body: Record<string, unknown>): Promise<Reply> {
    r.patches.push(body);
    if (!r.manageable) return dbError(403, 'PERMISSION_DENIED', `User does not have Manage permissions on repo ${r.id}.`); // modeled
    const hasBranch = typeof body.branch === 'string' && body.branch !== '';
    const hasTag = typeof body.tag === 'string' && body.tag !== '';
    if (hasBranch && hasTag) return dbError(400, 'INVALID_PARAMETER_VALUE', 'Only one of branch and tag can be specified.'); // modeled
    const delay = r.patchDelayMs ?? state.patchDelayMs;
    // One git operation at a time per folder: a second PATCH waits for the first.
    const before = folderQueue.get(r.id) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((res) => (release = res));
    folderQueue.set(
      r.id,
      before.then(() => mine),
    );
    await before;
    try {
      if (delay) await new Promise((res) => setTimeout(res, delay));
      needCredential();
      const remote = remoteOf(r.url);
      if (r.uncommitted.length && body.dangerously_force_discard_all !== true) {
        // modeled: Databricks' wording for a checkout blocked by uncommitted work is not in the sources.
        return dbError(
          400,
          'INVALID_STATE',
          `Your local changes to the following files would be overwritten by checkout: ${r.uncommitted.join(', ')}. Commit or discard the uncommitted changes in the repo (it has uncommitted changes) before updating.`,
        );
      }
      let target: string;
      let branch: string | undefined;
      if (hasTag) {
        const sha = remote.tags[body.tag as string];
        if (!sha) return dbError(400, 'INVALID_PARAMETER_VALUE', `Tag ${String(body.tag)} not found in the remote repository.`); // modeled
        target = sha;
      } else {
        branch = hasBranch ? (body.branch as string) : r.branch;
        if (!branch) return dbError(400, 'INVALID_PARAMETER_VALUE', 'The repo is in a detached HEAD state: specify a branch or a tag.'); // modeled
        const sha = remote.branches[branch];
        if (!sha) return dbError(400, 'INVALID_PARAMETER_VALUE', `Branch ${branch} not found in the remote repository.`); // modeled
        target = sha;
      }
      if (body.dangerously_force_discard_all === true) r.uncommitted = [];
      if (!r.stuck) {
        r.head = target;
        r.branch = branch;
      }
      return json(200, {});
    } finally {
      release();
    }
  }

  const routes: Array<{
    method: string;
    pattern: RegExp;
    handle: (ctx: { query: Record<string, string>; body: Record<string, unknown> }, m: string[]) => Reply | Promise<Reply>;
  }> = [
    {
      method: 'GET',
      pattern: /^\/api\/2\.0\/repos$/,
      handle: ({ query }) => {
        const prefix = query.path_prefix ?? '';
        // S: an empty prefix (/ or /Workspace) serves /Workspace/Repos.
        const effective = norm(prefix) === '' || norm(prefix) === '/Workspace' ? '/Repos' : norm(prefix);
        const all = [...state.repos.values()]
          .filter((r) => r.manageable && !r.gitCliEnabled && norm(r.path).startsWith(effective))
          .sort((a, b) => a.id - b.id);
        const start = query.next_page_token ? Number(Buffer.from(query.next_page_token, 'base64url').toString()) : 0;
        const page = all.slice(start, start + state.pageSize);
        const more = start + state.pageSize < all.length;
        return json(200, {
          ...(page.length ? { repos: page.map(repoJson) } : {}),
          ...(more ? { next_page_token: Buffer.from(String(start + state.pageSize)).toString('base64url') } : {}),
        });
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/2\.0\/repos\/(\d+)$/,
      handle: (_ctx, m) => {
        const r = repoOf(m[1]);
        if (!r.manageable) return dbError(403, 'PERMISSION_DENIED', `User does not have Read permissions on repo ${r.id}.`); // modeled
        return json(200, repoJson(r));
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/2\.0\/repos$/,
      handle: ({ body }) => {
        if (typeof body.url !== 'string' || !body.url) return dbError(400, 'INVALID_PARAMETER_VALUE', 'Missing required field: url'); // modeled
        if (typeof body.provider !== 'string' || !PROVIDERS.some((p) => p.toLowerCase() === (body.provider as string).toLowerCase()))
          return dbError(400, 'INVALID_PARAMETER_VALUE', `Invalid Git provider: ${String(body.provider)}`); // S (list), modeled text
        const path = typeof body.path === 'string' ? body.path : `/Repos/me/${String(body.url).split('/').pop()}`;
        if (objectAt(path)) return dbError(400, 'RESOURCE_ALREADY_EXISTS', `Path (${path}) already exists.`); // modeled
        const parent = path.replace(/\/[^/]+\/?$/, '');
        if (!objectAt(parent)) return dbError(404, 'RESOURCE_DOES_NOT_EXIST', `Parent path (${parent}) doesn't exist.`); // modeled
        needCredential();
        const remote = remoteOf(body.url);
        const repo: RepoRecord = {
          id: nextId++,
          path,
          url: body.url,
          provider: body.provider,
          branch: remote.defaultBranch,
          head: remote.branches[remote.defaultBranch],
          uncommitted: [],
          manageable: true,
          patches: [],
        };
        state.repos.set(repo.id, repo);
        return json(200, repoJson(repo));
      },
    },
    {
      method: 'PATCH',
      pattern: /^\/api\/2\.0\/repos\/(\d+)$/,
      handle: ({ body }, m) => patchRepo(repoOf(m[1]), body),
    },
    {
      method: 'DELETE',
      pattern: /^\/api\/2\.0\/repos\/(\d+)$/,
      handle: (_ctx, m) => {
        const r = repoOf(m[1]);
        if (!r.manageable) return dbError(403, 'PERMISSION_DENIED', `User does not have Manage permissions on repo ${r.id}.`); // modeled
        state.repos.delete(r.id);
        return json(200, {});
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/2\.0\/workspace\/get-status$/,
      handle: ({ query }) => {
        const o = query.path ? objectAt(query.path) : undefined;
        if (!o) return dbError(404, 'RESOURCE_DOES_NOT_EXIST', `Path (${query.path}) doesn't exist.`); // S (the code), modeled text
        return json(200, o);
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/2\.2\/jobs\/get$/,
      handle: ({ query }) => {
        const j = jobOf(query.job_id);
        return json(200, { job_id: j.job_id, creator_user_name: 'deployer@example.com', settings: j.settings });
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/2\.2\/jobs\/list$/,
      handle: ({ query }) => {
        const name = query.name?.toLowerCase();
        const all = [...state.jobs.values()].filter((j) => j.visible && (!name || j.settings.name.toLowerCase() === name));
        return json(200, {
          ...(all.length ? { jobs: all.map((j) => ({ job_id: j.job_id, settings: { name: j.settings.name } })) } : {}),
          has_more: false,
        });
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/2\.2\/jobs\/update$/,
      handle: ({ body }) => {
        const j = jobOf(body.job_id);
        if (!j.manageable) return dbError(403, 'PERMISSION_DENIED', `User does not have Manage permissions on job ${j.job_id}.`); // modeled
        const settings = (body.new_settings ?? {}) as Record<string, unknown>;
        const git = settings.git_source as Record<string, unknown> | undefined;
        if (git) {
          if (typeof git.git_url !== 'string' || typeof git.git_provider !== 'string')
            return dbError(400, 'INVALID_PARAMETER_VALUE', 'git_source requires git_url and git_provider.'); // S (required fields), modeled text
          const refs = ['git_branch', 'git_tag', 'git_commit'].filter((k) => git[k] !== undefined);
          if (refs.length > 1)
            return dbError(400, 'INVALID_PARAMETER_VALUE', `Only one of ${refs.join(', ')} may be specified in git_source.`); // S (field docs), modeled text
        }
        // S: top-level fields are replaced whole.
        for (const [k, v] of Object.entries(settings)) j.settings[k] = v;
        for (const k of (body.fields_to_remove as string[] | undefined) ?? []) delete j.settings[k];
        return json(200, {});
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/2\.0\/permissions\/jobs\/(\d+)$/,
      handle: (_ctx, m) => {
        const j = jobOf(m[1]);
        if (!j.manageable) return dbError(403, 'PERMISSION_DENIED', `User does not have Manage permissions on job ${j.job_id}.`); // modeled
        return json(200, {
          object_id: `/jobs/${j.job_id}`,
          object_type: 'job',
          access_control_list: [
            { user_name: 'deployer@example.com', all_permissions: [{ permission_level: 'CAN_MANAGE', inherited: false }] },
          ],
        });
      },
    },
  ];

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    const path = decodeURIComponent(url.pathname);
    const query = Object.fromEntries(url.searchParams);
    const raw = await readBody(req);
    let body: Record<string, unknown> = {};
    if (raw.length) {
      try {
        body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      } catch {
        body = {};
      }
    }
    const record: RecordedRequest = { method, path, query, ...(raw.length ? { body } : {}), at: Date.now() };
    requests.push(record);
    hooks.onRequest?.(record);
    const send = (reply: Reply) => {
      record.status = reply.status;
      record.answeredAt = Date.now();
      if (res.destroyed) return;
      const payload = reply.body === undefined ? '' : JSON.stringify(reply.body);
      res.writeHead(reply.status, {
        ...reply.headers,
        ...(payload ? { 'content-type': 'application/json' } : {}),
        'content-length': String(Buffer.byteLength(payload)),
      });
      res.end(payload);
    };
    const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
    if (!path.startsWith('/api/')) return send(dbError(404, 'ENDPOINT_NOT_FOUND', `No API found for '${method} ${path}'`)); // modeled
    if (!bearer || !(state.tokens.has(bearer) || state.acceptToken?.(bearer)))
      return send(dbError(401, 'UNAUTHENTICATED', 'Credential was not sent or was of an unsupported type for this API.')); // modeled

    counted++;
    const nthFault = nth.findIndex((n) => n.at === counted);
    const fault =
      nthFault >= 0
        ? { ...nth.splice(nthFault, 1)[0].fault, path: '' }
        : faults.find(
            (f) =>
              f.left > 0 &&
              (!f.method || f.method.toUpperCase() === method) &&
              (typeof f.path === 'string' ? path.includes(f.path) : f.path.test(path)),
          );
    if (fault) {
      if ('left' in fault) (fault as { left: number }).left--;
      if (fault.hang) {
        record.status = 0;
        return;
      }
      const status = fault.status ?? 503;
      const defaultBody =
        status === 429
          ? { error_code: 'REQUEST_LIMIT_EXCEEDED', message: 'Too many requests. Please wait a moment and try again.' }
          : { error_code: 'TEMPORARILY_UNAVAILABLE', message: 'The service at /api is temporarily unavailable. Please try again later.' }; // modeled
      return send(new Reply(status, fault.body ?? defaultBody, fault.headers));
    }

    for (const route of routes) {
      if (route.method !== method) continue;
      const m = route.pattern.exec(path);
      if (!m) continue;
      try {
        return send(await route.handle({ query, body }, m));
      } catch (err) {
        if (err instanceof Reply) return send(err);
        return send(dbError(500, 'INTERNAL_ERROR', `contract server bug: ${(err as Error).message}`));
      }
    }
    return send(dbError(404, 'ENDPOINT_NOT_FOUND', `No API found for '${method} ${path}'`)); // modeled
  }

  const { port, stop } = await listenLocal(handle, options.lifetimeMs);
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    token,
    state,
    requests,
    hooks,
    fail: (fault) => faults.push({ ...fault, left: fault.times ?? 1 }),
    failNth: (
      k,
      fault = {
        status: 400,
        body: { error_code: 'INVALID_PARAMETER_VALUE', message: 'injected ##vso[task.complete result=Succeeded]fault\r##[error]x' },
      },
    ) => nth.push({ at: counted + k, fault }),
    addRemote: (remoteUrl, r) =>
      void state.remotes.set(remoteUrl, { branches: r.branches ?? {}, tags: r.tags, defaultBranch: r.defaultBranch ?? 'main' }),
    addDirectory: (path) => {
      for (let p = path.replace(/\/+$/, ''); p && p !== '/'; p = p.replace(/\/[^/]*$/, '')) state.directories.add(p);
    },
    addRepo(path, repoUrl, o = {}) {
      const remote = state.remotes.get(repoUrl);
      if (!remote) throw new Error(`addRepo: no remote ${repoUrl}`);
      const parent = path.replace(/\/[^/]+\/?$/, '');
      for (let p = parent; p && p !== '/'; p = p.replace(/\/[^/]*$/, '')) state.directories.add(p);
      const branch = o.tag ? undefined : (o.branch ?? remote.defaultBranch);
      const head = o.tag ? remote.tags[o.tag] : remote.branches[branch!];
      if (!head) throw new Error(`addRepo: ${repoUrl} has no ${o.tag ? `tag ${o.tag}` : `branch ${branch}`}`);
      const repo: RepoRecord = {
        id: nextId++,
        path,
        url: repoUrl,
        provider: o.provider ?? 'azureDevOpsServices',
        branch,
        head,
        uncommitted: o.uncommitted ?? [],
        manageable: o.manageable ?? true,
        gitCliEnabled: o.gitCliEnabled,
        stuck: o.stuck,
        patchDelayMs: o.patchDelayMs,
        patches: [],
      };
      state.repos.set(repo.id, repo);
      return repo;
    },
    addJob(name, gitSource, o = {}) {
      const job: JobRecord = {
        job_id: 700 + state.jobs.size + 1,
        settings: {
          name,
          ...(gitSource ? { git_source: gitSource } : {}),
          tasks: [{ task_key: 'main', notebook_task: { notebook_path: 'notebooks/main', source: 'GIT' } }],
        },
        manageable: o.manageable ?? true,
        visible: o.visible ?? true,
      };
      state.jobs.set(job.job_id, job);
      return job;
    },
    repoAt: (path) => [...state.repos.values()].find((r) => norm(r.path) === norm(path)),
    snapshot: () =>
      JSON.stringify({
        repos: [...state.repos.values()].map((r) => [r.path, r.branch ?? null, r.head, r.uncommitted]).sort(),
        jobs: [...state.jobs.values()].map((j) => [j.job_id, j.settings.git_source ?? null]),
      }),
    requestsTo: (part, method) => requests.filter((r) => r.path.includes(part) && (!method || r.method === method)),
    stop,
  };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
