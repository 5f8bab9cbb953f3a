/**
 * RegenerateSampleData (DuckDB, the built task): what masks and sizes promise. Masked integer
 * keys stay unique and joinable and are written in an order that reveals nothing; phone masks
 * never equal a real number; a fraction of an environment sized by rows; more rows asked for
 * than there are; a header-only CSV; an error quoting source data; self-references; composite keys.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { explain, runTask, type TaskRun } from '../support/agentRunner';
import { tempDir } from '../support/repo';
import { makeSalesData, queryFiles, SALES_CONFIG, seededToolCache } from '../support/sampleData';

const SALT = 'pepper-keys-Vb40';
let tools: string;
let pro: string;

function workspace(config: string): { dir: string; file: string } {
  const dir = tempDir('relevo-sample-keys-');
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

const f = (dir: string, env: string, table: string, format = 'parquet') =>
  `read_${format}('${join(dir, 'out', env, `${table}.${format}`)}')`;

describe('RegenerateSampleData@1 (DuckDB): keys, masks and sizes', function () {
  this.timeout(120_000);
  before(async () => {
    tools = seededToolCache();
    pro = await makeSalesData(tempDir('relevo-pro-keys-'), { customers: 20_000, orders: 60_000, duplicates: 100 });
  });

  it('hashed integer keys stay unique and joinable (a keyed bijection), pass the uniqueness gate, and are written in masked-key order', async () => {
    const w = workspace(
      SALES_CONFIG(pro, 'parquet')
        .replace('fraction: 0.1', 'fraction: 1')
        .replace('mask: { email: email,', 'mask: { customer_id: hash, email: email,'),
    );
    const run = await regenerate(w.file, { reportFile: join(w.dir, 'report.json') });
    assert.equal(run.result, 'Succeeded', explain(run));
    const report = JSON.parse(readFileSync(join(w.dir, 'report.json'), 'utf8'));
    assert.ok(
      report.environments[0].gates.some((g: { gate: string; passed: boolean }) => g.gate === 'unique' && g.passed),
      JSON.stringify(report.environments[0].gates),
    );
    const d = w.dir;
    const [r] = await queryFiles(`SELECT
      (SELECT count(*) FROM ${f(d, 'pre', 'customers')}) AS customers,
      (SELECT count(DISTINCT customer_id) FROM ${f(d, 'pre', 'customers')}) AS distinct_ids,
      (SELECT count(*) FROM ${f(d, 'pre', 'customers')} WHERE customer_id >= 0) AS non_negative,
      (SELECT count(*) FROM ${f(d, 'pre', 'orders')}) AS orders,
      (SELECT count(*) FROM ${f(d, 'pre', 'orders')} o JOIN ${f(d, 'pre', 'customers')} c USING (customer_id)) AS joined,
      (SELECT count(*) FROM '${pro}/customers.parquet' WHERE NOT deleted) - (SELECT count(*) - count(DISTINCT customer_id) FROM '${pro}/customers.parquet' WHERE NOT deleted) AS source_customers`);
    assert.equal(r.customers, r.distinct_ids, 'masked keys unique');
    assert.equal(r.customers, r.source_customers, 'fraction 1: every customer, none merged by the mask');
    assert.equal(r.non_negative, '0', 'masked ids are negative, real ones positive');
    assert.equal(r.joined, r.orders, 'each order joins exactly one customer');
    // Row i of the file is not row i of the source in key order: the file is sorted by the masked key.
    const [order] = await queryFiles(`SELECT count(*) FILTER (WHERE customer_id < prev) AS descents FROM (
      SELECT customer_id, lag(customer_id) OVER () AS prev FROM ${f(d, 'pre', 'customers')})`);
    assert.equal(order.descents, '0');
    const [o] = await queryFiles(
      `SELECT count(*) FILTER (WHERE order_id < prev) AS descents FROM (SELECT order_id, lag(order_id) OVER () AS prev FROM ${f(d, 'pre', 'orders')})`,
    );
    assert.equal(o.descents, '0', 'an unmasked key: its own order');
  });

  it('a phone mask never yields a number of the source, even where numbers are dense (drawn again on a hit)', async () => {
    const src = tempDir('relevo-pro-phones-');
    // 6,000 people on 10^5 five-digit numbers: a shape-keeping draw hits a real number 6 % of the time.
    await queryFiles(
      `COPY (SELECT range + 1 AS person_id, '6' || lpad(CAST((range * 37) % 100000 AS VARCHAR), 5, '0') AS phone FROM range(6000)) TO '${src}/people.parquet' (FORMAT parquet)`,
    );
    for (const salt of ['salt-one-A1', 'salt-two-B2']) {
      const w = workspace(`seed: 7
source: { path: ${src}, format: parquet }
environments:
  pre: { target: { path: out/pre }, fraction: 1 }
tables:
  people: { key: person_id, root: true, mask: { phone: phone } }
`);
      const run = await regenerate(w.file, { maskingSalt: salt });
      assert.equal(run.result, 'Succeeded', explain(run));
      const [r] = await queryFiles(`SELECT count(*) AS n, count(phone) AS masked,
        count(*) FILTER (WHERE phone IN (SELECT phone FROM '${src}/people.parquet')) AS real_numbers,
        count(*) FILTER (WHERE regexp_full_match(phone, '[0-9]{6}')) AS same_shape FROM ${f(w.dir, 'pre', 'people')}`);
      assert.equal(r.n, '6000');
      assert.equal(r.real_numbers, '0', salt);
      assert.equal(r.same_shape, r.masked);
      assert.ok(Number(r.masked) >= 5990, `${salt}: ${r.masked} masked (NULL only when three draws all hit)`);
    }
  });

  it('DEV as a fraction of a PRE sized by rows takes that fraction of PRE; DEV asking for more rows than PRE has is said in the log and the Summary', async () => {
    const w = workspace(
      SALES_CONFIG(pro, 'parquet')
        .replace('pre: { target: { path: out/pre }, fraction: 0.1 }', 'pre: { target: { path: out/pre }, rows: 3000 }')
        .replace(
          'dev: { target: { path: out/dev }, from: pre, rows: 100 }',
          'dev: { target: { path: out/dev }, from: pre, fraction: 0.1 }',
        ),
    );
    const run = await regenerate(w.file, { reportFile: join(w.dir, 'report.json') });
    assert.equal(run.result, 'Succeeded', explain(run));
    const [pre, dev] = JSON.parse(readFileSync(join(w.dir, 'report.json'), 'utf8')).environments;
    assert.equal(pre.tables[0].rowsOut, 3000);
    assert.ok(Math.abs(dev.tables[0].rowsOut - 300) <= 70, `DEV ${dev.tables[0].rowsOut} of 3000`);
    const more = workspace(SALES_CONFIG(pro, 'parquet').replace('from: pre, rows: 100', 'from: pre, rows: 50000'));
    const big = await regenerate(more.file);
    assert.equal(big.result, 'Succeeded', explain(big));
    assert.ok(
      big.warnings.some((x) => /dev: customers: 50000 row\(s\) asked for, but pre has only \d+: dev takes all of them/.test(x)),
      explain(big),
    );
    assert.match(big.summaries[0], /⚠️ customers: 50000 row\(s\) asked for, but pre has only \d+/);
  });

  it('a header-only CSV: refused naming the file when it takes part in references; fine as a lookup table', async () => {
    const csv = await makeSalesData(tempDir('relevo-pro-empty-'), { customers: 500, orders: 1000 }, 'csv');
    writeFileSync(join(csv, 'countries.csv'), 'code,name\n');
    const ok = workspace(SALES_CONFIG(csv, 'csv'));
    const run = await regenerate(ok.file);
    assert.equal(run.result, 'Succeeded', explain(run));
    assert.equal(readFileSync(join(ok.dir, 'out', 'pre', 'countries.csv'), 'utf8').trim(), 'code,name');
    writeFileSync(join(csv, 'products.csv'), 'product_id,name\n');
    const refused = workspace(SALES_CONFIG(csv, 'csv'));
    const bad = await regenerate(refused.file);
    assert.equal(bad.result, 'Failed', explain(bad));
    assert.match(
      bad.resultMessage!,
      /tables\.products: '.*\/products\.csv' has a header and no rows, so the types of its columns cannot be known/,
    );
  });

  it('an error that quotes source data: the value is dropped from the log and the report, the message kept', async () => {
    const w = workspace(SALES_CONFIG(pro, 'parquet').replace('filter: "deleted = false"', 'filter: "CAST(full_name AS INTEGER) > 0"'));
    const run = await regenerate(w.file, { reportFile: join(w.dir, 'report.json') });
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(
      run.resultMessage!,
      /^customers: computing the sampling hash of the root's rows failed: Conversion Error: Could not convert string '…' to INT32/,
    );
    const report = readFileSync(join(w.dir, 'report.json'), 'utf8');
    for (const text of [run.stdout, run.stderr, report, ...run.summaries]) assert.doesNotMatch(text, /Customer \d/);
  });

  it('a self-reference (employees.manager_id → employees.id) closes over the kept rows: a manager outside the sample becomes NULL; the key mask is inherited', async () => {
    const src = tempDir('relevo-pro-employees-');
    await queryFiles(
      `COPY (SELECT range + 1 AS id, 'Employee ' || (range + 1) AS name, CASE WHEN range < 10 THEN NULL ELSE 1 + (hash(range) % range)::BIGINT END AS manager_id FROM range(5000)) TO '${src}/employees.parquet' (FORMAT parquet)`,
    );
    const w = workspace(`seed: 7
source: { path: ${src}, format: parquet }
environments:
  pre: { target: { path: out/pre }, fraction: 0.3 }
  dev: { target: { path: out/dev }, from: pre, rows: 200 }
tables:
  employees: { key: id, root: true, references: { manager_id: employees.id }, mask: { id: hash, name: hash } }
`);
    const run = await regenerate(w.file, { reportFile: join(w.dir, 'report.json') });
    assert.equal(run.result, 'Succeeded', explain(run));
    for (const env of ['pre', 'dev']) {
      const [r] = await queryFiles(`SELECT count(*) AS n,
        count(*) FILTER (WHERE manager_id IS NOT NULL AND manager_id NOT IN (SELECT id FROM ${f(w.dir, env, 'employees')})) AS orphans,
        count(manager_id) AS managed, count(*) FILTER (WHERE id >= 0 OR manager_id >= 0) AS unmasked FROM ${f(w.dir, env, 'employees')}`);
      assert.equal(r.orphans, '0', env);
      assert.equal(r.unmasked, '0', `${env}: manager_id inherits the key's mask`);
      assert.ok(Number(r.managed) > 0 && Number(r.managed) < Number(r.n) - 10, `${env}: ${JSON.stringify(r)}`);
    }
  });
  it('a self-reference with outside: pull adds the managers of the kept rows (and theirs) to the sample instead of nulling them; the size gate counts the sampled rows', async () => {
    const src = tempDir('relevo-pro-pull-');
    // 10 top managers; everyone else reports to someone with a lower id, so every chain ends at the top.
    await queryFiles(
      `COPY (SELECT range + 1 AS id, 'Employee ' || (range + 1) AS name, CASE WHEN range < 10 THEN NULL ELSE 1 + (hash(range) % range)::BIGINT END AS manager_id FROM range(5000)) TO '${src}/employees.parquet' (FORMAT parquet)`,
    );
    const w = workspace(`seed: 7
source: { path: ${src}, format: parquet }
environments:
  pre: { target: { path: out/pre }, fraction: 0.05 }
  dev: { target: { path: out/dev }, from: pre, rows: 40 }
tables:
  employees:
    key: id
    root: true
    references: { manager_id: { columns: [manager_id], table: employees, outside: pull } }
    mask: { name: hash }
`);
    const run = await regenerate(w.file, { reportFile: join(w.dir, 'report.json') });
    assert.equal(run.result, 'Succeeded', explain(run));
    const report = JSON.parse(readFileSync(join(w.dir, 'report.json'), 'utf8'));
    for (const [i, env] of ['pre', 'dev'].entries()) {
      const e = f(w.dir, env, 'employees');
      const [r] = await queryFiles(`SELECT count(*) AS n,
        count(*) FILTER (WHERE s.manager_id IS DISTINCT FROM p.manager_id) AS changed,
        count(*) FILTER (WHERE s.manager_id IS NOT NULL AND s.manager_id NOT IN (SELECT id FROM ${e})) AS orphans,
        count(*) FILTER (WHERE s.manager_id IS NULL) AS top
        FROM ${e} s JOIN '${src}/employees.parquet' p USING (id)`);
      assert.equal(r.changed, '0', `${env}: no manager nulled`);
      assert.equal(r.orphans, '0', `${env}: every manager is in the sample`);
      assert.ok(Number(r.top) >= 1 && Number(r.top) <= 10, `${env}: chains end at the top managers: ${JSON.stringify(r)}`);
      const rows = report.environments[i].gates.find((g: { gate: string }) => g.gate === 'rows');
      const sampled = Number(/: (\d+) row\(s\) sampled \(and (\d+) pulled in by a self-reference\)/.exec(rows.detail)?.[1]);
      const pulled = Number(/and (\d+) pulled in/.exec(rows.detail)?.[1]);
      assert.ok(rows.passed && pulled > 0 && sampled + pulled === Number(r.n), `${env}: ${rows.detail} (${r.n} rows)`);
    }
    const [sub] = await queryFiles(
      `SELECT count(*) AS n FROM ${f(w.dir, 'dev', 'employees')} WHERE id NOT IN (SELECT id FROM ${f(w.dir, 'pre', 'employees')})`,
    );
    assert.equal(sub.n, '0', 'DEV ⊆ PRE, pulled rows included');
  });

  it('composite keys: a root keyed by (depot, shipment_no), a child and a parent referencing them by two columns, a composite self-reference; masked column by column, the tuples stay unique and joinable', async () => {
    const src = tempDir('relevo-pro-composite-');
    // 4 depots × 3,000 shipments; each shipment follows the previous one of its depot; parcels reference a shipment and a depot's rate.
    await queryFiles(
      `COPY (SELECT 'D' || (range % 4) AS depot, CAST(range // 4 + 1 AS INTEGER) AS shipment_no, CASE WHEN range >= 4 THEN CAST(range // 4 AS INTEGER) END AS previous_no, 'Sender ' || range AS sender FROM range(12000)) TO '${src}/shipments.parquet' (FORMAT parquet)`,
    );
    await queryFiles(
      `COPY (SELECT range + 1 AS parcel_id, 'D' || (range % 4) AS depot, CAST((range // 4) % 3000 + 1 AS INTEGER) AS shipment_no, ['std', 'express'][1 + range % 2] AS service FROM range(30000)) TO '${src}/parcels.parquet' (FORMAT parquet)`,
    );
    await queryFiles(
      `COPY (SELECT 'D' || d AS depot, s AS service, 10.0 * (d + 1) AS price FROM range(5) t(d), (VALUES ('std'), ('express'), ('overnight')) v(s)) TO '${src}/rates.parquet' (FORMAT parquet)`,
    );
    const config = `seed: 11
source: { path: ${src}, format: parquet }
environments:
  pre: { target: { path: out/pre }, fraction: 0.2 }
  dev: { target: { path: out/dev }, from: pre, rows: 300 }
tables:
  shipments:
    key: [depot, shipment_no]
    root: true
    references: { previous: { columns: [depot, previous_no], table: shipments } }
    mask: { depot: hash, shipment_no: hash, sender: hash }
  parcels:
    key: parcel_id
    references:
      shipment: { columns: [depot, shipment_no], table: shipments }
      rate: { columns: [depot, service], table: rates }
  rates: { key: [depot, service], mask: { depot: hash } }
`;
    const w = workspace(config);
    const run = await regenerate(w.file, { reportFile: join(w.dir, 'report.json') });
    assert.equal(run.result, 'Succeeded', explain(run));
    const report = JSON.parse(readFileSync(join(w.dir, 'report.json'), 'utf8'));
    const gates = report.environments[0].gates.map(
      (g: { gate: string; detail: string; passed: boolean }) => `${g.gate} ${g.passed} ${g.detail}`,
    );
    assert.ok(gates.includes('unique true shipments.(depot, shipment_no): masked keys unique'), gates.join('\n'));
    assert.ok(gates.includes('orphans true parcels.(depot, shipment_no) → shipments.(depot, shipment_no): no orphans'), gates.join('\n'));
    assert.ok(gates.includes('orphans true parcels.(depot, service) → rates.(depot, service): no orphans'), gates.join('\n'));
    for (const env of ['pre', 'dev']) {
      const s = f(w.dir, env, 'shipments');
      const [r] = await queryFiles(`SELECT
        (SELECT count(*) FROM ${s}) AS shipments,
        (SELECT count(*) FROM (SELECT DISTINCT depot, shipment_no FROM ${s})) AS distinct_keys,
        (SELECT count(*) FROM ${s} WHERE shipment_no >= 0 OR depot LIKE 'D%' OR previous_no >= 0) AS unmasked,
        (SELECT count(*) FROM ${s} WHERE previous_no IS NOT NULL) AS linked,
        (SELECT count(*) FROM ${s} a WHERE previous_no IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${s} b WHERE b.depot = a.depot AND b.shipment_no = a.previous_no)) AS self_orphans,
        (SELECT count(*) FROM ${f(w.dir, env, 'parcels')}) AS parcels,
        (SELECT count(*) FROM ${f(w.dir, env, 'parcels')} p JOIN ${s} USING (depot, shipment_no)) AS parcels_joined,
        (SELECT count(*) FROM ${f(w.dir, env, 'parcels')} p JOIN ${f(w.dir, env, 'rates')} USING (depot, service)) AS rates_joined,
        (SELECT count(*) FROM ${f(w.dir, env, 'rates')}) AS rates,
        (SELECT count(*) FROM (SELECT DISTINCT depot, service FROM ${f(w.dir, env, 'parcels')})) AS rates_used`);
      assert.equal(r.shipments, r.distinct_keys, `${env}: masked tuples unique`);
      assert.equal(r.unmasked, '0', `${env}: every key column masked, the self-reference's too`);
      assert.equal(r.self_orphans, '0', `${env}: a previous shipment outside the sample is nulled`);
      assert.ok(Number(r.linked) > 0 && Number(r.linked) < Number(r.shipments), `${env}: ${JSON.stringify(r)}`);
      assert.equal(r.parcels_joined, r.parcels, `${env}: each parcel joins exactly one shipment`);
      assert.equal(r.rates_joined, r.parcels, `${env}: each parcel joins exactly one rate`);
      assert.equal(r.rates, r.rates_used, `${env}: the rates kept are those the parcels use`);
    }
    // Every parcel of a kept shipment is kept (2.5 per shipment here, on average), and DEV ⊆ PRE as tuples.
    const [c] = await queryFiles(`SELECT
      (SELECT count(*) FROM ${f(w.dir, 'pre', 'shipments')}) AS shipments, (SELECT count(*) FROM ${f(w.dir, 'pre', 'parcels')}) AS parcels,
      (SELECT count(*) FROM ${f(w.dir, 'dev', 'shipments')} d WHERE NOT EXISTS (SELECT 1 FROM ${f(w.dir, 'pre', 'shipments')} p WHERE p.depot = d.depot AND p.shipment_no = d.shipment_no)) AS dev_outside_pre`);
    assert.ok(Math.abs(Number(c.parcels) - 2.5 * Number(c.shipments)) < 0.15 * Number(c.parcels), JSON.stringify(c));
    assert.equal(c.dev_outside_pre, '0');
    // A source whose composite key repeats fails the uniqueness gate, and nothing is written.
    await queryFiles(
      `COPY (SELECT * FROM '${src}/shipments.parquet' UNION ALL SELECT depot, shipment_no, previous_no, 'again' FROM '${src}/shipments.parquet' WHERE shipment_no <= 50) TO '${src}/shipments2.parquet' (FORMAT parquet)`,
    );
    await queryFiles(`COPY (SELECT * FROM '${src}/shipments2.parquet') TO '${src}/shipments.parquet' (FORMAT parquet)`);
    const again = workspace(config.replace('fraction: 0.2', 'fraction: 1').replace('rows: 300', 'rows: 12000'));
    const failed = await regenerate(again.file);
    assert.equal(failed.result, 'Failed', explain(failed));
    assert.match(failed.resultMessage!, /pre: shipments\.\(depot, shipment_no\): 400 row\(s\) share a masked key with another row/);
  });
});
