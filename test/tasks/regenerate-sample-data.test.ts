/**
 * RegenerateSampleData through the built task, as the agent runs it, with DuckDB for real (from
 * a tool cache seeded from this repository's node_modules) on generated sales data.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { assertOnlyOwnCommands, explain, ROOT, runTask, type TaskRun } from '../support/agentRunner';
import { tempDir } from '../support/repo';
import { makeSalesData, queryFiles, SALES_CONFIG, seededToolCache } from '../support/sampleData';

const SALT = 'pepper-Zq81-not-in-any-log';
let tools: string;
let pro: string;

/** Every file of a folder and its bytes' hash: what "untouched" means. */
function snapshot(dir: string): Record<string, string> {
  if (!existsSync(dir)) return {};
  return Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((f) => [
        f,
        createHash('sha256')
          .update(readFileSync(join(dir, f)))
          .digest('hex'),
      ]),
  );
}

function workspace(config: string): { dir: string; file: string } {
  const dir = tempDir('relevo-sample-');
  const file = join(dir, 'sample-data.yml');
  writeFileSync(file, config);
  return { dir, file };
}

function regenerate(file: string, inputs: Record<string, string | boolean> = {}): Promise<TaskRun> {
  return runTask('regenerate-sample-data', {
    inputs: { configFile: file, maskingSalt: SALT, ...inputs },
    variables: { 'Agent.ToolsDirectory': tools },
    tasksDir: process.env.RELEVO_TASKS_DIR || undefined,
  });
}

