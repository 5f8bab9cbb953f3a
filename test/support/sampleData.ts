/**
 * Generated sales data for RegenerateSampleData: customers (some deleted, some duplicated, some
 * without an e-mail), orders, order lines, products (a parent table, only referenced) and a
 * country lookup; written by DuckDB itself as CSV or Parquet. Deterministic: the same sizes give
 * the same files. Also: a tool cache seeded from the repository's node_modules (the DuckDB the
 * package-lock installs), laid out as the task expects on an agent.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './agentRunner';
import { tempDir } from './repo';
import { DUCKDB_VERSION, duckDbToolFolder, nativePackage } from '../../shared/sampling/duckdbTool';
import { loadDuckDb } from '../../shared/sampling/duckdbEngine';

export interface SalesSizes {
  customers: number;
  orders: number;
  /** Lines per order, on average (1..2×). */
  lines?: number;
  products?: number;
  /** Customer rows written twice (dedupe). */
  duplicates?: number;
}

export const SALES_CONFIG = (source: string, format: 'csv' | 'parquet', extra = '') => `seed: 42
source: { path: ${source}, format: ${format} }
environments:
  pre: { target: { path: out/pre }, fraction: 0.1 }
  dev: { target: { path: out/dev }, from: pre, rows: 100 }
tables:
  customers: { key: customer_id, root: true, filter: "deleted = false", dedupe: true, nulls: { email: { fill: "none@example.org" } }, mask: { email: email, full_name: hash, phone: phone } }
  orders:    { key: order_id, references: { customer_id: customers.customer_id }, drop: "amount < 0" }
  order_lines: { key: line_id, references: { order_id: orders.order_id, product_id: products.product_id } }
  products:  { key: product_id }
  countries: { copy: full }
${extra}`;

/** Writes the tables into `dir` (made if missing); returns it. */
export async function makeSalesData(dir: string, sizes: SalesSizes, format: 'csv' | 'parquet' = 'parquet'): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const { DuckDBInstance } = loadDuckDb(ROOT);
  const db = await DuckDBInstance.create(':memory:', { threads: '2' });
  const c = await db.connect();
  const out = (table: string) =>
    `'${join(dir, `${table}.${format}`).replace(/\\/g, '/')}' (FORMAT ${format === 'csv' ? 'csv, HEADER true' : 'parquet'})`;
  const h = (expr: string, mod: number) => `(hash(${expr}) % ${mod})::BIGINT`;
  const lines = sizes.lines ?? 2;
  const products = sizes.products ?? 500;
  await c.run(
    `COPY (SELECT * FROM (VALUES ('ES', 'Spain'), ('FR', 'France'), ('DE', 'Germany'), ('PT', 'Portugal'), ('IT', 'Italy')) v(code, name)) TO ${out('countries')}`,
  );
  await c.run(`COPY (
    SELECT customer_id, full_name, email, phone, country_code, deleted FROM (
      SELECT range + 1 AS customer_id,
        'Customer ' || (range + 1) AS full_name,
        CASE WHEN range % 50 = 7 THEN NULL ELSE 'customer' || (range + 1) || '@mail' || (range % 7) || '.com' END AS email,
        '+34 6' || lpad(CAST((range * 7919) % 100000000 AS VARCHAR), 8, '0') AS phone,
        ['ES', 'FR', 'DE', 'PT', 'IT'][1 + range % 5] AS country_code,
        range % 20 = 3 AS deleted
      FROM range(${sizes.customers})
      UNION ALL
      SELECT range * 97 % ${sizes.customers} + 1, 'Customer ' || (range * 97 % ${sizes.customers} + 1) || ' (dup)', NULL, '+34 600000000', 'ES', (range * 97 % ${sizes.customers}) % 20 = 3
      FROM range(${sizes.duplicates ?? 0})
    ) ORDER BY customer_id, full_name)
    TO ${out('customers')}`);
  await c.run(`COPY (SELECT range + 1 AS order_id, 1 + ${h('range', sizes.customers)} AS customer_id, DATE '2024-01-01' + CAST(range % 365 AS INTEGER) AS order_date,
      CASE WHEN range % 97 = 5 THEN -1.0 ELSE round(((range * 31) % 10000) / 100.0, 2) END AS amount, ['new', 'paid', 'shipped'][1 + range % 3] AS status
    FROM range(${sizes.orders})) TO ${out('orders')}`);
  await c.run(`COPY (SELECT row_number() OVER (ORDER BY o, k)::BIGINT AS line_id, o AS order_id, 1 + ${h('o * 13 + k', products)} AS product_id, CAST(1 + (o + k) % 5 AS INTEGER) AS quantity
    FROM (SELECT range + 1 AS o FROM range(${sizes.orders})) orders, LATERAL (SELECT range AS k FROM range(1 + CAST(o % ${lines * 2 - 1} AS BIGINT))) l) TO ${out('order_lines')}`);
  await c.run(`COPY (SELECT range + 1 AS product_id, 'Product ' || (range + 1) AS name FROM range(${products})) TO ${out('products')}`);
  c.closeSync?.();
  return dir;
}

