/**
 * The Databricks engine: the plan's statements one by one on a SQL warehouse through the
 * Statement Execution API (shared/clients/databricks.ts: execute, poll, cancel on timeout).
 * Each environment's tables are staged as `<target>.<table>__relevo_next_<run tag>`; after every
 * gate of every environment passed, each table is replaced from its validated staging copy with
 * `CREATE OR REPLACE TABLE t AS SELECT * FROM t__relevo_next_<tag>` (Databricks' advice over
 * drop-and-rename: the same table, its history and grants kept, readers see the old or the new
 * data, never no table). The masking salt travels only as the named parameter `:relevo_salt`.
 *
 * Undo (shared/undo.ts): an environment's staging tables are registered before the first is
 * created; each table's replacement before it is made, with the table's version before it
 * (DESCRIBE HISTORY): the put-back is `RESTORE TABLE t TO VERSION AS OF v` when the version
 * moved (a replacement answered as failed may still have landed), or a DROP of a table that did
 * not exist before. It waits (bounded) for the statement under way, and puts an environment's
 * tables back concurrently: the agent's grace is 7.5 s.
 */
import type { DatabricksClient } from '../clients/databricks';
import { UserError } from '../errors';
import { quoteForeign } from '../output';
import { cancelSignal, isCancelled } from '../processes';
import { journal as runJournal, type UndoJournal } from '../undo';
import type { Row, SqlEngine } from './engine';
import { InFlight, refuseIfCancelled } from './inflight';
import { describeHolder, holderIsGone, newHolder, runTag, type LockHolder } from './lock';
import type { EnvironmentPlan } from './plan';
import { databricks, STAGING_NAME } from './sql';

export interface DatabricksEngineOptions {
  client: DatabricksClient;
  warehouseId: string;
  salt?: string;
  /** How long one statement may run before it is cancelled (default 30 min). */
  statementTimeoutMs?: number;
  pollMs?: number;
  /** The undo journal changes are registered with (default: the run's). */
  journal?: UndoJournal;
  /** Told about a stale lock this run took over. */
  warn?: (message: string) => void;
}

/** The lock table in a target schema: one run at a time replaces it. */
export const LOCK_TABLE = '__relevo_lock';

/** How long the undo waits for the statement under way before it looks at the tables. */
const SETTLE_MS = 2000;

interface TableNames {
  table: string;
  /** Quoted three-part names. */
  real: string;
  next: string;
  old: string;
  /** The names as information_schema lists them (lower case). */
  names: { real: string; next: string; old: string };
}

/** A table's replacement: its version before it (undefined: the table did not exist). */
interface Swap {
  t: TableNames;
  version?: string;
}

/** A poll's wait that a cancellation cuts short (the statement's end is then seen at once). */
function pollSleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (isCancelled()) return void setTimeout(resolve, Math.min(ms, 100));
    const done = () => {
      clearTimeout(timer);
      cancelSignal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    cancelSignal.addEventListener('abort', done, { once: true });
  });
}

