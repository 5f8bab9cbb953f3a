/**
 * The Databricks client: the REST calls BuildWheel and RegenerateSampleData make, nothing more.
 *
 * - Plain values in (workspace URL, a token or a way to get one); it never sees task-lib. The
 *   task reads the service connection through shared/agent.ts (`endpoint`), which registers every
 *   credential as a secret, and turns it into `DatabricksAuth` with `databricksAuthFromEndpoint`.
 * - One retry policy (./http.ts): 429 and 5xx with Retry-After, bounded in attempts and time;
 *   a file upload is bounded by its progress instead (no bytes moved for the request timeout);
 *   calls that create something (library install, restart, a SQL statement) are repeated only
 *   where Databricks cannot have acted (see classifyHttpFailure). Every request has a timeout.
 * - Errors are DatabricksError: Databricks' own `error_code` and `message` quoted, the request
 *   (method and path; never a token) and what to do.
 * - The token goes to the workspace host only (and an Azure AD token request to the authority).
 * - A cancel of the run aborts the request in flight and the wait before a retry (./http.ts):
 *   the call rejects with CancelledError. The undo journal's own calls (uninstall, delete) run
 *   after the cancel with their timeouts only.
 *
 * Calls (sources: /work/shared/reference/databricks-rest.md):
 *   PUT  /api/2.0/fs/directories{path}                 createDirectory
 *   HEAD /api/2.0/fs/directories{path}                 directoryExists
 *   DELETE /api/2.0/fs/directories{path}               deleteDirectory (an empty one only)
 *   PUT  /api/2.0/fs/files{path}?overwrite=true|false  uploadFile (raw body)
 *   HEAD /api/2.0/fs/files{path}                       fileExists
 *   GET  /api/2.0/fs/files{path}                       downloadFile (raw body)
 *   DELETE /api/2.0/fs/files{path}                     deleteFile
 *   POST /api/2.0/libraries/install                    installLibraries
 *   POST /api/2.0/libraries/uninstall                  uninstallLibraries (takes effect at the cluster's next restart)
 *   GET  /api/2.0/libraries/cluster-status             libraryStatuses
 *   GET  /api/2.1/clusters/get                         cluster
 *   POST /api/2.1/clusters/restart                     restartCluster
 *   POST /api/2.0/sql/statements                       executeStatement (HTTP 200 even when the statement FAILED)
 *   GET  /api/2.0/sql/statements/{id}                  getStatement
 *   POST /api/2.0/sql/statements/{id}/cancel           cancelStatement
 *   runStatement = execute + poll until SUCCEEDED (or throw on FAILED/CANCELED/CLOSED, cancel on timeout)
 * The Files API calls beyond the reference's upload (directory metadata and delete, file
 * download and delete) and libraries/uninstall are as the Databricks SDK defines them
 * (databricks-sdk-py `service/files.py` FilesAPI: get_directory_metadata, delete_directory
 * "deletes an empty directory", download, delete; `service/compute.py` LibrariesAPI.uninstall:
 * "Set libraries to be uninstalled on a cluster. The libraries won't be uninstalled until the
 * cluster is restarted. Uninstalling libraries that are not installed on the cluster will have
 * no impact but is not an error.").
 */
import { UserError } from '../errors';
import { CancelledError } from '../processes';
import {
  DeadlineExceededError,
  HttpAttemptError,
  RetriesExhaustedError,
  UPLOAD_TOTAL_BOUND_MS,
  classifyAttempt,
  parseRetryAfter,
  progressBoundedBody,
  requestSignal,
  retryPolicy,
  seconds,
  withRetries,
  type RetryPolicy,
} from './http';

// ---------------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------------

/** The Azure AD application id of Azure Databricks: tokens are requested for `<id>/.default`. */
export const DATABRICKS_AAD_RESOURCE = '2ff814a6-3304-4ab8-85cb-cd0e6f879c1d';
export const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';

export type DatabricksAuth =
  | { kind: 'pat'; token: string }
  | { kind: 'servicePrincipal'; tenantId: string; clientId: string; clientSecret: string; authorityHost: string }
  | {
      kind: 'workloadIdentity';
      tenantId: string;
      clientId: string;
      /** `System.OidcRequestUri` */
      oidcRequestUri: string;
      /** The Azure Resource Manager service connection's id. */
      serviceConnectionId: string;
      /** The job token (System.AccessToken), sent to the OIDC request URI only. */
      jobToken: string;
      authorityHost: string;
    };

/** A service connection as the agent gives it (shared/agent.ts `endpoint`): plain values. */
export interface EndpointValues {
  id: string;
  url?: string;
  scheme?: string;
  parameters: Record<string, string>;
  data: Record<string, string>;
}

function param(values: Record<string, string>, ...names: string[]): string | undefined {
  const lower = new Map(Object.entries(values).map(([k, v]) => [k.toLowerCase(), v]));
  for (const n of names) {
    const v = lower.get(n.toLowerCase());
    if (v) return v;
  }
  return undefined;
}

/**
 * The workspace URL and auth of a `relevo-databricks` connection (scheme `Token`: a PAT;
 * scheme `UsernamePassword`: a service principal, client id / secret / tenant), or of an Azure
 * Resource Manager connection with workload identity federation (`workspaceUrl` then comes from
 * an input). `input` names the task input, for errors.
 */
