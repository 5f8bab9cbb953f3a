/**
 * The sampling plan as data: for every environment to regenerate, each table's role, the SQL
 * that stages it, and the checks that gate the swap. A dry run prints exactly this; the engines
 * execute exactly this.
 *
 * Sampling is deterministic and nested: a root row is kept when the seeded hash of its key (its
 * "unit", an integer in [0, scale)) is under the environment's rate; `rows` keeps the lowest
 * units (ties by key). An environment drawn from another applies its own rate (or row count) to
 * the other's root rows, so DEV ⊆ PRE ⊆ filtered PRO by construction. Children keep the rows
 * whose parents were staged (semi-joins in dependency order); parents that kept rows reference
 * are added; lookup tables are copied. Masking is applied while staging; semi-joins compare a
 * child's masked reference with the parent's masked key, which is the same function of the
 * same value.
 */
import { createHash } from 'node:crypto';
import type { EnvironmentConfig, Location, MaskRule, SampleConfig, TableConfig, TableRole } from './config';
import { configError, tableRoles } from './config';
import { UserError } from '../errors';
import { maskExpression, maskProblem, referenceProblem, valueProblem, type Column, type Dialect } from './sql';

export interface MaskedColumn {
  column: string;
  rule: MaskRule['kind'];
  /** Set when the mask comes from the referenced key (`tables.<table>.mask.<column>`). */
  inheritedFrom?: string;
}

export interface Check {
  kind: 'orphans' | 'masked' | 'unique';
  table: string;
  column: string;
  /** For orphans: the parent table and column. */
  parent?: string;
  sql: string;
}

export interface TablePlan {
  table: string;
  role: TableRole;
  /** The source relation and its columns (names and types). */
  source: string;
  columns: Column[];
  fingerprint: string;
  staged: string;
  /** The source rows after the table's cleaning rules (a relation). */
  cleaned: string;
  /** The SELECT of the staged (masked) rows, and the statements that stage them. */
  select: string;
  statements: string[];
  masked: MaskedColumn[];
  checks: Check[];
}

export interface EnvironmentPlan {
  name: string;
  target: Location;
  from?: string;
  size: EnvironmentConfig['size'];
  tolerance?: number;
  /** The root's rows this environment draws from, and the SQL that counts them. */
  baseCountSql: string;
  /**
   * Set when the root pulls rows in (a self-reference with `outside: pull`): the SQL that counts
   * the root's sampled rows, which the size gate compares (the staged table also holds the pulled ones).
   */
  sampledCountSql?: string;
  tables: TablePlan[];
}

export interface SamplingPlan {
  dialect: Dialect['name'];
  /** The run's tag in staging names ('' for a plan no run executes). */
  run: string;
  /** Statements run once before any environment is staged (the root's units, where kept). */
  setup: string[];
  seed: string;
  source: Location;
  root: string;
  order: string[];
  environments: EnvironmentPlan[];
  /** True when some statement reads the masking salt. */
  needsSalt: boolean;
  maskSample: number;
}

/** Table name → its source columns, as the engine describes them. */
export type SourceSchemas = Map<string, Column[]>;

export function schemaFingerprint(columns: Column[]): string {
  return createHash('sha256')
    .update(columns.map((c) => `${c.name}:${c.type.toUpperCase()}`).join('\n'))
    .digest('hex')
    .slice(0, 16);
}