export function openDatabricksEngine(options: DatabricksEngineOptions): SqlEngine {
  const { client, warehouseId } = options;
  const journal = options.journal ?? runJournal;
  const q = databricks.ident;
  const inFlight = new InFlight();
  const holder = newHolder();
  const tag = runTag(holder);
  const statement = async (sql: string): Promise<Row[]> => {
    const result = await client.runStatement(
      {
        warehouseId,
        statement: sql,
        parameters: /:relevo_salt\b/.test(sql) ? [{ name: 'relevo_salt', value: options.salt ?? '', type: 'STRING' }] : undefined,
        waitTimeout: '30s',
        onWaitTimeout: 'CONTINUE',
        disposition: 'INLINE',
        format: 'JSON_ARRAY',
      },
      { timeoutMs: options.statementTimeoutMs ?? 30 * 60_000, pollMs: options.pollMs, sleep: pollSleep },
    );
    return result.rows.map((r) => Object.fromEntries(result.columns.map((c, i) => [c.name, r[i] ?? null])));
  };
  /** The run's statements: refused once the run is cancelled; the undo waits for the one under way. */
  const query = (sql: string): Promise<Row[]> => inFlight.run('running SQL', () => statement(sql));
  const tablesOf = (env: EnvironmentPlan): TableNames[] => {
    if (env.target.kind !== 'tables') throw new Error('databricks writes tables');
    const { catalog, schema } = env.target;
    const name = (t: string) => [catalog, schema, t].map(q).join('.');
    return env.tables.map((t) => ({
      table: t.table,
      real: name(t.table),
      next: t.staged,
      old: name(`${t.table}__relevo_old`),
      names: {
        real: t.table.toLowerCase(),
        next: `${t.table}__relevo_next_${tag}`.toLowerCase(),
        old: `${t.table}__relevo_old`.toLowerCase(),
      },
    }));
  };
  /** Which of these table names exist in the environment's target schema (lower case). */
  const present = async (env: EnvironmentPlan, names: string[], run: (sql: string) => Promise<Row[]>): Promise<Set<string>> => {
    if (env.target.kind !== 'tables' || !names.length) return new Set();
    const list = names.map((n) => databricks.literal(n)).join(', ');
    const rows = await run(
      `SELECT table_name FROM ${q(env.target.catalog)}.information_schema.tables WHERE table_schema = ${databricks.literal(env.target.schema.toLowerCase())} AND table_name IN (${list})`,
    );
    return new Set(rows.map((r) => String(r.table_name).toLowerCase()));
  };
  const where = (env: EnvironmentPlan) => (env.target.kind === 'tables' ? `${env.target.catalog}.${env.target.schema}` : env.name);

  /** A table's current version (its history's latest entry). */
  const versionOf = async (table: string, run: (sql: string) => Promise<Row[]>): Promise<string | undefined> =>
    (await run(`DESCRIBE HISTORY ${table} LIMIT 1`))[0]?.version ?? undefined;

  /**
   * The replacements of one environment, put back together: the first of its undo steps to run
   * waits for the statement under way, reads which tables exist once and puts every table
   * registered so far back concurrently; each step then reports its own table.
   */
  const putBacks = new Map<string, { swaps: Swap[]; outcome?: Promise<Map<string, unknown>> }>();
  const putBackEnv = (env: EnvironmentPlan) => {
    const batch = putBacks.get(env.name)!;
    batch.outcome ??= (async () => {
      await inFlight.settled(SETTLE_MS);
      const there = await present(
        env,
        batch.swaps.map((s) => s.t.names.real),
        statement,
      );
      const failures = new Map<string, unknown>();
      await Promise.all(
        batch.swaps.map(async (swap) => {
          try {
            await putBackTable(swap, there);
          } catch (err) {
            failures.set(swap.t.real, err);
          }
        }),
      );
      return failures;
    })();
    return batch.outcome;
  };
  /** One table back to its version before the run (or dropped, if the run made it). */
  const putBackTable = async ({ t, version }: Swap, there: Set<string>) => {
    if (version === undefined) {
      if (there.has(t.names.real)) await statement(`DROP TABLE ${t.real}`);
      return;
    }
    try {
      if ((await versionOf(t.real, statement)) === version) return; // the replacement never landed
      await statement(`RESTORE TABLE ${t.real} TO VERSION AS OF ${Number(version)}`);
    } catch (err) {
      throw new Error(
        `${err instanceof Error ? err.message : String(err)}; the previous data is version ${version} of ${t.real} (RESTORE TABLE ${t.real} TO VERSION AS OF ${version})`,
      );
    }
  };

  // One run per target schema: a lock table made with CREATE TABLE … AS (atomic; it fails when
  // the table exists), holding who took it. Dropped by its holder only.
  const locked: EnvironmentPlan[] = [];
  const lockTable = (env: EnvironmentPlan) => {
    if (env.target.kind !== 'tables') throw new Error('databricks writes tables');
    return [env.target.catalog, env.target.schema, LOCK_TABLE].map(q).join('.');
  };
  const releaseLock = async (env: EnvironmentPlan, run: (sql: string) => Promise<Row[]>) => {
    const rows = await run(`SELECT run_id, host, pid, started_at FROM ${lockTable(env)}`).catch(() => []);
    if (rows[0]?.run_id === holder.runId) await run(`DROP TABLE IF EXISTS ${lockTable(env)}`);
  };
  const readLock = async (env: EnvironmentPlan): Promise<Partial<LockHolder> | undefined> => {
    const rows = await query(`SELECT run_id, host, pid, started_at FROM ${lockTable(env)}`).catch(() => []);
    const r = rows[0];
    return r
      ? {
          runId: r.run_id ?? undefined,
          host: r.host ?? undefined,
          pid: r.pid ? Number(r.pid) : undefined,
          startedAt: r.started_at ?? undefined,
        }
      : undefined;
  };
  const takeLock = async (env: EnvironmentPlan) => {
    const lit = databricks.literal;
    for (let attempt = 0; ; attempt++) {
      try {
        await query(
          `CREATE TABLE ${lockTable(env)} AS SELECT ${lit(holder.runId)} AS run_id, ${lit(holder.host)} AS host, ${holder.pid} AS pid, ${lit(holder.startedAt)} AS started_at`,
        );
        return;
      } catch (err) {
        if ((err as { errorCode?: string }).errorCode !== 'TABLE_OR_VIEW_ALREADY_EXISTS') throw err;
      }
      const held = await readLock(env);
      // A lock whose run was killed on this host (its process is gone) is stale: dropped, if it is still that one, and taken.
      if (held && holderIsGone(held) && attempt < 2) {
        if ((await readLock(env))?.runId === held.runId) {
          await query(`DROP TABLE IF EXISTS ${lockTable(env)}`);
          options.warn?.(`took over the stale lock table ${lockTable(env)} (${quoteForeign(describeHolder(held))}: its process is gone).`);
        }
        continue;
      }
      throw new UserError(
        `environments.${env.name}.target: another run is regenerating ${where(env)}: ${quoteForeign(describeHolder(held ?? {}))} holds its lock table ${lockTable(env)}; nothing was staged or replaced.`,
        {
          fix: `wait for that run to end and run again. If no run is going on (its agent was stopped or lost), run DROP TABLE ${lockTable(env)} and run again.`,
        },
      );
    }
  };

  return {
    dialect: databricks,
    runTag: tag,
    query,
    async prepare(envs) {
      // Every lock before anything is looked at, repaired or staged; released last on an undo.
      for (const env of envs) {
        journal.register(`the lock table ${lockTable(env)} (dropped)`, async () => {
          await inFlight.settled(SETTLE_MS);
          await releaseLock(env, statement);
        });
        await takeLock(env);
        locked.push(env);
      }
      for (const env of envs) {
        const tables = tablesOf(env);
        const there = await present(
          env,
          tables.flatMap((t) => [t.names.real, t.names.old]),
          query,
        );
        for (const t of tables) {
          if (!there.has(t.names.old)) continue;
          // A run killed mid-swap (beyond the agent's grace) left the previous table only under
          // its __relevo_old name: it takes its name again (a repair, kept). With the table in
          // place, an __relevo_old is what a finished swap did not get to drop.
          await query(there.has(t.names.real) ? `DROP TABLE IF EXISTS ${t.old}` : `ALTER TABLE ${t.old} RENAME TO ${t.real}`);
        }
        // Staging tables of earlier runs (killed beyond the grace): with the lock ours, none is in use.
        if (env.target.kind === 'tables') {
          const ours = new Set(tables.map((t) => t.names.real));
          const rows = await query(
            `SELECT table_name FROM ${q(env.target.catalog)}.information_schema.tables WHERE table_schema = ${databricks.literal(env.target.schema.toLowerCase())} AND table_name LIKE '%relevo_next%'`,
          );
          for (const name of rows.map((r) => String(r.table_name).toLowerCase()))
            if (ours.has(STAGING_NAME.exec(name)?.[1]?.toLowerCase() ?? ''))
              await query(`DROP TABLE IF EXISTS ${[env.target.catalog, env.target.schema, name].map(q).join('.')}`);
        }
        journal.register(`the staging tables ${where(env)}.*__relevo_next_${tag} (dropped)`, async () => {
          // A CREATE still running ends first, so no staging table appears after the drop.
          await inFlight.settled(SETTLE_MS);
          const results = await Promise.allSettled(tables.map((t) => statement(`DROP TABLE IF EXISTS ${t.next}`)));
          const failed = results.flatMap((r, i) =>
            r.status === 'rejected' ? [`${tables[i].next}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`] : [],
          );
          if (failed.length) throw new Error(`not dropped: ${failed.join('; ')}`);
        });
      }
    },
    async previousFingerprints(env) {
      const out: Record<string, string> = {};
      const tables = tablesOf(env);
      const there = await present(
        env,
        tables.map((t) => t.names.real),
        query,
      );
      for (const t of tables) {
        if (!there.has(t.names.real)) continue;
        const rows = await query(`SHOW TBLPROPERTIES ${t.real} ('relevo.fingerprint')`);
        const value = rows.find((r) => r.key === 'relevo.fingerprint')?.value;
        if (value && !/does not have property/i.test(value)) out[t.table] = value;
      }
      return out;
    },
    async commit(envs, record) {
      for (const env of envs) {
        const fingerprints = (record(env).tables ?? {}) as Record<string, { fingerprint?: string }>;
        const tables = tablesOf(env);
        // Known before the replacements: which tables exist, and at which version.
        const there = await present(
          env,
          tables.map((t) => t.names.real),
          query,
        );
        const batch = putBacks.get(env.name) ?? { swaps: [] };
        putBacks.set(env.name, batch);
        for (const t of tables) {
          const version = there.has(t.names.real) ? await versionOf(t.real, query) : undefined;
          journal.register(`the table ${t.real}`, async () => {
            const failures = await putBackEnv(env);
            if (failures.has(t.real)) throw failures.get(t.real);
          });
          batch.swaps.push({ t, version });
          const fingerprint = fingerprints[t.table]?.fingerprint;
          const properties = fingerprint ? ` TBLPROPERTIES ('relevo.fingerprint' = ${databricks.literal(fingerprint)})` : '';
          await query(`CREATE OR REPLACE TABLE ${t.real}${properties} AS SELECT * FROM ${t.next}`);
        }
      }
      // A cancel that came during the last replacement still puts everything back.
      refuseIfCancelled('swapping in the environments');
      journal.landed(`the new tables in ${envs.map(where).join(', ')}`);
      // The staging copies are no longer needed; what is not dropped now, the next run stages over.
      for (const env of envs) for (const t of tablesOf(env)) await query(`DROP TABLE IF EXISTS ${t.next}`).catch(() => undefined);
      for (const env of locked.splice(0)) await releaseLock(env, query).catch(() => undefined);
    },
    async close() {},
  };
}
