/**
 * SQL per dialect: the few expressions where DuckDB and Databricks differ (quoting, string
 * literals, the sampling hash, salted SHA-256, table addresses). Everything else in the plan
 * is plain SQL both accept (QUALIFY, IN (subquery), NOT EXISTS, CAST, ORDER BY … LIMIT).
 *
 * The masking salt is never written into SQL: DuckDB reads it from a session variable
 * (`getvariable('relevo_salt')`, set once through a prepared statement), Databricks from the
 * named parameter `:relevo_salt` sent with each statement that mentions it.
 */
import type { FileFormat, Location, MaskRule } from './config';

export type DialectName = 'duckdb' | 'databricks';
export type TypeFamily = 'text' | 'int64' | 'int32' | 'int16' | 'int8' | 'other';

export interface Column {
  name: string;
  type: string;
}

export interface Dialect {
  readonly name: DialectName;
  ident(name: string): string;
  literal(value: string | number | boolean): string;
  /** Where a source table is read from. */
  source(location: Location, table: string): string;
  /** The staged (not yet swapped in) table of an environment. */
  stage(env: string, target: Location, table: string): string;
  /** The sampling unit of a key: an integer in [0, unitScale). */
  unit(keyExpr: string, seed: string): string;
  readonly unitScale: number;
  /** Hex SHA-256 of the salt followed by the value. */
  saltedSha256(expr: string): string;
  /** The first `digits` hex digits of a hex string as an integer. */
  hexPrefixToInt(hexExpr: string, digits: number): string;
  /** Replaces each digit of `expr` with the digit at the same position of `digitsExpr`. */
  replaceDigits(expr: string, digitsExpr: string): string;
  family(type: string): TypeFamily;
  /** A statement that lists a relation's columns and types. */
  describe(relation: string): string;
  /** Files: rows written in key order, so the same sample gives the same bytes. Tables: no order. */
  readonly orderedOutput: boolean;
  /** The statements that stage a table from its SELECT (masked rows, not yet visible in the target). */
  stageStatements(env: string, target: Location, table: string, select: string): string[];
}

/** Where a file target is built before it is swapped in: a sibling folder on the same disk. */
export function stagingFolder(target: string): string {
  return `${target.replace(/[\\/]+$/, '')}.relevo-next`;
}

const sqlString = (value: string) => `'${value.replace(/'/g, "''")}'`;

export const duckdb: Dialect = {
  name: 'duckdb',
  ident: (name) => `"${name.replace(/"/g, '""')}"`,
  literal: (value) =>
    typeof value === 'string' ? sqlString(value) : typeof value === 'boolean' ? String(value).toUpperCase() : String(value),
  source(location, table) {
    if (location.kind !== 'files') throw new Error('duckdb reads files');
    return fileReader(location.path, table, location.format);
  },
  stage: (env, _target, table) => `"stage__${env}__${table}"`,
  unit: (key, seed) => `('0x' || substr(sha256(${sqlString(`${seed}:`)} || CAST(${key} AS VARCHAR)), 1, 13))::BIGINT`,
  unitScale: 2 ** 52,
  saltedSha256: (expr) => `sha256(getvariable('relevo_salt') || CAST(${expr} AS VARCHAR))`,
  hexPrefixToInt: (hex, digits) => `('0x' || substr(${hex}, 1, ${digits}))::BIGINT`,
  replaceDigits: (expr, digits) =>
    `array_to_string(list_transform(string_split(${expr}, ''), (c, i) -> CASE WHEN c BETWEEN '0' AND '9' THEN substr(${digits}, i, 1) ELSE c END), '')`,
  family: typeFamily,
  describe: (relation) => `DESCRIBE SELECT * FROM ${relation}`,
  orderedOutput: true,
  stageStatements(env, target, table, select) {
    if (target.kind !== 'files') throw new Error('duckdb writes files');
    const staged = duckdb.stage(env, target, table);
    const file = sqlString(`${stagingFolder(target.path).replace(/\\/g, '/')}/${table}.${target.format}`);
    return [
      `CREATE OR REPLACE TEMP TABLE ${staged} AS ${select}`,
      `COPY ${staged} TO ${file} (FORMAT ${target.format === 'csv' ? 'csv, HEADER true' : 'parquet'})`,
    ];
  },
};