/** Builds the plan for the named environments (default: all, parents first); staging names carry the run's tag. */
export function buildPlan(config: SampleConfig, d: Dialect, schemas: SourceSchemas, only: string[] = [], run = ''): SamplingPlan {
  const fail = (path: string, message: string, allowed?: string) => configError(config.file, path, message, allowed);
  for (const name of only) {
    if (!config.environments.some((e) => e.name === name)) {
      throw new UserError(`'${name}' is not an environment of ${config.file}.`, {
        input: 'environments',
        fix: `name some of: ${config.environments.map((e) => e.name).join(', ')} (or leave it empty for all).`,
      });
    }
  }
  const roles = tableRoles(config.tables);
  const byName = new Map(config.tables.map((t) => [t.name, t]));
  const root = config.tables.find((t) => t.root)!;
  const order = dependencyOrder(config.tables, roles);
  const column = (t: TableConfig, name: string, path: string) => {
    const c =
      schemas.get(t.name)!.find((x) => x.name === name) ?? schemas.get(t.name)!.find((x) => x.name.toLowerCase() === name.toLowerCase());
    if (!c)
      throw fail(
        path,
        `'${t.name}' has no column '${name}'`,
        schemas
          .get(t.name)!
          .map((x) => x.name)
          .join(', '),
      );
    return c;
  };
  for (const t of config.tables) {
    for (const k of t.key ?? []) column(t, k, `tables.${t.name}.key`);
    for (const r of t.references) {
      for (const c of r.columns) column(t, c, `tables.${t.name}.references.${r.name}`);
      for (const c of r.parentColumns) column(byName.get(r.table)!, c, `tables.${t.name}.references.${r.name}`);
    }
    for (const c of Object.keys(t.nulls)) column(t, c, `tables.${t.name}.nulls.${c}`);
  }
  const masks = resolveMasks(config, d, schemas, fail);
  // Types, before any data moves: a reference against its key, fill values and fixed masks against their columns.
  for (const t of config.tables) {
    for (const r of t.references) {
      const at = `tables.${t.name}.references.${r.name}`;
      r.columns.forEach((c, i) => {
        const child = column(t, c, at);
        const parent = column(byName.get(r.table)!, r.parentColumns[i], at);
        const problem = referenceProblem(d, child.type, parent.type, masks.get(r.table)!.has(parent.name));
        if (problem)
          throw fail(at, `${t.name}.${c} ${problem}`, `a column of the same type as ${r.table}.${r.parentColumns[i]} (${parent.type})`);
      });
    }
    for (const [c, rule] of Object.entries(t.nulls)) {
      if (rule.kind !== 'fill') continue;
      const col = column(t, c, `tables.${t.name}.nulls.${c}`);
      const problem = valueProblem(d, rule.value, col.type);
      if (problem) throw fail(`tables.${t.name}.nulls.${c}.fill`, problem, `a value of type ${col.type}`);
    }
    for (const [c, rule] of Object.entries(t.mask)) {
      if (rule.kind !== 'fixed') continue;
      const col = column(t, c, `tables.${t.name}.mask.${c}`);
      const problem = valueProblem(d, rule.value, col.type);
      if (problem) throw fail(`tables.${t.name}.mask.${c}.fixed`, problem, `a value of type ${col.type}`);
    }
  }

  const q = d.ident;
  const notNull = (columns: string[], alias: string) => columns.map((c) => `${alias}.${q(c)} IS NOT NULL`).join(' AND ');
  const matches = (left: string[], right: string[]) => left.map((l, i) => `${l} = ${right[i]}`).join(' AND ');
  const cleaned = (t: TableConfig): string => {
    const cols = schemas.get(t.name)!;
    const select = cols.map((c) => {
      const rule = t.nulls[c.name];
      return rule?.kind === 'fill' ? `coalesce(${q(c.name)}, CAST(${d.literal(rule.value)} AS ${c.type})) AS ${q(c.name)}` : q(c.name);
    });
    const where = [
      ...(t.filter ? [`(${t.filter})`] : []),
      ...t.drop.map((x) => `NOT coalesce((${x}), FALSE)`),
      ...(t.key && !t.copyFull ? t.key.map((k) => `${q(k)} IS NOT NULL`) : []),
      ...Object.entries(t.nulls)
        .filter(([, r]) => r.kind === 'drop')
        .map(([c]) => `${q(c)} IS NOT NULL`),
    ];
    const dedupe =
      t.dedupe && t.key
        ? ` QUALIFY row_number() OVER (PARTITION BY ${t.key.map(q).join(', ')} ORDER BY ${cols
            .filter((c) => sortable(c.type))
            .map((c) => q(c.name))
            .join(', ')}) = 1`
        : '';
    if (!where.length && !dedupe && select.every((s, i) => s === q(cols[i].name))) return d.source(config.source, t.name);
    return `(SELECT ${select.join(', ')} FROM ${d.source(config.source, t.name)}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}${dedupe})`;
  };
  /** A mask of a column: the values of the column it comes from (its own, or the key it references) are what it must avoid. */
  const masking = (m: ResolvedMask, expr: string, type: string) =>
    maskExpression(
      d,
      m.rule,
      expr,
      type,
      m.hashType,
      `SELECT ${q(m.origin.column)} FROM ${d.source(config.source, m.origin.table)} WHERE ${q(m.origin.column)} IS NOT NULL`,
    );
  const maskedSelect = (t: TableConfig, alias: string) =>
    schemas.get(t.name)!.map((c) => {
      const m = masks.get(t.name)!.get(c.name);
      return m ? `${masking(m, `${alias}.${q(c.name)}`, c.type)} AS ${q(c.name)}` : `${alias}.${q(c.name)}`;
    });
  /** A column's staged value, computed from the unmasked source row. */
  const maskedValue = (t: TableConfig, name: string, alias: string) => {
    const c = column(t, name, `tables.${t.name}`);
    const m = masks.get(t.name)!.get(c.name);
    return m ? masking(m, `${alias}.${q(c.name)}`, c.type) : `${alias}.${q(c.name)}`;
  };

  /** The root's cleaned rows with their units: one hash per row, computed once where the engine keeps a session table. */
  const rootUnits = `(SELECT r.*, ${d.unit(
    root.key!.map((k) => `r.${q(k)}`),
    config.seed,
  )} AS __relevo_u FROM ${cleaned(root)} r)`;
  /** Environments whose kept root rows are in a session table by now (staged earlier in this run). */
  const materialised = new Set<string>();
  /** The root rows an environment keeps (unmasked, with the unit), nested along its chain. */
  const rootRows = (env: EnvironmentConfig): string => {
    if (d.rootRowsTable && materialised.has(env.name)) return d.rootRowsTable(env.name);
    const chain: EnvironmentConfig[] = [];
    for (let e: EnvironmentConfig | undefined = env; e; e = e.from ? config.environments.find((x) => x.name === e!.from) : undefined)
      chain.unshift(e);
    // The hash range the rows kept so far fill uniformly: [0, range). A fraction keeps the
    // lowest share of it; `rows` keeps the lowest units, so its range ends at its largest one.
    let range = String(d.unitScale);
    let sql = d.rootUnitsTable ?? rootUnits;
    let rate = 1;
    let exact = true;
    for (const e of chain) {
      if ('fraction' in e.size) {
        rate *= e.size.fraction;
        const bound = exact ? String(Math.floor(rate * d.unitScale)) : `floor(${e.size.fraction} * ${range})`;
        sql = `(SELECT * FROM ${sql} s WHERE __relevo_u < ${bound})`;
        range = bound;
      } else {
        const keys = root.key!.map(q).join(', ');
        // Where the rows are a session table (DuckDB): the lowest units of the key alone, joined
        // back (a top-N over two columns, not over every column of a large root).
        sql = d.rootRowsTable
          ? `(SELECT s.* FROM ${sql} s SEMI JOIN (SELECT ${keys} FROM ${sql} x ORDER BY __relevo_u, ${keys} LIMIT ${e.size.rows}) k USING (${keys}))`
          : `(SELECT * FROM ${sql} s ORDER BY __relevo_u, ${keys} LIMIT ${e.size.rows})`;
        range = `(SELECT max(__relevo_u) + 1 FROM ${sql} m)`;
        exact = false;
      }
      // An environment staged earlier in the run: its rows are read from its table, not drawn again.
      if (e !== env && d.rootRowsTable && materialised.has(e.name)) {
        sql = d.rootRowsTable(e.name);
        if (!exact) range = `(SELECT max(__relevo_u) + 1 FROM ${sql} m)`;
      }
    }
    return sql;
  };

  const selected = only.length ? config.environments.filter((e) => only.includes(e.name)) : config.environments;
  const environments: EnvironmentPlan[] = selected.map((env) => {
    const parentEnv = env.from ? config.environments.find((x) => x.name === env.from) : undefined;
    const staged = (table: string) => d.stage(env.name, env.target, table, run);
    // A self-reference whose row is outside the sample (a manager not kept) becomes NULL: the
    // table closes over its own kept rows. Of a composite one, the columns outside the key are
    // nulled (the key stays), which makes the reference null (a partly null reference refers to nothing).
    const selfReferenceFixups = (t: TableConfig) =>
      t.references
        .filter((r) => r.table === t.name)
        .map((r) => {
          if (r.columns.length === 1)
            return `UPDATE ${staged(t.name)} SET ${q(r.columns[0])} = NULL WHERE ${q(r.columns[0])} IS NOT NULL AND ${q(r.columns[0])} NOT IN (SELECT ${q(r.parentColumns[0])} FROM ${staged(t.name)} WHERE ${q(r.parentColumns[0])} IS NOT NULL)`;
          const nulled = r.columns.filter((c) => !t.key!.includes(c));
          return `UPDATE ${staged(t.name)} AS s SET ${nulled.map((c) => `${q(c)} = NULL`).join(', ')} WHERE ${notNull(r.columns, 's')} AND NOT EXISTS (SELECT 1 FROM ${staged(t.name)} p WHERE ${matches(
            r.parentColumns.map((c) => `p.${q(c)}`),
            r.columns.map((c) => `s.${q(c)}`),
          )})`;
        });
    /**
     * A self-reference with `outside: pull`: the rows the kept rows reference, and the rows those
     * reference, … (a recursive closure, in masked values: the staged rows hold masked
     * references, the source's rows are masked as they are staged), added to the staged table.
     * UNION stops at a cycle of references. Files: the pulled rows follow the sampled ones, in
     * masked-key order too.
     */
    const pullIns = (t: TableConfig) =>
      t.references
        .filter((r) => r.table === t.name && r.outside === 'pull')
        .map((r) => {
          const [ref, key] = [q(r.columns[0]), q(r.parentColumns[0])];
          const rows = `(SELECT ${maskedSelect(t, 't').join(', ')} FROM ${cleaned(t)} t)`;
          return `INSERT INTO ${staged(t.name)} SELECT * FROM (WITH RECURSIVE src AS (SELECT * FROM ${rows} m), pulled(k) AS (SELECT s.${ref} FROM ${staged(t.name)} s WHERE s.${ref} IS NOT NULL UNION SELECT src.${ref} FROM src JOIN pulled ON src.${key} = pulled.k WHERE src.${ref} IS NOT NULL) SELECT * FROM src WHERE src.${key} IN (SELECT k FROM pulled) AND src.${key} NOT IN (SELECT ${key} FROM ${staged(t.name)})${d.orderedOutput ? ` ORDER BY src.${key}` : ''}) x`;
        });
    const tables: TablePlan[] = order.map((name) => {
      const t = byName.get(name)!;
      const role = roles.get(name)!;
      const cols = schemas.get(name)!;
      let from: string;
      let where: string[] = [];
      const keep: string[] = [];
      if (role === 'root' && d.rootRowsTable) {
        // The units table holds the key and unit only: the kept keys' rows are read again from the
        // source (their units computed again, for the kept rows only), unless drawn from an
        // environment's table, which holds whole rows.
        const chain = rootRows(env);
        const keys = root.key!.map(q).join(', ');
        keep.push(
          `CREATE OR REPLACE TEMP TABLE ${d.rootRowsTable(env.name)} AS ${
            chain.includes(d.rootUnitsTable!)
              ? `SELECT r.*, ${d.unit(
                  root.key!.map((k) => `r.${q(k)}`),
                  config.seed,
                )} AS __relevo_u FROM ${cleaned(root)} r SEMI JOIN (SELECT ${keys} FROM ${chain} c) k USING (${keys})`
              : `SELECT * FROM ${chain} r`
          }`,
        );
        from = `${d.rootRowsTable(env.name)} t`;
      } else if (role === 'root') from = `${rootRows(env)} t`;
      else {
        from = `${cleaned(t)} t`;
        if (role === 'child') {
          where = t.references
            .filter((r) => r.table !== name && (roles.get(r.table) === 'root' || roles.get(r.table) === 'child'))
            .map((r) =>
              r.columns.length === 1
                ? `${maskedValue(t, r.columns[0], 't')} IN (SELECT ${q(r.parentColumns[0])} FROM ${staged(r.table)})`
                : `EXISTS (SELECT 1 FROM ${staged(r.table)} p WHERE ${matches(
                    r.parentColumns.map((c) => `p.${q(c)}`),
                    r.columns.map((c) => maskedValue(t, c, 't')),
                  )})`,
            );
        } else if (role === 'parent') {
          const key = t.key!;
          // Each referencing table's columns, named as the key's columns, so the branches line up.
          const referencing = config.tables.flatMap((c) =>
            roles.get(c.name) !== 'full'
              ? c.references
                  .filter((r) => r.table === name && c.name !== name)
                  .map((r) => `SELECT ${r.columns.map((x, i) => `${q(x)} AS ${q(key[i])}`).join(', ')} FROM ${staged(c.name)}`)
              : [],
          );
          where = [
            key.length === 1
              ? `${maskedValue(t, key[0], 't')} IN (${referencing.map((x) => x.replace(/ AS "[^"]*"| AS `[^`]*`/, '')).join(' UNION ALL ')})`
              : `EXISTS (SELECT 1 FROM (${referencing.join(' UNION ALL ')}) r WHERE ${matches(
                  key.map((k) => `r.${q(k)}`),
                  key.map((k) => maskedValue(t, k, 't')),
                )})`,
          ];
        }
      }
      const kept = `${from}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
      // Masks that are a function of the value alone (hash, email, phone): once per distinct value, joined back.
      const perValue = schemas.get(name)!.filter((c) => ['hash', 'email', 'phone'].includes(masks.get(name)!.get(c.name)?.rule.kind ?? ''));
      const rows =
        d.maskDistinctValues && perValue.length
          ? `WITH b AS MATERIALIZED (SELECT t.* FROM ${kept}) SELECT ${schemas
              .get(name)!
              .map((c) => {
                const i = perValue.indexOf(c);
                if (i >= 0) return `m${i}.v AS ${q(c.name)}`;
                const m = masks.get(name)!.get(c.name);
                return m ? `${masking(m, `b.${q(c.name)}`, c.type)} AS ${q(c.name)}` : `b.${q(c.name)}`;
              })
              .join(', ')} FROM b${perValue
              .map(
                (c, i) =>
                  ` LEFT JOIN (SELECT k, ${masking(masks.get(name)!.get(c.name)!, 'k', c.type)} AS v FROM (SELECT DISTINCT ${q(c.name)} AS k FROM b) d) m${i} ON m${i}.k = b.${q(c.name)}`,
              )
              .join('')}`
          : `SELECT ${maskedSelect(t, 't').join(', ')} FROM ${kept}`;
      // Files are written in an order of the written (masked) values only: by the masked key, or
      // by every column; never by a value the mask hides, so a row's position reveals nothing.
      const select = d.orderedOutput
        ? `SELECT * FROM (${rows}) s ORDER BY ${t.key ? t.key.map((k) => `s.${q(k)}`).join(', ') : 'ALL'}`
        : rows;
      const masked = [...masks.get(name)!.entries()].map(([c, m]) => ({ column: c, rule: m.rule.kind, inheritedFrom: m.inheritedFrom }));
      const checks: Check[] = [];
      // A reference with a null column refers to nothing (as a foreign key's MATCH SIMPLE): not an orphan.
      for (const r of t.references) {
        checks.push({
          kind: 'orphans',
          table: name,
          column: columnsText(r.columns),
          parent: `${r.table}.${columnsText(r.parentColumns)}`,
          sql: `SELECT count(*) AS n FROM ${staged(name)} c WHERE ${notNull(r.columns, 'c')} AND NOT EXISTS (SELECT 1 FROM ${staged(r.table)} p WHERE ${matches(
            r.parentColumns.map((x) => `p.${q(x)}`),
            r.columns.map((x) => `c.${q(x)}`),
          )})`,
        });
      }
      for (const m of masked.filter((x) => x.rule === 'hash' || x.rule === 'email' || x.rule === 'phone')) {
        checks.push({
          kind: 'masked',
          table: name,
          column: m.column,
          sql: `SELECT count(*) AS n FROM (SELECT ${q(m.column)} AS v FROM ${staged(name)} WHERE ${q(m.column)} IS NOT NULL LIMIT ${config.maskSample}) m WHERE m.v IN (SELECT ${q(m.column)} FROM ${d.source(config.source, name)} WHERE ${q(m.column)} IS NOT NULL)`,
        });
      }
      // A masked key stays unique (the masks of keys are bijections, column by column, so a
      // composite key's tuples too); checked, not assumed.
      const key = t.key ?? [];
      if (key.some((k) => masks.get(name)!.has(k)))
        checks.push({
          kind: 'unique',
          table: name,
          column: columnsText(key),
          sql:
            key.length === 1
              ? `SELECT count(${q(key[0])}) - count(DISTINCT ${q(key[0])}) AS n FROM ${staged(name)}`
              : `SELECT count(*) AS n FROM ${staged(name)} s WHERE EXISTS (SELECT 1 FROM (SELECT ${key.map(q).join(', ')} FROM ${staged(name)} GROUP BY ${key.map(q).join(', ')} HAVING count(*) > 1) g WHERE ${matches(
                  key.map((k) => `g.${q(k)}`),
                  key.map((k) => `s.${q(k)}`),
                )})`,
        });
      return {
        table: name,
        role,
        source: d.source(config.source, name),
        cleaned: cleaned(t),
        columns: cols,
        fingerprint: schemaFingerprint(cols),
        staged: staged(name),
        select,
        statements: [...keep, ...d.stageStatements(env.name, env.target, name, run, select, [...pullIns(t), ...selfReferenceFixups(t)])],
        masked,
        checks,
      };
    });
    // From here on, environments drawn from this one read its kept root rows from its table.
    materialised.add(env.name);
    const baseCountSql = `SELECT count(*) AS n FROM ${parentEnv ? rootRows(parentEnv) : cleaned(root)} b`;
    const sampledCountSql = root.references.some((r) => r.table === root.name && r.outside === 'pull')
      ? `SELECT count(*) AS n FROM ${rootRows(env)} b`
      : undefined;
    return {
      name: env.name,
      target: env.target,
      from: env.from,
      size: env.size,
      tolerance: env.tolerance,
      baseCountSql,
      sampledCountSql,
      tables,
    };
  });
  const needsSalt = [...masks.values()].some((m) =>
    [...m.values()].some((x) => x.rule.kind === 'hash' || x.rule.kind === 'email' || x.rule.kind === 'phone'),
  );
  return {
    dialect: d.name,
    run,
    // The root's units, once per run: its key and unit only (a narrow table, whatever the root's width).
    setup: d.rootUnitsTable
      ? [
          `CREATE OR REPLACE TEMP TABLE ${d.rootUnitsTable} AS SELECT ${root.key!.map((k) => `r.${q(k)}`).join(', ')}, ${d.unit(
            root.key!.map((k) => `r.${q(k)}`),
            config.seed,
          )} AS __relevo_u FROM ${cleaned(root)} r`,
        ]
      : [],
    seed: config.seed,
    source: config.source,
    root: root.name,
    order,
    environments,
    needsSalt,
    maskSample: config.maskSample,
  };
}

