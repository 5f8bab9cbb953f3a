/** The sample-data configuration (schema and meaning) and how DuckDB reaches an agent (tool cache, pinned download). */
import { strict as assert } from 'node:assert';
import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../shared/sampling/config';
import { acquireDuckDb, download, DUCKDB_PACKAGES, duckDbToolFolder, nativePackage } from '../../shared/sampling/duckdbTool';
import { loadDuckDb } from '../../shared/sampling/duckdbEngine';
import { buildPlan } from '../../shared/sampling/plan';
import { duckdb, maskExpression } from '../../shared/sampling/sql';
import { ROOT } from '../support/agentRunner';
import { tempDir } from '../support/repo';

const base = () => ({
  seed: 42,
  source: { path: 'data/pro', format: 'csv' },
  environments: {
    pre: { target: { path: 'data/pre' }, fraction: 0.1 },
    dev: { target: { path: 'data/dev' }, from: 'pre', rows: 1000 },
  } as Record<string, unknown>,
  tables: {
    customers: { key: 'customer_id', root: true, filter: 'deleted = false', dedupe: true, mask: { email: 'email', full_name: 'hash' } },
    orders: { key: 'order_id', references: { customer_id: 'customers.customer_id' } },
    countries: { copy: 'full' },
  } as Record<string, Record<string, unknown>>,
});
const fails = (mutate: (c: ReturnType<typeof base>) => void, pattern: RegExp) => {
  const c = base();
  mutate(c);
  assert.throws(
    () => parseConfig(c, '/w/sample.yml'),
    (err: Error) => {
      assert.match(err.message, pattern);
      assert.match(err.message, /^Input 'configFile': /);
      return true;
    },
  );
};

