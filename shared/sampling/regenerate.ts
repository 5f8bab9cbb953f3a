/**
 * RegenerateSampleData: read the source's schemas, build the plan (printed in full by a dry
 * run), stage every environment, run the gates, and only when every gate of every environment
 * passed, swap them all in. The engines register the staging and each swap with the run's
 * undo journal before making them: a failed gate, any error and a cancellation unwind it (in
 * the task's runner), so the previous targets are put back exactly as they were.
 *
 * Names, paths and values from the configuration and the source are foreign text: quoted
 * (`quoteForeign`) where a log line carries them.
 */
import { UserError } from '../errors';
import type { Log } from '../log';
import { quoteForeign } from '../output';
import type { SampleConfig } from './config';
import type { Row, SqlEngine } from './engine';
import { buildPlan, schemaFingerprint, type EnvironmentPlan, type SamplingPlan, type SourceSchemas } from './plan';
import type { Column } from './sql';

export interface GateResult {
  gate: 'rows' | 'orphans' | 'masked' | 'unique' | 'schema';
  table: string;
  passed: boolean;
  detail: string;
}

export interface TableReport {
  table: string;
  role: string;
  rowsIn: number;
  rowsOut: number;
  orphans: number;
  masked: string[];
  fingerprint: string;
  durationMs: number;
}

export interface EnvironmentReport {
  name: string;
  from: string;
  target: string;
  size: string;
  expectedRootRows?: number;
  allowedDeviation?: number;
  tables: TableReport[];
  gates: GateResult[];
  schemaChanges: string[];
  /** What the run did not do as asked, though no gate failed (e.g. fewer rows than asked for). */
  warnings: string[];
  durationMs: number;
}

export interface SampleReport {
  engine: string;
  seed: string;
  status: 'succeeded' | 'failed' | 'dryRun';
  environments: EnvironmentReport[];
  failures: string[];
  durationMs: number;
}

export interface RegenerateOptions {
  environments: string[];
  dryRun: boolean;
}

export interface RegenerateResult {
  plan: SamplingPlan;
  report: SampleReport;
  /** Set when the run failed after the plan (a gate, a statement): the report is still worth writing. */
  error?: UserError;
}

const describeLocation = (l: SampleConfig['source']) => (l.kind === 'files' ? `${l.path} (${l.format})` : `${l.catalog}.${l.schema}`);