interface ResolvedMask {
  rule: MaskRule;
  /** The type whose width the hash takes (the referenced key's), so references still join. */
  hashType: string;
  /** The column whose values the mask is drawn from (the referenced key's, for a reference). */
  origin: { table: string; column: string };
  inheritedFrom?: string;
}

/**
 * Each table's masks by column: its own, and for a reference column the mask of the key it
 * references (a hashed customer_id is hashed in orders too, so the join still lines up).
 */
function resolveMasks(
  config: SampleConfig,
  d: Dialect,
  schemas: SourceSchemas,
  fail: (p: string, m: string, a?: string) => Error,
): Map<string, Map<string, ResolvedMask>> {
  const typeOf = (table: string, column: string) => schemas.get(table)!.find((c) => c.name === column)?.type;
  const result = new Map<string, Map<string, ResolvedMask>>();
  for (const t of config.tables) {
    const m = new Map<string, ResolvedMask>();
    for (const [column, rule] of Object.entries(t.mask)) {
      const at = `tables.${t.name}.mask.${column}`;
      const type = typeOf(t.name, column);
      if (!type)
        throw fail(
          at,
          `'${t.name}' has no column '${column}'`,
          schemas
            .get(t.name)!
            .map((c) => c.name)
            .join(', '),
        );
      const problem = maskProblem(d, rule, type);
      if (problem) throw fail(at, problem, 'hash (text, integers), email and phone (text), null, { fixed: value }');
      m.set(column, { rule, hashType: type, origin: { table: t.name, column } });
    }
    result.set(t.name, m);
  }
  // Keys referenced by other tables: the reference inherits the key's mask; it must be
  // deterministic. To a fixed point, since a key may itself inherit its mask (order_lines'
  // (order_id, line_no) from orders.order_id), whatever order the tables are declared in.
  const pairs = config.tables.flatMap((t) =>
    t.references.flatMap((ref) => ref.columns.map((column, i) => ({ t, column, table: ref.table, parentColumn: ref.parentColumns[i] }))),
  );
  for (let changed = true; changed;) {
    changed = false;
    for (const r of pairs) {
      const parentMask = result.get(r.table)!.get(r.parentColumn);
      const own = result.get(r.t.name)!.get(r.column);
      if (!parentMask || parentMask.rule.kind === 'null' || parentMask.rule.kind === 'fixed') continue;
      // An own mask the same as the key's takes the key's width, so the join lines up; another one is refused below.
      if (own && (own.inheritedFrom || JSON.stringify(own.rule) !== JSON.stringify(parentMask.rule))) continue;
      result.get(r.t.name)!.set(r.column, {
        rule: parentMask.rule,
        hashType: parentMask.hashType,
        origin: parentMask.origin,
        inheritedFrom: `${r.table}.${r.parentColumn}`,
      });
      changed = true;
    }
  }
  for (const { t, ...r } of pairs) {
    const parentMask = result.get(r.table)!.get(r.parentColumn);
    const own = result.get(t.name)!.get(r.column);
    const at = `tables.${t.name}.mask.${r.column}`;
    if (parentMask && (parentMask.rule.kind === 'null' || parentMask.rule.kind === 'fixed')) {
      throw fail(
        `tables.${r.table}.mask.${r.parentColumn}`,
        `'${r.table}.${r.parentColumn}' is referenced by ${t.name}.${r.column}, and a ${parentMask.rule.kind} mask would break that join`,
        'hash (deterministic, so the join still lines up)',
      );
    }
    if (own && !parentMask)
      throw fail(
        at,
        `'${t.name}.${r.column}' references ${r.table}.${r.parentColumn}, which is not masked: masking only one side breaks the join`,
        `the same mask on ${r.table}.${r.parentColumn} (the reference inherits it), or none`,
      );
    if (own && parentMask && JSON.stringify(own.rule) !== JSON.stringify(parentMask.rule))
      throw fail(
        at,
        `is ${own.rule.kind} but the referenced ${r.table}.${r.parentColumn} is ${parentMask.rule.kind}`,
        `${parentMask.rule.kind} (or leave it out: the reference inherits the key's mask)`,
      );
    if (parentMask) {
      const problem = maskProblem(d, parentMask.rule, typeOf(t.name, r.column)!);
      if (problem)
        throw fail(
          at,
          `inherits ${parentMask.rule.kind} from ${r.table}.${r.parentColumn}, but ${problem}`,
          `a ${r.column} of the same type as ${r.table}.${r.parentColumn}`,
        );
    }
  }
  return result;
}

