/**
 * The Databricks contract server: the one place the tests say what Databricks (and, for the
 * Azure AD sign-in, Azure AD and the Azure DevOps OIDC endpoint) answers to the calls of
 * shared/clients/databricks.ts and shared/clients/databricksWorkspace.ts (Git folders, workspace
 * object status, jobs' `git_source`). HTTP on 127.0.0.1, random port; stops by itself after
 * `lifetimeMs` and on `stop()`.
 *
 * Sources: R = /work/shared/reference/databricks-rest.md (table row or "Facts"), SDK = the
 * Databricks SDK for Python's definitions (`service/files.py` FilesAPI, `service/compute.py`
 * LibrariesAPI; service/workspace.py `ReposAPI`, `RepoInfo`, `GetRepoResponse`,
 * `CreateRepoResponse`, `ListReposResponse`, `ObjectInfo`, `WorkspaceAPI.get_status`;
 * service/jobs.py `GitSource`, `GitProvider`, `JobsAPI.get/list/update`, `Job`, `BaseJob`),
 * K = Databricks' own error texts as users quote them (knowledge base, issue trackers),
 * "modeled" marks a body text or a behaviour not taken from a source (the shape is Databricks'
 * `{error_code, message}`, the wording ours).
 *
 * | method | path                                    | answers                                                                 | source |
 * |--------|-----------------------------------------|-------------------------------------------------------------------------|--------|
 * | PUT    | /api/2.0/fs/directories{path}           | 204 (idempotent, makes the parents too: `mkdir -p`); 404 NOT_FOUND outside a known volume; 403 | R "Upload a file", SDK create_directory |
 * | HEAD   | /api/2.0/fs/directories{path}           | 200 for a volume, a folder made or a folder holding a file; 404         | SDK get_directory_metadata |
 * | DELETE | /api/2.0/fs/directories{path}           | 204 for an empty folder; 409 DIRECTORY_NOT_EMPTY (modeled code); 404   | SDK delete_directory ("deletes an empty directory") |
 * | PUT    | /api/2.0/fs/files{path}?overwrite=      | 204; 409 ALREADY_EXISTS without overwrite; 404 outside a volume; 403    | R "Upload a file" |
 * | HEAD   | /api/2.0/fs/files{path}                 | 200 with content-length; 404                                           | R "Upload a file", SDK get_metadata |
 * | GET    | /api/2.0/fs/files{path}                 | 200, the bytes (application/octet-stream); 404                         | SDK download |
 * | DELETE | /api/2.0/fs/files{path}                 | 204; 404 NOT_FOUND                                                     | SDK delete |
 * | POST   | /api/2.0/libraries/install              | 200 {}; the same library already there: no change (one marked UNINSTALL_ON_RESTART is INSTALLED again: modeled); 400 no cluster | R "Install a library" |
 * | POST   | /api/2.0/libraries/uninstall            | 200 {}; a RUNNING cluster marks the library UNINSTALL_ON_RESTART (dropped at its restart); a cluster not running drops it at once (modeled); one not listed: no change | SDK uninstall |
 * | GET    | /api/2.0/libraries/cluster-status       | library_statuses[]: PENDING → INSTALLING → INSTALLED / FAILED (or the `installEnds` state: SKIPPED, RESTORED, UNINSTALL_ON_RESTART, with messages), one step per read of a RUNNING or RESIZING cluster; a cluster not running keeps PENDING (a `starting` PENDING cluster becomes its `to` state after its reads) | R "Library status", SDK LibraryInstallStatus |
 * | GET    | /api/2.1/clusters/get                   | {cluster_id, cluster_name, state (any of the SDK's State), state_message}; 400 INVALID_PARAMETER_VALUE unknown id | R "Restart / state", SDK State |
 * | POST   | /api/2.1/clusters/restart               | 200 {}; state RESTARTING for `restartReads` reads, then RUNNING with libraries re-installed from their files | R "Restart / state" |
 * | POST   | /api/2.0/sql/statements                 | statement_id + status; HTTP 200 for a FAILED statement (also one the warehouse refuses, see statementProblem: markers, one statement); 400 bad warehouse/wait_timeout; 404 unknown warehouse | R "Run SQL", Facts, SDK |
 * | GET    | /api/2.0/sql/statements/{id}            | PENDING → RUNNING → SUCCEEDED / FAILED, one step per read; SUCCEEDED → CLOSED once its result was served `resultReads` times (STATEMENT_TRANSITIONS) | R "Poll / cancel", SDK StatementState |
 * | POST   | /api/2.0/sql/statements/{id}/cancel     | 200 {}; a statement not finished becomes CANCELED                     | R "Poll / cancel" |
 * | POST   | /aad/{tenant}/oauth2/v2.0/token         | Azure AD: client_credentials with client_secret or a client_assertion; scope 2ff814a6-…/.default | R "Auth" |
 * | POST   | /oidc?api-version=7.1&serviceConnectionId= | Azure DevOps: {oidcToken} for the job token                          | R "Auth" |
 * | GET    | /api/2.0/repos?path_prefix=&next_page_token= | {repos: RepoInfo[], next_page_token}: folders under the prefix the caller can MANAGE, Git-CLI folders left out; `pageSize` a page | SDK `ReposAPI.list` |
 * | GET    | /api/2.0/repos/{id}               | GetRepoResponse {id, path, url, provider, branch, head_commit_id, git_cli_enabled}; 404 RESOURCE_DOES_NOT_EXIST; 403 PERMISSION_DENIED | SDK `ReposAPI.get`, R "Errors" |
 * | POST   | /api/2.0/repos {url, provider, path, git_credential_id?} | CreateRepoResponse, on the remote's default branch; 400 INVALID_PARAMETER_VALUE (no url/provider, unknown provider, a remote it cannot clone); 400 RESOURCE_ALREADY_EXISTS (modeled); 404 parent missing (modeled); 403 no Git credential (K) | SDK `ReposAPI.create` |
 * | PATCH  | /api/2.0/repos/{id} {branch \| tag, git_credential_id?, dangerously_force_discard_all?} | 200 {}: the folder on the branch's tip or the tag's commit (detached: no branch); 400 both/neither, unknown ref (modeled); 400 uncommitted changes (modeled text) unless dangerously_force_discard_all; 403 no Git credential (K) or no CAN MANAGE; `stuck`: 200 with head unchanged; `patchDelayMs`: answered after the delay, applied at its end whether or not the client still waits | SDK `ReposAPI.update`, R |
 * | DELETE | /api/2.0/repos/{id}               | 200 {}; 404                                                                | SDK `ReposAPI.delete` |
 * | GET    | /api/2.0/workspace/get-status?path= | ObjectInfo {object_type: REPO \| DIRECTORY, object_id, path}; 404 RESOURCE_DOES_NOT_EXIST | SDK `WorkspaceAPI.get_status` |
 * | GET    | /api/2.2/jobs/get?job_id=         | Job {job_id, creator_user_name, settings: {name, git_source, tasks}}; 400 INVALID_PARAMETER_VALUE "Job N does not exist." (K); 403 | SDK `JobsAPI.get` |
 * | GET    | /api/2.2/jobs/list?name=&page_token= | {jobs: BaseJob[], has_more, next_page_token}: exact, case-insensitive name | SDK `JobsAPI.list` |
 * | POST   | /api/2.2/jobs/update {job_id, new_settings, fields_to_remove?} | 200 {}: top-level fields replaced whole; git_source needs git_url and git_provider, at most one of git_branch/git_tag/git_commit (400 INVALID_PARAMETER_VALUE); 403 without CAN MANAGE | SDK `JobsAPI.update`, `GitSource` |
 * | GET    | /api/2.0/permissions/jobs/{id}    | {object_id, object_type, access_control_list}; 403 PERMISSION_DENIED unless the caller manages the job (modeled) | SDK `JobsAPI.get_permissions` |
 *
 * Every /api/ call needs `Authorization: Bearer <a PAT it knows or a token its /aad issued>`:
 * otherwise 401 (error_code UNAUTHENTICATED, modeled text). `deny` makes calls answer 403
 * PERMISSION_DENIED (text modeled). Faults: `fail` (the next N requests matching a path answer
 * a status — 429 with Retry-After, 503, any body — or are never answered: `hang`), and
 * `failNth(k)` (the k-th authenticated /api/ request from now, whatever it is). A missing Git
 * credential: `state.gitCredential = false` (the answer as Databricks words it, K).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readPaced, type Pace } from './pacedBody';
import { listenLocal, type Fault } from './localServer';

export type { Fault } from './localServer';
import { randomUUID } from 'node:crypto';

export const DATABRICKS_SCOPE = '2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default';

/** The SDK's cluster `State` (databricks-sdk-py service/compute.py), every member. */
export type ClusterState = 'PENDING' | 'RUNNING' | 'RESTARTING' | 'RESIZING' | 'TERMINATED' | 'TERMINATING' | 'ERROR' | 'UNKNOWN';
export type LibraryState =
  'PENDING' | 'RESOLVING' | 'INSTALLING' | 'INSTALLED' | 'FAILED' | 'SKIPPED' | 'UNINSTALL_ON_RESTART' | 'RESTORED';