export function databricksAuthFromEndpoint(
  endpoint: EndpointValues,
  options: { input: string; workspaceUrl?: string; oidcRequestUri?: string; jobToken?: string; authorityHost?: string },
): { host: string; auth: DatabricksAuth } {
  const scheme = (endpoint.scheme ?? '').toLowerCase();
  const { input } = options;
  const authorityHost = trimSlash(
    options.authorityHost ??
      param(endpoint.data, 'authorityHost', 'environmentAuthorityUrl') ??
      param(endpoint.parameters, 'authorityHost') ??
      DEFAULT_AUTHORITY_HOST,
  );
  if (scheme === 'workloadidentityfederation') {
    const host = options.workspaceUrl;
    if (!host)
      throw new UserError('an Azure Resource Manager connection does not say which Databricks workspace to use.', {
        input: 'databricksWorkspaceUrl',
        fix: 'set databricksWorkspaceUrl to the workspace URL, e.g. https://adb-1234567890123456.7.azuredatabricks.net.',
      });
    const tenantId = param(endpoint.parameters, 'tenantid') ?? param(endpoint.data, 'tenantid');
    const clientId = param(endpoint.parameters, 'serviceprincipalid') ?? param(endpoint.data, 'serviceprincipalid');
    if (!tenantId || !clientId)
      throw new UserError('the Azure Resource Manager connection has no tenant or service principal id.', {
        input,
        fix: 'use a connection of the workload identity federation kind (app registration or managed identity).',
      });
    if (!options.oidcRequestUri || !options.jobToken) {
      throw new UserError('workload identity federation needs System.OidcRequestUri and the job token.', {
        input,
        fix: 'run on an Azure Pipelines agent 3.227 or newer (it sets System.OidcRequestUri), in a job whose token is available to tasks.',
      });
    }
    return {
      host: checkHost(host, 'databricksWorkspaceUrl'),
      auth: {
        kind: 'workloadIdentity',
        tenantId,
        clientId,
        oidcRequestUri: options.oidcRequestUri,
        serviceConnectionId: endpoint.id,
        jobToken: options.jobToken,
        authorityHost,
      },
    };
  }
  if (scheme && scheme !== 'token' && scheme !== 'usernamepassword') {
    throw new UserError(`the connection's authentication scheme '${endpoint.scheme}' is not one Relevo knows.`, {
      input,
      fix: 'use a Databricks (Relevo) connection with a personal access token or a service principal, or an Azure Resource Manager connection with workload identity federation.',
    });
  }
  const host = checkHost(options.workspaceUrl ?? endpoint.url ?? '', input);
  if (scheme === 'usernamepassword') {
    const clientId = param(endpoint.parameters, 'username', 'clientId');
    const clientSecret = param(endpoint.parameters, 'password', 'clientSecret');
    const tenantId = param(endpoint.parameters, 'tenantId') ?? param(endpoint.data, 'tenantId');
    if (!clientId || !clientSecret || !tenantId)
      throw new UserError('the service principal connection lacks its client id, secret or tenant.', {
        input,
        fix: 'edit the service connection and fill in tenant, client id and client secret.',
      });
    return { host, auth: { kind: 'servicePrincipal', tenantId, clientId, clientSecret, authorityHost } };
  }
  const token = param(endpoint.parameters, 'apitoken', 'token', 'password');
  if (!token)
    throw new UserError('the connection has no token.', {
      input,
      fix: 'edit the service connection and paste a Databricks personal access token.',
    });
  return { host, auth: { kind: 'pat', token } };
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function checkHost(url: string, input: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError(`'${url}' is not a workspace URL.`, {
      input,
      fix: 'use the workspace URL, e.g. https://adb-1234567890123456.7.azuredatabricks.net.',
    });
  }
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && /^(127\.0\.0\.1|localhost)$/.test(parsed.hostname))) {
    throw new UserError(`'${url}' is not an https URL.`, { input, fix: 'use the https:// workspace URL.' });
  }
  return `${parsed.protocol}//${parsed.host}`;
}

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

export interface DatabricksClientOptions {
  /** The workspace URL, e.g. https://adb-1234567890123456.7.azuredatabricks.net */
  host: string;
  auth: DatabricksAuth;
  retry?: Partial<RetryPolicy>;
  /** Timeout of one request without an answer, in ms (default 30 s). */
  timeoutMs?: number;
  userAgent?: string;
  /** Told about each retry (for a log line); never carries a token. */
  onRetry?: (event: { method: string; path: string; attempt: number; delayMs: number; reason: string }) => void;
}

export type Library = { whl: string } | { pypi: { package: string; repo?: string } } | { jar: string } | { requirements: string };

/** The SDK's `LibraryInstallStatus` (databricks-sdk-py service/compute.py), every member. */
export const LIBRARY_STATES = [
  'FAILED',
  'INSTALLED',
  'INSTALLING',
  'PENDING',
  'RESOLVING',
  'RESTORED',
  'SKIPPED',
  'UNINSTALL_ON_RESTART',
] as const;
export type LibraryState = (typeof LIBRARY_STATES)[number];

