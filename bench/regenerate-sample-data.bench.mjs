// Benchmarks the built RegenerateSampleData task (dist/tasks/regenerate-sample-data/index.js)
// with the duckdb engine on two shapes, each against its floor: DuckDB copying the same source
// files to Parquet once (one read, one write of each), in one node process. Both run
// interleaved, median of 5. Goal: the task at most 2 × the floor on both shapes. Every timed
// task run is checked (Succeeded, the root's sizes).
//  - orders/customers: orders (1M rows) + customers (50k, the root) → PRE 10% + DEV 1,000 rows,
//    masking e-mail and name, every gate.
//  - star: a flights fact table (3M rows, the root) referencing the airports dimension (5k)
//    twice (origin, destination) → PRE 100,000 rows + DEV 1,000, the airport key hashed.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, cachedDir, goal, snapshotTask, timeInterleaved } from './lib.mjs';

const DATA_VERSION = 'v1';
const RUNS = Number(process.env.BENCH_RUNS) || 5;
const DUCKDB = join(ROOT, 'node_modules', '@duckdb', 'node-api');

/** Runs a small ESM program that uses DuckDB from the repository's node_modules. */
function duck(program, args = []) {
  const r = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { DuckDBInstance } from ${JSON.stringify(join(DUCKDB, 'lib', 'index.js'))};\n${program}`,
      ...args,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`duckdb program failed: ${r.stderr}`);
  return r.stdout;
}

const SHAPES = [
  {
    name: 'orders/customers',
    cache: 'sample-data-pro',
    root: 'customers',
    tables: ['customers', 'orders'],
    data: (tmp) => `const c = await (await DuckDBInstance.create(':memory:', { threads: '2' })).connect();
      await c.run(\`COPY (SELECT range + 1 AS customer_id, 'Customer ' || (range + 1) AS full_name, 'customer' || (range + 1) || '@mail' || (range % 7) || '.com' AS email,
        ['ES', 'FR', 'DE'][1 + range % 3] AS country_code, range % 20 = 3 AS deleted FROM range(50000)) TO '${tmp}/customers.parquet' (FORMAT parquet)\`);
      await c.run(\`COPY (SELECT range + 1 AS order_id, 1 + (hash(range) % 50000)::BIGINT AS customer_id, DATE '2024-01-01' + CAST(range % 365 AS INTEGER) AS order_date,
        round(((range * 31) % 10000) / 100.0, 2) AS amount, ['new', 'paid', 'shipped'][1 + range % 3] AS status FROM range(1000000)) TO '${tmp}/orders.parquet' (FORMAT parquet)\`);`,
    environments: '  pre: { target: { path: PRE } , fraction: 0.1 }\n  dev: { target: { path: DEV }, from: pre, rows: 1000 }',
    tablesYaml: `  customers: { key: customer_id, root: true, filter: "deleted = false", mask: { email: email, full_name: hash } }
  orders:    { key: order_id, references: { customer_id: customers.customer_id } }`,
    label: 'PRE 10% + DEV 1k, masked, validated',
    exactPre: false,
  },
  {
    name: 'star',
    cache: 'sample-data-star',
    root: 'flights',
    tables: ['airports', 'flights'],
    data: (tmp) => `const c = await (await DuckDBInstance.create(':memory:', { threads: '2' })).connect();
      await c.run(\`COPY (SELECT range + 1 AS airport_id, 'Airport ' || (range + 1) AS name, ['ES', 'FR', 'DE', 'US'][1 + range % 4] AS country FROM range(5000)) TO '${tmp}/airports.parquet' (FORMAT parquet)\`);
      await c.run(\`COPY (SELECT range + 1 AS flight_id, 1 + (hash(range) % 5000)::BIGINT AS origin_id, 1 + (hash(range + 7) % 5000)::BIGINT AS destination_id,
        TIMESTAMP '2024-01-01' + to_minutes(CAST(range % 500000 AS BIGINT)) AS departs, (range * 13) % 400 + 30 AS minutes, round(((range * 31) % 50000) / 100.0, 2) AS fare
        FROM range(3000000)) TO '${tmp}/flights.parquet' (FORMAT parquet)\`);`,
    environments: '  pre: { target: { path: PRE } , rows: 100000 }\n  dev: { target: { path: DEV }, from: pre, rows: 1000 }',
    tablesYaml: `  flights:  { key: flight_id, root: true, references: { origin_id: airports.airport_id, destination_id: airports.airport_id } }
  airports: { key: airport_id, mask: { airport_id: hash } }`,
    label: 'PRE 100k + DEV 1k, a key masked, validated',
    exactPre: 100000,
  },
];

export default async function run() {
  for (const shape of SHAPES) {
    console.log(`  shape: ${shape.name}`);
    await runShape(shape);
  }
}