export interface LibraryRecord {
  library: Record<string, unknown>;
  status: LibraryState;
  messages: string[];
  /** The bytes the cluster loaded (for a whl from a file): a re-install does not reload them. */
  loaded?: Buffer;
}
export interface ClusterRecord {
  id: string;
  name: string;
  state: ClusterState;
  libraries: LibraryRecord[];
  /** Reads of clusters/get left while RESTARTING. */
  restartReads: number;
  /** Installs of a library whose whl path matches end FAILED with this message. */
  failInstall?: { match: RegExp; message: string };
  /** Installs of a library whose whl path matches end in this state (SKIPPED, RESTORED, UNINSTALL_ON_RESTART, …) with these messages. */
  installEnds?: { match: RegExp; status: LibraryState; messages: string[] };
  /** A PENDING cluster (starting) becomes `to` after this many reads of its state or libraries. */
  starting?: { reads: number; to: ClusterState };
  /** clusters/get's state_message (default: one for TERMINATED). */
  stateMessage?: string;
}
export interface StatementRecord {
  id: string;
  warehouseId: string;
  statement: string;
  parameters: Array<{ name: string; value: string | null; type?: string }>;
  state: 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELED' | 'CLOSED';
  /** Reads left before the next state step. */
  steps: Array<'PENDING' | 'RUNNING'>;
  outcome: SqlOutcome;
  /** Reads of its result since it SUCCEEDED. */
  reads?: number;
}

/**
 * The statement states of the SDK (databricks-sdk-py, databricks/sdk/service/sql.py,
 * `StatementState`: PENDING waiting for the warehouse, RUNNING, SUCCEEDED, FAILED, CANCELED by a
 * cancel call or `on_wait_timeout=CANCEL`, CLOSED "execution successful, and statement closed;
 * result no longer available for fetch") and the steps between them (a read may find it where it was).
 */
export const STATEMENT_TRANSITIONS: Record<StatementRecord['state'], StatementRecord['state'][]> = {
  PENDING: ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED'],
  RUNNING: ['RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED'],
  SUCCEEDED: ['CLOSED'],
  FAILED: [],
  CANCELED: [],
  CLOSED: [],
};

