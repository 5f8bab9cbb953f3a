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
  tables: TablePlan[];
}

export interface SamplingPlan {
  dialect: Dialect['name'];
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

/** Builds the plan for the named environments (default: all, parents first). */
export function buildPlan(config: SampleConfig, d: Dialect, schemas: SourceSchemas, only: string[] = []): SamplingPlan {
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
  const masks = resolveMasks(config, d, schemas, fail);
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
    if (t.key) column(t, t.key, `tables.${t.name}.key`);
    for (const r of t.references) {
      column(t, r.column, `tables.${t.name}.references.${r.column}`);
      column(byName.get(r.table)!, r.parentColumn, `tables.${t.name}.references.${r.column}`);
    }
    for (const c of Object.keys(t.nulls)) column(t, c, `tables.${t.name}.nulls.${c}`);
  }
  // Types, before any data moves: a reference against its key, fill values and fixed masks against their columns.
  for (const t of config.tables) {
    for (const r of t.references) {
      const at = `tables.${t.name}.references.${r.column}`;
      const child = column(t, r.column, at);
      const parent = column(byName.get(r.table)!, r.parentColumn, at);
      const problem = referenceProblem(d, child.type, parent.type, masks.get(r.table)!.has(parent.name));
      if (problem)
        throw fail(at, `${t.name}.${r.column} ${problem}`, `a column of the same type as ${r.table}.${r.parentColumn} (${parent.type})`);
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
  const cleaned = (t: TableConfig): string => {
    const cols = schemas.get(t.name)!;
    const select = cols.map((c) => {
      const rule = t.nulls[c.name];
      return rule?.kind === 'fill' ? `coalesce(${q(c.name)}, CAST(${d.literal(rule.value)} AS ${c.type})) AS ${q(c.name)}` : q(c.name);
    });
    const where = [
      ...(t.filter ? [`(${t.filter})`] : []),
      ...t.drop.map((x) => `NOT coalesce((${x}), FALSE)`),
      ...(t.key && !t.copyFull ? [`${q(t.key)} IS NOT NULL`] : []),
      ...Object.entries(t.nulls)
        .filter(([, r]) => r.kind === 'drop')
        .map(([c]) => `${q(c)} IS NOT NULL`),
    ];
    const dedupe =
      t.dedupe && t.key
        ? ` QUALIFY row_number() OVER (PARTITION BY ${q(t.key)} ORDER BY ${cols
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
  const rootUnits = `(SELECT r.*, ${d.unit(`r.${q(root.key!)}`, config.seed)} AS __relevo_u FROM ${cleaned(root)} r)`;
  /** The root rows an environment keeps (unmasked, with the unit), nested along its chain. */
  const rootRows = (env: EnvironmentConfig): string => {
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
        sql = `(SELECT * FROM ${sql} s ORDER BY __relevo_u, ${q(root.key!)} LIMIT ${e.size.rows})`;
        range = `(SELECT max(__relevo_u) + 1 FROM ${sql} m)`;
        exact = false;
      }
    }
    return sql;
  };

  const selected = only.length ? config.environments.filter((e) => only.includes(e.name)) : config.environments;
  const environments: EnvironmentPlan[] = selected.map((env) => {
    const parentEnv = env.from ? config.environments.find((x) => x.name === env.from) : undefined;
    const staged = (table: string) => d.stage(env.name, env.target, table);
    // A self-reference whose row is outside the sample (a manager not kept) becomes NULL: the table closes over its own kept rows.
    const selfReferenceFixups = (t: TableConfig) =>
      t.references
        .filter((r) => r.table === t.name)
        .map(
          (r) =>
            `UPDATE ${staged(t.name)} SET ${q(r.column)} = NULL WHERE ${q(r.column)} IS NOT NULL AND ${q(r.column)} NOT IN (SELECT ${q(r.parentColumn)} FROM ${staged(t.name)} WHERE ${q(r.parentColumn)} IS NOT NULL)`,
        );
    const tables: TablePlan[] = order.map((name) => {
      const t = byName.get(name)!;
      const role = roles.get(name)!;
      const cols = schemas.get(name)!;
      let from: string;
      let where: string[] = [];
      if (role === 'root') from = `${rootRows(env)} t`;
      else {
        from = `${cleaned(t)} t`;
        if (role === 'child') {
          where = t.references
            .filter((r) => r.table !== name && (roles.get(r.table) === 'root' || roles.get(r.table) === 'child'))
            .map((r) => `${maskedValue(t, r.column, 't')} IN (SELECT ${q(r.parentColumn)} FROM ${staged(r.table)})`);
        } else if (role === 'parent') {
          const referencing = config.tables.flatMap((c) =>
            roles.get(c.name) !== 'full'
              ? c.references.filter((r) => r.table === name && c.name !== name).map((r) => `SELECT ${q(r.column)} FROM ${staged(c.name)}`)
              : [],
          );
          where = [`${maskedValue(t, t.key!, 't')} IN (${referencing.join(' UNION ALL ')})`];
        }
      }
      const rows = `SELECT ${maskedSelect(t, 't').join(', ')} FROM ${from}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
      // Files are written in an order of the written (masked) values only: by the masked key, or
      // by every column; never by a value the mask hides, so a row's position reveals nothing.
      const select = d.orderedOutput ? `SELECT * FROM (${rows}) s ORDER BY ${t.key ? `s.${q(t.key)}` : 'ALL'}` : rows;
      const masked = [...masks.get(name)!.entries()].map(([c, m]) => ({ column: c, rule: m.rule.kind, inheritedFrom: m.inheritedFrom }));
      const checks: Check[] = [];
      for (const r of t.references) {
        checks.push({
          kind: 'orphans',
          table: name,
          column: r.column,
          parent: `${r.table}.${r.parentColumn}`,
          sql: `SELECT count(*) AS n FROM ${staged(name)} c WHERE c.${q(r.column)} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${staged(r.table)} p WHERE p.${q(r.parentColumn)} = c.${q(r.column)})`,
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
      // A masked key stays unique (the masks of keys are bijections); checked, not assumed.
      if (t.key && masks.get(name)!.has(t.key))
        checks.push({
          kind: 'unique',
          table: name,
          column: t.key,
          sql: `SELECT count(${q(t.key)}) - count(DISTINCT ${q(t.key)}) AS n FROM ${staged(name)}`,
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
        statements: d.stageStatements(env.name, env.target, name, select, selfReferenceFixups(t)),
        masked,
        checks,
      };
    });
    const baseCountSql = `SELECT count(*) AS n FROM ${parentEnv ? rootRows(parentEnv) : cleaned(root)} b`;
    return { name: env.name, target: env.target, from: env.from, size: env.size, tolerance: env.tolerance, baseCountSql, tables };
  });
  const needsSalt = [...masks.values()].some((m) =>
    [...m.values()].some((x) => x.rule.kind === 'hash' || x.rule.kind === 'email' || x.rule.kind === 'phone'),
  );
  return {
    dialect: d.name,
    setup: d.rootUnitsTable ? [`CREATE OR REPLACE TEMP TABLE ${d.rootUnitsTable} AS SELECT * FROM ${rootUnits} u`] : [],
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
  const byName = new Map(config.tables.map((t) => [t.name, t]));
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
  // Keys referenced by other tables: the reference inherits the key's mask; it must be deterministic.
  for (const t of config.tables) {
    for (const r of t.references) {
      const parent = byName.get(r.table)!;
      const parentMask = result.get(parent.name)!.get(r.parentColumn);
      const own = result.get(t.name)!.get(r.column);
      const at = `tables.${t.name}.mask.${r.column}`;
      if (parentMask && (parentMask.rule.kind === 'null' || parentMask.rule.kind === 'fixed')) {
        throw fail(
          `tables.${parent.name}.mask.${r.parentColumn}`,
          `'${parent.name}.${r.parentColumn}' is referenced by ${t.name}.${r.column}, and a ${parentMask.rule.kind} mask would break that join`,
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
        const type = typeOf(t.name, r.column)!;
        const problem = maskProblem(d, parentMask.rule, type);
        if (problem)
          throw fail(
            at,
            `inherits ${parentMask.rule.kind} from ${r.table}.${r.parentColumn}, but ${problem}`,
            `a ${r.column} of the same type as ${r.table}.${r.parentColumn}`,
          );
        result.get(t.name)!.set(r.column, {
          rule: parentMask.rule,
          hashType: parentMask.hashType,
          origin: parentMask.origin,
          inheritedFrom: `${r.table}.${r.parentColumn}`,
        });
      }
    }
  }
  return result;
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
