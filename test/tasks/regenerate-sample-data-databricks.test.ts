/**
 * RegenerateSampleData with engine databricks, through the built task, against the Databricks
 * contract server and the tables behind it (test/support/databricksTables.ts): the swap; the
 * warehouse failing its k-th statement, for every k; the agent cancelling at each rename of
 * the swap; server messages and names written to drive the agent.
 */
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertOnlyOwnCommands, explain, runTask, type RunOptions, type TaskRun } from '../support/agentRunner';
import { startDatabricksServer, type DatabricksServer } from '../support/databricksServer';
import { TableStore } from '../support/databricksTables';
import { tempDir } from '../support/repo';
import { FOREIGN } from '../support/sampleData';

const SALT = 'dbx-salt-Qm42-never-logged';
const COLUMNS: Record<string, [string, string][]> = {
  customers: [
    ['customer_id', 'bigint'],
    ['full_name', 'string'],
    ['email', 'string'],
    ['deleted', 'boolean'],
  ],
  orders: [
    ['order_id', 'bigint'],
    ['customer_id', 'bigint'],
    ['amount', 'double'],
  ],
  countries: [
    ['code', 'string'],
    ['name', 'string'],
  ],
};
const CONFIG = `seed: 42
source: { catalog: pro, schema: sales }
environments:
  pre: { target: { catalog: pre, schema: sales }, fraction: 0.1 }
  dev: { target: { catalog: dev, schema: sales }, from: pre, rows: 1000 }
tables:
  customers: { key: customer_id, root: true, filter: "deleted = false", dedupe: true, mask: { email: email, full_name: hash } }
  orders:    { key: order_id, references: { customer_id: customers.customer_id } }
  countries: { copy: full }
`;
/**
 * For the runs that try every statement: two tables, no masks or filter (fewer statements, the
 * same swap): each run is a process, and the suite must stay fast.
 */
const SMALL = `seed: 42
source: { catalog: pro, schema: sales }
environments:
  pre: { target: { catalog: pre, schema: sales }, fraction: 0.1 }
  dev: { target: { catalog: dev, schema: sales }, from: pre, rows: 1000 }
tables:
  customers: { key: customer_id, root: true }
  orders:    { key: order_id, references: { customer_id: customers.customer_id } }
`;
/** What an earlier run left: PRE whole, DEV with one table (so a swap meets both cases). */
const BEFORE = { pre: { countries: 'before', customers: 'before', orders: 'before' }, dev: { customers: 'before' } };
const NEW = { countries: 'new', customers: 'new', orders: 'new' };
const SMALL_BEFORE = { pre: { customers: 'before', orders: 'before' }, dev: { customers: 'before' } };
const SMALL_NEW = { customers: 'new', orders: 'new' };

/** A warehouse whose targets an earlier run wrote (`before`), and the server in front of it. */
async function warehouse(
  columns = COLUMNS,
  before: Record<string, Record<string, string>> = BEFORE,
): Promise<{ server: DatabricksServer; store: TableStore }> {
  const server = await startDatabricksServer({ lifetimeMs: 60_000 });
  const store = new TableStore('pro.sales', columns);
  for (const [env, tables] of Object.entries(before))
    for (const t of Object.keys(tables)) store.put(`${env}.sales.${t}`, 'before', { 'relevo.fingerprint': 'f-before' });
  server.state.sql = store.answer;
  return { server, store };
}

function regenerate(
  server: DatabricksServer,
  config: string,
  inputs: Record<string, string> = {},
  options: Pick<RunOptions, 'cancel'> = {},
): Promise<TaskRun> {
  return runTask('regenerate-sample-data', {
    inputs: { configFile: config, engine: 'databricks', databricksConnection: 'dbx', warehouseId: 'wh-1', maskingSalt: SALT, ...inputs },
    env: {
      ENDPOINT_URL_DBX: server.url,
      ENDPOINT_AUTH_DBX: JSON.stringify({ scheme: 'Token', parameters: { apitoken: server.token } }),
      ENDPOINT_AUTH_SCHEME_DBX: 'Token',
    },
    tasksDir: process.env.RELEVO_TASKS_DIR || undefined,
    ...options,
  });
}