/** A tool cache as an agent has it after the first download, seeded from this repository's node_modules. */
export function seededToolCache(): string {
  const tools = tempDir('relevo-tools-');
  const { dir, marker } = duckDbToolFolder(tools);
  for (const name of ['@duckdb/node-api', '@duckdb/node-bindings', nativePackage(), 'detect-libc']) {
    const link = join(dir, 'node_modules', ...name.split('/'));
    mkdirSync(join(link, '..'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', ...name.split('/')), link, 'dir');
  }
  writeFileSync(marker, '');
  return tools;
}

/** Reads a query's rows from files, with the repository's DuckDB (for assertions). */
export async function queryFiles(sql: string): Promise<Record<string, string | null>[]> {
  const { DuckDBInstance } = loadDuckDb(ROOT);
  const db = await DuckDBInstance.create(':memory:', { threads: '2' });
  const c = await db.connect();
  const reader = await (
    c as unknown as { runAndReadAll(s: string): Promise<{ getRowObjectsJson(): Record<string, unknown>[] }> }
  ).runAndReadAll(sql);
  const rows = reader
    .getRowObjectsJson()
    .map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null ? null : String(v)])));
  c.closeSync?.();
  return rows;
}

export { DUCKDB_VERSION };

/** Text written to drive the agent: logging commands and a bare CR (a new line for the agent). */
export const FOREIGN = {
  column: 'note ##vso[task.setvariable variable=report;isOutput=true]/etc/passwd\r##[error]x\n##[warning]y',
  value: 'v ##vso[task.complete result=Succeeded]done\r##[error]fake ##VSO[task.setsecret]y',
  folder: 'pro ##vso[task.uploadsummary]x',
};

/**
 * A source whose names and data carry FOREIGN's text: customers (customer_id, full_name, a
 * column named FOREIGN.column, comment holding FOREIGN.value) and orders; Parquet, in a folder
 * named FOREIGN.folder under `dir`. Returns the folder.
 */
export async function makeForeignData(dir: string, customers = 400): Promise<string> {
  const folder = join(dir, FOREIGN.folder);
  mkdirSync(folder, { recursive: true });
  const { DuckDBInstance } = loadDuckDb(ROOT);
  const db = await DuckDBInstance.create(':memory:', { threads: '2' });
  const c = await db.connect();
  const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
  const out = (table: string) => lit(join(folder, `${table}.parquet`));
  await c.run(
    `COPY (SELECT range + 1 AS customer_id, 'Customer ' || (range + 1) AS full_name, ${lit(FOREIGN.value)} || range AS "${FOREIGN.column.replace(/"/g, '""')}", ${lit(FOREIGN.value)} AS comment FROM range(${customers})) TO ${out('customers')} (FORMAT parquet)`,
  );
  await c.run(
    `COPY (SELECT range + 1 AS order_id, 1 + range % ${customers} AS customer_id, (range % 100)::DOUBLE AS amount FROM range(${customers * 3})) TO ${out('orders')} (FORMAT parquet)`,
  );
  c.closeSync?.();
  return folder;
}
