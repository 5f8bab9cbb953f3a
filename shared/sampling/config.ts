/**
 * The sample-data configuration: one YAML or JSON file, validated against config.schema.json
 * (which ships inside the task's bundle), then checked for meaning: references that point at
 * declared tables, one sampling root, no cycles, environments drawn from declared environments,
 * no target equal to (or inside) the source. Every error names the path in the file
 * (`tables.orders.references.customer_id`) and what is allowed there.
 */
import { readFileSync } from 'node:fs';
import { dirname, extname, isAbsolute, relative, resolve } from 'node:path';
import Ajv, { type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../errors';
import schema from './config.schema.json';

export type FileFormat = 'csv' | 'parquet';
export type Location = { kind: 'files'; path: string; format: FileFormat } | { kind: 'tables'; catalog: string; schema: string };
export type MaskRule = { kind: 'hash' | 'email' | 'phone' | 'null' } | { kind: 'fixed'; value: string | number | boolean };
export type NullRule = { kind: 'drop' } | { kind: 'fill'; value: string | number | boolean };

/**
 * A reference from a table's columns to a parent's key: one column (`customer_id:
 * customers.customer_id`) or several, in the order of the parent's composite key (`line: {
 * columns: [order_id, line_no], table: order_lines }`).
 */
export interface Reference {
  /** Its name in the file: the column, or the name of a composite reference. */
  name: string;
  columns: string[];
  table: string;
  /** The parent's columns, in the order of `columns`. */
  parentColumns: string[];
  /** A self-reference to a row outside the sample: nulled (default), or the row pulled into the sample. */
  outside: 'null' | 'pull';
}

export interface TableConfig {
  name: string;
  /** The key's columns (one, or several for a composite key). */
  key?: string[];
  root: boolean;
  copyFull: boolean;
  references: Reference[];
  filter?: string;
  drop: string[];
  dedupe: boolean;
  nulls: Record<string, NullRule>;
  mask: Record<string, MaskRule>;
}

export interface EnvironmentConfig {
  name: string;
  target: Location;
  from?: string;
  size: { fraction: number } | { rows: number };
  tolerance?: number;
}

export interface SampleConfig {
  file: string;
  seed: string;
  source: Location;
  environments: EnvironmentConfig[];
  tables: TableConfig[];
  maskSample: number;
}

/** A configuration error: the file, the path inside it, what is wrong and what is allowed. */
export function configError(file: string, path: string, message: string, allowed?: string): UserError {
  return new UserError(`${path ? `${path}: ` : ''}${message}${allowed ? `; allowed: ${allowed}` : ''}.`, {
    input: 'configFile',
    fix: `edit ${file}${path ? ` at ${path}` : ''}.`,
  });
}

let validate: ReturnType<Ajv['compile']> | undefined;

/** Reads, parses and checks the file; relative paths resolve against its folder. */
export function loadConfig(file: string): SampleConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read '${file}': ${(err as NodeJS.ErrnoException).code ?? String(err)}.`, {
      input: 'configFile',
      fix: 'give the path of the YAML or JSON configuration file (relative to the sources folder).',
    });
  }
  let raw: unknown;
  try {
    raw = extname(file).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text, { prettyErrors: true });
  } catch (err) {
    throw new UserError(
      `'${file}' is not valid ${extname(file).toLowerCase() === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`,
      { input: 'configFile', fix: 'correct the syntax.' },
    );
  }
  return parseConfig(raw, file);
}

/** Checks parsed data against the schema and the rules the schema cannot state. */
export function parseConfig(raw: unknown, file: string): SampleConfig {
  validate ??= new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true }).compile(schema);
  if (!validate(raw)) throw schemaError(file, validate.errors ?? []);
  const doc = raw as RawConfig;
  const base = dirname(resolve(file));
  const fail = (path: string, message: string, allowed?: string) => configError(file, path, message, allowed);

  const source = location(doc.source, 'source', base, 'parquet', fail);
  const environments: EnvironmentConfig[] = [];
  for (const [name, env] of Object.entries(doc.environments)) {
    const at = `environments.${name}`;
    if ((env.fraction === undefined) === (env.rows === undefined))
      throw fail(
        at,
        env.fraction === undefined ? 'gives neither fraction nor rows' : 'gives both fraction and rows',
        'exactly one of fraction (0 < f ≤ 1) or rows (≥ 1)',
      );
    if (env.from !== undefined && !(env.from in doc.environments))
      throw fail(
        `${at}.from`,
        `'${env.from}' is not a declared environment`,
        Object.keys(doc.environments)
          .filter((e) => e !== name)
          .join(', ') || 'another environment',
      );
    if (env.from === name) throw fail(`${at}.from`, 'an environment cannot be drawn from itself', 'another environment');
    const target = location(env.target, `${at}.target`, base, source.kind === 'files' ? source.format : 'parquet', fail);
    if (target.kind !== source.kind)
      throw fail(
        `${at}.target`,
        `is ${target.kind === 'files' ? '{ path }' : '{ catalog, schema }'} but the source is ${source.kind === 'files' ? '{ path }' : '{ catalog, schema }'}`,
        'the same kind of location as the source',
      );
    environments.push({
      name,
      target,
      from: env.from,
      size: env.fraction !== undefined ? { fraction: env.fraction } : { rows: env.rows! },
      tolerance: env.tolerance,
    });
  }
  checkEnvironmentOrder(environments, fail);
  checkTargets(source, environments, fail);

  const tables: TableConfig[] = Object.entries(doc.tables).map(([name, t]) => ({
    name,
    key: t.key === undefined ? undefined : Array.isArray(t.key) ? t.key : [t.key],
    root: t.root === true,
    copyFull: t.copy === 'full',
    references: Object.entries(t.references ?? {}).map(([name, ref]): Reference => {
      // The object form's parent columns are the parent's key, filled in below.
      if (typeof ref !== 'string')
        return { name, columns: ref.columns, table: ref.table, parentColumns: [], outside: ref.outside ?? 'null' };
      const dot = ref.indexOf('.');
      return { name, columns: [name], table: ref.slice(0, dot), parentColumns: [ref.slice(dot + 1)], outside: 'null' };
    }),
    filter: t.filter,
    drop: t.drop === undefined ? [] : Array.isArray(t.drop) ? t.drop : [t.drop],
    dedupe: t.dedupe === true,
    nulls: Object.fromEntries(
      Object.entries(t.nulls ?? {}).map(([c, r]): [string, NullRule] => [
        c,
        r === 'drop' ? { kind: 'drop' } : { kind: 'fill', value: r.fill },
      ]),
    ),
    mask: Object.fromEntries(
      Object.entries(t.mask ?? {}).map(([c, m]): [string, MaskRule] => [
        c,
        m === null || m === 'null'
          ? { kind: 'null' }
          : typeof m === 'string'
            ? { kind: m as 'hash' | 'email' | 'phone' }
            : { kind: 'fixed', value: m.fixed },
      ]),
    ),
  }));
  checkTables(tables, fail);
  return {
    file,
    seed: String(doc.seed),
    source,
    environments: orderEnvironments(environments),
    tables,
    maskSample: doc.validation?.maskSample ?? 10_000,
  };
}

interface RawLocation {
  path?: string;
  format?: FileFormat;
  catalog?: string;
  schema?: string;
}
interface RawConfig {
  seed: number | string;
  source: RawLocation;
  environments: Record<string, { target: RawLocation; from?: string; fraction?: number; rows?: number; tolerance?: number }>;
  tables: Record<
    string,
    {
      key?: string | string[];
      root?: boolean;
      references?: Record<string, string | { columns: string[]; table: string; outside?: 'null' | 'pull' }>;
      copy?: 'full';
      filter?: string;
      drop?: string | string[];
      dedupe?: boolean;
      nulls?: Record<string, 'drop' | { fill: string | number | boolean }>;
      mask?: Record<string, string | null | { fixed: string | number | boolean }>;
    }
  >;
  validation?: { maskSample?: number };
}

type Fail = (path: string, message: string, allowed?: string) => UserError;

function location(raw: RawLocation, at: string, base: string, defaultFormat: FileFormat, fail: Fail): Location {
  if (raw.path !== undefined) {
    if (raw.catalog !== undefined || raw.schema !== undefined)
      throw fail(at, 'mixes path with catalog/schema', '{ path, format } for files, or { catalog, schema } for Databricks');
    return { kind: 'files', path: isAbsolute(raw.path) ? raw.path : resolve(base, raw.path), format: raw.format ?? defaultFormat };
  }
  if (raw.catalog === undefined || raw.schema === undefined)
    throw fail(
      at,
      raw.catalog === undefined && raw.schema === undefined ? 'names no location' : 'needs both catalog and schema',
      '{ path, format } for files, or { catalog, schema } for Databricks',
    );
  if (raw.format !== undefined) throw fail(`${at}.format`, 'applies to files only', 'no format with catalog and schema');
  return { kind: 'tables', catalog: raw.catalog, schema: raw.schema };
}

function describeLocation(l: Location): string {
  return l.kind === 'files' ? l.path : `${l.catalog}.${l.schema}`;
}

function overlaps(a: Location, b: Location): boolean {
  if (a.kind === 'files' && b.kind === 'files') {
    const inside = (x: string, y: string) => {
      const rel = relative(y, x);
      return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
    };
    return inside(a.path, b.path) || inside(b.path, a.path);
  }
  return (
    a.kind === 'tables' &&
    b.kind === 'tables' &&
    a.catalog.toLowerCase() === b.catalog.toLowerCase() &&
    a.schema.toLowerCase() === b.schema.toLowerCase()
  );
}

/** Refused before anything runs: a target equal to, inside or around the source or another target. */
function checkTargets(source: Location, envs: EnvironmentConfig[], fail: Fail): void {
  for (const env of envs) {
    if (overlaps(env.target, source))
      throw fail(
        `environments.${env.name}.target`,
        `'${describeLocation(env.target)}' is the source '${describeLocation(source)}' (or overlaps it): regenerating would overwrite production data`,
        'a folder or schema of its own, apart from the source',
      );
    for (const other of envs) {
      if (other !== env && envs.indexOf(other) > envs.indexOf(env) && overlaps(env.target, other.target))
        throw fail(
          `environments.${other.name}.target`,
          `'${describeLocation(other.target)}' overlaps the target of '${env.name}'`,
          'a folder or schema per environment',
        );
    }
  }
}

function checkEnvironmentOrder(envs: EnvironmentConfig[], fail: Fail): void {
  for (const env of envs) {
    const seen = [env.name];
    for (let e = env; e.from;) {
      if (seen.includes(e.from))
        throw fail(
          `environments.${env.name}.from`,
          `environments are drawn from each other in a cycle (${[...seen, e.from].join(' → ')})`,
          'a chain that ends at the source',
        );
      seen.push(e.from);
      e = envs.find((x) => x.name === e.from)!;
    }
  }
}

/** Parents before the environments drawn from them. */
function orderEnvironments(envs: EnvironmentConfig[]): EnvironmentConfig[] {
  const depth = (e: EnvironmentConfig): number => (e.from ? 1 + depth(envs.find((x) => x.name === e.from)!) : 0);
  return [...envs].sort((a, b) => depth(a) - depth(b));
}

function checkTables(tables: TableConfig[], fail: Fail): void {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const roots = tables.filter((t) => t.root);
  if (roots.length !== 1)
    throw fail(
      'tables',
      roots.length
        ? `${roots.length} tables are the sampling root (${roots.map((t) => t.name).join(', ')})`
        : 'no table is the sampling root',
      'exactly one table with root: true',
    );
  for (const t of tables) {
    const at = `tables.${t.name}`;
    if (t.copyFull && (t.root || t.references.length))
      throw fail(
        at,
        `copy: full cannot be combined with ${t.root ? 'root' : 'references'}`,
        'copy: full alone, or a key with root or references',
      );
    if (!t.copyFull && !t.key)
      throw fail(at, 'has no key', 'key: <column> or key: [<column>, …] (every sampled table needs one; lookup tables can use copy: full)');
    for (const r of t.references) {
      const path = `${at}.references.${r.name}`;
      const parent = byName.get(r.table);
      if (!parent) throw fail(path, `'${r.table}' is not a declared table`, tables.map((x) => `${x.name}.<column>`).join(', '));
      const parentKey = parent.key ?? [];
      // The object form names the child's columns; the parent's are its key, in order.
      if (!r.parentColumns.length) {
        if (!parentKey.length)
          throw fail(path, `'${r.table}' has no key to reference`, `a key on ${r.table} (key: column, or key: [column, …])`);
        if (r.columns.length !== parentKey.length)
          throw fail(
            `${path}.columns`,
            `names ${r.columns.length} column(s), and the key of '${r.table}' has ${parentKey.length} (${parentKey.join(', ')})`,
            `${parentKey.length} columns, in the order of ${r.table}'s key`,
          );
        r.parentColumns = [...parentKey];
      } else if (!parent.copyFull && (parentKey.length !== 1 || parentKey[0] !== r.parentColumns[0]))
        throw fail(
          path,
          `'${r.table}.${r.parentColumns[0]}' is not the key of '${r.table}' (its key is ${keyText(parentKey)})`,
          parentKey.length > 1
            ? `{ columns: [${parentKey.map(() => '<column>').join(', ')}], table: ${r.table} } (a composite key is referenced by as many columns)`
            : `${r.table}.${parentKey[0]}`,
        );
      // A self-reference is nulled when it points outside the sample: it needs a column of its own to null.
      if (r.table === t.name && r.columns.every((c) => t.key?.includes(c)))
        throw fail(path, `references ${t.name}'s own key with its own key columns`, 'at least one column that is not part of the key');
      if (r.outside === 'pull' && (r.table !== t.name || r.columns.length !== 1))
        throw fail(
          `${path}.outside`,
          r.table !== t.name
            ? `pull applies to a self-reference, and this references '${r.table}' (its rows follow from the references: a parent keeps the rows referenced)`
            : 'pull applies to a one-column self-reference (a composite one is nulled outside the sample)',
          'null, or leave it out',
        );
    }
  }
  const cycle = findCycle(tables);
  if (cycle)
    throw fail(
      `tables.${cycle[0]}.references`,
      `the references form a cycle: ${cycle.join(' → ')}`,
      'references that never lead back to the same table (break the cycle: drop one reference, or make one table copy: full)',
    );
  const root = roots[0];
  const roles = tableRoles(tables);
  for (const t of tables) {
    if (roles.get(t.name) === 'isolated')
      throw fail(
        `tables.${t.name}`,
        `is neither the root (${root.name}), nor reaches it through references, nor is referenced by a sampled table, nor copy: full`,
        'root: true, references: { column: table.key }, or copy: full',
      );
  }
}