/** The targets as before (no staging, no lock left), or every table new; never a mix. */
function outcome(
  store: TableStore,
  context: string,
  before: Record<string, Record<string, string>> = BEFORE,
  made: Record<string, string> = NEW,
): 'before' | 'new' {
  const pre = store.schema('pre.sales');
  const dev = store.schema('dev.sales');
  if (JSON.stringify({ pre, dev }) === JSON.stringify(before)) return 'before';
  // Landed: a staging copy or the lock whose drop failed after the swap may stay (the next run stages over the one and takes over the other).
  const live = (s: Record<string, string>) =>
    Object.fromEntries(Object.entries(s).filter(([t]) => !/__relevo_next_[0-9a-f]{8}$/.test(t) && t !== '__relevo_lock'));
  assert.deepEqual({ pre: live(pre), dev: live(dev) }, { pre: made, dev: made }, `${context}: a mix of previous and new tables`);
  return 'new';
}

/** Runs `each` for 1..n, `width` at a time (each run has its own server). */
async function forEachK(n: number, width: number, each: (k: number) => Promise<void>): Promise<void> {
  let next = 1;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next <= n) await each(next++);
    }),
  );
}

describe('RegenerateSampleData@1 (databricks, built task)', function () {
  this.timeout(240_000);
  let config: string;
  let small: string;
  const servers: DatabricksServer[] = [];
  before(() => {
    const dir = tempDir('relevo-sample-dbx-');
    config = join(dir, 'sample-data.yml');
    writeFileSync(config, CONFIG);
    small = join(dir, 'small.yml');
    writeFileSync(small, SMALL);
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });
  const open = async (columns?: Record<string, [string, string][]>, before?: Record<string, Record<string, string>>) => {
    const w = await warehouse(columns, before);
    servers.push(w.server);
    return w;
  };
  const hidden = (run: TaskRun, server: DatabricksServer) => {
    for (const line of (run.stdout + run.stderr).split('\n'))
      for (const secret of [SALT, server.token])
        if (line.includes(secret)) assert.match(line, /^##vso\[task\.setsecret\]/, `a secret leaked: ${line}`);
  };

  it("runs the plan on the warehouse and swaps the staged tables in, under staging names of its own, dropping a killed run's; neither the salt nor the token is logged", async () => {
    const { server, store } = await open();
    // What a killed run was staging (and a staging table of a version before staging names carried the run).
    store.put('pre.sales.customers__relevo_next_0badc0de', 'killed');
    store.put('dev.sales.orders__relevo_next', 'killed');
    const run = await regenerate(server, config);
    assert.equal(run.result, 'Succeeded', explain(run));
    assert.ok(store.seen.some((s) => s.startsWith('CREATE OR REPLACE TABLE `dev`.`sales`.`orders` TBLPROPERTIES (')));
    assert.ok(!store.seen.some((s) => / RENAME TO /.test(s)), 'tables are replaced in place, never renamed');
    assert.equal(outcome(store, 'swap'), 'new');
    assert.deepEqual(store.schema('pre.sales'), NEW, 'the staging copies and the lock dropped once all are in');
    assert.deepEqual(store.schema('dev.sales'), NEW, "the killed run's staging dropped");
    assert.ok(
      store.seen.some(
        (x) => /^CREATE OR REPLACE TABLE `pre`\.`sales`\.`customers__relevo_next_[0-9a-f]{8}` AS /.test(x) && !x.includes('0badc0de'),
      ),
    );
    assert.ok(server.requestsTo('/api/2.0/sql/statements', 'POST').every((r) => r.authorization === 'valid'));
    assert.match(run.summaries[0], /#### pre ← source \(fraction 0\.1\) → `pre\.sales`/);
    hidden(run, server);
  });

  it("a FAILED statement fails the task with Databricks' message; nothing is renamed, the staging is dropped", async () => {
    const { server, store } = await open();
    store.fault = (sql) =>
      /^CREATE OR REPLACE TABLE `dev`/.test(sql)
        ? { error: { error_code: 'INSUFFICIENT_PERMISSIONS', message: 'User does not have CREATE TABLE on Schema dev.sales.' } }
        : undefined;
    const run = await regenerate(server, config);
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(
      run.resultMessage!,
      /dev\.customers: staging failed: .*INSUFFICIENT_PERMISSIONS.*Put back: the staging tables dev\.sales\.\*__relevo_next_([0-9a-f]{8}) \(dropped\); the staging tables pre\.sales\.\*__relevo_next_\1 \(dropped\); the lock table `dev`\.`sales`\.`__relevo_lock` \(dropped\); the lock table `pre`\.`sales`\.`__relevo_lock` \(dropped\)\.$/,
    );
    assert.ok(!store.seen.some((s) => / AS SELECT \* FROM /.test(s)), 'nothing replaced');
    assert.equal(outcome(store, 'FAILED'), 'before');
    hidden(run, server);
  });

  it('without a warehouse: a user error naming the input', async () => {
    const { server } = await open();
    const run = await regenerate(server, config, { warehouseId: '' });
    assert.equal(run.result, 'Failed');
    assert.match(run.resultMessage!, /^Input 'warehouseId': /);
  });

  it("the warehouse failing its k-th statement, for every k (FAILED; for the swap's replacements also applied but answered as failed): the targets as before or all new, no staging left", async () => {
    const probe = await open(COLUMNS, SMALL_BEFORE);
    assert.equal((await regenerate(probe.server, small)).result, 'Succeeded');
    // The lock's statement names its run (id, pid, time), and staging names its tag: compared without them.
    const same = (list: string[]) =>
      list.map((x) =>
        x.replace(/^(CREATE TABLE \S+`__relevo_lock` AS SELECT ).*$/s, '$1…').replace(/__relevo_next_[0-9a-f]{8}/g, '__relevo_next_…'),
      );
    const statements = same(probe.store.seen);
    const swap = statements.flatMap((s, i) => (/^CREATE OR REPLACE TABLE \S+ TBLPROPERTIES .* AS SELECT \* FROM /.test(s) ? [i + 1] : []));
    assert.ok(statements.length > 25 && swap.length === 4, `${statements.length} statements, ${swap.length} replacements`);
    const cases = [...statements.map((_, i) => ({ k: i + 1, applied: false })), ...swap.map((k) => ({ k, applied: true }))];
    const seen = { before: 0, new: 0 };
    await forEachK(cases.length, 4, async (i) => {
      const { k, applied } = cases[i - 1];
      const { server, store } = await open(COLUMNS, SMALL_BEFORE);
      const error = { error_code: 'INTERNAL_ERROR', message: `statement ${k} failed` };
      store.fault = (_sql, n, apply) => {
        if (n !== k) return undefined;
        if (applied) apply();
        return { error };
      };
      const run = await regenerate(server, small);
      const context = `k=${k}${applied ? ' (applied)' : ''}: ${statements[k - 1].slice(0, 90)}`;
      assert.deepEqual(same(store.seen.slice(0, k)), statements.slice(0, k), `${context}: the run took another path`);
      const state = outcome(store, context, SMALL_BEFORE, SMALL_NEW);
      seen[state]++;
      if (state === 'before') {
        assert.equal(run.result, 'Failed', `${context}\n${explain(run)}`);
        assert.doesNotMatch(run.resultMessage!, /NOT put back/, context);
      } else {
        assert.equal(run.result, 'Succeeded', `${context}\n${explain(run)}`);
        // A re-run drops what the failed cleanup left.
        store.fault = undefined;
        store.label = 'newer';
        assert.equal((await regenerate(server, small)).result, 'Succeeded', context);
        assert.deepEqual(Object.keys(store.schema('pre.sales')), Object.keys(SMALL_NEW), `${context}: the re-run left a previous table`);
      }
    });
    assert.ok(seen.before > 0 && seen.new > 0, JSON.stringify(seen));
  });

  it('cancelled at each replacement of the swap, the replacement landing only after the cancel: every table is put back within the grace', async () => {
    const probe = await open(COLUMNS, SMALL_BEFORE);
    assert.equal((await regenerate(probe.server, small)).result, 'Succeeded');
    const renames = probe.store.seen.flatMap((s, i) =>
      /^CREATE OR REPLACE TABLE \S+ TBLPROPERTIES .* AS SELECT \* FROM /.test(s) ? [i + 1] : [],
    );
    assert.equal(renames.length, 2 + 2, 'PRE: 2 tables replaced; DEV: 2');
    // The last case: the replacement outlasts the 1.5 s the task gives its work to stop.
    const cases = [...renames.map((k) => ({ k, polls: 4 })), { k: renames[0], polls: 25 }];
    await forEachK(cases.length, 3, async (i) => {
      const { k, polls } = cases[i - 1];
      const { server, store } = await open(COLUMNS, SMALL_BEFORE);
      const flag = join(tempDir('relevo-dbx-cancel-'), 'renaming');
      store.slow = (_sql, n) => {
        if (n !== k) return undefined;
        writeFileSync(flag, '');
        return polls;
      };
      const run = await regenerate(server, small, {}, { cancel: { whenFile: flag } });
      const context = `k=${k} (${polls} polls): ${probe.store.seen[k - 1]}`;
      assert.equal(run.result, 'Failed', `${context}\n${explain(run)}`);
      assert.match(run.resultMessage!, /^Cancelled \(SIGINT\)\. Put back: the table /, `${context}\n${explain(run)}`);
      assert.doesNotMatch(run.resultMessage!, /NOT put back/, context);
      assert.equal(
        run.cancelled?.neededSigterm,
        false,
        `${context}: the undo outlasted the agent's 7.5 s (${run.cancelled?.exitedAfterMs} ms)`,
      );
      assert.doesNotMatch(run.stdout, /task\.complete result=Succeeded/);
      assert.equal(outcome(store, context, SMALL_BEFORE, SMALL_NEW), 'before', context);
    });
  });

  it('composite keys on the warehouse: units over every key column, EXISTS semi-joins, the tuple gates, a composite self-reference nulled by an UPDATE of the staging table', async () => {
    const columns: Record<string, [string, string][]> = {
      order_lines: [
        ['order_id', 'bigint'],
        ['line_no', 'int'],
        ['replaces_line', 'int'],
      ],
      returns: [
        ['return_id', 'bigint'],
        ['order_id', 'bigint'],
        ['line_no', 'int'],
      ],
    };
    const { server, store } = await open(columns, {});
    const file = join(tempDir('relevo-sample-dbx-composite-'), 'sample-data.yml');
    writeFileSync(
      file,
      `seed: 42
source: { catalog: pro, schema: sales }
environments:
  pre: { target: { catalog: pre, schema: sales }, fraction: 0.1 }
tables:
  order_lines:
    key: [order_id, line_no]
    root: true
    references: { replaces: { columns: [order_id, replaces_line], table: order_lines } }
    mask: { order_id: hash, line_no: hash }
  returns: { key: return_id, references: { line: { columns: [order_id, line_no], table: order_lines } } }
`,
    );
    const run = await regenerate(server, file);
    assert.equal(run.result, 'Succeeded', explain(run));
    const seen = store.seen.join('\n');
    assert.match(seen, /pmod\(xxhash64\(r\.`order_id`, r\.`line_no`, '42'\), 1000000\)/);
    assert.match(seen, /^UPDATE `pre`\.`sales`\.`order_lines__relevo_next_[0-9a-f]{8}` AS s SET `replaces_line` = NULL WHERE /m);
    assert.match(
      seen,
      /^CREATE OR REPLACE TABLE `pre`\.`sales`\.`returns__relevo_next_[0-9a-f]{8}` AS .* WHERE EXISTS \(SELECT 1 FROM `pre`\.`sales`\.`order_lines__relevo_next_[0-9a-f]{8}` p WHERE p\.`order_id` = /m,
    );
    assert.match(seen, /GROUP BY `order_id`, `line_no` HAVING count\(\*\) > 1/);
    assert.deepEqual(store.schema('pre.sales'), { order_lines: 'new', returns: 'new' });
    hidden(run, server);
  });

  it("column names and Databricks messages that carry ##vso[, ##[ and a bare CR drive nothing: every command in the log is the task's own", async () => {
    const { server, store } = await open({ ...COLUMNS, customers: [...COLUMNS.customers, [FOREIGN.column, 'string']] });
    const file = join(tempDir('relevo-sample-dbx-foreign-'), 'sample-data.yml');
    writeFileSync(file, CONFIG.replace('full_name: hash }', `full_name: hash, ${JSON.stringify(FOREIGN.column)}: hash }`));
    const ok = await regenerate(server, file);
    assert.equal(ok.result, 'Succeeded', explain(ok));
    assert.match(
      ok.stdout,
      /masked .*note ## vso\[task\.setvariable variable=report;isOutput=true\]\/etc\/passwd\\r## \[error\]x\\n## \[warning\]y \(hash\)/,
    );
    assertOnlyOwnCommands(ok, 'regenerate-sample-data');
    // A filter that fails on the warehouse, quoting the data.
    store.fault = (sql) =>
      /^CREATE OR REPLACE TABLE `pre`\.`sales`\.`customers__relevo_next_[0-9a-f]{8}`/.test(sql)
        ? {
            error: {
              error_code: 'CAST_INVALID_INPUT',
              message: `[CAST_INVALID_INPUT] The value '${FOREIGN.value}' of the type "STRING" cannot be cast to "INT" because it is malformed.\n== SQL ==\n##vso[task.setvariable variable=report;isOutput=true]x`,
            },
          }
        : undefined;
    const failed = await regenerate(server, file);
    assert.equal(failed.result, 'Failed', explain(failed));
    assert.match(
      failed.resultMessage!,
      /pre\.customers: staging failed: .*CAST_INVALID_INPUT: \[CAST_INVALID_INPUT\] The value '…' of the type "STRING" cannot be cast/,
    );
    assert.doesNotMatch(failed.stdout + failed.stderr, /task\.complete result=Succeeded\]done/, 'the quoted source value is dropped');
    assertOnlyOwnCommands(failed, 'regenerate-sample-data');
    hidden(failed, server);
  });
});
