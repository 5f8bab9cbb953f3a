/**
 * The databricks engine: the generated Databricks SQL statement by statement, then the whole
 * run against the Databricks contract server (test/support/databricksServer.ts) through
 * shared/clients/databricks.ts, on the tables of test/support/databricksTables.ts: staging in
 * `<table>__relevo_next`, gates, the swap; every change registered with an undo journal, whose
 * unwind (not the engine) puts the targets back after a FAILED statement, a failed rename or a
 * statement that times out.
 */
import { strict as assert } from 'node:assert';
import { connectDatabricks } from '../../shared/clients/databricks';
import { parseConfig } from '../../shared/sampling/config';
import { openDatabricksEngine } from '../../shared/sampling/databricksEngine';
import { buildPlan } from '../../shared/sampling/plan';
import { regenerateSampleData } from '../../shared/sampling/regenerate';
import { databricks, maskExpression } from '../../shared/sampling/sql';
import { UndoJournal } from '../../shared/undo';
import { startDatabricksServer, statementProblem, type DatabricksServer, type SqlOutcome } from '../support/databricksServer';
import { TableStore } from '../support/databricksTables';

const SALT = 'salt-for-databricks-Xy7';
const config = () =>
  parseConfig(
    {
      seed: 42,
      source: { catalog: 'pro', schema: 'sales' },
      environments: {
        pre: { target: { catalog: 'pre', schema: 'sales' }, fraction: 0.1 },
        dev: { target: { catalog: 'dev', schema: 'sales' }, from: 'pre', rows: 1000 },
      },
      tables: {
        customers: { key: 'customer_id', root: true, filter: 'deleted = false', dedupe: true, mask: { email: 'email', full_name: 'hash' } },
        orders: { key: 'order_id', references: { customer_id: 'customers.customer_id' } },
        countries: { copy: 'full' },
      },
    },
    '/work/sample-data.yml',
  );
const SCHEMAS: Record<string, [string, string][]> = {
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
const schemas = () => new Map(Object.entries(SCHEMAS).map(([t, cols]) => [t, cols.map(([name, type]) => ({ name, type }))]));

describe('sampling: Databricks SQL', () => {
  it('renders each statement: hash sampling on the root key, semi-joins, masks with the salt as :relevo_salt, staging tables', () => {
    const plan = buildPlan(config(), databricks, schemas());
    const pre = plan.environments[0];
    const [customers, orders, countries] = pre.tables;
    assert.deepEqual(plan.order, ['customers', 'orders', 'countries']);
    assert.deepEqual(customers.statements, [
      'CREATE OR REPLACE TABLE `pre`.`sales`.`customers__relevo_next` AS SELECT t.`customer_id`, sha2(concat(:relevo_salt, CAST(t.`full_name` AS STRING)), 256) AS `full_name`, ' +
        "('u' || substr(sha2(concat(:relevo_salt, CAST(t.`email` AS STRING)), 256), 1, 12) || '@example.com') AS `email`, t.`deleted` " +
        "FROM (SELECT * FROM (SELECT r.*, pmod(xxhash64(r.`customer_id`, '42'), 1000000) AS __relevo_u FROM (SELECT `customer_id`, `full_name`, `email`, `deleted` FROM `pro`.`sales`.`customers` " +
        'WHERE (deleted = false) AND `customer_id` IS NOT NULL QUALIFY row_number() OVER (PARTITION BY `customer_id` ORDER BY `customer_id`, `full_name`, `email`, `deleted`) = 1) r) s WHERE __relevo_u < 100000) t',
    ]);
    assert.deepEqual(orders.statements, [
      'CREATE OR REPLACE TABLE `pre`.`sales`.`orders__relevo_next` AS SELECT t.`order_id`, t.`customer_id`, t.`amount` FROM (SELECT `order_id`, `customer_id`, `amount` FROM `pro`.`sales`.`orders` WHERE `order_id` IS NOT NULL) t WHERE t.`customer_id` IN (SELECT `customer_id` FROM `pre`.`sales`.`customers__relevo_next`)',
    ]);
    assert.deepEqual(countries.statements, [
      'CREATE OR REPLACE TABLE `pre`.`sales`.`countries__relevo_next` AS SELECT t.`code`, t.`name` FROM `pro`.`sales`.`countries` t',
    ]);
    assert.deepEqual(
      orders.checks.map((c) => c.sql),
      [
        'SELECT count(*) AS n FROM `pre`.`sales`.`orders__relevo_next` c WHERE c.`customer_id` IS NOT NULL AND NOT EXISTS (SELECT 1 FROM `pre`.`sales`.`customers__relevo_next` p WHERE p.`customer_id` = c.`customer_id`)',
      ],
    );
    assert.deepEqual(
      customers.checks.map((c) => `${c.kind} ${c.column}`),
      ['masked email', 'masked full_name'],
    );
    // DEV: PRE's rate, then the 1000 lowest units (ties by key), from the same source.
    const dev = plan.environments[1].tables[0].statements[0];
    assert.match(dev, /^CREATE OR REPLACE TABLE `dev`.`sales`.`customers__relevo_next` AS /);
    assert.match(dev, /WHERE __relevo_u < 100000\) s ORDER BY __relevo_u, `customer_id` LIMIT 1000\) t$/);
    for (const env of plan.environments)
      for (const t of env.tables) for (const s of t.statements) assert.ok(!s.includes(';'), 'one statement per call');
  });

  it('masks integer keys with a keyed Feistel permutation of the same type, the references inheriting the same expression', () => {
    const c = config();
    c.tables[0].mask.customer_id = { kind: 'hash' };
    const plan = buildPlan(c, databricks, schemas());
    const [customers, orders] = plan.environments[0].tables;
    const key = maskExpression(databricks, { kind: 'hash' }, 't.`customer_id`', 'bigint');
    assert.match(key, /^CAST\(\(2 \* CAST\(CAST\(t\.`customer_id` AS BIGINT\) < 0 AS INTEGER\) - 1\) \* /);
    for (let r = 1; r <= 4; r++) assert.ok(key.includes(`concat(:relevo_salt, 'relevo-feistel:${r}:', CAST(`), `round ${r}`);
    assert.match(key, / \^ /, 'xor');
    assert.match(key, / div 2147483648\)/, 'a 32-bit and a 31-bit half');
    assert.match(key, / AS bigint\)$/);
    assert.ok(customers.statements[0].includes(`${key} AS \`customer_id\``));
    assert.deepEqual(orders.masked, [{ column: 'customer_id', rule: 'hash', inheritedFrom: 'customers.customer_id' }]);
    assert.ok(orders.statements[0].includes(`WHERE ${key} IN (SELECT \`customer_id\` FROM \`pre\`.\`sales\`.\`customers__relevo_next\`)`));
    assert.deepEqual(
      customers.checks.filter((x) => x.kind === 'unique').map((x) => x.sql),
      ['SELECT count(`customer_id`) - count(DISTINCT `customer_id`) AS n FROM `pre`.`sales`.`customers__relevo_next`'],
    );
  });
});

