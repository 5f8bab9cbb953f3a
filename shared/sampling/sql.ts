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
  /** The staged (not yet swapped in) table of an environment, named for the run (`run`, its tag; '' in a plan no run executes). */
  stage(env: string, target: Location, table: string, run: string): string;
  /** The sampling unit of a key (its columns): an integer in [0, unitScale). */
  unit(keyExprs: string[], seed: string): string;
  readonly unitScale: number;
  /** Hex SHA-256 of the salt followed by the value. */
  saltedSha256(expr: string): string;
  /** The first `digits` hex digits of a hex string as an integer. */
  hexPrefixToInt(hexExpr: string, digits: number): string;
  /** A Feistel round's function: the first 8 hex digits (32 bits) of the salted SHA-256 of the round and a half. */
  roundHash(half: string, round: number): string;
  xor(x: string, y: string): string;
  intDiv(x: string, y: string): string;
  /** Replaces each digit of `expr` with the digit at the same position of `digitsExpr`. */
  replaceDigits(expr: string, digitsExpr: string): string;
  family(type: string): TypeFamily;
  /** A statement that lists a relation's columns and types. */
  describe(relation: string): string;
  /** Files: rows written in key order, so the same sample gives the same bytes. Tables: no order. */
  readonly orderedOutput: boolean;
  /**
   * A session table for the root's cleaned rows with their sampling units, computed once and
   * read by every environment (DuckDB: a temp table); undefined where statements share no
   * session (Databricks), so each environment computes them.
   */
  readonly rootUnitsTable?: string;
  /**
   * A session table for the root rows an environment keeps, made while it is staged, from which
   * the environments drawn from it start (DuckDB); undefined where statements share no session.
   */
  rootRowsTable?(env: string): string;
  /**
   * Masks computed once per distinct value and joined back (DuckDB, which materialises the kept
   * rows once): a fact table's 100,000 references to 5,000 masked keys cost 5,000 masks.
   */
  readonly maskDistinctValues: boolean;
  /** The statements that stage a table from its SELECT (masked rows, not yet visible in the target). */
  stageStatements(env: string, target: Location, table: string, run: string, select: string, fixups?: string[]): string[];
}

/** Where a file target is built before it is swapped in: a sibling folder on the same disk, named for the run. */
export function stagingFolder(target: string, run: string): string {
  return `${target.replace(/[\\/]+$/, '')}.relevo-next${run ? `-${run}` : ''}`;
}

/** A staging folder or table of any run (the runs' tags are 8 hex digits; none before tags existed). */
export const STAGING_NAME = /^(.+?)(?:\.relevo-next|__relevo_next)(?:[-_][0-9a-f]{8})?$/i;

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
  stage: (env, _target, table) => `"stage__${env}__${table}"`, // a temp table: the session's own
  unit: (keys, seed) => `('0x' || substr(sha256(${sqlString(`${seed}:`)} || ${keyText(keys)}), 1, 13))::BIGINT`,
  unitScale: 2 ** 52,
  saltedSha256: (expr) => `sha256(getvariable('relevo_salt') || CAST(${expr} AS VARCHAR))`,
  hexPrefixToInt: (hex, digits) => `('0x' || substr(${hex}, 1, ${digits}))::BIGINT`,
  roundHash: (half, round) =>
    `('0x' || substr(sha256(getvariable('relevo_salt') || 'relevo-feistel:${round}:' || CAST(${half} AS VARCHAR)), 1, 8))::BIGINT`,
  xor: (x, y) => `xor(${x}, ${y})`,
  intDiv: (x, y) => `(${x} // ${y})`,
  replaceDigits: (expr, digits) =>
    `array_to_string(list_transform(string_split(${expr}, ''), (c, i) -> CASE WHEN c BETWEEN '0' AND '9' THEN substr(${digits}, i, 1) ELSE c END), '')`,
  family: typeFamily,
  describe: (relation) => `DESCRIBE SELECT * FROM ${relation}`,
  orderedOutput: true,
  rootUnitsTable: '"relevo_root_units"',
  rootRowsTable: (env) => `"relevo_root__${env}"`,
  maskDistinctValues: true,
  stageStatements(env, target, table, run, select, fixups = []) {
    if (target.kind !== 'files') throw new Error('duckdb writes files');
    const staged = duckdb.stage(env, target, table, run);
    const file = sqlString(`${stagingFolder(target.path, run).replace(/\\/g, '/')}/${table}.${target.format}`);
    return [
      `CREATE OR REPLACE TEMP TABLE ${staged} AS ${select}`,
      ...fixups,
      `COPY ${staged} TO ${file} (FORMAT ${target.format === 'csv' ? 'csv, HEADER true' : 'parquet'})`,
    ];
  },
};