/**
 * What the warehouse refuses before it runs a statement (R Facts; Databricks SQL reference,
 * "Parameter markers"; the SDK's `execute_statement`): one statement per call; named markers
 * only (`?` is not supported by the Statement Execution API), each bound by a parameter; a marker
 * only where a literal or expression may stand: not as (part of) a name (a table, a column, an
 * alias), which takes `IDENTIFIER(:name)`; and not in the query of a persisted definition
 * (CREATE VIEW, CREATE FUNCTION, a column DEFAULT or GENERATED expression). CREATE TABLE … AS
 * SELECT, INSERT and UPDATE take markers (the query runs once). Error texts modeled.
 */
export function statementProblem(statement: string, parameters: StatementRecord['parameters']): SqlOutcome['error'] {
  // The statement without its string literals ('…', backslash escapes) and quoted identifiers (`…`, kept as a name).
  const code = statement.replace(/'(?:[^'\\]|\\.)*'|`(?:[^`]|``)*`/gs, (m) => (m.startsWith('`') ? 'q' : "''"));
  if (/;\s*\S/.test(code))
    return { error_code: 'PARSE_SYNTAX_ERROR', message: '[PARSE_SYNTAX_ERROR] Syntax error: only one statement is allowed.' }; // modeled
  const markers = [...code.matchAll(/(?<![:\w]):([A-Za-z_]\w*)/g)];
  if (/\?/.test(code))
    return {
      error_code: 'UNSUPPORTED_FEATURE',
      message:
        '[UNSUPPORTED_FEATURE] Positional parameter markers (?) are not supported by the Statement Execution API: use named ones (:name).',
    }; // modeled
  const names = new Set(parameters.map((p) => p.name));
  const unbound = markers.map((x) => x[1]).find((n) => !names.has(n));
  if (unbound) return { error_code: 'UNBOUND_SQL_PARAMETER', message: `[UNBOUND_SQL_PARAMETER] Found the unbound parameter: ${unbound}.` };
  for (const m of markers) {
    const before = code.slice(0, m.index).replace(/\s+$/, '');
    const after = code.slice(m.index! + m[0].length).replace(/^\s+/, '');
    const inIdentifierClause = /\bIDENTIFIER\s*\(\s*$/i.test(before) || /\bIDENTIFIER\s*\([^()]*\|\|\s*$/i.test(before);
    const asName =
      /(?:\b(?:FROM|JOIN|TABLE|INTO|UPDATE|VIEW|AS)|\.)$/i.test(before) && !/\bCAST\s*\([^()]*\bAS$/i.test(before)
        ? true
        : /^\./.test(after);
    if (asName && !inIdentifierClause)
      return {
        error_code: 'PARSE_SYNTAX_ERROR',
        message: `[PARSE_SYNTAX_ERROR] Syntax error at or near ':${m[1]}': a parameter marker cannot stand for a name (use IDENTIFIER(:${m[1]})).`,
      }; // modeled
  }
  const persisted =
    /^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?(VIEW|FUNCTION)\b/i.exec(code)?.[1] ??
    (/\b(?:DEFAULT|GENERATED\s+ALWAYS\s+AS)\b/i.test(code) ? 'a column definition' : undefined);
  if (persisted && markers.length)
    return {
      error_code: 'UNSUPPORTED_FEATURE.PARAMETER_MARKER_IN_UNEXPECTED_STATEMENT',
      message: `[UNSUPPORTED_FEATURE.PARAMETER_MARKER_IN_UNEXPECTED_STATEMENT] The feature is not supported: Parameter markers are not allowed in ${persisted === 'VIEW' ? 'the query of CREATE VIEW' : persisted === 'FUNCTION' ? 'the body of CREATE FUNCTION' : persisted}.`,
    };
  return undefined;
}
/** What a statement does: rows, or an error (a FAILED statement still answers HTTP 200). `onDone`: called once when it ends SUCCEEDED (a change that lands only then). */
export type SqlOutcome = {
  columns?: Array<{ name: string; type?: string }>;
  rows?: Array<Array<string | null>>;
  error?: { error_code: string; message: string };
  polls?: number;
  onDone?: () => void;
};

export type Operation = 'files' | 'libraries' | 'clusters' | 'restart' | 'sql';

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

export interface DatabricksServerState {
  /** Tokens accepted as PATs. */
  tokens: Set<string>;
  /** Volumes that exist: `/Volumes/<catalog>/<schema>/<volume>`. */
  volumes: Set<string>;
  files: Map<string, Buffer>;
  /** Folders made in volumes (`/Volumes/...`). */
  directories: Set<string>;
  clusters: Map<string, ClusterRecord>;
  warehouses: Set<string>;
  statements: Map<string, StatementRecord>;
  /** How PUT /api/2.0/fs/files bodies are read: slowly, or not past some bytes (never answered). */
  uploadPace?: Pace;
  /** Operations the identity may not do: 403 PERMISSION_DENIED. */
  denied: Set<Operation>;
  /** Answers that serve a SUCCEEDED statement's result before it is CLOSED (0: closed before anyone read it; default: never). */
  resultReads?: number;
  /** Answers SQL: default SUCCEEDED with no rows, within the first answer. */
  sql: (statement: string, parameters: StatementRecord['parameters']) => SqlOutcome;
  /** Azure AD service principals: client id → secret; federated: client id → the OIDC token it accepts. */
  servicePrincipals: Map<string, { tenantId: string; secret?: string; federated?: boolean }>;
  /** Job tokens the OIDC endpoint accepts, and the OIDC token it gives per service connection. */
  jobTokens: Set<string>;
  issuedOidc: Map<string, string>;
  issuedAad: Set<string>;
  /* Git folders (Repos) and jobs */
  remotes: Map<string, RemoteRecord>;
  repos: Map<number, RepoRecord>;
  /** Workspace folders (`/Workspace/...`). */
  workspaceDirectories: Set<string>;
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
  headers: Record<string, string | string[] | undefined>;
  authorization: 'none' | 'valid' | 'invalid';
  body?: unknown;
  bytes?: number;
  status?: number;
  /** When it arrived and when it was answered (ms since the epoch). */
  at: number;
  answeredAt?: number;
}

export interface DatabricksServer {
  /** The workspace URL, `http://127.0.0.1:<port>`. */
  url: string;
  /** A PAT it accepts. */
  token: string;
  /** Where Azure AD's token endpoint is (`authorityHost`): `<url>/aad`. */
  authorityHost: string;
  /** `System.OidcRequestUri` */
  oidcRequestUri: string;
  state: DatabricksServerState;
  requests: RecordedRequest[];
  fail(fault: Fault): void;
  addCluster(id: string, options?: Partial<Omit<ClusterRecord, 'id' | 'libraries'>>): ClusterRecord;
  addVolume(path: string): void;
  addServicePrincipal(clientId: string, options: { tenantId: string; secret?: string; federated?: boolean }): void;
  /** Called with each request as it arrives (before it is answered): e.g. to cancel a run at a given call. */
  hooks: { onRequest?: (r: RecordedRequest) => void };
  /** The k-th signed-in /api/ request from now (1 = the next one), whatever it is, answers this fault (default 400 with a body that carries ##vso[). */
  failNth(k: number, fault?: Omit<Fault, 'path' | 'times'>): void;
  addRemote(url: string, remote: Partial<RemoteRecord> & Pick<RemoteRecord, 'tags'>): void;
  /** A workspace folder, with its parents. */
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