describe('sampling: composite keys in Databricks SQL', () => {
  const composite = () =>
    parseConfig(
      {
        seed: 42,
        source: { catalog: 'pro', schema: 'sales' },
        environments: { pre: { target: { catalog: 'pre', schema: 'sales' }, fraction: 0.1 } },
        tables: {
          orders: { key: 'order_id', root: true, mask: { order_id: 'hash' } },
          order_lines: {
            key: ['order_id', 'line_no'],
            references: { order_id: 'orders.order_id', replaces: { columns: ['order_id', 'replaces_line'], table: 'order_lines' } },
            mask: { line_no: 'hash' },
          },
          returns: { key: 'return_id', references: { line: { columns: ['order_id', 'line_no'], table: 'order_lines' } } },
        },
      },
      '/work/sample-data.yml',
    );
  const types = new Map(
    Object.entries({
      orders: ['order_id:bigint'],
      order_lines: ['order_id:bigint', 'line_no:int', 'replaces_line:int'],
      returns: ['return_id:bigint', 'order_id:bigint', 'line_no:int'],
    }).map(([t, cols]) => [t, cols.map((x) => ({ name: x.split(':')[0], type: x.split(':')[1] }))]),
  );

  it('semi-joins on every column (EXISTS), masks each column (the mask inherited to a fixed point), gates on tuples, nulls a composite self-reference outside the sample', () => {
    const plan = buildPlan(composite(), databricks, types);
    const [, lines, returns] = plan.environments[0].tables;
    const orderKey = maskExpression(databricks, { kind: 'hash' }, 't.`order_id`', 'bigint');
    const lineNo = maskExpression(databricks, { kind: 'hash' }, 't.`line_no`', 'int');
    // returns.line_no inherits order_lines.line_no's mask, and returns.order_id order_lines.order_id's, itself inherited from orders.
    assert.deepEqual(
      returns.masked.map((m) => `${m.column} ${m.inheritedFrom}`),
      ['order_id order_lines.order_id', 'line_no order_lines.line_no'],
    );
    assert.ok(
      returns.statements[0].endsWith(
        `WHERE EXISTS (SELECT 1 FROM \`pre\`.\`sales\`.\`order_lines__relevo_next\` p WHERE p.\`order_id\` = ${orderKey} AND p.\`line_no\` = ${lineNo})`,
      ),
      returns.statements[0],
    );
    assert.ok(
      lines.statements[0].includes('WHERE `order_id` IS NOT NULL AND `line_no` IS NOT NULL'),
      'rows without a whole key are dropped',
    );
    assert.deepEqual(lines.statements.slice(1), [
      'UPDATE `pre`.`sales`.`order_lines__relevo_next` AS s SET `replaces_line` = NULL WHERE s.`order_id` IS NOT NULL AND s.`replaces_line` IS NOT NULL AND NOT EXISTS (SELECT 1 FROM `pre`.`sales`.`order_lines__relevo_next` p WHERE p.`order_id` = s.`order_id` AND p.`line_no` = s.`replaces_line`)',
    ]);
    assert.deepEqual(
      lines.checks.filter((c) => c.kind !== 'masked').map((c) => `${c.kind} ${c.column}${c.parent ? ` → ${c.parent}` : ''}`),
      [
        'orphans order_id → orders.order_id',
        'orphans (order_id, replaces_line) → order_lines.(order_id, line_no)',
        'unique (order_id, line_no)',
      ],
    );
    assert.equal(
      lines.checks.find((c) => c.kind === 'unique')!.sql,
      'SELECT count(*) AS n FROM `pre`.`sales`.`order_lines__relevo_next` s WHERE EXISTS (SELECT 1 FROM (SELECT `order_id`, `line_no` FROM `pre`.`sales`.`order_lines__relevo_next` GROUP BY `order_id`, `line_no` HAVING count(*) > 1) g WHERE g.`order_id` = s.`order_id` AND g.`line_no` = s.`line_no`)',
    );
    assert.equal(
      returns.checks[0].sql,
      'SELECT count(*) AS n FROM `pre`.`sales`.`returns__relevo_next` c WHERE c.`order_id` IS NOT NULL AND c.`line_no` IS NOT NULL AND NOT EXISTS (SELECT 1 FROM `pre`.`sales`.`order_lines__relevo_next` p WHERE p.`order_id` = c.`order_id` AND p.`line_no` = c.`line_no`)',
    );
  });

  it('a composite root hashes all its columns with the seed; a parent keyed by two columns keeps the tuples its children reference', () => {
    const plan = buildPlan(
      parseConfig(
        {
          seed: 'x',
          source: { catalog: 'pro', schema: 'sales' },
          environments: { pre: { target: { catalog: 'pre', schema: 'sales' }, rows: 10 } },
          tables: {
            order_lines: {
              key: ['order_id', 'line_no'],
              root: true,
              references: { p: { columns: ['order_id', 'line_no'], table: 'prices' } },
            },
            prices: { key: ['order_id', 'line_no'] },
          },
        },
        '/work/sample-data.yml',
      ),
      databricks,
      new Map([
        ['order_lines', types.get('order_lines')!],
        ['prices', types.get('order_lines')!],
      ]),
    );
    const [lines, prices] = plan.environments[0].tables;
    assert.match(lines.statements[0], /pmod\(xxhash64\(r\.`order_id`, r\.`line_no`, 'x'\), 1000000\) AS __relevo_u/);
    assert.match(lines.statements[0], /ORDER BY __relevo_u, `order_id`, `line_no` LIMIT 10\) t$/);
    assert.ok(
      prices.statements[0].endsWith(
        'WHERE EXISTS (SELECT 1 FROM (SELECT `order_id` AS `order_id`, `line_no` AS `line_no` FROM `pre`.`sales`.`order_lines__relevo_next`) r WHERE r.`order_id` = t.`order_id` AND r.`line_no` = t.`line_no`)',
      ),
      prices.statements[0],
    );
  });
});

