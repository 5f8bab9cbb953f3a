/**
 * The Databricks contract server: the one place the tests say what Databricks (and, for the
 * Azure AD sign-in, Azure AD and the Azure DevOps OIDC endpoint) answers to the calls of
 * shared/clients/databricks.ts. HTTP on 127.0.0.1, random port; stops by itself after
 * `lifetimeMs` and on `stop()`.
 *
 * Sources: R = /work/shared/reference/databricks-rest.md (table row or "Facts"), SDK = the
 * Databricks SDK's definitions (databricks-sdk-py `service/files.py` FilesAPI,
 * `service/compute.py` LibrariesAPI), "modeled" marks a body text or a behaviour not taken from
 * a source (the shape is Databricks' `{error_code, message}`, the wording ours).
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
 * | POST   | /api/2.0/sql/statements                 | statement_id + status; HTTP 200 for a FAILED statement; 400 bad warehouse/wait_timeout; 404 unknown warehouse | R "Run SQL", Facts |
 * | GET    | /api/2.0/sql/statements/{id}            | PENDING → RUNNING → SUCCEEDED / FAILED, one step per read              | R "Poll / cancel" |
 * | POST   | /api/2.0/sql/statements/{id}/cancel     | 200 {}; a statement not finished becomes CANCELED                     | R "Poll / cancel" |
 * | POST   | /aad/{tenant}/oauth2/v2.0/token         | Azure AD: client_credentials with client_secret or a client_assertion; scope 2ff814a6-…/.default | R "Auth" |
 * | POST   | /oidc?api-version=7.1&serviceConnectionId= | Azure DevOps: {oidcToken} for the job token                          | R "Auth" |
 *
 * Every /api/ call needs `Authorization: Bearer <a PAT it knows or a token its /aad issued>`:
 * otherwise 401 (error_code UNAUTHENTICATED, modeled text). `deny` makes calls answer 403
 * PERMISSION_DENIED (text modeled). Faults (`fail`): the next N requests matching a path answer a
 * status (429 with Retry-After, 503, any body) or are never answered (`hang`).
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

export interface DatabricksServerState {
  /** Tokens accepted as PATs. */
  tokens: Set<string>;
  /** Volumes that exist: `/Volumes/<catalog>/<schema>/<volume>`. */
  volumes: Set<string>;
  files: Map<string, Buffer>;
  directories: Set<string>;
  clusters: Map<string, ClusterRecord>;
  warehouses: Set<string>;
  statements: Map<string, StatementRecord>;
  /** How PUT /api/2.0/fs/files bodies are read: slowly, or not past some bytes (never answered). */
  uploadPace?: Pace;
  /** Operations the identity may not do: 403 PERMISSION_DENIED. */
  denied: Set<Operation>;
  /** Answers SQL: default SUCCEEDED with no rows, within the first answer. */
  sql: (statement: string, parameters: StatementRecord['parameters']) => SqlOutcome;
  /** Azure AD service principals: client id → secret; federated: client id → the OIDC token it accepts. */
  servicePrincipals: Map<string, { tenantId: string; secret?: string; federated?: boolean }>;
  /** Job tokens the OIDC endpoint accepts, and the OIDC token it gives per service connection. */
  jobTokens: Set<string>;
  issuedOidc: Map<string, string>;
  issuedAad: Set<string>;
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
  };
  const requests: RecordedRequest[] = [];
  const faults: Array<Fault & { left: number }> = [];

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

  const routes: Array<{
    method: string;
    pattern: RegExp;
    handle: (ctx: { query: Record<string, string>; body: unknown; raw: Buffer }, m: string[]) => Reply;
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
        // R Facts: named parameters only; one statement per call.
        const names = new Set(parameters.map((p) => p.name));
        // The statement without its string literals ('…', backslash escapes) and quoted identifiers (`…`).
        const code = b.statement.replace(/'(?:[^'\\]|\\.)*'|`(?:[^`]|``)*`/gs, "''");
        const unbound = [...code.matchAll(/(?<!:):([A-Za-z_]\w*)/g)].map((x) => x[1]).find((n) => !names.has(n));
        const outcome: SqlOutcome = unbound
          ? { error: { error_code: 'UNBOUND_SQL_PARAMETER', message: `[UNBOUND_SQL_PARAMETER] Found the unbound parameter: ${unbound}.` } }
          : /;\s*\S/.test(code)
            ? { error: { error_code: 'PARSE_SYNTAX_ERROR', message: '[PARSE_SYNTAX_ERROR] Syntax error: only one statement is allowed.' } } // modeled
            : state.sql(b.statement, parameters);
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
          rec.state = 'CANCELED';
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
        if (rec.state === 'PENDING' || rec.state === 'RUNNING') rec.state = 'CANCELED';
        return json(200, {});
      },
    },
  ];

  /** One read on: the next PENDING/RUNNING step, or the outcome once the steps are used up. */
  function step(rec: StatementRecord) {
    if (rec.state !== 'PENDING' && rec.state !== 'RUNNING') return;
    rec.state = rec.steps.shift() ?? (rec.outcome.error ? 'FAILED' : 'SUCCEEDED');
    if (rec.state === 'SUCCEEDED') rec.outcome.onDone?.();
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
    const record: RecordedRequest = {
      method,
      path,
      query,
      headers: req.headers,
      authorization,
      ...(body !== undefined ? { body } : {}),
      bytes: raw.length,
    };
    requests.push(record);
    const send = (reply: Reply) => {
      record.status = reply.status;
      const headers = { ...reply.headers };
      const raw = Buffer.isBuffer(reply.body);
      const payload = reply.body === undefined ? '' : raw ? (reply.body as Buffer) : JSON.stringify(reply.body);
      if (payload.length) headers['content-type'] = raw ? 'application/octet-stream' : 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
      res.writeHead(reply.status, headers);
      res.end(method === 'HEAD' ? undefined : payload);
    };

    const fault = faults.find(
      (f) =>
        f.left > 0 &&
        (!f.method || f.method.toUpperCase() === method) &&
        (typeof f.path === 'string' ? path.includes(f.path) : f.path.test(path)),
    );
    if (fault) {
      fault.left--;
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
    if (authorization !== 'valid' || (bearer && state.jobTokens.has(bearer))) {
      return send(dbError(401, 'UNAUTHENTICATED', 'Credential was not sent or was of an unsupported type for this API.')); // modeled
    }
    for (const route of routes) {
      if (route.method !== method) continue;
      const m = route.pattern.exec(path);
      if (!m) continue;
      try {
        return send(route.handle({ query, body, raw }, m));
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