describe('sampling: configuration', () => {
  it('reads the issue example: paths against the file, targets take the source format, DEV after PRE', () => {
    const c = parseConfig(base(), '/w/sample.yml');
    assert.deepEqual(c.source, { kind: 'files', path: '/w/data/pro', format: 'csv' });
    assert.deepEqual(
      c.environments.map((e) => [e.name, e.target, e.size]),
      [
        ['pre', { kind: 'files', path: '/w/data/pre', format: 'csv' }, { fraction: 0.1 }],
        ['dev', { kind: 'files', path: '/w/data/dev', format: 'csv' }, { rows: 1000 }],
      ],
    );
    assert.deepEqual(c.tables[0].mask, { email: { kind: 'email' }, full_name: { kind: 'hash' } });
  });
  it('names the path and what is allowed', () => {
    fails(
      (c) => ((c.environments.pre as { fraction: number }).fraction = 0),
      /environments\.pre\.fraction: must be > 0 \(found 0\); allowed: a number greater than 0 and at most 1/,
    );
    fails(
      (c) => (c.tables.orders.references = { customer_id: 'customers' }),
      /tables\.orders\.references\.customer_id: must match pattern .*; allowed: table\.column/,
    );
    fails(
      (c) => (c.tables.orders.referencs = {}),
      /tables\.orders\.referencs: is not a known setting; allowed: key, root, references, copy, filter, drop, dedupe, nulls, mask/,
    );
    fails(
      (c) => (c.tables.customers.mask = { email: 'scramble' }),
      /tables\.customers\.mask\.email: .*allowed: hash, email, phone, null or \{ fixed: value \}/,
    );
    fails(
      (c) => (c.tables.orders.references = { customer_id: 'clients.customer_id' }),
      /tables\.orders\.references\.customer_id: 'clients' is not a declared table/,
    );
    fails(
      (c) => (c.tables.orders.references = { customer_id: 'customers.id' }),
      /'customers\.id' is not the key of 'customers' \(its key is 'customer_id'\)/,
    );
    fails(
      (c) => ((c.environments.dev as { from: string }).from = 'prod'),
      /environments\.dev\.from: 'prod' is not a declared environment; allowed: pre/,
    );
    fails((c) => ((c.environments.dev as { fraction?: number }).fraction = 0.5), /environments\.dev: gives both fraction and rows/);
    fails((c) => (c.tables.customers.root = false), /tables: no table is the sampling root; allowed: exactly one table with root: true/);
    fails((c) => (c.tables.stray = { key: 'id' }), /tables\.stray: is neither the root/);
  });
  it('composite keys: a reference names as many columns as the key has; a one-column reference to a composite key is refused, saying how to write it', () => {
    const lines = (c: ReturnType<typeof base>) => {
      c.tables.order_lines = { key: ['order_id', 'line_no'], references: { order_id: 'orders.order_id' } };
    };
    const c = base();
    lines(c);
    c.tables.returns = { key: 'return_id', references: { line: { columns: ['order_id', 'line_no'], table: 'order_lines' } } };
    assert.deepEqual(parseConfig(c, '/w/sample.yml').tables.find((t) => t.name === 'returns')!.references, [
      { name: 'line', columns: ['order_id', 'line_no'], table: 'order_lines', parentColumns: ['order_id', 'line_no'], outside: 'null' },
    ]);
    fails((x) => {
      lines(x);
      x.tables.returns = { key: 'return_id', references: { line_no: 'order_lines.line_no' } };
    }, /tables\.returns\.references\.line_no: 'order_lines\.line_no' is not the key of 'order_lines' \(its key is \(order_id, line_no\)\); allowed: \{ columns: \[<column>, <column>\], table: order_lines \}/);
    fails((x) => {
      lines(x);
      x.tables.returns = { key: 'return_id', references: { line: { columns: ['line_no'], table: 'order_lines' } } };
    }, /tables\.returns\.references\.line\.columns: names 1 column\(s\), and the key of 'order_lines' has 2 \(order_id, line_no\)/);
    fails((x) => {
      lines(x);
      x.tables.returns = { key: 'return_id', references: { line: { columns: ['order_id', 'line_no'] } } };
    }, /tables\.returns\.references\.line\.table: is required; allowed: /);
    fails((x) => (x.tables.orders.key = []), /tables\.orders\.key: must NOT have fewer than 1 items/);
  });
  it('outside: pull applies to a one-column self-reference only', () => {
    fails(
      (x) => (x.tables.orders.references = { customer_id: { columns: ['customer_id'], table: 'customers', outside: 'pull' } }),
      /tables\.orders\.references\.customer_id\.outside: pull applies to a self-reference, and this references 'customers'/,
    );
    fails(
      (x) => (x.tables.orders.references = { boss: { columns: ['customer_id'], table: 'orders', outside: 'fetch' } }),
      /tables\.orders\.references\.boss\.outside: must be equal to one of the allowed values \(found "fetch"\); allowed: for a self-reference: null .* or pull/,
    );
    const c = base();
    c.tables.orders.references = {
      customer_id: 'customers.customer_id',
      replaces: { columns: ['replaces'], table: 'orders', outside: 'pull' },
    };
    assert.equal(parseConfig(c, '/w/sample.yml').tables[1].references[1].outside, 'pull');
  });
  it('refuses a target equal to, inside or around the source, and cycles of tables or environments', () => {
    fails(
      (c) => (c.environments.pre = { target: { path: 'data/pro' }, fraction: 0.1 }),
      /environments\.pre\.target: '\/w\/data\/pro' is the source/,
    );
    fails((c) => (c.environments.pre = { target: { path: 'data/pro/sample' }, fraction: 0.1 }), /is the source .* \(or overlaps it\)/);
    fails((c) => (c.environments.pre = { target: { path: 'data' }, fraction: 0.1 }), /overlaps it/);
    fails((c) => {
      c.tables.customers.references = { last_order: 'orders.order_id' };
    }, /tables\.customers\.references: the references form a cycle: customers → orders → customers/);
    fails((c) => ((c.environments.pre as { from: string }).from = 'dev'), /environments are drawn from each other in a cycle/);
  });
  it('accepts a self-reference (not a cycle); the plan nulls references outside the kept rows before the file is written', () => {
    const c = base();
    c.tables.orders.references = { customer_id: 'customers.customer_id', replaces: 'orders.order_id' };
    const config = parseConfig(c, '/w/sample.yml');
    const types = new Map(
      Object.entries({
        customers: ['customer_id:BIGINT', 'full_name:VARCHAR', 'email:VARCHAR', 'deleted:BOOLEAN'],
        orders: ['order_id:BIGINT', 'customer_id:BIGINT', 'replaces:BIGINT'],
        countries: ['code:VARCHAR'],
      }).map(([t, cols]) => [t, cols.map((x) => ({ name: x.split(':')[0], type: x.split(':')[1] }))]),
    );
    const plan = buildPlan(config, duckdb, types);
    assert.deepEqual(plan.order, ['customers', 'orders', 'countries']);
    const orders = plan.environments[0].tables[1];
    assert.deepEqual(orders.statements.slice(1), [
      'UPDATE "stage__pre__orders" SET "replaces" = NULL WHERE "replaces" IS NOT NULL AND "replaces" NOT IN (SELECT "order_id" FROM "stage__pre__orders" WHERE "order_id" IS NOT NULL)',
      orders.statements[2],
    ]);
    assert.match(orders.statements[2], /^COPY "stage__pre__orders" TO /);
    assert.doesNotMatch(orders.statements[0], /"replaces"\) IN/, 'the self-reference does not filter the rows');
    assert.deepEqual(
      orders.checks.filter((x) => x.kind === 'orphans').map((x) => x.parent),
      ['customers.customer_id', 'orders.order_id'],
    );
  });
});