export async function regenerateSampleData(
  config: SampleConfig,
  sqlEngine: SqlEngine,
  options: RegenerateOptions,
  log: Log,
): Promise<RegenerateResult> {
  const started = Date.now();
  const engine = withoutQuotedData(sqlEngine);
  const d = engine.dialect;
  const schemas: SourceSchemas = new Map();
  for (const t of config.tables) {
    const relation = d.source(config.source, t.name);
    try {
      schemas.set(t.name, columnsOf(await engine.query(d.describe(relation))));
    } catch (err) {
      throw new UserError(
        `tables.${t.name}: cannot read the source table ${config.source.kind === 'files' ? `'${config.source.path}/${t.name}.${config.source.format}'` : relation}: ${message(err)}.`,
        {
          input: 'configFile',
          fix: `check that the source ${config.source.kind === 'files' ? `folder has ${t.name}.${config.source.format} (format: ${config.source.format})` : 'schema has this table and the connection may read it'}, or remove the table from ${config.file}.`,
          cause: err,
        },
      );
    }
  }
  await refuseEmptyUntypedCsv(config, engine, schemas);
  const plan = buildPlan(config, d, schemas, options.environments, engine.runTag);
  log.info(
    `Source ${quoteForeign(describeLocation(config.source))}; ${config.tables.length} table(s), root ${plan.root}; seed ${quoteForeign(config.seed)}; order: ${plan.order.join(' → ')}.`,
  );
  for (const env of plan.environments) {
    log.info(`Environment ${env.name} ← ${env.from ?? 'source'} (${sizeText(env)}) → ${quoteForeign(describeLocation(env.target))}`);
    for (const t of env.tables)
      log.info(
        `  ${t.table}: ${t.role}${t.masked.length ? `; masked ${t.masked.map((m) => `${quoteForeign(m.column)} (${m.rule}${m.inheritedFrom ? ` from ${quoteForeign(m.inheritedFrom)}` : ''})`).join(', ')}` : ''}`,
      );
  }
  // A bad filter, drop or fill fails here, naming the table, before anything is staged.
  for (const t of config.tables) {
    if (!t.filter && !t.drop.length && !Object.keys(t.nulls).length && !t.dedupe) continue;
    const tp = plan.environments[0]?.tables.find((x) => x.table === t.name);
    if (!tp) continue;
    const probe = `SELECT count(*) AS n FROM (SELECT * FROM ${tp.cleaned} c LIMIT 0) p`;
    try {
      await engine.query(probe);
    } catch (err) {
      throw new UserError(`tables.${t.name}: the cleaning rules (filter, drop, nulls) are not valid SQL for this table: ${message(err)}.`, {
        input: 'configFile',
        fix: `use the columns of ${t.name} (${schemas
          .get(t.name)!
          .map((c) => quoteForeign(c.name))
          .join(', ')}) in ${quoteForeign(config.file)}.`,
      });
    }
  }
  const report: SampleReport = {
    engine: d.name,
    seed: config.seed,
    status: options.dryRun ? 'dryRun' : 'succeeded',
    environments: [],
    failures: [],
    durationMs: 0,
  };
  if (options.dryRun) {
    log.info('Dry run: the SQL each environment would run (nothing is staged, swapped or written):');
    for (const sql of plan.setup) log.info(`-- once, before the environments\n${sql};`);
    for (const env of plan.environments) {
      log.info(`-- ${env.name}: the root's base rows\n${env.baseCountSql};`);
      for (const t of env.tables) {
        for (const s of t.statements) log.info(`-- ${env.name}.${t.table}\n${s};`);
        for (const c of t.checks) log.info(`-- gate ${c.kind} ${t.table}.${quoteForeign(c.column)}\n${c.sql};`);
      }
    }
    report.environments = plan.environments.map((env) => ({
      name: env.name,
      from: env.from ?? 'source',
      target: describeLocation(env.target),
      size: sizeText(env),
      tables: [],
      gates: [],
      schemaChanges: [],
      warnings: [],
      durationMs: 0,
    }));
    report.durationMs = Date.now() - started;
    return { plan, report };
  }

  let swapping = false;
  try {
    await engine.prepare(plan.environments);
    for (const sql of plan.setup) {
      try {
        await engine.query(sql);
      } catch (err) {
        throw new UserError(`${plan.root}: computing the sampling hash of the root's rows failed: ${message(err)}.`, {
          fix: "see the statement in the log (dryRun prints them all); check the root table's filter, drop and nulls.",
          cause: err,
        });
      }
    }
    const rowsIn = new Map<string, number>();
    for (const env of plan.environments)
      report.environments.push(
        await stageEnvironment(
          env,
          plan,
          engine,
          rowsIn,
          report.environments.find((e) => e.name === env.from),
          log,
        ),
      );
    const failed = report.environments.flatMap((e) => e.gates.filter((g) => !g.passed).map((g) => `${e.name}: ${g.detail}`));
    if (failed.length) {
      report.failures = failed;
      throw new UserError(
        `${failed.length} validation gate(s) failed, so no environment was replaced (the previous data is untouched): ${failed.join('; ')}.`,
        {
          fix: 'see the report; fix the source data or the configuration (tolerance, masks, references) and run again.',
        },
      );
    }
    swapping = true;
    await engine.commit(plan.environments, (env) => {
      const r = report.environments.find((e) => e.name === env.name)!;
      return {
        generatedBy: 'RegenerateSampleData@1',
        generatedAt: new Date().toISOString(),
        seed: config.seed,
        from: r.from,
        size: r.size,
        tables: Object.fromEntries(r.tables.map((t) => [t.table, { rows: t.rowsOut, fingerprint: t.fingerprint, masked: t.masked }])),
      };
    });
    for (const env of report.environments) log.info(`Swapped in ${env.name} (${quoteForeign(env.target)}).`);
  } catch (err) {
    // What was staged or swapped is put back by the undo journal, whose report ends the log.
    report.status = 'failed';
    if (!report.failures.length) report.failures.push(message(err));
    report.durationMs = Date.now() - started;
    const what = swapping ? 'swapping in the environments failed' : 'the run failed before any environment was swapped in';
    return { plan, report, error: err instanceof UserError ? err : new UserError(`${what}: ${message(err)}`, { cause: err }) };
  }
  report.durationMs = Date.now() - started;
  return { plan, report };
}