async function runShape(shape) {
  const source = cachedDir(shape.cache, DATA_VERSION, (tmp) => {
    duck(shape.data(tmp));
  }).dir;
  const work = mkdtempSync(join(tmpdir(), 'relevo-bench-sample-'));
  try {
    const { script } = snapshotTask('regenerate-sample-data', join(work, 'task'));
    // A tool cache as an agent has it after its first run (the packages npm ci installed).
    const tools = join(work, 'tools');
    const version = JSON.parse(readFileSync(join(DUCKDB, 'package.json'), 'utf8')).version;
    const platform = `${process.platform}-${process.arch}`;
    const cache = join(tools, 'relevo-duckdb', version, platform);
    for (const name of ['@duckdb/node-api', '@duckdb/node-bindings', `@duckdb/node-bindings-${platform}`, 'detect-libc']) {
      mkdirSync(join(cache, 'node_modules', ...name.split('/'), '..'), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules', ...name.split('/')), join(cache, 'node_modules', ...name.split('/')), 'dir');
    }
    writeFileSync(join(tools, 'relevo-duckdb', version, `${platform}.complete`), '');
    const config = join(work, 'sample-data.yml');
    writeFileSync(
      config,
      `seed: 42
source: { path: ${source}, format: parquet }
environments:
${shape.environments.replace('PRE', join(work, 'out', 'pre')).replace('DEV', join(work, 'out', 'dev'))}
tables:
${shape.tablesYaml}
`,
    );
    const agentTemp = join(work, 'agent-temp');
    const report = join(work, 'report.json');
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      INPUT_CONFIGFILE: config,
      INPUT_MASKINGSALT: 'bench-salt',
      INPUT_REPORTFILE: report,
      AGENT_TOOLSDIRECTORY: tools,
      AGENT_TEMPDIRECTORY: agentTemp,
    };
    const floorOut = join(work, 'floor');
    const floor = `const c = await (await DuckDBInstance.create(':memory:', { threads: '2' })).connect();
      for (const t of ${JSON.stringify(shape.tables)}) await c.run(\`COPY (SELECT * FROM read_parquet('${source}/\${t}.parquet')) TO '${floorOut}/\${t}.parquet' (FORMAT parquet)\`);`;
    const results = timeInterleaved(
      [
        {
          name: 'task',
          cmd: process.execPath,
          args: [script],
          opts: { env },
          before: () => mkdirSync(agentTemp, { recursive: true }),
          check: (r) => {
            if (!/##vso\[task\.complete result=Succeeded;\]/.test(r.stdout)) throw new Error(`the task failed:\n${r.stdout.slice(-3000)}`);
            const rep = JSON.parse(readFileSync(report, 'utf8'));
            const [pre, dev] = rep.environments;
            const root = (e) => e.tables.find((t) => t.table === shape.root).rowsOut;
            const preOk = shape.exactPre
              ? root(pre) === shape.exactPre
              : Math.abs(root(pre) - pre.expectedRootRows) <= pre.allowedDeviation;
            if (!preOk || root(dev) !== 1000) throw new Error(`wrong sizes: PRE ${root(pre)}, DEV ${root(dev)}`);
          },
        },
        {
          name: 'floor',
          cmd: process.execPath,
          args: [
            '--input-type=module',
            '-e',
            `import { DuckDBInstance } from ${JSON.stringify(join(DUCKDB, 'lib', 'index.js'))};\n${floor}`,
          ],
          before: () => {
            rmSync(floorOut, { recursive: true, force: true });
            mkdirSync(floorOut, { recursive: true });
          },
          check: (r) => {
            if (r.status !== 0) throw new Error(`the floor failed: ${r.stderr}`);
          },
        },
      ],
      { runs: RUNS, warmup: 1 },
    );
    const task = results.get('task').median;
    const base = results.get('floor').median;
    const rep = JSON.parse(readFileSync(report, 'utf8'));
    for (const e of rep.environments)
      console.log(
        `  ${e.name}: ${e.tables.map((t) => `${t.table} ${t.rowsIn} → ${t.rowsOut} (${t.durationMs} ms)`).join(', ')}; gates ${e.gates.filter((g) => g.passed).length}/${e.gates.length}`,
      );
    console.log(
      `  task (${shape.label})   median ${task.toFixed(0)} ms  [${results
        .get('task')
        .samples.map((s) => s.toFixed(0))
        .join(', ')}]`,
    );
    console.log(
      `  floor (DuckDB: read + write both files once) median ${base.toFixed(0)} ms  [${results
        .get('floor')
        .samples.map((s) => s.toFixed(0))
        .join(', ')}]`,
    );
    console.log(goal(`RegenerateSampleData (${shape.name}) / floor`, `${(task / base).toFixed(2)}x`, '≤ 2x', task / base <= 2));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
