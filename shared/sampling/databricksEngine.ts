/**
 * The Databricks engine: the plan's statements one by one on a SQL warehouse through the
 * Statement Execution API (shared/clients/databricks.ts: execute, poll, cancel on timeout).
 * Each environment's tables are staged as `<target>.<table>__relevo_next`; after every gate
 * of every environment passed, each staged table takes its table's name (the old one is
 * renamed to `__relevo_old` first and dropped at the end; a failed rename puts back the ones
 * already done). The masking salt travels only as the named parameter `:relevo_salt`.
 */
import type { DatabricksClient } from '../clients/databricks';
import { UserError } from '../errors';
import type { Row, SqlEngine } from './engine';
import type { EnvironmentPlan } from './plan';
import { databricks } from './sql';

export interface DatabricksEngineOptions {
  client: DatabricksClient;
  warehouseId: string;
  salt?: string;
  /** How long one statement may run before it is cancelled (default 30 min). */
  statementTimeoutMs?: number;
  pollMs?: number;
}

export function openDatabricksEngine(options: DatabricksEngineOptions): SqlEngine {
  const { client, warehouseId } = options;
  const q = databricks.ident;
  const query = async (sql: string): Promise<Row[]> => {
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
      { timeoutMs: options.statementTimeoutMs ?? 30 * 60_000, pollMs: options.pollMs },
    );
    return result.rows.map((r) => Object.fromEntries(result.columns.map((c, i) => [c.name, r[i] ?? null])));
  };
  const tablesOf = (env: EnvironmentPlan) => {
    if (env.target.kind !== 'tables') throw new Error('databricks writes tables');
    const { catalog, schema } = env.target;
    return env.tables.map((t) => ({ table: t.table, real: [catalog, schema, t.table].map(q).join('.'), next: t.staged, old: [catalog, schema, `${t.table}__relevo_old`].map(q).join('.') }));
  };
  const existing = async (env: EnvironmentPlan): Promise<Set<string>> => {
    if (env.target.kind !== 'tables') return new Set();
    const names = env.tables.flatMap((t) => [t.table, `${t.table}__relevo_old`]).map((n) => databricks.literal(n.toLowerCase())).join(', ');
    const rows = await query(`SELECT table_name FROM ${q(env.target.catalog)}.information_schema.tables WHERE table_schema = ${databricks.literal(env.target.schema.toLowerCase())} AND table_name IN (${names})`);
    return new Set(rows.map((r) => String(r.table_name).toLowerCase()));
  };
  return {
    dialect: databricks,
    query,
    async prepare() {
      // CREATE OR REPLACE stages over any leftover of a stopped run.
    },
    async previousFingerprints(env) {
      const out: Record<string, string> = {};
      const present = await existing(env);
      for (const t of tablesOf(env)) {
        if (!present.has(t.table.toLowerCase())) continue;
        const rows = await query(`SHOW TBLPROPERTIES ${t.real} ('relevo.fingerprint')`);
        const value = rows.find((r) => r.key === 'relevo.fingerprint')?.value;
        if (value && !/does not have property/i.test(value)) out[t.table] = value;
      }
      return out;
    },
    async commit(envs, record) {
      const done: { real: string; next: string; old: string; hadTable: boolean }[] = [];
      try {
        for (const env of envs) {
          const tables = (record(env).tables ?? {}) as Record<string, { fingerprint?: string }>;
          for (const t of tablesOf(env)) {
            const fingerprint = tables[t.table]?.fingerprint;
            if (fingerprint) await query(`ALTER TABLE ${t.next} SET TBLPROPERTIES ('relevo.fingerprint' = ${databricks.literal(fingerprint)})`);
          }
        }
        for (const env of envs) {
          const present = await existing(env);
          for (const t of tablesOf(env)) {
            let hadTable = present.has(t.table.toLowerCase());
            if (!hadTable && present.has(`${t.table}__relevo_old`.toLowerCase())) {
              // A run stopped mid-swap left the previous table under its __relevo_old name: it is the only copy, put it back.
              await query(`ALTER TABLE ${t.old} RENAME TO ${t.real}`);
              hadTable = true;
            }
            // With the table in place, an __relevo_old is a leftover of a finished swap whose last drop failed.
            await query(`DROP TABLE IF EXISTS ${t.old}`);
            if (hadTable) await query(`ALTER TABLE ${t.real} RENAME TO ${t.old}`);
            done.push({ ...t, hadTable });
            await query(`ALTER TABLE ${t.next} RENAME TO ${t.real}`);
          }
        }
      } catch (err) {
        const stranded: string[] = [];
        for (const t of done.reverse()) {
          await query(`ALTER TABLE ${t.real} RENAME TO ${t.next}`).catch(() => undefined);
          if (t.hadTable) await query(`ALTER TABLE ${t.old} RENAME TO ${t.real}`).catch(() => stranded.push(`${t.real} (now ${t.old})`));
        }
        if (stranded.length) {
          throw new UserError(`the swap failed (${err instanceof Error ? err.message : String(err)}) and putting back the previous tables failed too: ${stranded.join(', ')}.`, {
            fix: 'the previous data is intact under the __relevo_old names: run the task again (it puts them back first), or rename them by hand.',
            cause: err,
          });
        }
        throw err;
      }
      // The new tables are in place: a failed cleanup is dropped on the next run, not a failure of this one.
      for (const t of done) if (t.hadTable) await query(`DROP TABLE IF EXISTS ${t.old}`).catch(() => undefined);
    },
    async discard(envs) {
      for (const env of envs) for (const t of tablesOf(env)) await query(`DROP TABLE IF EXISTS ${t.next}`).catch(() => undefined);
    },
    async close() {},
  };
}