export type TableRole = 'root' | 'child' | 'parent' | 'full' | 'isolated';

/**
 * How each table is sampled: the root by hash; a child (it reaches the root through its
 * references) keeps rows whose parents were kept; a parent (only referenced, never reaching
 * the root) keeps the rows the kept rows reference; full tables are copied.
 */
export function tableRoles(tables: TableConfig[]): Map<string, TableRole> {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const roles = new Map<string, TableRole>();
  const reachesRoot = (t: TableConfig, seen: Set<string>): boolean =>
    t.root ||
    t.references.some((r) => !seen.has(r.table) && byName.has(r.table) && reachesRoot(byName.get(r.table)!, new Set([...seen, r.table])));
  for (const t of tables)
    roles.set(t.name, t.copyFull ? 'full' : t.root ? 'root' : reachesRoot(t, new Set([t.name])) ? 'child' : 'isolated');
  // Parents: referenced (directly or through other parents) by a child or the root.
  for (let changed = true; changed;) {
    changed = false;
    for (const t of tables) {
      const role = roles.get(t.name);
      if (role !== 'root' && role !== 'child' && role !== 'parent') continue;
      for (const r of t.references) {
        if (roles.get(r.table) === 'isolated') {
          roles.set(r.table, 'parent');
          changed = true;
        }
      }
    }
  }
  return roles;
}