function assertSaltHidden(run: TaskRun): void {
  for (const line of (run.stdout + run.stderr).split('\n'))
    if (line.includes(SALT)) assert.match(line, /^##vso\[task\.setsecret\]/, `the salt leaked: ${line}`);
  for (const s of run.summaries) assert.ok(!s.includes(SALT));
}

const f = (dir: string, env: string, table: string, format = 'parquet') => `'${join(dir, 'out', env, `${table}.${format}`)}'`;

describe('RegenerateSampleData@1 (DuckDB)', function () {
  this.timeout(60_000);
  before(async () => {
    tools = seededToolCache();
    pro = await makeSalesData(tempDir('relevo-pro-'), { customers: 20_000, orders: 100_000, duplicates: 200 });
  });

  let ws: { dir: string; file: string };
  let first: TaskRun;
  before(async () => {
    ws = workspace(SALES_CONFIG(pro, 'parquet'));
    first = await regenerate(ws.file, { reportFile: join(ws.dir, 'report.json') });
  });

  it('builds PRE (10%) and DEV (100 rows, drawn from PRE) with every gate passed, and reports them', () => {
    assert.equal(first.result, 'Succeeded', explain(first));
    const report = JSON.parse(readFileSync(first.outputs.report, 'utf8'));
    assert.equal(first.outputs.report, join(ws.dir, 'report.json'));
    const [pre, dev] = report.environments;
    assert.equal(pre.name, 'pre');
    assert.equal(dev.name, 'dev');
    const rootPre = pre.tables.find((t: { table: string }) => t.table === 'customers');
    assert.ok(Math.abs(rootPre.rowsOut - pre.expectedRootRows) <= pre.allowedDeviation);
    assert.ok(rootPre.rowsOut > 1700 && rootPre.rowsOut < 2100, `${rootPre.rowsOut}`);
    assert.equal(dev.tables.find((t: { table: string }) => t.table === 'customers').rowsOut, 100);
    for (const env of report.environments) for (const g of env.gates) assert.ok(g.passed, g.detail);
    assert.deepEqual(Object.keys(first.outputs), ['report']);
    assert.match(first.summaries[0], /\| customers \| root \| 20200 \| \d+ \| 0 \| email, full_name, phone \|/);
    assert.ok(existsSync(join(ws.dir, 'out', 'pre', '.relevo-sample.json')));
    assert.deepEqual(readdirSync(join(ws.dir, 'out')).sort(), ['dev', 'pre'], 'no staging left');
    assertSaltHidden(first);
  });

  it('registers the salt with the agent (##vso[task.setsecret]) before any other command, and writes only its own commands', () => {
    assert.deepEqual(first.secrets, [SALT], 'the salt is registered once, as the agent must mask it');
    const commands = first.commands.filter((c) => c.command !== 'task.debug');
    assert.equal(commands[0].command, 'task.setsecret', 'nothing is written before the salt is registered');
    assert.equal(commands[0].message, SALT);
    assertSaltHidden(first);
    assertOnlyOwnCommands(first, 'regenerate-sample-data');
  });

  it('nests DEV ⊆ PRE ⊆ filtered PRO, and closes every reference', async () => {
    const d = ws.dir;
    const [r] = await queryFiles(`SELECT
      (SELECT count(*) FROM read_parquet(${f(d, 'dev', 'customers')}) WHERE customer_id NOT IN (SELECT customer_id FROM read_parquet(${f(d, 'pre', 'customers')}))) AS dev_not_in_pre,
      (SELECT count(*) FROM read_parquet(${f(d, 'dev', 'orders')}) WHERE order_id NOT IN (SELECT order_id FROM read_parquet(${f(d, 'pre', 'orders')}))) AS dev_orders_not_in_pre,
      (SELECT count(*) FROM read_parquet(${f(d, 'pre', 'orders')}) o WHERE NOT EXISTS (SELECT 1 FROM read_parquet(${f(d, 'pre', 'customers')}) c WHERE c.customer_id = o.customer_id)) AS orphan_orders,
      (SELECT count(*) FROM read_parquet(${f(d, 'pre', 'order_lines')}) l WHERE l.product_id NOT IN (SELECT product_id FROM read_parquet(${f(d, 'pre', 'products')}))) AS orphan_lines,
      (SELECT count(*) FROM read_parquet(${f(d, 'pre', 'orders')}) o JOIN read_parquet('${pro}/customers.parquet') c USING (customer_id) WHERE c.deleted) AS orders_of_deleted,
      (SELECT count(*) FROM read_parquet(${f(d, 'pre', 'orders')}) WHERE amount < 0) AS negative,
      (SELECT count(*) - count(DISTINCT customer_id) FROM read_parquet(${f(d, 'pre', 'customers')})) AS duplicates,
      (SELECT count(*) FROM read_parquet(${f(d, 'pre', 'customers')}) WHERE email IS NULL) AS null_emails,
      (SELECT count(*) FROM read_parquet(${f(d, 'pre', 'countries')})) AS countries,
      (SELECT count(*) FROM read_parquet(${f(d, 'dev', 'products')})) AS dev_products,
      (SELECT count(*) FROM read_parquet('${pro}/orders.parquet') o WHERE o.customer_id IN (SELECT customer_id FROM read_parquet(${f(d, 'pre', 'customers')})) AND o.amount >= 0) AS expected_orders,
      (SELECT count(*) FROM read_parquet(${f(d, 'pre', 'orders')})) AS pre_orders`);
    assert.deepEqual(
      {
        ...r,
        dev_products: Number(r.dev_products) < 500 ? 'some' : 'all',
        expected_orders: r.expected_orders === r.pre_orders ? 'equal' : `${r.expected_orders} vs ${r.pre_orders}`,
        pre_orders: 'x',
      },
      {
        dev_not_in_pre: '0',
        dev_orders_not_in_pre: '0',
        orphan_orders: '0',
        orphan_lines: '0',
        orders_of_deleted: '0',
        negative: '0',
        duplicates: '0',
        null_emails: '0',
        countries: '5',
        dev_products: 'some',
        expected_orders: 'equal',
        pre_orders: 'x',
      },
    );
  });

  it('masks deterministically and joinably, and no source value survives', async () => {
    const d = ws.dir;
    const rows =
      await queryFiles(`SELECT p.customer_id, p.full_name AS pre_name, v.full_name AS dev_name, p.email, p.phone, s.phone AS source_phone, s.full_name AS source_name
      FROM read_parquet(${f(d, 'pre', 'customers')}) p JOIN read_parquet(${f(d, 'dev', 'customers')}) v USING (customer_id)
      JOIN (SELECT DISTINCT ON (customer_id) * FROM read_parquet('${pro}/customers.parquet') ORDER BY customer_id, full_name) s USING (customer_id) LIMIT 50`);
    assert.equal(rows.length, 50);
    for (const r of rows) {
      assert.equal(r.pre_name, r.dev_name, 'the same value masks the same in PRE and DEV');
      assert.match(r.pre_name!, /^[0-9a-f]{64}$/);
      assert.notEqual(r.pre_name, r.source_name);
      assert.match(r.email!, /^u[0-9a-f]{12}@example\.com$/);
      assert.equal(r.phone!.replace(/\d/g, '9'), r.source_phone!.replace(/\d/g, '9'), 'a phone keeps its shape');
      assert.notEqual(r.phone, r.source_phone);
      assert.equal(
        r.pre_name,
        createHash('sha256')
          .update(SALT + r.source_name)
          .digest('hex'),
        'salted SHA-256',
      );
    }
    const [leaks] = await queryFiles(
      `SELECT count(*) AS n FROM read_parquet(${f(d, 'pre', 'customers')}) p WHERE p.email IN (SELECT email FROM read_parquet('${pro}/customers.parquet')) OR p.full_name IN (SELECT full_name FROM read_parquet('${pro}/customers.parquet'))`,
    );
    assert.equal(leaks.n, '0');
  });

  it('gives the same sample on every run (same seed, same data), and only DEV when asked', async () => {
    const before = { pre: snapshot(join(ws.dir, 'out', 'pre')), dev: snapshot(join(ws.dir, 'out', 'dev')) };
    const again = await regenerate(ws.file);
    assert.equal(again.result, 'Succeeded', explain(again));
    const data = (s: Record<string, string>) => Object.fromEntries(Object.entries(s).filter(([k]) => !k.startsWith('.')));
    assert.deepEqual(data(snapshot(join(ws.dir, 'out', 'pre'))), data(before.pre));
    assert.deepEqual(data(snapshot(join(ws.dir, 'out', 'dev'))), data(before.dev));
    const devOnly = await regenerate(ws.file, { environments: 'dev' });
    assert.equal(devOnly.result, 'Succeeded', explain(devOnly));
    assert.doesNotMatch(devOnly.stdout, /Swapped in pre/);
    assert.deepEqual(data(snapshot(join(ws.dir, 'out', 'dev'))), data(before.dev));
  });

  it('a failing gate (orphans in the source) leaves PRE and DEV exactly as they were', async () => {
    const broken = tempDir('relevo-pro-broken-');
    cpSync(pro, broken, { recursive: true });
    const w = workspace(SALES_CONFIG(broken, 'parquet'));
    const ok = await regenerate(w.file);
    assert.equal(ok.result, 'Succeeded', explain(ok));
    const before = { pre: snapshot(join(w.dir, 'out', 'pre')), dev: snapshot(join(w.dir, 'out', 'dev')) };
    // Products lose some rows that order lines reference: the parent table cannot close them.
    await queryFiles(
      `COPY (SELECT * FROM read_parquet('${broken}/products.parquet') WHERE product_id % 10 <> 0) TO '${broken}/products.next.parquet' (FORMAT parquet)`,
    );
    cpSync(join(broken, 'products.next.parquet'), join(broken, 'products.parquet'));
    const run = await regenerate(w.file, { reportFile: join(w.dir, 'failed.json') });
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(run.resultMessage!, /validation gate\(s\) failed, so no environment was replaced/);
    assert.match(run.resultMessage!, /order_lines\.product_id: \d+ row\(s\) reference no products\.product_id/);
    assert.deepEqual(snapshot(join(w.dir, 'out', 'pre')), before.pre);
    assert.deepEqual(snapshot(join(w.dir, 'out', 'dev')), before.dev);
    assert.deepEqual(readdirSync(join(w.dir, 'out')).sort(), ['dev', 'pre'], 'no staging folder left behind');
    const report = JSON.parse(readFileSync(join(w.dir, 'failed.json'), 'utf8'));
    assert.equal(report.status, 'failed');
    assert.match(run.summaries[0], /\*\*Failed\*\*/);
    assertSaltHidden(run);
  });

  it('CSV in and out; cleaning rules; a schema change since the last run is reported', async () => {
    const csv = await makeSalesData(tempDir('relevo-pro-csv-'), { customers: 2_000, orders: 10_000, duplicates: 50 }, 'csv');
    const w = workspace(SALES_CONFIG(csv, 'csv').replace('nulls: { email: { fill: "none@example.org" } }', 'nulls: { email: drop }'));
    const run = await regenerate(w.file);
    assert.equal(run.result, 'Succeeded', explain(run));
    assert.ok(existsSync(join(w.dir, 'out', 'pre', 'customers.csv')));
    const [r] = await queryFiles(
      `SELECT count(*) AS n, count(email) AS emails, count(DISTINCT customer_id) AS ids FROM read_csv('${join(w.dir, 'out', 'pre', 'customers.csv')}', header = true)`,
    );
    assert.equal(r.n, r.emails, 'nulls: drop removed rows without an e-mail');
    assert.equal(r.n, r.ids, 'dedupe');
    // The source gains a column: reported as a schema change.
    await queryFiles(
      `COPY (SELECT *, 1 AS loyalty FROM read_csv('${csv}/customers.csv', header = true)) TO '${csv}/customers.csv' (FORMAT csv, HEADER true)`,
    );
    const changed = await regenerate(w.file);
    assert.equal(changed.result, 'Succeeded', explain(changed));
    assert.ok(
      changed.warnings.some((w) => /customers: the source schema changed since the last run/.test(w)),
      explain(changed),
    );
  });

  it("the issue's example configuration works as written (examples/sample-data.yml, CSV)", async () => {
    const dir = tempDir('relevo-sample-example-');
    await makeSalesData(join(dir, 'data', 'pro'), { customers: 20_000, orders: 40_000, duplicates: 20 }, 'csv');
    cpSync(join(ROOT, 'examples', 'sample-data.yml'), join(dir, 'sample-data.yml'));
    const run = await regenerate(join(dir, 'sample-data.yml'));
    assert.equal(run.result, 'Succeeded', explain(run));
    const [r] = await queryFiles(
      `SELECT (SELECT count(*) FROM read_csv('${dir}/data/dev/customers.csv', header = true)) AS dev, (SELECT count(*) FROM read_csv('${dir}/data/pre/countries.csv', header = true)) AS countries`,
    );
    assert.deepEqual(r, { dev: '1000', countries: '5' });
  });

  it('dry run prints the plan and the SQL and touches nothing', async () => {
    const w = workspace(SALES_CONFIG(pro, 'parquet'));
    const run = await regenerate(w.file, { dryRun: true });
    assert.equal(run.result, 'Succeeded', explain(run));
    assert.match(run.stdout, /CREATE OR REPLACE TEMP TABLE "stage__pre__customers" AS SELECT/);
    assert.match(run.stdout, /-- gate orphans orders\.customer_id/);
    assert.match(run.stdout, /getvariable\('relevo_salt'\)/);
    assert.ok(!existsSync(join(w.dir, 'out')));
    assertSaltHidden(run);
  });

  describe('one run per target', () => {
    it('a second run while another holds the lock fails at once naming the holder; the target and the lock untouched', async () => {
      const w = workspace(SALES_CONFIG(pro, 'parquet'));
      const ok = await regenerate(w.file);
      assert.equal(ok.result, 'Succeeded', explain(ok));
      assert.deepEqual(readdirSync(join(w.dir, 'out')).sort(), ['dev', 'pre'], 'the lock is released after a run');
      const before = snapshot(join(w.dir, 'out', 'pre'));
      // Held by a live process on this host (this test's own).
      const holder = { runId: 'run-held-1', host: hostname(), pid: process.pid, startedAt: '2026-12-05T20:00:00.000Z' };
      const lock = join(w.dir, 'out', 'dev.relevo-lock');
      writeFileSync(lock, JSON.stringify(holder));
      const run = await regenerate(w.file);
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(
        run.resultMessage!,
        new RegExp(
          `environments\\.dev\\.target: another run is regenerating '.*/out/dev': run run-held-1 on host ${hostname()} \\(pid ${process.pid}\\) since 2026-12-05T20:00:00\\.000Z holds its lock .*dev\\.relevo-lock; nothing was staged or replaced\\. Fix: wait for that run to end .* delete .*dev\\.relevo-lock`,
        ),
      );
      assert.deepEqual(snapshot(join(w.dir, 'out', 'pre')), before);
      assert.deepEqual(JSON.parse(readFileSync(lock, 'utf8')), holder, "another run's lock is never removed");
      assert.deepEqual(readdirSync(join(w.dir, 'out')).sort(), ['dev', 'dev.relevo-lock', 'pre'], 'no staging, PRE lock released');
    });

    it("a stale lock (its process gone, on this host) is taken over with a warning; the killed run's staging folders are removed; each run stages under its own name", async () => {
      const w = workspace(SALES_CONFIG(pro, 'parquet'));
      const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
      mkdirSync(join(w.dir, 'out'), { recursive: true });
      writeFileSync(
        join(w.dir, 'out', 'pre.relevo-lock'),
        JSON.stringify({ runId: 'run-killed', host: hostname(), pid: Number(gone), startedAt: '2026-12-05T19:00:00.000Z' }),
      );
      // What the killed run was staging (and a staging folder of a version before staging names carried the run).
      for (const dead of ['pre.relevo-next-0badc0de', 'dev.relevo-next']) {
        mkdirSync(join(w.dir, 'out', dead));
        writeFileSync(join(w.dir, 'out', dead, 'customers.parquet'), 'half-written');
      }
      const run = await regenerate(w.file);
      assert.equal(run.result, 'Succeeded', explain(run));
      assert.ok(
        run.warnings.some((x) =>
          /took over the stale lock on .*\/out\/pre \(run run-killed on host .* \(pid \d+\) .*: its process is gone\)/.test(x),
        ),
        explain(run),
      );
      assert.deepEqual(readdirSync(join(w.dir, 'out')).sort(), ['dev', 'pre']);
      const tags = await Promise.all(
        [1, 2].map(
          async () =>
            /\/out\/pre\.relevo-next-([0-9a-f]{8})\/customers\.parquet/.exec((await regenerate(w.file, { dryRun: true })).stdout)?.[1],
        ),
      );
      assert.ok(tags[0] && tags[1] && tags[0] !== tags[1], `staging names per run: ${tags}`);
    });

    it('two runs at once on the same targets: never both at work; whatever succeeded is one whole sample', async () => {
      const w = workspace(SALES_CONFIG(pro, 'parquet'));
      const runs = await Promise.all([regenerate(w.file), regenerate(w.file, { reportFile: join(w.dir, 'b.json') })]);
      const ok = runs.filter((r) => r.result === 'Succeeded');
      assert.ok(ok.length >= 1, runs.map(explain).join('\n'));
      for (const r of runs.filter((x) => x.result !== 'Succeeded'))
        assert.match(r.resultMessage!, /another run is regenerating .* holds its lock/, explain(r));
      const d = w.dir;
      const [r] = await queryFiles(`SELECT
        (SELECT count(*) FROM read_parquet(${f(d, 'pre', 'orders')}) o WHERE NOT EXISTS (SELECT 1 FROM read_parquet(${f(d, 'pre', 'customers')}) c WHERE c.customer_id = o.customer_id)) AS orphans,
        (SELECT count(*) FROM read_parquet(${f(d, 'dev', 'customers')}) WHERE customer_id NOT IN (SELECT customer_id FROM read_parquet(${f(d, 'pre', 'customers')}))) AS dev_not_in_pre`);
      assert.deepEqual(r, { orphans: '0', dev_not_in_pre: '0' });
      assert.deepEqual(readdirSync(join(w.dir, 'out')).sort(), ['dev', 'pre']);
    });
  });

  describe('refused before anything runs', () => {
    const refused = async (config: string, pattern: RegExp, inputs: Record<string, string | boolean> = {}) => {
      const w = workspace(config);
      const run = await regenerate(w.file, inputs);
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(run.resultMessage!, pattern);
      assert.ok(!existsSync(join(w.dir, 'out')), 'nothing written');
      return run;
    };
    it('a target equal to the source', () =>
      refused(
        SALES_CONFIG(pro, 'parquet').replace('path: out/pre', `path: ${pro}`),
        /Input 'configFile': environments\.pre\.target: '.*' is the source/,
      ));
    it('a cycle of references, naming the tables', () =>
      refused(
        SALES_CONFIG(pro, 'parquet').replace(
          'products:  { key: product_id }',
          'products:  { key: product_id, references: { name: order_lines.line_id } }',
        ),
        /the references form a cycle: (order_lines → products → order_lines|products → order_lines → products)/,
      ));
    it('an unknown column, naming its path and the columns there are', () =>
      refused(
        SALES_CONFIG(pro, 'parquet').replace('full_name: hash', 'fullname: hash'),
        /tables\.customers\.mask\.fullname: 'customers' has no column 'fullname'; allowed: customer_id, full_name, email/,
      ));
    it('a bad fraction', () =>
      refused(
        SALES_CONFIG(pro, 'parquet').replace('fraction: 0.1', 'fraction: 1.5'),
        /environments\.pre\.fraction: must be <= 1 \(found 1\.5\); allowed: a number greater than 0 and at most 1/,
      ));
    it('a filter on a column that does not exist', () =>
      refused(
        SALES_CONFIG(pro, 'parquet').replace('deleted = false', 'removed = false'),
        /tables\.customers: the cleaning rules .* not valid SQL/,
      ));
    it('masks without a salt', () =>
      refused(SALES_CONFIG(pro, 'parquet'), /Input 'maskingSalt': 3 column\(s\) are masked/, { maskingSalt: '' }));
    it('a target folder the task did not write', async () => {
      const w = workspace(SALES_CONFIG(pro, 'parquet'));
      const theirs = join(w.dir, 'out', 'pre');
      cpSync(pro, theirs, { recursive: true });
      const before = snapshot(theirs);
      const run = await regenerate(w.file);
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(run.resultMessage!, /holds files .* that RegenerateSampleData did not write/);
      assert.deepEqual(snapshot(theirs), before);
      assert.deepEqual(readdirSync(join(w.dir, 'out')).sort(), ['pre'], 'no staging left');
    });
  });
});