async function stageEnvironment(
  env: EnvironmentPlan,
  plan: SamplingPlan,
  engine: SqlEngine,
  rowsIn: Map<string, number>,
  parent: EnvironmentReport | undefined,
  log: Log,
): Promise<EnvironmentReport> {
  const started = Date.now();
  const d = engine.dialect;
  const previous = await engine.previousFingerprints(env);
  const report: EnvironmentReport = {
    name: env.name,
    from: env.from ?? 'source',
    target: env.target.kind === 'files' ? env.target.path : `${env.target.catalog}.${env.target.schema}`,
    size: sizeText(env),
    tables: [],
    gates: [],
    schemaChanges: [],
    warnings: [],
    durationMs: 0,
  };
  for (const t of env.tables) {
    const tableStarted = Date.now();
    for (const sql of t.statements) {
      try {
        await engine.query(sql);
      } catch (err) {
        throw new UserError(`${env.name}.${t.table}: staging failed: ${message(err)}.`, {
          fix: "see the statement in the log (dryRun prints them all); check the table's filter, drop and masks.",
          cause: err,
        });
      }
    }
    if (!rowsIn.has(t.table)) rowsIn.set(t.table, await count(engine, `SELECT count(*) AS n FROM ${t.source}`));
    const rowsOut = await count(engine, `SELECT count(*) AS n FROM ${t.staged}`);
    const before = previous[t.table];
    if (before && before !== t.fingerprint) {
      const change = `${t.table}: the source schema changed since the last run (fingerprint ${before} → ${t.fingerprint})`;
      report.schemaChanges.push(change);
      log.warn(`${env.name}: ${quoteForeign(change)}.`);
    }
    const tableIn = parent?.tables.find((x) => x.table === t.table)?.rowsOut ?? rowsIn.get(t.table)!;
    report.tables.push({
      table: t.table,
      role: t.role,
      rowsIn: tableIn,
      rowsOut,
      orphans: 0,
      masked: t.masked.map((m) => m.column),
      fingerprint: t.fingerprint,
      durationMs: Date.now() - tableStarted,
    });
    log.info(`  ${env.name}.${t.table}: ${tableIn} → ${rowsOut} row(s) (${Date.now() - tableStarted} ms)`);
  }
  // The gates, once every table is staged (a child's parent may come after it).
  for (const t of env.tables) {
    const tr = report.tables.find((x) => x.table === t.table)!;
    for (const c of t.checks) {
      const n = await count(engine, c.sql);
      if (c.kind === 'orphans') {
        tr.orphans += n;
        report.gates.push({
          gate: 'orphans',
          table: t.table,
          passed: n === 0,
          detail: n
            ? `${t.table}.${c.column}: ${n} row(s) reference no ${c.parent} (is the source missing them?)`
            : `${t.table}.${c.column} → ${c.parent}: no orphans`,
        });
      } else if (c.kind === 'unique') {
        report.gates.push({
          gate: 'unique',
          table: t.table,
          passed: n === 0,
          detail: n
            ? `${t.table}.${c.column}: ${n} row(s) share a masked key with another row (is the key unique in the source? dedupe: true keeps one row per key)`
            : `${t.table}.${c.column}: masked keys unique`,
        });
      } else {
        report.gates.push({
          gate: 'masked',
          table: t.table,
          passed: n === 0,
          detail: n
            ? `${t.table}.${c.column}: ${n} masked value(s) (of up to ${plan.maskSample} checked) equal a value of the source column`
            : `${t.table}.${c.column}: no source value among up to ${Math.min(plan.maskSample, tr.rowsOut)} checked`,
        });
      }
    }
    // The sample's schema is the source's: names and types, in order.
    const staged = columnsOf(await engine.query(d.describe(t.staged)));
    const same =
      staged.length === t.columns.length &&
      staged.every((c, i) => c.name === t.columns[i].name && c.type.toUpperCase() === t.columns[i].type.toUpperCase());
    report.gates.push({
      gate: 'schema',
      table: t.table,
      passed: same,
      detail: same
        ? `${t.table}: schema equals the source's (${t.fingerprint})`
        : `${t.table}: the staged schema (${staged.map((c) => `${c.name} ${c.type}`).join(', ')}) differs from the source's (${t.columns.map((c) => `${c.name} ${c.type}`).join(', ')})`,
    });
  }
  // The root's size gate.
  const base = await count(engine, env.baseCountSql);
  const root = report.tables.find((t) => t.role === 'root')!;
  const expected = 'fraction' in env.size ? base * env.size.fraction : Math.min(env.size.rows, base);
  const allowed =
    env.tolerance !== undefined
      ? env.tolerance * expected
      : 'rows' in env.size
        ? 0
        : Math.max(0.05 * expected, 4 * Math.sqrt(expected * (1 - env.size.fraction)), 1);
  if ('rows' in env.size && base < env.size.rows) {
    // Not a failure: the sample is all there is. Said in the log and the Summary.
    const note = `${root.table}: ${env.size.rows} row(s) asked for, but ${env.from ? `${env.from} has` : 'the source has'} only ${base}: ${env.name} takes all of them`;
    report.warnings.push(note);
    log.warn(`${env.name}: ${quoteForeign(note)}.`);
  }
  report.expectedRootRows = Math.round(expected);
  report.allowedDeviation = Math.round(allowed * 100) / 100;
  // Rows pulled in by a self-reference are not part of the sample's size.
  const sampled = env.sampledCountSql ? await count(engine, env.sampledCountSql) : root.rowsOut;
  const pulled = root.rowsOut - sampled;
  const ok = Math.abs(sampled - expected) <= allowed;
  report.gates.unshift({
    gate: 'rows',
    table: root.table,
    passed: ok,
    detail: `${root.table}: ${sampled} row(s)${env.sampledCountSql ? ` sampled (and ${pulled} pulled in by a self-reference)` : ''}, target ${Math.round(expected)} ± ${Math.round(allowed)} (${sizeText(env)} of ${base})${ok ? '' : ': outside the tolerance'}`,
  });
  for (const g of report.gates.filter((x) => !x.passed)) log.warn(`${env.name}: gate ${g.gate} failed: ${quoteForeign(g.detail)}.`);
  report.durationMs = Date.now() - started;
  return report;
}