/** The SDK's cluster `State` (databricks-sdk-py service/compute.py), every member. */
export const CLUSTER_STATES = ['ERROR', 'PENDING', 'RESIZING', 'RESTARTING', 'RUNNING', 'TERMINATED', 'TERMINATING', 'UNKNOWN'] as const;
export type ClusterState = (typeof CLUSTER_STATES)[number];

/** A state Databricks sent that the SDK does not define (a newer API): kept as sent, never guessed. */
export interface UnknownState {
  unknown: string;
}

export interface LibraryStatus {
  library: Library;
  status: LibraryState | UnknownState;
  messages: string[];
  isLibraryForAllClusters: boolean;
}

export interface ClusterInfo {
  clusterId: string;
  name?: string;
  state: ClusterState | UnknownState;
  stateMessage?: string;
}

export type StatementState = 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELED' | 'CLOSED';

export interface StatementParameter {
  name: string;
  value: string | null;
  /** A Databricks SQL type, e.g. STRING, INT, DECIMAL(10,2), DATE (default STRING). */
  type?: string;
}

export interface ExecuteStatementRequest {
  warehouseId: string;
  /** One statement; named parameters only (`:name`). */
  statement: string;
  catalog?: string;
  schema?: string;
  parameters?: StatementParameter[];
  /** `0s` (return at once) or `5s`..`50s` (default `10s`). */
  waitTimeout?: string;
  onWaitTimeout?: 'CONTINUE' | 'CANCEL';
  disposition?: 'INLINE' | 'EXTERNAL_LINKS';
  format?: 'JSON_ARRAY' | 'ARROW_STREAM' | 'CSV';
  rowLimit?: number;
}

export interface StatementResult {
  statementId: string;
  state: StatementState;
  /** Set when state is FAILED (Databricks answers HTTP 200 for a failed statement). */
  error?: { errorCode?: string; message?: string };
  columns: Array<{ name: string; typeName?: string }>;
  /** Rows of the first chunk, as Databricks sends them (JSON_ARRAY: strings or null). */
  rows: Array<Array<string | null>>;
  totalRowCount?: number;
  /** How many chunks the result has (only the first is read inline). */
  totalChunkCount?: number;
}

export interface DatabricksClient {
  readonly host: string;
  createDirectory(path: string): Promise<void>;
  /** PUT the bytes at a volume or workspace-files path; `overwrite` default true. */
  uploadFile(path: string, bytes: Buffer | Uint8Array, options?: { overwrite?: boolean }): Promise<void>;
  fileExists(path: string): Promise<boolean>;
  /** The file's bytes. */
  downloadFile(path: string): Promise<Buffer>;
  /** Deletes a file; false when there was none (404). */
  deleteFile(path: string): Promise<boolean>;
  directoryExists(path: string): Promise<boolean>;
  /** Deletes an empty directory; false when there was none (404). */
  deleteDirectory(path: string): Promise<boolean>;
  installLibraries(clusterId: string, libraries: Library[]): Promise<void>;
  /** Marks libraries to be uninstalled: a running cluster drops them at its next restart; one not listed is no error. */
  uninstallLibraries(clusterId: string, libraries: Library[]): Promise<void>;
  libraryStatuses(clusterId: string): Promise<LibraryStatus[]>;
  cluster(clusterId: string): Promise<ClusterInfo>;
  restartCluster(clusterId: string): Promise<void>;
  executeStatement(request: ExecuteStatementRequest): Promise<StatementResult>;
  getStatement(statementId: string): Promise<StatementResult>;
  cancelStatement(statementId: string): Promise<void>;
  /**
   * Executes and polls until the statement ends. SUCCEEDED → its result; FAILED, CANCELED or
   * CLOSED → DatabricksStatementError quoting Databricks' error; still running after
   * `timeoutMs` (default 15 min) → cancels it and throws.
   */
  runStatement(
    request: ExecuteStatementRequest,
    options?: { timeoutMs?: number; pollMs?: number; sleep?: (ms: number) => Promise<void> },
  ): Promise<StatementResult>;
}

export type DatabricksErrorKind =
  | 'unauthorized'
  | 'forbidden'
  | 'notFound'
  | 'conflict'
  | 'badRequest'
  | 'throttled'
  | 'unavailable'
  | 'timeout'
  | 'network'
  | 'statementFailed'
  | 'other';

/** A call to Databricks that failed; the message quotes Databricks' error_code and message. */
export class DatabricksError extends UserError {
  readonly kind: DatabricksErrorKind;
  readonly status?: number;
  readonly errorCode?: string;
  readonly serverMessage?: string;
  readonly method?: string;
  /** The request's path (the host is the workspace's); never credentials. */
  readonly path?: string;
  readonly attempts?: number;

  constructor(
    message: string,
    details: {
      kind: DatabricksErrorKind;
      fix: string;
      status?: number;
      errorCode?: string;
      serverMessage?: string;
      method?: string;
      path?: string;
      attempts?: number;
      cause?: unknown;
    },
  ) {
    super(message, { fix: details.fix, cause: details.cause });
    this.name = 'DatabricksError';
    this.kind = details.kind;
    this.status = details.status;
    this.errorCode = details.errorCode;
    this.serverMessage = details.serverMessage;
    this.method = details.method;
    this.path = details.path;
    this.attempts = details.attempts;
  }
}