describe('sampling: DuckDB on an agent', () => {
  it("downloads through the one retry policy: the registry's Retry-After is waited, a 5xx retried, a 404 final", async () => {
    const answers = [
      [429, { 'retry-after': '3' }],
      [503, {}],
      [200, {}],
    ] as const;
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(req.url!);
      if (req.url === '/missing.tgz') return void res.writeHead(404).end();
      const [status, headers] = answers[Math.min(seen.filter((u) => u !== '/missing.tgz').length - 1, 2)];
      res.writeHead(status, headers).end(status === 200 ? 'tarball-bytes' : 'busy');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const waits: number[] = [];
      const retry = { sleep: async (ms: number) => void waits.push(ms), random: () => 0 };
      assert.equal((await download(`${url}/a.tgz`, fetch, retry)).toString(), 'tarball-bytes');
      assert.deepEqual(waits, [3000, 500], 'Retry-After 3 s, then backoff');
      waits.length = 0;
      await assert.rejects(download(`${url}/missing.tgz`, fetch, retry), /Input 'engine': cannot download .*\/missing\.tgz: HTTP 404\./);
      assert.deepEqual(waits, [], 'a 404 is not retried');
    } finally {
      server.close();
    }
  });

  it('pins exactly the versions and integrity of package-lock.json', () => {
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')).packages as Record<
      string,
      { version: string; integrity: string }
    >;
    for (const [name, pin] of Object.entries(DUCKDB_PACKAGES)) {
      assert.deepEqual({ version: lock[`node_modules/${name}`]?.version, integrity: lock[`node_modules/${name}`]?.integrity }, pin, name);
    }
  });

  it('downloads the tarballs from the registry once, checks their integrity, and loads DuckDB from the tool cache', async function () {
    this.timeout(60_000);
    // The npm cache holds the very tarballs `npm ci` fetched (content-addressed by integrity).
    const cached = (integrity: string) => {
      const hex = Buffer.from(integrity.slice(7), 'base64').toString('hex');
      return join(homedir(), '.npm', '_cacache', 'content-v2', 'sha512', hex.slice(0, 2), hex.slice(2, 4), hex.slice(4));
    };
    const names = ['@duckdb/node-api', '@duckdb/node-bindings', nativePackage(), 'detect-libc'];
    if (!names.every((n) => existsSync(cached(DUCKDB_PACKAGES[n].integrity)))) this.skip();
    const requests: string[] = [];
    let tamper = false;
    const server = createServer((req, res) => {
      requests.push(req.url!);
      const name = names.find((n) => req.url === `/${n}/-/${n.split('/').pop()}-${DUCKDB_PACKAGES[n].version}.tgz`);
      if (!name) return void res.writeHead(404).end();
      const bytes = readFileSync(cached(DUCKDB_PACKAGES[name].integrity));
      if (tamper) bytes[bytes.length - 1] ^= 1;
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(bytes);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const registry = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const log = { info: () => undefined, warn: () => undefined };
    try {
      const tools = tempDir('relevo-tools-');
      tamper = true;
      await assert.rejects(
        acquireDuckDb({ toolsDirectory: tools, registry, log }),
        /does not match its pinned integrity.*nothing was installed/,
      );
      assert.ok(!existsSync(duckDbToolFolder(tools).marker));
      tamper = false;
      requests.length = 0;
      const dir = await acquireDuckDb({ toolsDirectory: tools, registry, log });
      assert.equal(requests.length, 4);
      assert.equal(dir, duckDbToolFolder(tools).dir);
      const { DuckDBInstance } = loadDuckDb(dir);
      const c = await (await DuckDBInstance.create(':memory:')).connect();
      assert.deepEqual((await c.runAndReadAll('SELECT 40 + 2 AS n')).getRowObjectsJson(), [{ n: 42 }]);
      c.closeSync?.();
      // The second run takes the tool cache: no request.
      await acquireDuckDb({ toolsDirectory: tools, registry, log });
      assert.equal(requests.length, 4);
    } finally {
      server.close();
    }
  });
});

describe('sampling: the key mask is a keyed bijection (DuckDB)', () => {
  const masked = async (salt: string, type: string, from: number, count: number) => {
    const { DuckDBInstance } = loadDuckDb(ROOT);
    const c = await (await DuckDBInstance.create(':memory:', { threads: '2' })).connect();
    await c.run('SET VARIABLE relevo_salt = $salt', { salt });
    const m = maskExpression(duckdb, { kind: 'hash' }, 'v', type);
    const rows = (
      await c.runAndReadAll(
        `SELECT count(*) AS n, count(DISTINCT m) AS d, count(*) FILTER (WHERE (v >= 0) = (m >= 0)) AS same_sign, min(m) AS lo, max(m) AS hi, typeof(min(m)) AS t, sum(hash(v, m)) AS digest
         FROM (SELECT v, ${m} AS m FROM (SELECT CAST(${from} + range AS ${type}) AS v FROM range(${count})))`,
      )
    ).getRowObjectsJson()[0];
    c.closeSync?.();
    return rows;
  };
  const withoutDigest = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'digest'));
  it('maps every TINYINT and SMALLINT onto every value of the type, each sign onto the other', async function () {
    this.timeout(60_000);
    assert.deepEqual(await masked('s1', 'TINYINT', -128, 256).then(withoutDigest), {
      n: '256',
      d: '256',
      same_sign: '0',
      lo: -128,
      hi: 127,
      t: 'TINYINT',
    });
    assert.deepEqual(await masked('s1', 'SMALLINT', -32768, 65536).then(withoutDigest), {
      n: '65536',
      d: '65536',
      same_sign: '0',
      lo: -32768,
      hi: 32767,
      t: 'SMALLINT',
    });
  });
  it('keeps 200k INTEGER and BIGINT keys distinct and negative; another salt gives another permutation', async function () {
    this.timeout(120_000);
    for (const type of ['INTEGER', 'BIGINT']) {
      const r = await masked('s1', type, 1, 200_000);
      assert.deepEqual([r.n, r.d, r.same_sign, Number(r.hi) < 0, r.t], ['200000', '200000', '0', true, type], type);
      assert.notEqual((await masked('s2', type, 1, 200_000)).digest, r.digest, `${type}: keyed by the salt`);
    }
  });
});