/**
 * A key's text for hashing: the value of a one-column key as it always was; a composite key's
 * values each prefixed by their length, so no two keys give the same text ('a:b' + 'c' ≠ 'a' + 'b:c').
 */
function keyText(keys: string[]): string {
  if (keys.length === 1) return `CAST(${keys[0]} AS VARCHAR)`;
  return keys.map((k) => `length(CAST(${k} AS VARCHAR)) || ':' || CAST(${k} AS VARCHAR)`).join(` || ':' || `);
}

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
  stage(_env, target, table, run) {
    if (target.kind !== 'tables') throw new Error('databricks writes tables');
    return [target.catalog, target.schema, `${table}__relevo_next${run ? `_${run}` : ''}`].map(databricks.ident).join('.');
  },
  unit: (keys, seed) => `pmod(xxhash64(${keys.join(', ')}, ${databricks.literal(seed)}), 1000000)`,
  unitScale: 1_000_000,
  saltedSha256: (expr) => `sha2(concat(:relevo_salt, CAST(${expr} AS STRING)), 256)`,
  hexPrefixToInt: (hex, digits) => `CAST(conv(substr(${hex}, 1, ${digits}), 16, 10) AS BIGINT)`,
  roundHash: (half, round) =>
    `CAST(conv(substr(sha2(concat(:relevo_salt, 'relevo-feistel:${round}:', CAST(${half} AS STRING)), 256), 1, 8), 16, 10) AS BIGINT)`,
  xor: (x, y) => `(${x} ^ ${y})`,
  intDiv: (x, y) => `(${x} div ${y})`,
  replaceDigits: (expr, digits) =>
    `array_join(transform(split(${expr}, ''), (c, i) -> CASE WHEN c BETWEEN '0' AND '9' THEN substr(${digits}, i + 1, 1) ELSE c END), '')`,
  family: typeFamily,
  describe: (relation) => `DESCRIBE TABLE ${relation}`,
  orderedOutput: false,
  maskDistinctValues: false,
  stageStatements: (env, target, table, run, select, fixups = []) => [
    `CREATE OR REPLACE TABLE ${databricks.stage(env, target, table, run)} AS ${select}`,
    ...fixups,
  ],
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

const BITS: Partial<Record<TypeFamily, number>> = { int64: 64, int32: 32, int16: 16, int8: 8 };

/**
 * A keyed permutation of [0, 2^(a+c)) (`u`, a BIGINT in that range): four rounds of an
 * unbalanced Feistel network over an a-bit and a c-bit half, [L, R] → [R, L xor F_r(R) mod
 * 2^width(L)], F_r the first 32 bits of the salted SHA-256 of the round and R. Each round is
 * invertible whatever F is, so the whole is a bijection for every salt. Unrolled: the engines
 * compute a repeated subexpression once.
 */