export interface DatabricksServerOptions {
  token?: string;
  lifetimeMs?: number;
}

class Reply {
  constructor(
    readonly status: number,
    readonly body?: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}
const json = (status: number, body: unknown, headers?: Record<string, string>) => new Reply(status, body, headers);
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

export async function startDatabricksServer(options: DatabricksServerOptions = {}): Promise<DatabricksServer> {
  const token = options.token ?? `dapi-test-${randomUUID().replace(/-/g, '')}`;
  const state: DatabricksServerState = {
    tokens: new Set([token]),
    volumes: new Set(),
    files: new Map(),
    directories: new Set(),
    clusters: new Map(),
    warehouses: new Set(['wh-1']),
    statements: new Map(),
    denied: new Set(),
    sql: () => ({ columns: [], rows: [] }),
    servicePrincipals: new Map(),
    jobTokens: new Set(),
    issuedOidc: new Map(),
    issuedAad: new Set(),
    remotes: new Map(),
    repos: new Map(),
    workspaceDirectories: new Set(['/Workspace', '/Workspace/Repos', '/Workspace/Shared']),
    jobs: new Map(),
    gitCredential: true,
    gitCredentialError: 'missing',
    pageSize: 20,
    patchDelayMs: 0,
  };
  const requests: RecordedRequest[] = [];
  const hooks: DatabricksServer['hooks'] = {};
  const faults: Array<Fault & { left: number }> = [];
  const nth: Array<{ at: number; fault: Omit<Fault, 'path' | 'times'> }> = [];
  let counted = 0;

  const volumeOf = (path: string) => /^\/Volumes\/[^/]+\/[^/]+\/[^/]+/.exec(path)?.[0];
  /** A folder exists when it is a volume, was made, or holds a file or a folder. */
  const folderExists = (path: string) => {
    const dir = path.replace(/\/+$/, '');
    if (state.volumes.has(dir) || state.directories.has(dir)) return true;
    return [...state.files.keys(), ...state.directories].some((p) => p.startsWith(`${dir}/`));
  };
  const needVolume = (path: string) => {
    const volume = volumeOf(path);
    if (!volume || !state.volumes.has(volume)) throw dbError(404, 'NOT_FOUND', `The volume of '${path}' does not exist.`); // modeled
  };
  const deny = (op: Operation, what: string) => {
    if (state.denied.has(op)) throw dbError(403, 'PERMISSION_DENIED', `User does not have permission ${what}.`); // modeled
  };
  const needCluster = (id: unknown): ClusterRecord => {
    const c = typeof id === 'string' ? state.clusters.get(id) : undefined;
    if (!c) throw dbError(400, 'INVALID_PARAMETER_VALUE', `Cluster ${String(id)} does not exist`); // modeled on Databricks' answer for an unknown cluster id
    return c;
  };
  const libraryKey = (l: Record<string, unknown>) => JSON.stringify(l);
  /** A RUNNING cluster moves each library one step per status read. */
  const advance = (c: ClusterRecord) => {
    if (c.state === 'PENDING' && c.starting && c.starting.reads-- <= 0) c.state = c.starting.to;
    if (c.state !== 'RUNNING' && c.state !== 'RESIZING') return;
    for (const lib of c.libraries) {
      if (lib.status === 'PENDING') lib.status = 'INSTALLING';
      else if (lib.status === 'INSTALLING') {
        const whl = typeof lib.library.whl === 'string' ? lib.library.whl : undefined;
        if (c.installEnds && whl && c.installEnds.match.test(whl)) {
          lib.status = c.installEnds.status;
          lib.messages = c.installEnds.messages;
        } else if (c.failInstall && whl && c.failInstall.match.test(whl)) {
          lib.status = 'FAILED';
          lib.messages = [c.failInstall.message];
        } else if (whl && !state.files.has(whl)) {
          lib.status = 'FAILED';
          lib.messages = [`java.io.FileNotFoundException: ${whl} does not exist`]; // modeled
        } else {
          lib.status = 'INSTALLED';
          if (whl) lib.loaded = state.files.get(whl);
        }
      }
    }
  };

  // --- Git folders and jobs -------------------------------------------------------------------

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
    const dir = [...state.workspaceDirectories].find((d) => norm(d) === norm(path));
    if (dir !== undefined)
      return { object_type: 'DIRECTORY', object_id: 4_000_000 + [...state.workspaceDirectories].indexOf(dir), path: dir };
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
    handle: (
      ctx: { query: Record<string, string>; body: unknown; raw: Buffer; fields: Record<string, unknown> },
      m: string[],
    ) => Reply | Promise<Reply>;
  }> = [
    {
      method: 'PUT',
      pattern: /^\/api\/2\.0\/fs\/directories(\/.+)$/,
      handle: (_ctx, m) => {
        deny('files', `WRITE VOLUME on '${volumeOf(m[1]) ?? m[1]}'`);
        needVolume(m[1]);
        // `mkdir -p`: every folder below the volume.
        const volume = volumeOf(m[1])!;
        for (let dir = m[1].replace(/\/+$/, ''); dir.length > volume.length && !folderExists(dir); dir = dir.slice(0, dir.lastIndexOf('/')))
          state.directories.add(dir);
        return json(204, undefined);
      },
    },
    {
      method: 'HEAD',
      pattern: /^\/api\/2\.0\/fs\/directories(\/.+)$/,
      handle: (_ctx, m) => {
        deny('files', `READ VOLUME on '${volumeOf(m[1]) ?? m[1]}'`);
        return new Reply(folderExists(m[1]) ? 200 : 404);
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/api\/2\.0\/fs\/directories(\/.+)$/,
      handle: (_ctx, m) => {
        deny('files', `WRITE VOLUME on '${volumeOf(m[1]) ?? m[1]}'`);
        const dir = m[1].replace(/\/+$/, '');
        if (!state.directories.has(dir)) return dbError(404, 'NOT_FOUND', `The directory '${dir}' does not exist.`); // modeled
        if ([...state.files.keys(), ...state.directories].some((p) => p.startsWith(`${dir}/`)))
          return dbError(409, 'DIRECTORY_NOT_EMPTY', `The directory '${dir}' is not empty.`); // modeled
        state.directories.delete(dir);
        return json(204, undefined);
      },
    },
    {
      method: 'PUT',
      pattern: /^\/api\/2\.0\/fs\/files(\/.+)$/,
      handle: (ctx, m) => {
        deny('files', `WRITE VOLUME on '${volumeOf(m[1]) ?? m[1]}'`);
        needVolume(m[1]);
        if (state.files.has(m[1]) && ctx.query.overwrite !== 'true')
          return dbError(409, 'ALREADY_EXISTS', `The file being created already exists.`); // modeled
        state.files.set(m[1], ctx.raw);
        return json(204, undefined);
      },
    },
    {
      method: 'HEAD',
      pattern: /^\/api\/2\.0\/fs\/files(\/.+)$/,
      handle: (_ctx, m) => {
        deny('files', `READ VOLUME on '${volumeOf(m[1]) ?? m[1]}'`);
        const f = state.files.get(m[1]);
        return f ? new Reply(200, undefined, { 'x-content-length': String(f.length) }) : new Reply(404);
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/2\.0\/fs\/files(\/.+)$/,
      handle: (_ctx, m) => {
        deny('files', `READ VOLUME on '${volumeOf(m[1]) ?? m[1]}'`);
        const f = state.files.get(m[1]);
        return f ? new Reply(200, f) : dbError(404, 'NOT_FOUND', `The file '${m[1]}' does not exist.`); // modeled
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/api\/2\.0\/fs\/files(\/.+)$/,
      handle: (_ctx, m) => {
        deny('files', `WRITE VOLUME on '${volumeOf(m[1]) ?? m[1]}'`);
        if (!state.files.delete(m[1])) return dbError(404, 'NOT_FOUND', `The file '${m[1]}' does not exist.`); // modeled
        return json(204, undefined);
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/2\.0\/libraries\/install$/,
      handle: (ctx) => {
        const body = (ctx.body ?? {}) as { cluster_id?: unknown; libraries?: unknown };
        deny('libraries', `to install libraries on cluster ${String(body.cluster_id)}`);
        const c = needCluster(body.cluster_id);
        if (!Array.isArray(body.libraries) || !body.libraries.length)
          return dbError(400, 'INVALID_PARAMETER_VALUE', 'libraries must be a non-empty list.'); // modeled
        for (const l of body.libraries as Array<Record<string, unknown>>) {
          // R Facts: re-installing the same library on a running cluster does nothing.
          const listed = c.libraries.find((x) => libraryKey(x.library) === libraryKey(l));
          // modeled: one marked for uninstall is still loaded; installing it again keeps it.
          if (listed?.status === 'UNINSTALL_ON_RESTART') listed.status = 'INSTALLED';
          if (listed) continue;
          c.libraries.push({ library: l, status: 'PENDING', messages: [] });
        }
        return json(200, {});
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/2\.0\/libraries\/uninstall$/,
      handle: (ctx) => {
        const body = (ctx.body ?? {}) as { cluster_id?: unknown; libraries?: unknown };
        deny('libraries', `to uninstall libraries from cluster ${String(body.cluster_id)}`);
        const c = needCluster(body.cluster_id);
        if (!Array.isArray(body.libraries) || !body.libraries.length)
          return dbError(400, 'INVALID_PARAMETER_VALUE', 'libraries must be a non-empty list.'); // modeled
        const keys = new Set((body.libraries as Array<Record<string, unknown>>).map(libraryKey));
        // SDK: not uninstalled until the cluster restarts; one not installed: no impact, no error.
        if (c.state === 'RUNNING' || c.state === 'RESTARTING') {
          for (const l of c.libraries) if (keys.has(libraryKey(l.library))) l.status = 'UNINSTALL_ON_RESTART';
        } else c.libraries = c.libraries.filter((l) => !keys.has(libraryKey(l.library))); // modeled: nothing loaded, nothing to wait for
        return json(200, {});
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/2\.0\/libraries\/cluster-status$/,
      handle: (ctx) => {
        deny('libraries', `to read the libraries of cluster ${ctx.query.cluster_id}`);
        const c = needCluster(ctx.query.cluster_id);
        advance(c);
        return json(200, {
          cluster_id: c.id,
          library_statuses: c.libraries.map((l) => ({
            library: l.library,
            status: l.status,
            ...(l.messages.length ? { messages: l.messages } : {}),
            is_library_for_all_clusters: false,
          })),
        });
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/2\.1\/clusters\/get$/,
      handle: (ctx) => {
        deny('clusters', `to read cluster ${ctx.query.cluster_id}`);
        const c = needCluster(ctx.query.cluster_id);
        if (c.state === 'PENDING' && c.starting && c.starting.reads-- <= 0) c.state = c.starting.to;
        if (c.state === 'RESTARTING') {
          if (c.restartReads-- <= 0) {
            c.state = 'RUNNING';
            // A restart drops the libraries marked for uninstall and loads every other one again
            // from its file, the new bytes included.
            c.libraries = c.libraries.filter((l) => l.status !== 'UNINSTALL_ON_RESTART');
            for (const l of c.libraries) l.status = 'PENDING';
          }
        }
        return json(200, {
          cluster_id: c.id,
          cluster_name: c.name,
          state: c.state,
          state_message: c.stateMessage ?? (c.state === 'TERMINATED' ? 'Inactive cluster terminated (inactive for 120 minutes).' : ''),
        });
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/2\.1\/clusters\/restart$/,
      handle: (ctx) => {
        const body = (ctx.body ?? {}) as { cluster_id?: unknown };
        deny('restart', `to restart cluster ${String(body.cluster_id)}`);
        const c = needCluster(body.cluster_id);
        if (c.state !== 'RUNNING') return dbError(400, 'INVALID_STATE', `Cluster ${c.id} is in unexpected state ${c.state}.`); // modeled
        c.state = 'RESTARTING';
        c.restartReads = c.restartReads || 1;
        return json(200, {});
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/2\.0\/sql\/statements$/,
      handle: (ctx) => {
        const b = (ctx.body ?? {}) as Record<string, unknown>;
        deny('sql', `CAN USE on SQL warehouse ${String(b.warehouse_id)}`);
        if (typeof b.warehouse_id !== 'string' || !b.warehouse_id)
          return dbError(400, 'INVALID_PARAMETER_VALUE', 'warehouse_id is required.'); // modeled
        if (!state.warehouses.has(b.warehouse_id))
          return dbError(404, 'RESOURCE_DOES_NOT_EXIST', `Warehouse ${b.warehouse_id} does not exist.`); // modeled
        if (typeof b.statement !== 'string' || !b.statement.trim())
          return dbError(400, 'INVALID_PARAMETER_VALUE', 'statement is required.'); // modeled
        const wait = typeof b.wait_timeout === 'string' ? b.wait_timeout : '10s';
        const w = /^(\d+)s$/.exec(wait);
        if (!w || (Number(w[1]) !== 0 && (Number(w[1]) < 5 || Number(w[1]) > 50)))
          return dbError(400, 'INVALID_PARAMETER_VALUE', `wait_timeout must be 0s or between 5s and 50s, not '${wait}'.`); // R "Run SQL"
        if (b.on_wait_timeout !== undefined && b.on_wait_timeout !== 'CONTINUE' && b.on_wait_timeout !== 'CANCEL')
          return dbError(400, 'INVALID_PARAMETER_VALUE', 'on_wait_timeout must be CONTINUE or CANCEL.'); // modeled
        const parameters = Array.isArray(b.parameters) ? (b.parameters as StatementRecord['parameters']) : [];
        const id = `01ef-${randomUUID()}`;
        const refused = statementProblem(b.statement, parameters);
        const outcome: SqlOutcome = refused ? { error: refused } : state.sql(b.statement, parameters);
        // `polls` answers that are not final yet: PENDING first, then RUNNING (default 0: done within the wait).
        const polls = outcome.polls ?? 0;
        const steps: Array<'PENDING' | 'RUNNING'> = Array.from({ length: polls }, (_, i) => (i === 0 ? 'PENDING' : 'RUNNING'));
        const rec: StatementRecord = {
          id,
          warehouseId: b.warehouse_id,
          statement: b.statement,
          parameters,
          state: 'PENDING',
          steps,
          outcome,
        };
        state.statements.set(id, rec);
        step(rec);
        if ((rec.state === 'PENDING' || rec.state === 'RUNNING') && b.on_wait_timeout === 'CANCEL' && Number(w[1]) > 0)
          moveTo(rec, 'CANCELED');
        return json(200, statementJson(rec));
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/2\.0\/sql\/statements\/([^/]+)$/,
      handle: (_ctx, m) => {
        deny('sql', 'to read this statement');
        const rec = state.statements.get(m[1]);
        if (!rec) return dbError(404, 'RESOURCE_DOES_NOT_EXIST', `Statement ${m[1]} does not exist.`); // modeled
        step(rec);
        return json(200, statementJson(rec));
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/2\.0\/sql\/statements\/([^/]+)\/cancel$/,
      handle: (_ctx, m) => {
        const rec = state.statements.get(m[1]);
        if (!rec) return dbError(404, 'RESOURCE_DOES_NOT_EXIST', `Statement ${m[1]} does not exist.`); // modeled
        if (rec.state === 'PENDING' || rec.state === 'RUNNING') moveTo(rec, 'CANCELED');
        return json(200, {});
      },
    },
    // Git folders, workspace objects, jobs
    {
      method: 'GET',
      pattern: /^\/api\/2\.0\/repos$/,
      handle: ({ query }) => {
        const prefix = query.path_prefix ?? '';
        // SDK: an empty prefix (/ or /Workspace) serves /Workspace/Repos.
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
      handle: ({ fields: body }) => {
        if (typeof body.url !== 'string' || !body.url) return dbError(400, 'INVALID_PARAMETER_VALUE', 'Missing required field: url'); // modeled
        if (typeof body.provider !== 'string' || !PROVIDERS.some((p) => p.toLowerCase() === (body.provider as string).toLowerCase()))
          return dbError(400, 'INVALID_PARAMETER_VALUE', `Invalid Git provider: ${String(body.provider)}`); // SDK (list), modeled text
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
      handle: ({ fields: body }, m) => patchRepo(repoOf(m[1]), body),
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
        if (!o) return dbError(404, 'RESOURCE_DOES_NOT_EXIST', `Path (${query.path}) doesn't exist.`); // SDK (the code), modeled text
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
      handle: ({ fields: body }) => {
        const j = jobOf(body.job_id);
        if (!j.manageable) return dbError(403, 'PERMISSION_DENIED', `User does not have Manage permissions on job ${j.job_id}.`); // modeled
        const settings = (body.new_settings ?? {}) as Record<string, unknown>;
        const git = settings.git_source as Record<string, unknown> | undefined;
        if (git) {
          if (typeof git.git_url !== 'string' || typeof git.git_provider !== 'string')
            return dbError(400, 'INVALID_PARAMETER_VALUE', 'git_source requires git_url and git_provider.'); // SDK (required fields), modeled text
          const refs = ['git_branch', 'git_tag', 'git_commit'].filter((k) => git[k] !== undefined);
          if (refs.length > 1)
            return dbError(400, 'INVALID_PARAMETER_VALUE', `Only one of ${refs.join(', ')} may be specified in git_source.`); // SDK (field docs), modeled text
        }
        // SDK: top-level fields are replaced whole.
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

  /** One read on: the next PENDING/RUNNING step, or the outcome once the steps are used up. */
  /** One read's step of a statement, along the transitions the SDK's StatementState allows (checked: a model bug fails loudly). */
  function step(rec: StatementRecord) {
    if (rec.state === 'PENDING' || rec.state === 'RUNNING') {
      const next = rec.steps.shift() ?? (rec.outcome.error ? 'FAILED' : 'SUCCEEDED');
      moveTo(rec, next);
      if (next === 'SUCCEEDED') rec.outcome.onDone?.();
    }
    if (rec.state !== 'SUCCEEDED') return;
    // Its result is served in `resultReads` answers (this one included), then it is CLOSED: no longer available.
    rec.reads = (rec.reads ?? 0) + 1;
    if (state.resultReads !== undefined && rec.reads > state.resultReads) moveTo(rec, 'CLOSED');
  }

  function moveTo(rec: StatementRecord, to: StatementRecord['state']) {
    if (!STATEMENT_TRANSITIONS[rec.state].includes(to))
      throw new Error(`statement ${rec.id}: ${rec.state} → ${to} is not a transition Databricks makes`);
    rec.state = to;
  }

  function statementJson(rec: StatementRecord) {
    const status: Record<string, unknown> = { state: rec.state };
    if (rec.state === 'FAILED') status.error = rec.outcome.error;
    const out: Record<string, unknown> = { statement_id: rec.id, status };
    if (rec.state === 'SUCCEEDED') {
      const columns = rec.outcome.columns ?? [];
      const rows = rec.outcome.rows ?? [];
      out.manifest = {
        format: 'JSON_ARRAY',
        schema: {
          column_count: columns.length,
          columns: columns.map((c, i) => ({ name: c.name, type_name: c.type ?? 'STRING', position: i })),
        },
        total_row_count: rows.length,
        total_chunk_count: 1,
        chunks: [{ chunk_index: 0, row_offset: 0, row_count: rows.length }],
        truncated: false,
      };
      out.result = { chunk_index: 0, row_offset: 0, row_count: rows.length, data_array: rows };
    }
    return out;
  }

  // --- Azure AD and the OIDC endpoint --------------------------------------------------------

  function aadToken(form: URLSearchParams, tenant: string): Reply {
    const aadError = (error: string, description: string) => json(400, { error, error_description: description, error_codes: [7000215] });
    if (form.get('grant_type') !== 'client_credentials')
      return aadError('unsupported_grant_type', 'AADSTS70003: The app requested an unsupported grant type.'); // modeled
    if (form.get('scope') !== DATABRICKS_SCOPE)
      return aadError('invalid_scope', `AADSTS70011: The provided value for scope ${form.get('scope')} is not valid.`); // modeled
    const sp = state.servicePrincipals.get(form.get('client_id') ?? '');
    if (!sp || sp.tenantId !== tenant)
      return aadError(
        'unauthorized_client',
        `AADSTS700016: Application with identifier '${form.get('client_id')}' was not found in the directory '${tenant}'.`,
      );
    if (form.get('client_assertion')) {
      if (
        form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' ||
        !sp.federated ||
        ![...state.issuedOidc.values()].includes(form.get('client_assertion')!)
      ) {
        return aadError('invalid_client', 'AADSTS700213: No matching federated identity record found for presented assertion.');
      }
    } else if (!sp.secret || form.get('client_secret') !== sp.secret) {
      return aadError(
        'invalid_client',
        'AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.',
      );
    }
    const access = `aad-${randomUUID()}`;
    state.issuedAad.add(access);
    return json(200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: access });
  }

  // --- HTTP ------------------------------------------------------------------------------------

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parsed = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = decodeURIComponent(parsed.pathname);
    const query: Record<string, string> = {};
    parsed.searchParams.forEach((v, k) => (query[k] = v));
    const method = (req.method ?? 'GET').toUpperCase();
    // File uploads are read at the pace the test sets (slow, or stalled); everything else at once.
    const raw = method === 'PUT' && path.startsWith('/api/2.0/fs/files/') ? await readPaced(req, state.uploadPace) : await readBody(req);
    const auth = req.headers.authorization;
    const bearer = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
    const authorization: RecordedRequest['authorization'] =
      auth === undefined
        ? 'none'
        : bearer && (state.tokens.has(bearer) || state.issuedAad.has(bearer) || state.jobTokens.has(bearer))
          ? 'valid'
          : 'invalid';
    const type = String(req.headers['content-type'] ?? '');
    let body: unknown;
    if (type.includes('json') && raw.length) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        body = raw.toString('utf8');
      }
    } else if (type.includes('x-www-form-urlencoded')) body = Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
    const fields = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    const record: RecordedRequest = {
      method,
      path,
      query,
      headers: req.headers,
      authorization,
      ...(body !== undefined ? { body } : {}),
      bytes: raw.length,
      at: Date.now(),
    };
    requests.push(record);
    hooks.onRequest?.(record);
    const send = (reply: Reply) => {
      record.status = reply.status;
      record.answeredAt = Date.now();
      // The client gave up on it (e.g. a cancelled run): nobody to answer.
      if (res.destroyed) return;
      const headers = { ...reply.headers };
      const raw = Buffer.isBuffer(reply.body);
      const payload = reply.body === undefined ? '' : raw ? (reply.body as Buffer) : JSON.stringify(reply.body);
      if (payload.length) headers['content-type'] = raw ? 'application/octet-stream' : 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
      res.writeHead(reply.status, headers);
      res.end(method === 'HEAD' ? undefined : payload);
    };

    const signedIn = path.startsWith('/api/') && authorization === 'valid' && !(bearer && state.jobTokens.has(bearer));
    // failNth counts the calls the API itself answers (signed in), not the sign-in's own.
    if (signedIn) counted++;
    const nthAt = signedIn ? nth.findIndex((n) => n.at === counted) : -1;
    const pathFault = () =>
      faults.find(
        (f) =>
          f.left > 0 &&
          (!f.method || f.method.toUpperCase() === method) &&
          (typeof f.path === 'string' ? path.includes(f.path) : f.path.test(path)),
      );
    const fault = nthAt >= 0 ? nth.splice(nthAt, 1)[0].fault : pathFault();
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
      return send(json(status, fault.body ?? defaultBody, fault.headers));
    }

    const aad = /^\/aad\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
    if (aad && method === 'POST') return send(aadToken(new URLSearchParams(raw.toString('utf8')), aad[1]));
    if (path === '/oidc' && method === 'POST') {
      if (query['api-version'] !== '7.1' || !query.serviceConnectionId)
        return send(json(400, { message: 'api-version=7.1 and serviceConnectionId are required' })); // modeled
      if (!bearer || !state.jobTokens.has(bearer))
        return send(json(401, { message: 'TF400813: Resource not available for anonymous access.' }));
      const oidc = `oidc-${randomUUID()}`;
      state.issuedOidc.set(query.serviceConnectionId, oidc);
      return send(json(200, { oidcToken: oidc }));
    }

    if (!path.startsWith('/api/')) return send(dbError(404, 'ENDPOINT_NOT_FOUND', `No API found for '${method} ${path}'`)); // modeled
    if (!signedIn) {
      return send(dbError(401, 'UNAUTHENTICATED', 'Credential was not sent or was of an unsupported type for this API.')); // modeled
    }
    for (const route of routes) {
      if (route.method !== method) continue;
      const m = route.pattern.exec(path);
      if (!m) continue;
      try {
        return send(await route.handle({ query, body, raw, fields }, m));
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
    authorityHost: `${url}/aad`,
    oidcRequestUri: `${url}/oidc`,
    state,
    requests,
    hooks,
    fail: (fault) => faults.push({ ...fault, left: fault.times ?? 1 }),
    addCluster(id, o = {}) {
      const c: ClusterRecord = {
        id,
        name: o.name ?? `cluster-${id}`,
        state: o.state ?? 'RUNNING',
        libraries: [],
        restartReads: o.restartReads ?? 1,
        ...(o.failInstall ? { failInstall: o.failInstall } : {}),
        ...(o.installEnds ? { installEnds: o.installEnds } : {}),
        ...(o.starting ? { starting: o.starting } : {}),
        ...(o.stateMessage !== undefined ? { stateMessage: o.stateMessage } : {}),
      };
      state.clusters.set(id, c);
      return c;
    },
    addVolume: (path) => void state.volumes.add(path.replace(/\/+$/, '')),
    addServicePrincipal: (clientId, o) => void state.servicePrincipals.set(clientId, o),
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
      for (let p = path.replace(/\/+$/, ''); p && p !== '/'; p = p.replace(/\/[^/]*$/, '')) state.workspaceDirectories.add(p);
    },
    addRepo(path, repoUrl, o = {}) {
      const remote = state.remotes.get(repoUrl);
      if (!remote) throw new Error(`addRepo: no remote ${repoUrl}`);
      const parent = path.replace(/\/[^/]+\/?$/, '');
      for (let p = parent; p && p !== '/'; p = p.replace(/\/[^/]*$/, '')) state.workspaceDirectories.add(p);
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
