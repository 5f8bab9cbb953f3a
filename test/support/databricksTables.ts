/**
 * Unity Catalog tables behind the Databricks contract server's SQL endpoint: what
 * RegenerateSampleData's statements do to a warehouse's tables, so that a test can say what a
 * run left (every target table as before, or every one new; no staging left). Plug it in with
 * `server.state.sql = store.answer`.
 *
 * Statements it knows (anything else FAILS with PARSE_SYNTAX_ERROR, so a new statement of the
 * engine is noticed): DESCRIBE TABLE, CREATE OR REPLACE TABLE … AS (a staging table; a table
 * replaced from its staging copy keeps its history and grants and gains a version), DESCRIBE
 * HISTORY … LIMIT 1, RESTORE TABLE … TO VERSION AS OF, the lock table's CREATE
 * TABLE … AS (fails if it exists) and its SELECT, ALTER TABLE … RENAME TO,
 * ALTER TABLE … SET TBLPROPERTIES, UPDATE (a self-reference's fixup; rows are not modelled),
 * DROP TABLE [IF EXISTS], SHOW TBLPROPERTIES, the
 * information_schema.tables lookups (by IN or LIKE), and `SELECT count(*) AS n …` (always 0 rows counted).
 * Errors as Databricks words them (R = /work/shared/reference/databricks-rest.md, error
 * classes; texts modeled): TABLE_OR_VIEW_NOT_FOUND, TABLE_OR_VIEW_ALREADY_EXISTS. A FAILED
 * statement changes nothing.
 */
import type { SqlOutcome } from './databricksServer';

export interface ModelTable {
  columns: [string, string][];
  properties: Record<string, string>;
  /** Which run wrote it (the store's `label` when it was created). */
  made: string;
  /** The one row of a lock table. */
  row?: string[];
  /** Its Delta history: what each version held (`made`, properties); the current one last. */
  history?: { made: string; properties: Record<string, string> }[];
  /** Grants on the table: a replacement keeps them (the same table), a new table has none. */
  grants?: string[];
}

/** A three-part name as the engine writes it (`a`.`b`.`c`) → `a.b.c`, lower case. */
function nameOf(quoted: string): string {
  return [...quoted.matchAll(/`((?:[^`]|``)*)`/g)]
    .map((m) => m[1].replace(/``/g, '`'))
    .join('.')
    .toLowerCase();
}

const ID = '(`(?:[^`]|``)*`(?:\\.`(?:[^`]|``)*`){2})';
const re = (pattern: string) => new RegExp(`^${pattern.replace(/ID/g, ID)}$`, 's');
const literal = (s: string) => s.replace(/\\(.)/g, '$1');

export class TableStore {
  readonly tables = new Map<string, ModelTable>();
  /** What a CREATE … AS writes in `made`. */
  label = 'new';
  /** Every statement answered, in order. */
  readonly seen: string[] = [];
  /**
   * Before the model answers the n-th statement (1-based): an outcome to answer instead, or
   * undefined. Nothing is applied, unless the fault calls `apply` (a change that landed though
   * the answer says it failed).
   */
  fault?: (sql: string, n: number, apply: () => void) => SqlOutcome | undefined;
  /** After the model applied the n-th statement: called (e.g. to note that a swap started). */
  onApplied?: (sql: string, n: number) => void;
  /**
   * A statement that runs a while: PENDING/RUNNING for this many polls, and applied only when
   * it ends (a rename the warehouse has not finished when the task is cancelled).
   */
  slow?: (sql: string, n: number) => number | undefined;

  /** `source`: `catalog.schema` whose tables a staged table takes its columns from. */
  constructor(
    readonly source: string,
    columns: Record<string, [string, string][]>,
  ) {
    for (const [t, cols] of Object.entries(columns))
      this.tables.set(`${source}.${t}`.toLowerCase(), { columns: cols, properties: {}, made: 'source' });
  }

  /** The tables of one schema (`catalog.schema`), by name: which run made each. */
  schema(where: string): Record<string, string> {
    const prefix = `${where.toLowerCase()}.`;
    return Object.fromEntries(
      [...this.tables]
        .filter(([k]) => k.startsWith(prefix))
        .map(([k, v]) => [k.slice(prefix.length), v.made])
        .sort(([a], [b]) => a.localeCompare(b)),
    );
  }