describe('sampling: types checked in the plan, before any data moves', () => {
  const schemas = (orderCustomerType: string, extra: [string, string][] = []) =>
    new Map(
      Object.entries({
        customers: [['customer_id', 'BIGINT'], ['full_name', 'VARCHAR'], ['email', 'VARCHAR'], ['deleted', 'BOOLEAN'], ...extra],
        orders: [
          ['order_id', 'BIGINT'],
          ['customer_id', orderCustomerType],
          ['amount', 'DOUBLE'],
        ],
        countries: [
          ['code', 'VARCHAR'],
          ['name', 'VARCHAR(20)'],
        ],
      }).map(([t, cols]) => [t, cols.map(([name, type]) => ({ name, type }))]),
    );
  const planFails = (mutate: (c: ReturnType<typeof base>) => void, types: ReturnType<typeof schemas>, pattern: RegExp) => {
    const c = base();
    mutate(c);
    assert.throws(
      () => buildPlan(parseConfig(c, '/w/sample.yml'), duckdb, types),
      (err: Error) => {
        assert.match(err.message, pattern);
        assert.match(err.message, /^Input 'configFile': .*Fix: edit \/w\/sample\.yml at /);
        return true;
      },
    );
  };
  it('a masked BIGINT key referenced by an INTEGER column; a text column referencing an integer key', () => {
    planFails(
      (c) => ((c.tables.customers.mask as Record<string, string>).customer_id = 'hash'),
      schemas('INTEGER'),
      /tables\.orders\.references\.customer_id: orders\.customer_id is INTEGER and the masked key is BIGINT: masked keys span the whole BIGINT range and do not fit; allowed: a column of the same type as customers\.customer_id \(BIGINT\)/,
    );
    planFails(
      () => undefined,
      schemas('VARCHAR'),
      /tables\.orders\.references\.customer_id: orders\.customer_id is VARCHAR and the key it references is BIGINT/,
    );
    // Unmasked, a narrower integer column compares fine.
    assert.ok(buildPlan(parseConfig(base(), '/w/sample.yml'), duckdb, schemas('INTEGER')));
  });
  it('fill values and fixed masks against their column types', () => {
    planFails(
      (c) => (c.tables.orders.nulls = { amount: { fill: 'n/a' } }),
      schemas('BIGINT'),
      /tables\.orders\.nulls\.amount\.fill: "n\/a" is not a number, and the column is DOUBLE; allowed: a value of type DOUBLE/,
    );
    planFails(
      (c) => (c.tables.orders.mask = { order_id: { fixed: 1e20 } }),
      schemas('BIGINT'),
      /tables\.orders\.mask\.order_id\.fixed: 100000000000000000000 is outside the range of BIGINT/,
    );
    planFails(
      (c) => (c.tables.countries.mask = { name: { fixed: 'a name much longer than twenty' } }),
      schemas('BIGINT'),
      /tables\.countries\.mask\.name\.fixed: "a name much longer than twenty" is longer than VARCHAR\(20\) holds/,
    );
    planFails(
      (c) => (c.tables.customers.nulls = { deleted: { fill: 'maybe' } }),
      schemas('BIGINT'),
      /tables\.customers\.nulls\.deleted\.fill: "maybe" is not true or false/,
    );
  });
});