/** A SQL statement that ended FAILED, CANCELED or CLOSED (the HTTP call itself succeeded). */
export class DatabricksStatementError extends DatabricksError {
  constructor(
    readonly statement: StatementResult,
    readonly sql: string,
  ) {
    const e = statement.error;
    const quoted = e ? `${e.errorCode ?? 'ERROR'}: ${e.message ?? ''}`.trim() : `ended ${statement.state}`;
    super(
      `the SQL statement ${statement.statementId} ${statement.state === 'FAILED' ? 'failed' : `ended ${statement.state}`} (${quoted}): ${sql.length > 200 ? `${sql.slice(0, 200)}…` : sql}`,
      {
        kind: 'statementFailed',
        errorCode: e?.errorCode,
        serverMessage: e?.message,
        fix:
          statement.state === 'FAILED'
            ? "fix the statement or the objects it reads (the message is Databricks' own)."
            : 'someone or something cancelled it; run it again.',
      },
    );
    this.name = 'DatabricksStatementError';
  }
}

// ---------------------------------------------------------------------------------------------
// Token acquisition (Azure AD; workload identity federation)
// ---------------------------------------------------------------------------------------------

async function send(
  url: string,
  init: RequestInit,
  timeoutMs: number,
  cancel?: AbortSignal,
  progress?: ReturnType<typeof progressBoundedBody>,
): Promise<Response> {
  try {
    return await fetch(url, {
      ...init,
      redirect: 'manual',
      // An upload is bounded by its progress (no bytes moved for timeoutMs), not by a total.
      ...(progress ? { body: progress.body, duplex: 'half', signal: progress.signal } : { signal: requestSignal(timeoutMs, cancel) }),
    } as RequestInit);
  } catch (err) {
    if (cancel?.aborted) throw new CancelledError('waiting for Databricks');
    if (progress?.stalled()) throw new HttpAttemptError(progress.describeStall(), { timedOut: true });
    const e = err as { name?: string; cause?: { code?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError')
      throw new HttpAttemptError(`no answer within ${seconds(timeoutMs)}`, { timedOut: true });
    const code = e.cause?.code;
    throw new HttpAttemptError(code ? `network error ${code}` : `network error (${(err as Error).message})`, { code });
  }
}

async function readJson(res: Response): Promise<Record<string, unknown> | undefined> {
  const text = await res.text();
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return { message: text.slice(0, 300) };
  }
}

/** An Azure AD access token for Databricks: client secret, or a federated OIDC assertion. */
export async function acquireAadToken(
  auth: Exclude<DatabricksAuth, { kind: 'pat' }>,
  options: { timeoutMs?: number; retry?: Partial<RetryPolicy> } = {},
): Promise<{ token: string; expiresAt: number }> {
  const policy = retryPolicy({ ...options.retry, ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) });
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: auth.clientId,
    scope: `${DATABRICKS_AAD_RESOURCE}/.default`,
  });
  if (auth.kind === 'servicePrincipal') form.set('client_secret', auth.clientSecret);
  else {
    const oidcUrl = new URL(auth.oidcRequestUri);
    oidcUrl.searchParams.set('api-version', '7.1');
    oidcUrl.searchParams.set('serviceConnectionId', auth.serviceConnectionId);
    const oidc = await call(policy, 'OIDC token request', async (cancel) => {
      const res = await send(
        oidcUrl.toString(),
        {
          method: 'POST',
          headers: { authorization: `Bearer ${auth.jobToken}`, 'content-type': 'application/json', accept: 'application/json' },
          body: '{}',
        },
        policy.timeoutMs,
        cancel,
      );
      return checked(res, await readJson(res));
    });
    const assertion = typeof oidc.oidcToken === 'string' ? oidc.oidcToken : '';
    if (!assertion)
      throw new UserError('Azure DevOps gave no OIDC token for the service connection.', {
        fix: 'check that the connection uses workload identity federation and that this pipeline may use it.',
      });
    form.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    form.set('client_assertion', assertion);
  }
  const tokenUrl = `${auth.authorityHost}/${encodeURIComponent(auth.tenantId)}/oauth2/v2.0/token`;
  const answer = await call(policy, 'Azure AD token request', async (cancel) => {
    const res = await send(
      tokenUrl,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
      },
      policy.timeoutMs,
      cancel,
    );
    return checked(res, await readJson(res));
  });
  const token = typeof answer.access_token === 'string' ? answer.access_token : '';
  if (!token)
    throw new UserError(`Azure AD answered without an access token (${tokenUrl}).`, {
      fix: 'check the tenant and the token endpoint host.',
    });
  return { token, expiresAt: Date.now() + (Number(answer.expires_in) || 3600) * 1000 };

  function checked(res: Response, body: Record<string, unknown> | undefined): Record<string, unknown> {
    if (res.ok) return body ?? {};
    const text = errorText(body);
    throw new HttpAttemptError(`HTTP ${res.status}${body?.error ? ` ${String(body.error)}` : ''}${text ? `: ${text}` : ''}`, {
      status: res.status,
      retryAfterMs: parseRetryAfter(res.headers.get('retry-after') ?? undefined),
    });
  }

  /** Azure AD's first line of error_description, else the body's message. */
  function errorText(body: Record<string, unknown> | undefined): string {
    if (typeof body?.error_description === 'string') return body.error_description.split(/\r?\n/)[0];
    if (typeof body?.message === 'string') return body.message;
    return '';
  }
}