describe('sampling: a self-reference that pulls rows in (Databricks SQL)', () => {
  it("inserts the recursive closure of the kept rows' references, in masked values, before the orphan fixup; the size gate counts the sampled rows", () => {
    const c = config();
    c.tables[0].references.push({
      name: 'referred_by',
      columns: ['referred_by'],
      table: 'customers',
      parentColumns: ['customer_id'],
      outside: 'pull',
    });
    c.tables[0].mask.customer_id = { kind: 'hash' };
    const s = schemas();
    s.get('customers')!.push({ name: 'referred_by', type: 'bigint' });
    const plan = buildPlan(c, databricks, s);
    const [insert, update] = plan.environments[0].tables[0].statements.slice(1);
    const key = maskExpression(databricks, { kind: 'hash' }, 't.`referred_by`', 'bigint');
    assert.match(
      insert,
      /^INSERT INTO `pre`\.`sales`\.`customers__relevo_next` SELECT \* FROM \(WITH RECURSIVE src AS \(SELECT \* FROM \(SELECT .* FROM \(SELECT .* FROM `pro`\.`sales`\.`customers` WHERE .*\) t\) m\), pulled\(k\) AS \(SELECT s\.`referred_by` FROM `pre`\.`sales`\.`customers__relevo_next` s WHERE s\.`referred_by` IS NOT NULL UNION SELECT src\.`referred_by` FROM src JOIN pulled ON src\.`customer_id` = pulled\.k WHERE src\.`referred_by` IS NOT NULL\) SELECT \* FROM src WHERE src\.`customer_id` IN \(SELECT k FROM pulled\) AND src\.`customer_id` NOT IN \(SELECT `customer_id` FROM `pre`\.`sales`\.`customers__relevo_next`\)\) x$/,
    );
    assert.ok(insert.includes(`${key} AS \`referred_by\``), 'the source rows masked as they are staged');
    assert.match(update, /^UPDATE `pre`\.`sales`\.`customers__relevo_next` SET `referred_by` = NULL /);
    assert.match(plan.environments[0].sampledCountSql!, /^SELECT count\(\*\) AS n FROM \(SELECT \* FROM \(SELECT r\.\*, pmod\(xxhash64/);
  });
});

describe('the stand-in warehouse checks statements as Databricks does', () => {
  const salt = [{ name: 'relevo_salt', value: 'x', type: 'STRING' }];
  const code = (sql: string, parameters = salt) => statementProblem(sql, parameters)?.error_code;
  it('parameter markers: named and bound, where a literal may stand; not as a name (but in IDENTIFIER), not in a view or function body, never ?', () => {
    assert.equal(code('SELECT sha2(concat(:relevo_salt, CAST(x AS STRING)), 256) FROM `a`.`b`.`c`'), undefined);
    assert.equal(
      code("SELECT ':x' AS `:y`, x::int, j:field FROM t"),
      undefined,
      'in literals, quoted names, casts and JSON paths: no marker',
    );
    assert.equal(
      code('CREATE OR REPLACE TABLE `a`.`b`.`c` AS SELECT :relevo_salt AS s'),
      undefined,
      'CREATE TABLE … AS SELECT runs its query once',
    );
    assert.equal(code('SELECT * FROM IDENTIFIER(:relevo_salt)'), undefined);
    assert.equal(code("SELECT * FROM IDENTIFIER('a.b.' || :relevo_salt)"), undefined);
    assert.equal(code('SELECT :other'), 'UNBOUND_SQL_PARAMETER');
    assert.equal(code('SELECT * FROM :relevo_salt'), 'PARSE_SYNTAX_ERROR');
    assert.equal(code('SELECT x AS :relevo_salt FROM t'), 'PARSE_SYNTAX_ERROR');
    assert.equal(code('SELECT t.:relevo_salt FROM t'), 'PARSE_SYNTAX_ERROR');
    assert.equal(code('CREATE TABLE :relevo_salt AS SELECT 1'), 'PARSE_SYNTAX_ERROR');
    assert.equal(
      code('CREATE OR REPLACE VIEW v AS SELECT :relevo_salt AS s'),
      'UNSUPPORTED_FEATURE.PARAMETER_MARKER_IN_UNEXPECTED_STATEMENT',
    );
    assert.equal(
      code('CREATE FUNCTION f() RETURNS STRING RETURN :relevo_salt'),
      'UNSUPPORTED_FEATURE.PARAMETER_MARKER_IN_UNEXPECTED_STATEMENT',
    );
    assert.equal(code('SELECT ? FROM t', []), 'UNSUPPORTED_FEATURE');
    assert.equal(code('SELECT 1; DROP TABLE t'), 'PARSE_SYNTAX_ERROR');
  });

  it("every statement of the sampler's plans passes them (masks with the salt, composite keys, a pulling self-reference)", () => {
    const c = config();
    c.tables[0].mask.customer_id = { kind: 'hash' };
    c.tables[0].references.push({
      name: 'referred_by',
      columns: ['referred_by'],
      table: 'customers',
      parentColumns: ['customer_id'],
      outside: 'pull',
    });
    const s = schemas();
    s.get('customers')!.push({ name: 'referred_by', type: 'bigint' });
    const plan = buildPlan(c, databricks, s, [], '0badc0de');
    const all = plan.environments.flatMap((e) => [
      e.baseCountSql,
      e.sampledCountSql!,
      ...e.tables.flatMap((t) => [...t.statements, ...t.checks.map((x) => x.sql)]),
    ]);
    assert.ok(all.some((x) => x.includes(':relevo_salt')));
    for (const sql of all) assert.equal(statementProblem(sql, /:relevo_salt\b/.test(sql) ? salt : []), undefined, sql);
  });

  it('states as the SDK defines them: a result no longer available is CLOSED, and the client fails the statement saying so', async () => {
    const server = await startDatabricksServer({ lifetimeMs: 10_000 });
    try {
      server.state.sql = () => ({ columns: [{ name: 'n' }], rows: [['1']], polls: 2 });
      server.state.resultReads = 0;
      const client = connectDatabricks({
        host: server.url,
        auth: { kind: 'pat', token: server.token },
        retry: { sleep: async () => undefined, baseDelayMs: 1 },
      });
      await assert.rejects(
        client.runStatement({ warehouseId: 'wh-1', statement: 'SELECT 1 AS n', waitTimeout: '0s' }, { timeoutMs: 5000, pollMs: 1 }),
        /ended CLOSED/,
      );
      const states = [...server.state.statements.values()].map((r) => r.state);
      assert.deepEqual(states, ['CLOSED']);
      server.state.resultReads = undefined;
      const ok = await client.runStatement(
        { warehouseId: 'wh-1', statement: 'SELECT 1 AS n', waitTimeout: '0s' },
        { timeoutMs: 5000, pollMs: 1 },
      );
      assert.deepEqual(ok.rows, [['1']]);
    } finally {
      await server.stop();
    }
  });
});

describe('sampling: Databricks column types', () => {
  it('varchar(n)/char(n) keep their declared type (masks cut to n); dedupe orders by sortable columns only (no MAP, VARIANT)', () => {
    const c = config();
    c.tables[0].mask.code = { kind: 'email' };
    const types = schemas();
    types.set('customers', [
      { name: 'customer_id', type: 'bigint' },
      { name: 'full_name', type: 'varchar(10)' },
      { name: 'email', type: 'string' },
      { name: 'deleted', type: 'boolean' },
      { name: 'code', type: 'char(8)' },
      { name: 'attrs', type: 'map<string,string>' },
      { name: 'payload', type: 'variant' },
      { name: 'tags', type: 'array<map<string,int>>' },
    ]);
    const sql = buildPlan(c, databricks, types).environments[0].tables[0].statements[0];
    assert.ok(
      sql.includes('CAST(substr(sha2(concat(:relevo_salt, CAST(t.`full_name` AS STRING)), 256), 1, 10) AS varchar(10)) AS `full_name`'),
      sql,
    );
    assert.ok(
      sql.includes(
        "CAST(substr(('u' || substr(sha2(concat(:relevo_salt, CAST(t.`code` AS STRING)), 256), 1, 12) || '@example.com'), 1, 8) AS char(8)) AS `code`",
      ),
      sql,
    );
    assert.ok(
      sql.includes(
        'QUALIFY row_number() OVER (PARTITION BY `customer_id` ORDER BY `customer_id`, `full_name`, `email`, `deleted`, `code`) = 1',
      ),
      sql,
    );
  });
});

describe('sampling: the databricks engine against the contract server', () => {
  let server: DatabricksServer;
  let store: TableStore;
  let journal: UndoJournal;
  const log = {
    lines: [] as string[],
    info(m: string) {
      this.lines.push(m);
    },
    warn(m: string) {
      this.lines.push(`WARN ${m}`);
    },
  };
  const run = async (timeoutMs?: number) => {
    const client = connectDatabricks({
      host: server.url,
      auth: { kind: 'pat', token: server.token },
      retry: { sleep: async () => undefined, baseDelayMs: 1 },
      timeoutMs: 2000,
    });
    const engine = openDatabricksEngine({ client, warehouseId: 'wh-1', salt: SALT, statementTimeoutMs: timeoutMs, pollMs: 5, journal });
    return regenerateSampleData(config(), engine, { environments: [], dryRun: false }, log);
  };
  /** Staging names carry the run's tag (8 hex digits): compared without it. */
  const untag = (s: string) => s.replace(/__relevo_next_[0-9a-f]{8}/g, '__relevo_next');
  const statements = () => [...server.state.statements.values()].map((s) => untag(s.statement));
  const schemaOf = (where: string) => Object.fromEntries(Object.entries(store.schema(where)).map(([k, v]) => [untag(k), v]));
  const fail = (
    match: (sql: string) => boolean,
    error: SqlOutcome['error'] = { error_code: 'PERMISSION_DENIED', message: 'no MODIFY on schema sales' },
  ) => {
    store.fault = (sql) => (match(untag(sql)) ? { error } : undefined);
  };

  beforeEach(async () => {
    server = await startDatabricksServer({ lifetimeMs: 30_000 });
    store = new TableStore('pro.sales', SCHEMAS);
    // PRE from an earlier run (with its fingerprints); DEV never made.
    for (const t of Object.keys(SCHEMAS)) store.put(`pre.sales.${t}`, 'before', { 'relevo.fingerprint': 'old-fingerprint' });
    store.tables.get('pre.sales.customers')!.grants = ['SELECT to analysts'];
    store.label = 'new';
    server.state.sql = store.answer;
    journal = new UndoJournal();
    log.lines = [];
  });
  afterEach(() => server.stop());

  it('stages every table, runs the gates, then replaces each table from its staging copy (the same table: history and grants kept), the new data landed; the salt only as a parameter', async () => {
    const result = await run();
    assert.equal(result.error, undefined, String(result.error));
    assert.equal(result.report.status, 'succeeded');
    const all = statements();
    const creates = all.filter((s) => /^CREATE OR REPLACE TABLE \S+__relevo_next` AS /.test(s)).map((s) => s.split(' AS ')[0]);
    assert.deepEqual(creates, [
      'CREATE OR REPLACE TABLE `pre`.`sales`.`customers__relevo_next`',
      'CREATE OR REPLACE TABLE `pre`.`sales`.`orders__relevo_next`',
      'CREATE OR REPLACE TABLE `pre`.`sales`.`countries__relevo_next`',
      'CREATE OR REPLACE TABLE `dev`.`sales`.`customers__relevo_next`',
      'CREATE OR REPLACE TABLE `dev`.`sales`.`orders__relevo_next`',
      'CREATE OR REPLACE TABLE `dev`.`sales`.`countries__relevo_next`',
    ]);
    const swap = all.filter((s) => / AS SELECT \* FROM |^DROP TABLE|^DESCRIBE HISTORY|^ALTER TABLE/.test(s));
    assert.deepEqual(swap.slice(0, 4), [
      'DESCRIBE HISTORY `pre`.`sales`.`customers` LIMIT 1',
      `CREATE OR REPLACE TABLE \`pre\`.\`sales\`.\`customers\` TBLPROPERTIES ('relevo.fingerprint' = '${store.tables.get('pre.sales.customers')!.properties['relevo.fingerprint']}') AS SELECT * FROM \`pre\`.\`sales\`.\`customers__relevo_next\``,
      'DESCRIBE HISTORY `pre`.`sales`.`orders` LIMIT 1',
      swap[3],
    ]);
    assert.match(
      swap[3],
      /^CREATE OR REPLACE TABLE `pre`\.`sales`\.`orders` TBLPROPERTIES \('relevo\.fingerprint' = '[0-9a-f]{16}'\) AS SELECT \* FROM `pre`\.`sales`\.`orders__relevo_next`$/,
    );
    assert.ok(!all.some((s) => / RENAME TO /.test(s)), 'no table is renamed: each is replaced in place');
    assert.ok(!swap.includes('DESCRIBE HISTORY `dev`.`sales`.`customers` LIMIT 1'), 'a new DEV table has no version to go back to');
    assert.deepEqual(swap.slice(-3), [
      'DROP TABLE IF EXISTS `dev`.`sales`.`countries__relevo_next`',
      'DROP TABLE IF EXISTS `pre`.`sales`.`__relevo_lock`',
      'DROP TABLE IF EXISTS `dev`.`sales`.`__relevo_lock`',
    ]);
    // The same table: its history holds the previous data; its grants are kept.
    assert.deepEqual(
      store.tables.get('pre.sales.customers')!.history!.map((h) => h.made),
      ['before', 'new'],
    );
    assert.deepEqual(store.tables.get('pre.sales.customers')!.grants, ['SELECT to analysts']);
    const lockAt = all.findIndex((s) => s.startsWith('CREATE TABLE `pre`.`sales`.`__relevo_lock` AS SELECT'));
    assert.ok(lockAt >= 0 && lockAt < all.findIndex((s) => s.startsWith('CREATE OR REPLACE')), 'the lock is taken before staging');
    assert.deepEqual(schemaOf('pre.sales'), { countries: 'new', customers: 'new', orders: 'new' });
    assert.deepEqual(schemaOf('dev.sales'), { countries: 'new', customers: 'new', orders: 'new' });
    assert.match(store.tables.get('pre.sales.customers')!.properties['relevo.fingerprint'], /^[0-9a-f]{16}$/);
    assert.deepEqual(journal.pending, [], 'landed: nothing left to undo');
    assert.deepEqual((await journal.unwind()).landed, ['the new tables in pre.sales, dev.sales']);
    for (const rec of server.state.statements.values()) {
      assert.ok(!rec.statement.includes(SALT));
      const bound = rec.parameters.find((p) => p.name === 'relevo_salt');
      assert.equal(!!bound, rec.statement.includes(':relevo_salt'), rec.statement);
      if (bound) assert.equal(bound.value, SALT);
    }
    assert.ok(
      log.lines.some((l) =>
        /WARN pre: customers: the source schema changed since the last run \(fingerprint old-fingerprint → [0-9a-f]{16}\)/.test(l),
      ),
    );
  });

  it('a previous table stranded under __relevo_old by a killed run is put back before anything is staged, never dropped', async () => {
    store.tables.delete('pre.sales.customers');
    store.put('pre.sales.customers__relevo_old', 'before');
    store.put('pre.sales.orders__relevo_old', 'older');
    const result = await run();
    assert.equal(result.error, undefined, String(result.error));
    const all = statements();
    const firstCreate = all.findIndex((s) => s.startsWith('CREATE OR REPLACE'));
    assert.ok(firstCreate > 0);
    assert.ok(all.indexOf('ALTER TABLE `pre`.`sales`.`customers__relevo_old` RENAME TO `pre`.`sales`.`customers`') < firstCreate);
    assert.ok(
      all.indexOf('DROP TABLE IF EXISTS `pre`.`sales`.`orders__relevo_old`') < firstCreate,
      'a leftover beside its table is dropped',
    );
    assert.deepEqual(schemaOf('pre.sales'), { countries: 'new', customers: 'new', orders: 'new' });
  });

  it('a replacement that fails mid-swap: the journal restores every table already replaced to its version before, drops the new ones and the staging', async () => {
    const replaceDevOrders = (sql: string) => sql.startsWith('CREATE OR REPLACE TABLE `dev`.`sales`.`orders` ');
    fail(replaceDevOrders);
    const result = await run();
    assert.equal(result.report.status, 'failed');
    assert.match(result.error!.message, /PERMISSION_DENIED/);
    assert.deepEqual(
      schemaOf('dev.sales'),
      { __relevo_lock: 'new', countries__relevo_next: 'new', customers: 'new', customers__relevo_next: 'new', orders__relevo_next: 'new' },
      'no put-back by the engine itself; the lock held until the undo',
    );
    assert.deepEqual(schemaOf('pre.sales').customers, 'new');
    store.fault = undefined;
    const report = await journal.unwind();
    assert.deepEqual(report.left, []);
    assert.deepEqual(report.undone.map(untag), [
      'the table `dev`.`sales`.`orders`',
      'the table `dev`.`sales`.`customers`',
      'the table `pre`.`sales`.`countries`',
      'the table `pre`.`sales`.`orders`',
      'the table `pre`.`sales`.`customers`',
      'the staging tables dev.sales.*__relevo_next (dropped)',
      'the staging tables pre.sales.*__relevo_next (dropped)',
      'the lock table `dev`.`sales`.`__relevo_lock` (dropped)',
      'the lock table `pre`.`sales`.`__relevo_lock` (dropped)',
    ]);
    assert.ok(statements().includes('RESTORE TABLE `pre`.`sales`.`customers` TO VERSION AS OF 0'));
    assert.deepEqual(schemaOf('pre.sales'), { countries: 'before', customers: 'before', orders: 'before' });
    assert.deepEqual(schemaOf('dev.sales'), {});
    assert.deepEqual(
      store.tables.get('pre.sales.customers')!.history!.map((h) => h.made),
      ['before', 'new', 'before'],
      'restored as a new version: the history keeps all',
    );
    assert.equal(store.tables.get('pre.sales.customers')!.properties['relevo.fingerprint'], 'old-fingerprint');
  });

  it('a replacement answered as failed that landed all the same is restored too', async () => {
    store.fault = (sql, _n, apply) => {
      if (!sql.startsWith('CREATE OR REPLACE TABLE `pre`.`sales`.`orders` ')) return undefined;
      apply();
      return { error: { error_code: 'INTERNAL_ERROR', message: 'lost the answer' } };
    };
    const result = await run();
    assert.equal(result.report.status, 'failed');
    store.fault = undefined;
    assert.deepEqual((await journal.unwind()).left, []);
    assert.deepEqual(schemaOf('pre.sales'), { countries: 'before', customers: 'before', orders: 'before' });
  });

  it('a put-back that fails says where the previous data is', async () => {
    fail((sql) => sql.startsWith('CREATE OR REPLACE TABLE `pre`.`sales`.`orders` '));
    const result = await run();
    assert.equal(result.report.status, 'failed');
    fail((sql) => sql.startsWith('RESTORE TABLE `pre`.`sales`.`customers`'));
    const report = await journal.unwind();
    assert.deepEqual(
      report.left.map((l) => l.what),
      ['the table `pre`.`sales`.`customers`'],
    );
    assert.match(
      report.left[0].reason,
      /PERMISSION_DENIED.*; the previous data is version 0 of `pre`\.`sales`\.`customers` \(RESTORE TABLE `pre`\.`sales`\.`customers` TO VERSION AS OF 0\)/,
    );
    assert.equal(store.tables.get('pre.sales.orders')?.made, 'before');
  });

  it('a FAILED statement (HTTP 200, state FAILED) fails the run quoting Databricks; the journal drops the staged tables, nothing renamed', async () => {
    fail((sql) => sql.startsWith('CREATE OR REPLACE TABLE `pre`.`sales`.`orders__relevo_next`'), {
      error_code: 'UNRESOLVED_COLUMN',
      message: '[UNRESOLVED_COLUMN] A column `customer_id` cannot be resolved.',
    });
    const result = await run();
    assert.equal(result.report.status, 'failed');
    assert.match(result.error!.message, /pre\.orders: staging failed: .*UNRESOLVED_COLUMN/);
    assert.ok(!statements().some((s) => / AS SELECT \* FROM /.test(s)), 'nothing replaced');
    assert.deepEqual((await journal.unwind()).left, []);
    assert.ok(statements().includes('DROP TABLE IF EXISTS `pre`.`sales`.`customers__relevo_next`'), 'staging dropped');
    assert.deepEqual(schemaOf('pre.sales'), { countries: 'before', customers: 'before', orders: 'before' });
  });

  it('a statement still running after the timeout is cancelled and fails the run; nothing renamed', async () => {
    store.fault = (sql) =>
      untag(sql).startsWith('CREATE OR REPLACE TABLE `pre`.`sales`.`customers__relevo_next`')
        ? { polls: 10_000, columns: [], rows: [] }
        : undefined;
    const result = await run(200);
    assert.equal(result.report.status, 'failed');
    assert.match(result.error!.message, /was still (PENDING|RUNNING) after .*; it was cancelled/);
    assert.equal(server.requestsTo('/cancel', 'POST').length, 1);
    assert.ok(!statements().some((s) => /RENAME TO/.test(s)));
  });

  it('a second run on a target another run holds fails at once naming the holder, touching nothing; the holder then finishes', async () => {
    store.tables.set('dev.sales.__relevo_lock', {
      columns: [],
      properties: {},
      made: 'other',
      row: ['run-other-7', 'agent-9', '4242', '2026-12-05T20:00:00.000Z'],
    });
    const result = await run();
    assert.equal(result.report.status, 'failed');
    assert.match(
      result.error!.message,
      /environments\.dev\.target: another run is regenerating dev\.sales: run run-other-7 on host agent-9 \(pid 4242\) since 2026-12-05T20:00:00\.000Z holds its lock table `dev`\.`sales`\.`__relevo_lock`/,
    );
    assert.match(result.error!.message, /Fix: .*DROP TABLE `dev`\.`sales`\.`__relevo_lock`/);
    assert.ok(!statements().some((s) => s.startsWith('CREATE OR REPLACE') || / RENAME TO /.test(s)), 'nothing staged');
    assert.deepEqual((await journal.unwind()).left, []);
    assert.equal(store.tables.get('dev.sales.__relevo_lock')?.made, 'other', "another run's lock is never dropped");
    assert.equal(store.tables.has('pre.sales.__relevo_lock'), false, 'its own lock on PRE released by the undo');
    assert.deepEqual(schemaOf('pre.sales'), { countries: 'before', customers: 'before', orders: 'before' });
  });
});