export function feistel(d: Dialect, u: string, a: number, c: number): string {
  let left = d.intDiv(`(${u})`, String(2 ** c));
  let right = `((${u}) % ${2 ** c})`;
  let widths = [a, c];
  for (let round = 1; round <= 4; round++) {
    const next = d.xor(left, `(${d.roundHash(right, round)} % ${2 ** widths[0]})`);
    [left, right, widths] = [right, next, [widths[1], widths[0]]];
  }
  return `(${left} * ${2 ** c} + ${right})`;
}

/**
 * The hash mask of a signed integer: a keyed bijection of the type's whole range that sends
 * every value ≥ 0 to a negative one and every negative value to one ≥ 0 (x ≥ 0 ↦ -1 - P(x);
 * x < 0 ↦ P(-1 - x), P a keyed permutation of [0, 2^(bits-1))). So masked keys are unique
 * (no two values share a mask, at any size) and, when the source's keys have one sign, never
 * equal a real key.
 */
function integerHash(d: Dialect, expr: string, bits: number, type: string): string {
  const x = `CAST(${expr} AS BIGINT)`;
  const neg = `CAST(${x} < 0 AS INTEGER)`;
  // u = x for x ≥ 0, -1 - x for x < 0 (the sign bit dropped; no overflow at the type's minimum).
  const u = `CASE WHEN ${x} < 0 THEN -1 - ${x} ELSE ${x} END`;
  const p = feistel(d, u, Math.ceil((bits - 1) / 2), Math.floor((bits - 1) / 2));
  // -1 - P(u) for x ≥ 0, P(u) for x < 0, with P computed once.
  return `CAST((2 * ${neg} - 1) * ${p} + ${neg} - 1 AS ${type})`;
}

/** Which masks a column of this type accepts (undefined: the mask is fine). */
export function maskProblem(d: Dialect, rule: MaskRule, type: string): string | undefined {
  const family = d.family(type);
  if (rule.kind === 'hash' && family === 'other') return `hash masks text and signed integer columns, and this column is ${type}`;
  if ((rule.kind === 'email' || rule.kind === 'phone') && family !== 'text')
    return `${rule.kind} masks text columns, and this column is ${type}`;
  return undefined;
}

/** Candidate phone masks tried in turn: the first not among the source's values is taken. */
const PHONE_DRAWS = 3;

/**
 * The masked value of a column, of the column's own type: salted SHA-256 (hex for text; for
 * integers a keyed bijection of the type's range that swaps the signs, see integerHash), an
 * e-mail or phone number of the same shape, NULL or a fixed value. Deterministic: the same
 * value and salt give the same mask in every table, so joins still line up.
 *
 * A phone keeps its shape (each digit replaced by a salted-hash digit), so by chance it could
 * be another person's real number: with `sourceValues` (a subquery of the source column's
 * values) it is drawn again, up to three times, until it is none of them, and NULL when all
 * three are (about one row in (n/10^digits)^3), so a masked phone is never a source value.
 */
export function maskExpression(d: Dialect, rule: MaskRule, expr: string, type: string, hashType = type, sourceValues?: string): string {
  const masked = textMask(d, rule, expr, type, hashType, sourceValues);
  // varchar(n)/char(n) keep their declared type: the mask is cut to n characters (a hash or an
  // e-mail may be longer) and cast back, so the sample's schema is the source's.
  const width = /^(?:VAR)?CHAR(?:ACTER)?\s*\(\s*(\d+)\s*\)/i.exec(type.trim());
  if (width && (rule.kind === 'hash' || rule.kind === 'email' || rule.kind === 'phone'))
    return `CAST(substr(${masked}, 1, ${Number(width[1])}) AS ${type})`;
  return masked;
}