async function call<T>(policy: RetryPolicy, what: string, attempt: (cancel: AbortSignal | undefined) => Promise<T>): Promise<T> {
  try {
    return await withRetries(
      (_n, cancel) => attempt(cancel),
      (err) => classifyAttempt(err, true),
      policy,
    );
  } catch (err) {
    const last = err instanceof RetriesExhaustedError ? err.lastError : err;
    if (last instanceof HttpAttemptError || err instanceof RetriesExhaustedError) {
      const status = last instanceof HttpAttemptError ? last.failure.status : undefined;
      throw new UserError(`${what} failed: ${(err as Error).message}`, {
        fix:
          status === 400 || status === 401
            ? "check the connection's tenant, client id and secret (or the federated credential's subject: sc://<organization>/<project>/<connection>)."
            : 'try again later; if it persists, check the token endpoint host.',
      });
    }
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

interface Operation {
  /** "upload /Volumes/…/x.whl" */
  what: string;
  idempotent: boolean;
  /** What to do on 403, naming the permission. */
  forbiddenFix: string;
  notFoundFix?: string;
  conflictFix?: string;
  /**
   * A move the undo must know the outcome of (DeployToDatabricks' PATCH of a Git folder): a
   * cancel lets the request in flight get its answer instead of abandoning it, since Databricks
   * may still apply an abandoned one after the undo looked.
   */
  finishOnCancel?: boolean;
}

/** Never aborts: for the requests a cancel lets finish. */
const NEVER_ABORTED = new AbortController().signal;

export function connectDatabricks(options: DatabricksClientOptions): DatabricksClient {
  return new Client(options);
}

/** `/Volumes/a b/c` → `/Volumes/a%20b/c` (each segment encoded, slashes kept). */
function encodePath(path: string): string {
  const p = path.startsWith('/') ? path : `/${path}`;
  return p.split('/').map(encodeURIComponent).join('/');
}

const TERMINAL_STATEMENT: ReadonlySet<string> = new Set(['SUCCEEDED', 'FAILED', 'CANCELED', 'CLOSED']);

class Client implements DatabricksClient {
  readonly host: string;
  private readonly policy: RetryPolicy;
  private token?: { value: string; expiresAt: number };

  constructor(private readonly options: DatabricksClientOptions) {
    this.host = trimSlash(options.host);
    this.policy = retryPolicy({ ...options.retry, ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) });
  }

  private async bearer(): Promise<string> {
    const { auth } = this.options;
    if (auth.kind === 'pat') return auth.token;
    if (!this.token || this.token.expiresAt - Date.now() < 120_000) {
      const t = await acquireAadToken(auth, { retry: this.options.retry, timeoutMs: this.options.timeoutMs });
      this.token = { value: t.token, expiresAt: t.expiresAt };
    }
    return this.token.value;
  }

  private async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    op: Operation,
    body?: unknown,
    query?: Record<string, string>,
    as: 'json' | 'bytes' = 'json',
  ): Promise<T> {
    const url = new URL(this.host + path);
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
    const shown = url.pathname + url.search;
    const token = await this.bearer();
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      accept: 'application/json',
      'user-agent': this.options.userAgent ?? 'relevo',
    };
    let payload: Uint8Array | string | undefined;
    if (body instanceof Uint8Array) {
      headers['content-type'] = 'application/octet-stream';
      payload = body;
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    try {
      return await withRetries(
        async (_n, cancel) => {
          // A file's bytes go in chunks, bounded by progress; the answer then within the same bound.
          const progress = payload instanceof Uint8Array ? progressBoundedBody(payload, this.policy.timeoutMs, cancel) : undefined;
          try {
            const res = await send(
              url.toString(),
              {
                method,
                headers: {
                  ...(as === 'bytes' ? { ...headers, accept: 'application/octet-stream' } : headers),
                  ...(progress ? { 'content-length': String((payload as Uint8Array).length) } : {}),
                },
                body: payload,
              },
              this.policy.timeoutMs,
              cancel,
              progress,
            );
            return await this.answer<T>(res, method, as);
          } catch (err) {
            if (progress?.stalled() && !(err instanceof HttpAttemptError))
              throw new HttpAttemptError(progress.describeStall(), { timedOut: true });
            throw err;
          } finally {
            progress?.done();
          }
        },
        (err) => classifyAttempt(err, op.idempotent),
        {
          ...this.policy,
          ...(op.finishOnCancel ? { signal: NEVER_ABORTED } : {}),
          // An upload's attempt takes as long as its bytes take (bounded by progress instead).
          ...(payload instanceof Uint8Array ? { maxTotalMs: UPLOAD_TOTAL_BOUND_MS } : {}),
        },
        (e) => this.options.onRetry?.({ method, path: shown, attempt: e.attempt, delayMs: e.delayMs, reason: e.reason }),
      );
    } catch (err) {
      throw this.explain(err, method, shown, op, payload);
    }
  }

  /** A response read: the bytes, the JSON, or the HttpAttemptError carrying Databricks' error. */
  private async answer<T>(res: Response, method: string, as: 'json' | 'bytes'): Promise<T> {
    if (res.ok && as === 'bytes') return Buffer.from(await res.arrayBuffer()) as T;
    const parsed = method === 'HEAD' ? undefined : await readJson(res);
    if (res.ok) return (parsed ?? {}) as T;
    const errorCode = typeof parsed?.error_code === 'string' ? parsed.error_code : undefined;
    const message = typeof parsed?.message === 'string' ? parsed.message : undefined;
    throw new HttpAttemptError(
      `HTTP ${res.status}`,
      { status: res.status, retryAfterMs: parseRetryAfter(res.headers.get('retry-after') ?? undefined) },
      { error_code: errorCode, message },
    );
  }

  private explain(err: unknown, method: string, path: string, op: Operation, body?: unknown): unknown {
    const exhausted = err instanceof RetriesExhaustedError ? err : undefined;
    const last = exhausted ? exhausted.lastError : err;
    if (!(last instanceof HttpAttemptError) && !(last instanceof DeadlineExceededError)) return err;
    const failure = last instanceof HttpAttemptError ? last.failure : { timedOut: true };
    const status = failure.status;
    const errorCode = last instanceof HttpAttemptError ? last.body?.error_code : undefined;
    const serverMessage = last instanceof HttpAttemptError ? last.body?.message : undefined;
    const quoted =
      status !== undefined
        ? `HTTP ${status}${errorCode ? ` ${errorCode}` : ''}${serverMessage ? `: ${serverMessage}` : ''}`
        : (last as Error).message;
    const retried = exhausted ? ` (${exhausted.reason})` : '';
    const [kind, fix] = this.kindAndFix(status, failure.timedOut, body instanceof Uint8Array, op);
    return new DatabricksError(`Could not ${op.what}: ${method} ${path} answered ${quoted}${retried}.`, {
      kind,
      fix,
      status,
      errorCode,
      serverMessage,
      method,
      path,
      attempts: exhausted?.attempts,
      cause: err,
    });
  }

  /** What kind of failure an HTTP status (or its absence) is, and what the user can do about it. */
  private kindAndFix(
    status: number | undefined,
    timedOut: boolean | undefined,
    uploading: boolean,
    op: Operation,
  ): [DatabricksErrorKind, string] {
    if (status === 401)
      return [
        'unauthorized',
        'the token is missing, expired or not valid for this workspace: renew the personal access token in the service connection, or check that the service principal is added to the workspace.',
      ];
    if (status === 403) return ['forbidden', op.forbiddenFix];
    if (status === 404) return ['notFound', op.notFoundFix ?? 'check the path or id.'];
    if (status === 409) return ['conflict', op.conflictFix ?? 'it already exists.'];
    if (status === 429) return ['throttled', 'Databricks is throttling this workspace: run again later, or with fewer parallel calls.'];
    if (status !== undefined && status >= 500)
      return ['unavailable', 'Databricks had a problem: run again; if it persists, check the workspace status page.'];
    if (status !== undefined) return ['badRequest', 'Databricks refused the request as written (see its message).'];
    if (timedOut && uploading)
      return [
        'timeout',
        `the upload stopped moving (an upload may take as long as it needs while bytes move): check the agent's network and proxy to ${this.host}, and run again.`,
      ];
    if (timedOut) return ['timeout', `no answer in time from ${this.host}: check the workspace URL and the agent's network.`];
    return ['network', `the agent could not reach ${this.host}: check the workspace URL and the agent's network (proxy, firewall).`];
  }

  async createDirectory(path: string): Promise<void> {
    await this.request('PUT', `/api/2.0/fs/directories${encodePath(path)}`, {
      what: `create the directory ${path}`,
      idempotent: true,
      forbiddenFix: `give the connection's identity WRITE VOLUME (and USE CATALOG, USE SCHEMA) on the volume of ${path}.`,
      notFoundFix: `the volume of ${path} does not exist: create it (CREATE VOLUME) or fix the path (/Volumes/<catalog>/<schema>/<volume>/...).`,
    });
  }

  async uploadFile(path: string, bytes: Buffer | Uint8Array, options: { overwrite?: boolean } = {}): Promise<void> {
    const overwrite = options.overwrite ?? true;
    await this.request(
      'PUT',
      `/api/2.0/fs/files${encodePath(path)}`,
      {
        what: `upload ${path}`,
        idempotent: true, // the same bytes at the same path: repeating it changes nothing
        forbiddenFix: `give the connection's identity WRITE VOLUME (and USE CATALOG, USE SCHEMA) on the volume of ${path}.`,
        notFoundFix: `the volume of ${path} does not exist: create it (CREATE VOLUME) or fix the path (/Volumes/<catalog>/<schema>/<volume>/...).`,
        conflictFix: `${path} already exists: upload with overwrite, or build a new version.`,
      },
      bytes instanceof Buffer ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes,
      { overwrite: String(overwrite) },
    );
  }

  async fileExists(path: string): Promise<boolean> {
    try {
      await this.request('HEAD', `/api/2.0/fs/files${encodePath(path)}`, {
        what: `read ${path}`,
        idempotent: true,
        forbiddenFix: `give the connection's identity READ VOLUME on the volume of ${path}.`,
      });
      return true;
    } catch (err) {
      if (err instanceof DatabricksError && err.kind === 'notFound') return false;
      throw err;
    }
  }

  async downloadFile(path: string): Promise<Buffer> {
    return this.request<Buffer>(
      'GET',
      `/api/2.0/fs/files${encodePath(path)}`,
      { what: `read ${path}`, idempotent: true, forbiddenFix: `give the connection's identity READ VOLUME on the volume of ${path}.` },
      undefined,
      undefined,
      'bytes',
    );
  }

  async deleteFile(path: string): Promise<boolean> {
    return this.absentIsFalse(() =>
      this.request('DELETE', `/api/2.0/fs/files${encodePath(path)}`, {
        what: `delete ${path}`,
        idempotent: true,
        forbiddenFix: `give the connection's identity WRITE VOLUME on the volume of ${path}.`,
      }),
    );
  }

  async directoryExists(path: string): Promise<boolean> {
    return this.absentIsFalse(() =>
      this.request('HEAD', `/api/2.0/fs/directories${encodePath(path)}`, {
        what: `read the directory ${path}`,
        idempotent: true,
        forbiddenFix: `give the connection's identity READ VOLUME on the volume of ${path}.`,
      }),
    );
  }

  async deleteDirectory(path: string): Promise<boolean> {
    return this.absentIsFalse(() =>
      this.request('DELETE', `/api/2.0/fs/directories${encodePath(path)}`, {
        what: `delete the directory ${path}`,
        idempotent: true,
        forbiddenFix: `give the connection's identity WRITE VOLUME on the volume of ${path}.`,
        conflictFix: `${path} is not empty: something else was put there; it was left as it is.`,
      }),
    );
  }

  /** true when the call succeeded, false on 404. */
  private async absentIsFalse(call: () => Promise<unknown>): Promise<boolean> {
    try {
      await call();
      return true;
    } catch (err) {
      if (err instanceof DatabricksError && err.kind === 'notFound') return false;
      throw err;
    }
  }

  async installLibraries(clusterId: string, libraries: Library[]): Promise<void> {
    await this.request(
      'POST',
      '/api/2.0/libraries/install',
      {
        what: `install ${libraries.map(describeLibrary).join(', ')} on cluster ${clusterId}`,
        // Installing a library the cluster already lists does nothing on Databricks' side
        // (reference: "re-installing the same library version does nothing"), so a 500 or a
        // timeout is retried like a read; the README says so.
        idempotent: true,
        forbiddenFix: `give the connection's identity CAN MANAGE on cluster ${clusterId} (and READ VOLUME on the wheel's volume).`,
        notFoundFix: `cluster ${clusterId} does not exist in this workspace: check clusterIds.`,
      },
      { cluster_id: clusterId, libraries },
    );
  }

  async uninstallLibraries(clusterId: string, libraries: Library[]): Promise<void> {
    await this.request(
      'POST',
      '/api/2.0/libraries/uninstall',
      {
        what: `uninstall ${libraries.map(describeLibrary).join(', ')} from cluster ${clusterId}`,
        // Uninstalling a library that is not installed is no error: repeating it changes nothing.
        idempotent: true,
        forbiddenFix: `give the connection's identity CAN MANAGE on cluster ${clusterId}.`,
        notFoundFix: `cluster ${clusterId} does not exist in this workspace: check clusterIds.`,
      },
      { cluster_id: clusterId, libraries },
    );
  }

  async libraryStatuses(clusterId: string): Promise<LibraryStatus[]> {
    const body = await this.request<{
      library_statuses?: Array<{ library?: Library; status?: string; messages?: string[]; is_library_for_all_clusters?: boolean }>;
    }>(
      'GET',
      '/api/2.0/libraries/cluster-status',
      {
        what: `read the libraries of cluster ${clusterId}`,
        idempotent: true,
        forbiddenFix: `give the connection's identity CAN ATTACH TO (or CAN MANAGE) on cluster ${clusterId}.`,
        notFoundFix: `cluster ${clusterId} does not exist in this workspace: check clusterIds.`,
      },
      undefined,
      { cluster_id: clusterId },
    );
    return (body.library_statuses ?? []).map((s) => ({
      library: s.library ?? ({} as Library),
      status: known(LIBRARY_STATES, s.status ?? 'PENDING'),
      messages: s.messages ?? [],
      isLibraryForAllClusters: !!s.is_library_for_all_clusters,
    }));
  }

  async cluster(clusterId: string): Promise<ClusterInfo> {
    const body = await this.request<{ cluster_id?: string; cluster_name?: string; state?: string; state_message?: string }>(
      'GET',
      '/api/2.1/clusters/get',
      {
        what: `read cluster ${clusterId}`,
        idempotent: true,
        forbiddenFix: `give the connection's identity CAN ATTACH TO (or CAN MANAGE) on cluster ${clusterId}.`,
        notFoundFix: `cluster ${clusterId} does not exist in this workspace: check clusterIds.`,
      },
      undefined,
      { cluster_id: clusterId },
    );
    return {
      clusterId: body.cluster_id ?? clusterId,
      name: body.cluster_name,
      state: known(CLUSTER_STATES, body.state ?? 'UNKNOWN'),
      stateMessage: body.state_message || undefined,
    };
  }

  async restartCluster(clusterId: string): Promise<void> {
    await this.request(
      'POST',
      '/api/2.1/clusters/restart',
      {
        what: `restart cluster ${clusterId}`,
        idempotent: false,
        forbiddenFix: `give the connection's identity CAN RESTART (or CAN MANAGE) on cluster ${clusterId}.`,
        notFoundFix: `cluster ${clusterId} does not exist in this workspace: check clusterIds.`,
      },
      { cluster_id: clusterId },
    );
  }

  async executeStatement(r: ExecuteStatementRequest): Promise<StatementResult> {
    const body: Record<string, unknown> = {
      warehouse_id: r.warehouseId,
      statement: r.statement,
      wait_timeout: r.waitTimeout ?? '10s',
      on_wait_timeout: r.onWaitTimeout ?? 'CONTINUE',
      disposition: r.disposition ?? 'INLINE',
      format: r.format ?? 'JSON_ARRAY',
    };
    if (r.catalog) body.catalog = r.catalog;
    if (r.schema) body.schema = r.schema;
    if (r.rowLimit !== undefined) body.row_limit = r.rowLimit;
    if (r.parameters?.length) body.parameters = r.parameters.map((p) => ({ name: p.name, value: p.value, type: p.type ?? 'STRING' }));
    const answer = await this.request(
      'POST',
      '/api/2.0/sql/statements',
      sqlOperation(`run a SQL statement on warehouse ${r.warehouseId}`, r.warehouseId, false),
      body,
    );
    return statementResult(answer);
  }

  async getStatement(statementId: string): Promise<StatementResult> {
    return statementResult(
      await this.request(
        'GET',
        `/api/2.0/sql/statements/${encodeURIComponent(statementId)}`,
        sqlOperation(`read SQL statement ${statementId}`, undefined, true),
      ),
    );
  }

  async cancelStatement(statementId: string): Promise<void> {
    await this.request(
      'POST',
      `/api/2.0/sql/statements/${encodeURIComponent(statementId)}/cancel`,
      sqlOperation(`cancel SQL statement ${statementId}`, undefined, true),
    );
  }

  async runStatement(
    request: ExecuteStatementRequest,
    options: { timeoutMs?: number; pollMs?: number; sleep?: (ms: number) => Promise<void> } = {},
  ): Promise<StatementResult> {
    const timeoutMs = options.timeoutMs ?? 15 * 60_000;
    const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const started = Date.now();
    let result = await this.executeStatement(request);
    let pollMs = options.pollMs ?? 500;
    while (!TERMINAL_STATEMENT.has(result.state)) {
      if (Date.now() - started > timeoutMs) {
        await this.cancelStatement(result.statementId).catch(() => undefined);
        throw new DatabricksError(
          `the SQL statement ${result.statementId} was still ${result.state} after ${seconds(timeoutMs)}; it was cancelled.`,
          { kind: 'timeout', fix: 'give it more time, or use a larger warehouse.' },
        );
      }
      await sleep(pollMs);
      pollMs = Math.min(pollMs * 2, 5000);
      result = await this.getStatement(result.statementId);
    }
    if (result.state !== 'SUCCEEDED') throw new DatabricksStatementError(result, request.statement);
    return result;
  }
}