export function fileReader(folder: string, table: string, format: FileFormat): string {
  const file = sqlString(`${folder.replace(/\\/g, '/')}/${table}.${format}`);
  return format === 'csv' ? `read_csv(${file}, header = true)` : `read_parquet(${file})`;
}

export const databricks: Dialect = {
  name: 'databricks',
  ident: (name) => `\`${name.replace(/`/g, '``')}\``,
  literal: (value) =>
    typeof value === 'string'
      ? `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
      : typeof value === 'boolean'
        ? String(value).toUpperCase()
        : String(value),
  source(location, table) {
    if (location.kind !== 'tables') throw new Error('databricks reads tables');
    return [location.catalog, location.schema, table].map(databricks.ident).join('.');
  },
  stage(_env, target, table) {
    if (target.kind !== 'tables') throw new Error('databricks writes tables');
    return [target.catalog, target.schema, `${table}__relevo_next`].map(databricks.ident).join('.');
  },
  unit: (key, seed) => `pmod(xxhash64(${key}, ${databricks.literal(seed)}), 1000000)`,
  unitScale: 1_000_000,
  saltedSha256: (expr) => `sha2(concat(:relevo_salt, CAST(${expr} AS STRING)), 256)`,
  hexPrefixToInt: (hex, digits) => `CAST(conv(substr(${hex}, 1, ${digits}), 16, 10) AS BIGINT)`,
  replaceDigits: (expr, digits) =>
    `array_join(transform(split(${expr}, ''), (c, i) -> CASE WHEN c BETWEEN '0' AND '9' THEN substr(${digits}, i + 1, 1) ELSE c END), '')`,
  family: typeFamily,
  describe: (relation) => `DESCRIBE TABLE ${relation}`,
  orderedOutput: false,
  stageStatements: (env, target, table, select) => [`CREATE OR REPLACE TABLE ${databricks.stage(env, target, table)} AS ${select}`],
};

function typeFamily(type: string): TypeFamily {
  const t = type.trim().toUpperCase();
  if (/^(VARCHAR|STRING|TEXT|CHAR)/.test(t)) return 'text';
  if (/^(BIGINT|LONG|INT64|INT8$)/.test(t)) return 'int64';
  if (/^(INTEGER|INT|INT4|INT32)$/.test(t)) return 'int32';
  if (/^(SMALLINT|SHORT|INT2|INT16)$/.test(t)) return 'int16';
  if (/^(TINYINT|BYTE|INT1)$/.test(t)) return 'int8';
  return 'other';
}

const HEX_DIGITS: Partial<Record<TypeFamily, number>> = { int64: 15, int32: 7, int16: 3, int8: 1 };

/** Which masks a column of this type accepts (undefined: the mask is fine). */
export function maskProblem(d: Dialect, rule: MaskRule, type: string): string | undefined {
  const family = d.family(type);
  if (rule.kind === 'hash' && family === 'other') return `hash masks text and signed integer columns, and this column is ${type}`;
  if ((rule.kind === 'email' || rule.kind === 'phone') && family !== 'text')
    return `${rule.kind} masks text columns, and this column is ${type}`;
  return undefined;
}

/**
 * The masked value of a column, of the column's own type: salted SHA-256 (hex for text; for
 * integers a negative number from the hash, so a masked id never equals a real positive id),
 * an e-mail or phone number of the same shape, NULL or a fixed value. Deterministic: the same
 * value and salt give the same mask in every table, so joins still line up.
 */
export function maskExpression(d: Dialect, rule: MaskRule, expr: string, type: string, hashType = type): string {
  switch (rule.kind) {
    case 'hash': {
      const digits = HEX_DIGITS[d.family(hashType)];
      return digits ? `CAST(-1 - ${d.hexPrefixToInt(d.saltedSha256(expr), digits)} AS ${type})` : d.saltedSha256(expr);
    }
    case 'email':
      return `('u' || substr(${d.saltedSha256(expr)}, 1, 12) || '@example.com')`;
    case 'phone':
      return d.replaceDigits(expr, `translate(${d.saltedSha256(expr)} || ${d.saltedSha256(`'#' || ${expr}`)}, 'abcdef', '012345')`);
    case 'null':
      return `CAST(NULL AS ${type})`;
    case 'fixed':
      return `CAST(${d.literal(rule.value)} AS ${type})`;
  }
}