function textMask(d: Dialect, rule: MaskRule, expr: string, type: string, hashType: string, sourceValues?: string): string {
  switch (rule.kind) {
    case 'hash': {
      const bits = BITS[d.family(hashType)];
      return bits ? integerHash(d, expr, bits, type) : d.saltedSha256(expr);
    }
    case 'email':
      return `('u' || substr(${d.saltedSha256(expr)}, 1, 12) || '@example.com')`;
    case 'phone': {
      // The first draw is the one masks always had; later draws salt the value differently.
      const salted = (k: number, tag: string) => d.saltedSha256(k === 1 && !tag ? expr : `'${k === 1 ? '' : k}${tag}' || ${expr}`);
      const draw = (k: number) => d.replaceDigits(expr, `translate(${salted(k, '')} || ${salted(k, '#')}, 'abcdef', '012345')`);
      if (!sourceValues) return draw(1);
      const draws = Array.from({ length: PHONE_DRAWS }, (_, i) => draw(i + 1));
      return `CASE ${draws.map((c) => `WHEN ${c} NOT IN (${sourceValues}) THEN ${c}`).join(' ')} END`;
    }
    case 'null':
      return `CAST(NULL AS ${type})`;
    case 'fixed':
      return `CAST(${d.literal(rule.value)} AS ${type})`;
  }
}

const INT_RANGE: Partial<Record<TypeFamily, [bigint, bigint]>> = {
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  int16: [-(2n ** 15n), 2n ** 15n - 1n],
  int8: [-128n, 127n],
};

/** Whether a configured value (a fixed mask, a fill) can be a value of the column's type; undefined when it can. */
export function valueProblem(d: Dialect, value: string | number | boolean, type: string): string | undefined {
  const family = d.family(type);
  const t = type.trim().toUpperCase();
  const range = INT_RANGE[family];
  if (range) {
    const text = String(value).trim();
    if (typeof value === 'boolean' || !/^[+-]?\d+$/.test(text))
      return `${JSON.stringify(value)} is not a whole number, and the column is ${type}`;
    const n = BigInt(text);
    if (n < range[0] || n > range[1]) return `${text} is outside the range of ${type} (${range[0]} to ${range[1]})`;
    return undefined;
  }
  if (family === 'text') {
    const width = /^(?:VAR)?CHAR(?:ACTER)?\s*\(\s*(\d+)\s*\)/.exec(t);
    if (width && String(value).length > Number(width[1])) return `${JSON.stringify(String(value))} is longer than ${type} holds`;
    return undefined;
  }
  if (/^BOOL/.test(t))
    return typeof value === 'boolean' || /^(true|false)$/i.test(String(value))
      ? undefined
      : `${JSON.stringify(value)} is not true or false, and the column is ${type}`;
  if (/^(DOUBLE|FLOAT|REAL|DECIMAL|NUMERIC)/.test(t))
    return typeof value !== 'boolean' && String(value).trim() !== '' && Number.isFinite(Number(value))
      ? undefined
      : `${JSON.stringify(value)} is not a number, and the column is ${type}`;
  if (/^(DATE|TIMESTAMP)/.test(t))
    return typeof value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(value)
      ? undefined
      : `${JSON.stringify(value)} is not a date (YYYY-MM-DD…), and the column is ${type}`;
  return undefined;
}

/**
 * Whether a reference column can be compared with the key it references (undefined: it can):
 * the same kind of type, and, when the key is masked, room for every masked key.
 */
export function referenceProblem(d: Dialect, childType: string, parentType: string, keyMasked: boolean): string | undefined {
  const [c, p] = [d.family(childType), d.family(parentType)];
  const ints = ['int8', 'int16', 'int32', 'int64'];
  if (ints.includes(c) && ints.includes(p)) {
    if (keyMasked && ints.indexOf(c) < ints.indexOf(p))
      return `is ${childType} and the masked key is ${parentType}: masked keys span the whole ${parentType} range and do not fit`;
    return undefined;
  }
  if (c === 'text' && p === 'text') return undefined;
  const base = (t: string) => t.trim().toUpperCase().replace(/\(.*$/, '');
  if (c !== p || (c === 'other' && base(childType) !== base(parentType)))
    return `is ${childType} and the key it references is ${parentType}`;
  return undefined;
}