/** The first cycle in the reference graph (table → referenced table), as table names. */
function findCycle(tables: TableConfig[]): string[] | undefined {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): string[] | undefined => {
    if (state.get(name) === 'done') return undefined;
    if (state.get(name) === 'open') return [...stack.slice(stack.indexOf(name)), name];
    state.set(name, 'open');
    stack.push(name);
    for (const r of byName.get(name)?.references ?? []) {
      // A self-reference (employees.manager_id → employees.id) is not a cycle: it closes over the table's own sampled rows.
      if (r.table === name) continue;
      const found = visit(r.table);
      if (found) return found;
    }
    stack.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const t of tables) {
    const found = visit(t.name);
    if (found) return found;
  }
  return undefined;
}

/** A key as the messages show it: 'id', or '(order_id, line_no)'. */
export function keyText(columns: string[]): string {
  return columns.length === 1 ? `'${columns[0]}'` : `(${columns.join(', ')})`;
}

/** Ajv's errors as one message: the deepest path, what is wrong there, what is allowed. */
function schemaError(file: string, errors: ErrorObject[]): UserError {
  const path = (e: ErrorObject) => {
    const parts = e.instancePath
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (e.keyword === 'additionalProperties') parts.push(String((e.params as { additionalProperty: string }).additionalProperty));
    if (e.keyword === 'required') parts.push(String((e.params as { missingProperty: string }).missingProperty));
    if (e.keyword === 'propertyNames') parts.push(String((e.params as { propertyName: string }).propertyName));
    return parts.join('.');
  };
  // The most specific error: the deepest path; at one path, an anyOf's own summary over its branches.
  const sorted = [...errors]
    .filter((e) => e.keyword !== 'if')
    .sort((a, b) => path(b).split('.').length - path(a).split('.').length || Number(b.keyword === 'anyOf') - Number(a.keyword === 'anyOf'));
  let e = sorted[0];
  const at = path(e);
  const parentSchema = e.parentSchema as { description?: string; properties?: Record<string, unknown> } | undefined;
  // An anyOf whose value has the type of one branch: that branch's error says more (a string not table.column).
  const branch = sorted.filter((x) => path(x) === at && x.keyword !== 'anyOf' && x.keyword !== 'type');
  if (e.keyword === 'anyOf' && branch.length === 1) e = branch[0];
  switch (e.keyword) {
    case 'additionalProperties': {
      const allowed = Object.keys(parentSchema?.properties ?? {});
      return configError(file, at, 'is not a known setting', allowed.length ? allowed.join(', ') : parentSchema?.description);
    }
    case 'required':
      return configError(file, at, 'is required', describeAt(errors, e, parentSchema));
    case 'propertyNames':
      return configError(file, at, 'is not a valid name', 'letters, digits and _ (not starting with a digit)');
    default:
      return configError(
        file,
        at,
        `${e.message ?? 'is not valid'}${'data' in e && e.data !== undefined && typeof e.data !== 'object' ? ` (found ${JSON.stringify(e.data)})` : ''}`,
        describeAt(errors, e, parentSchema),
      );
  }
}

function describeAt(errors: ErrorObject[], e: ErrorObject, parentSchema: { description?: string } | undefined): string | undefined {
  const schemaPath = e.schemaPath.replace(/\/[^/]+$/, '');
  return (
    parentSchema?.description ??
    (
      errors.find((x) => x.schemaPath.startsWith(schemaPath) && (x.parentSchema as { description?: string })?.description)
        ?.parentSchema as { description?: string }
    )?.description
  );
}