function sqlOperation(what: string, warehouseId: string | undefined, idempotent: boolean): Operation {
  return {
    what,
    idempotent,
    forbiddenFix: `give the connection's identity CAN USE on the SQL warehouse${warehouseId ? ` ${warehouseId}` : ''} and the grants the statement needs.`,
    notFoundFix: warehouseId
      ? `SQL warehouse ${warehouseId} does not exist: check its id (SQL Warehouses → Connection details).`
      : 'the statement is gone (results are kept for a limited time).',
  };
}

function known<T extends string>(members: readonly T[], value: string): T | UnknownState {
  return (members as readonly string[]).includes(value) ? (value as T) : { unknown: value };
}

/** A state as Databricks wrote it. */
export function stateName(state: string | UnknownState): string {
  return typeof state === 'string' ? state : state.unknown;
}

function describeLibrary(l: Library): string {
  if ('whl' in l) return l.whl;
  if ('pypi' in l) return `${l.pypi.package} (PyPI)`;
  if ('jar' in l) return l.jar;
  return l.requirements;
}

function statementResult(body: Record<string, unknown>): StatementResult {
  const status = (body.status ?? {}) as { state?: string; error?: { error_code?: string; message?: string } };
  const manifest = (body.manifest ?? {}) as {
    schema?: { columns?: Array<{ name: string; type_name?: string }> };
    total_row_count?: number;
    total_chunk_count?: number;
  };
  const result = (body.result ?? {}) as { data_array?: Array<Array<string | null>> };
  return {
    statementId: String(body.statement_id ?? ''),
    state: (status.state ?? 'PENDING') as StatementState,
    ...(status.error ? { error: { errorCode: status.error.error_code, message: status.error.message } } : {}),
    columns: (manifest.schema?.columns ?? []).map((c) => ({ name: c.name, typeName: c.type_name })),
    rows: result.data_array ?? [],
    totalRowCount: manifest.total_row_count,
    totalChunkCount: manifest.total_chunk_count,
  };
}

/** A client's own request (token, retry policy, DatabricksError), for the calls of other Databricks APIs (./databricksWorkspace.ts). */
export const databricksRequest = <T = Record<string, unknown>>(
  client: DatabricksClient,
  method: string,
  path: string,
  op: Operation,
  body?: unknown,
  query?: Record<string, string>,
): Promise<T> => (client as Client)['request']<T>(method, path, op, body, query);