function sizeText(env: EnvironmentPlan): string {
  return 'fraction' in env.size ? `fraction ${env.size.fraction}` : `${env.size.rows} rows`;
}

/**
 * DuckDB reads a CSV file with a header and no rows as text columns. Such a table is fine on
 * its own (CSV keeps no types), but its key and references would then be compared with typed
 * columns of other tables and fail inside DuckDB ("cannot compare BIGINT and VARCHAR"): refused
 * here instead, naming the file.
 */
async function refuseEmptyUntypedCsv(config: SampleConfig, engine: SqlEngine, schemas: SourceSchemas): Promise<void> {
  if (config.source.kind !== 'files' || config.source.format !== 'csv') return;
  const joined = new Set(config.tables.flatMap((t) => t.references.flatMap((r) => [t.name, r.table])));
  for (const t of config.tables) {
    if (!joined.has(t.name) || !schemas.get(t.name)!.every((c) => engine.dialect.family(c.type) === 'text')) continue;
    const n = await count(engine, `SELECT count(*) AS n FROM (SELECT 1 FROM ${engine.dialect.source(config.source, t.name)} LIMIT 1) x`);
    if (n === 0)
      throw new UserError(
        `tables.${t.name}: '${quoteForeign(`${config.source.path}/${t.name}.csv`)}' has a header and no rows, so the types of its columns cannot be known, and its key and references cannot be compared with the other tables'.`,
        {
          input: 'configFile',
          fix: `give the source at least one row of ${t.name} (or use parquet, which keeps types), or leave ${t.name} out of ${config.file}.`,
        },
      );
  }
}

async function count(engine: SqlEngine, sql: string): Promise<number> {
  const rows = await engine.query(sql);
  return Number(Object.values(rows[0] ?? {})[0] ?? 0);
}

/** Columns from DESCRIBE (DuckDB: column_name/column_type; Databricks: col_name/data_type, until the first blank or # row). */
export function columnsOf(rows: Row[]): Column[] {
  const columns: Column[] = [];
  for (const r of rows) {
    const name = r.column_name ?? r.col_name;
    const type = r.column_type ?? r.data_type;
    if (!name || name.startsWith('#') || !type) break;
    columns.push({ name, type });
  }
  return columns;
}

/**
 * Engines quote the data a statement failed on (DuckDB: `Could not convert string 'Jane…' to
 * INT32`; Databricks: `The value 'Jane…' of the type "STRING" cannot be cast`). Source values
 * may be personal data: they must reach neither the log nor the report. Every quoted string of
 * an engine's error is replaced by '…'; the rest of the message stays.
 */
export function dropQuotedValues(text: string): string {
  return text.replace(/'(?:[^'\\]|''|\\.)*'/g, "'…'");
}

/** The engine, with its query errors' quoted values dropped (a cancellation passes as it is). */
function withoutQuotedData(engine: SqlEngine): SqlEngine {
  const scrub = (err: unknown): unknown => {
    if (!(err instanceof Error) || err.name === 'CancelledError') return err;
    const text = dropQuotedValues(err.message);
    if (text === err.message) return err;
    const clean = err instanceof UserError ? new UserError(text) : new Error(text);
    clean.name = err.name;
    return clean;
  };
  return {
    dialect: engine.dialect,
    runTag: engine.runTag,
    query: (sql) =>
      engine.query(sql).catch((err: unknown) => {
        throw scrub(err);
      }),
    prepare: (envs) => engine.prepare(envs),
    previousFingerprints: (env) => engine.previousFingerprints(env),
    commit: (envs, record) => engine.commit(envs, record),
    close: () => engine.close(),
  };
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
}

export { schemaFingerprint };