/** A reference's or key's columns as the report names them: `id`, or `(order_id, line_no)`. */
export function columnsText(columns: string[]): string {
  return columns.length === 1 ? columns[0] : `(${columns.join(', ')})`;
}

/** Databricks cannot sort MAP or VARIANT values (nor structs or arrays holding them): dedupe orders by the other columns. */
export function sortable(type: string): boolean {
  return !/\b(MAP|VARIANT|OBJECT)\b/i.test(type);
}

/** Root, then children (parents first), then parent tables (the tables referencing them first), then copies. */
function dependencyOrder(tables: TableConfig[], roles: Map<string, TableRole>): string[] {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const order: string[] = [];
  const visit = (name: string, seen: Set<string>) => {
    if (order.includes(name) || seen.has(name)) return;
    seen.add(name);
    for (const r of byName.get(name)!.references) if (roles.get(r.table) === 'root' || roles.get(r.table) === 'child') visit(r.table, seen);
    order.push(name);
  };
  for (const t of tables) if (roles.get(t.name) === 'root' || roles.get(t.name) === 'child') visit(t.name, new Set());
  // Parent tables: one after every table that references it.
  const parents = tables.filter((t) => roles.get(t.name) === 'parent').map((t) => t.name);
  const placed = new Set<string>();
  while (placed.size < parents.length) {
    const next = parents.find(
      (p) =>
        !placed.has(p) &&
        tables.every(
          (c) => c.name === p || !c.references.some((r) => r.table === p) || roles.get(c.name) !== 'parent' || placed.has(c.name),
        ),
    );
    if (!next) break;
    placed.add(next);
    order.push(next);
  }
  for (const t of tables) if (roles.get(t.name) === 'full') order.push(t.name);
  return order;
}