  /** Puts a table in place (as a previous run left it). */
  put(name: string, made: string, properties: Record<string, string> = {}): void {
    const base = name
      .split('.')
      .pop()!
      .replace(/__relevo_(next(_[0-9a-f]{8})?|old)$/, '');
    this.tables.set(name.toLowerCase(), {
      columns: this.tables.get(`${this.source}.${base}`.toLowerCase())?.columns ?? [],
      properties,
      made,
    });
  }

  readonly answer = (sql: string): SqlOutcome => {
    this.seen.push(sql);
    const n = this.seen.length;
    const fault = this.fault?.(sql, n, () => void this.apply(sql));
    if (fault) return fault;
    const polls = this.slow?.(sql, n);
    if (polls) {
      return {
        polls,
        onDone: () => {
          if (!this.apply(sql).error) this.onApplied?.(sql, n);
        },
      };
    }
    const outcome = this.apply(sql);
    if (!outcome.error) this.onApplied?.(sql, n);
    return outcome;
  };

  private apply(sql: string): SqlOutcome {
    const notFound = (name: string): SqlOutcome => ({
      error: {
        error_code: 'TABLE_OR_VIEW_NOT_FOUND',
        message: `[TABLE_OR_VIEW_NOT_FOUND] The table or view ${name} cannot be found. Verify the spelling and correctness of the schema and catalog.`,
      },
    });
    const need = (quoted: string) => this.tables.get(nameOf(quoted));
    let m: RegExpExecArray | null;
    if ((m = re('DESCRIBE TABLE ID').exec(sql))) {
      const t = need(m[1]);
      if (!t) return notFound(m[1]);
      return {
        columns: [{ name: 'col_name' }, { name: 'data_type' }, { name: 'comment' }],
        rows: t.columns.map(([c, type]) => [c, type, null]),
      };
    }
    // A table replaced from its staging copy: the same table (history, grants), a new version.
    if (
      (m = re(
        "CREATE OR REPLACE TABLE ID(?: TBLPROPERTIES \\('relevo\\.fingerprint' = '((?:[^'\\\\]|\\\\.)*)'\\))? AS SELECT \\* FROM ID",
      ).exec(sql))
    ) {
      const from = need(m[3]);
      if (!from) return notFound(m[3]);
      const previous = this.tables.get(nameOf(m[1]));
      const properties: Record<string, string> = m[2] === undefined ? {} : { 'relevo.fingerprint': literal(m[2]) };
      const history = [
        ...(previous?.history ?? (previous ? [{ made: previous.made, properties: previous.properties }] : [])),
        { made: from.made, properties },
      ];
      this.tables.set(nameOf(m[1]), {
        columns: from.columns,
        properties: { ...properties },
        made: from.made,
        history,
        grants: previous?.grants,
      });
      return {};
    }
    if ((m = re('DESCRIBE HISTORY ID LIMIT 1').exec(sql))) {
      const t = need(m[1]);
      if (!t) return notFound(m[1]);
      return {
        columns: [{ name: 'version' }, { name: 'operation' }],
        rows: [[String((t.history?.length ?? 1) - 1), 'CREATE TABLE AS SELECT']],
      };
    }
    if ((m = re('RESTORE TABLE ID TO VERSION AS OF (\\d+)').exec(sql))) {
      const t = need(m[1]);
      if (!t) return notFound(m[1]);
      const history = t.history ?? [{ made: t.made, properties: t.properties }];
      const back = history[Number(m[2])];
      if (!back)
        return {
          error: { error_code: 'VERSION_NOT_FOUND', message: `[VERSION_NOT_FOUND] Cannot time travel Delta table to version ${m[2]}.` },
        };
      t.history = [...history, back];
      t.made = back.made;
      t.properties = { ...back.properties };
      return {};
    }
    if ((m = re('CREATE OR REPLACE TABLE ID AS (SELECT .*)').exec(sql))) {
      const base = nameOf(m[1])
        .split('.')
        .pop()!
        .replace(/__relevo_next(_[0-9a-f]{8})?$/, '');
      this.tables.set(nameOf(m[1]), {
        columns: this.tables.get(`${this.source}.${base}`.toLowerCase())?.columns ?? [],
        properties: {},
        made: this.label,
      });
      return {};
    }
    // The run's lock table: CREATE TABLE (no OR REPLACE) fails when the table exists.
    if ((m = re("CREATE TABLE ID AS SELECT '([^']*)' AS run_id, '([^']*)' AS host, (\\d+) AS pid, '([^']*)' AS started_at").exec(sql))) {
      if (this.tables.has(nameOf(m[1])))
        return {
          error: {
            error_code: 'TABLE_OR_VIEW_ALREADY_EXISTS',
            message: `[TABLE_OR_VIEW_ALREADY_EXISTS] Cannot create table or view ${m[1]} because it already exists.`,
          },
        };
      this.tables.set(nameOf(m[1]), {
        columns: [
          ['run_id', 'string'],
          ['host', 'string'],
          ['pid', 'int'],
          ['started_at', 'string'],
        ],
        properties: {},
        made: this.label,
        row: [m[2], m[3], m[4], m[5]],
      });
      return {};
    }
    if ((m = re('SELECT run_id, host, pid, started_at FROM ID').exec(sql))) {
      const t = need(m[1]);
      if (!t) return notFound(m[1]);
      return { columns: [{ name: 'run_id' }, { name: 'host' }, { name: 'pid' }, { name: 'started_at' }], rows: t.row ? [t.row] : [] };
    }
    if ((m = re('ALTER TABLE ID RENAME TO ID').exec(sql))) {
      const t = need(m[1]);
      if (!t) return notFound(m[1]);
      if (this.tables.has(nameOf(m[2])))
        return {
          error: {
            error_code: 'TABLE_OR_VIEW_ALREADY_EXISTS',
            message: `[TABLE_OR_VIEW_ALREADY_EXISTS] Cannot create table or view ${m[2]} because it already exists.`,
          },
        };
      this.tables.delete(nameOf(m[1]));
      this.tables.set(nameOf(m[2]), t);
      return {};
    }
    if ((m = re("ALTER TABLE ID SET TBLPROPERTIES \\('([^']+)' = '((?:[^'\\\\]|\\\\.)*)'\\)").exec(sql))) {
      const t = need(m[1]);
      if (!t) return notFound(m[1]);
      t.properties[m[2]] = literal(m[3]);
      return {};
    }
    // A self-reference's fixup on a staging table (the rows are not modelled: nothing changes).
    if ((m = re('UPDATE ID(?: AS \\w+)? SET .+ WHERE .+').exec(sql))) {
      if (!need(m[1])) return notFound(m[1]);
      return { columns: [{ name: 'num_affected_rows' }], rows: [['0']] };
    }
    if ((m = re('DROP TABLE (IF EXISTS )?ID').exec(sql))) {
      if (!this.tables.delete(nameOf(m[2])) && !m[1]) return notFound(m[2]);
      return {};
    }
    if ((m = re("SHOW TBLPROPERTIES ID \\('([^']+)'\\)").exec(sql))) {
      const t = need(m[1]);
      if (!t) return notFound(m[1]);
      const value = t.properties[m[2]] ?? `Table ${nameOf(m[1])} does not have property: ${m[2]}`;
      return { columns: [{ name: 'key' }, { name: 'value' }], rows: [[m[2], value]] };
    }
    if (
      (m =
        /^SELECT table_name FROM `((?:[^`]|``)*)`\.information_schema\.tables WHERE table_schema = '((?:[^'\\]|\\.)*)' AND table_name IN \((.*)\)$/s.exec(
          sql,
        ))
    ) {
      const prefix = `${m[1].replace(/``/g, '`')}.${literal(m[2])}.`.toLowerCase();
      const wanted = [...m[3].matchAll(/'((?:[^'\\]|\\.)*)'/g)].map((x) => literal(x[1]));
      return { columns: [{ name: 'table_name' }], rows: wanted.filter((w) => this.tables.has(prefix + w)).map((w) => [w]) };
    }
    if (
      (m =
        /^SELECT table_name FROM `((?:[^`]|``)*)`\.information_schema\.tables WHERE table_schema = '((?:[^'\\]|\\.)*)' AND table_name LIKE '([^'\\]*)'$/s.exec(
          sql,
        ))
    ) {
      const prefix = `${m[1].replace(/``/g, '`')}.${literal(m[2])}.`.toLowerCase();
      const like = new RegExp(
        `^${m[3]
          .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
          .replace(/%/g, '.*')
          .replace(/_/g, '.')}$`,
        'i',
      );
      const names = [...this.tables.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
      return { columns: [{ name: 'table_name' }], rows: names.filter((n) => like.test(n)).map((n) => [n]) };
    }
    if (/^SELECT count\(\*\) AS n /s.test(sql)) return { columns: [{ name: 'n' }], rows: [['0']] };
    return {
      error: {
        error_code: 'PARSE_SYNTAX_ERROR',
        message: `[PARSE_SYNTAX_ERROR] the contract server's table model does not know this statement: ${sql.slice(0, 80)}`,
      },
    };
  }
}
