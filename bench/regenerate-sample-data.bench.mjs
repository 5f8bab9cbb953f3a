// Benchmarks the built RegenerateSampleData task (dist/tasks/regenerate-sample-data/index.js)
// with the duckdb engine: orders (1M rows) + customers (50k) as Parquet → PRE 10% + DEV 1,000
// rows, with masking (e-mail, name) and every validation gate, against the floor: DuckDB copying
// the same source files to Parquet once (one read, one write of each), in one node process.
// Both run interleaved, median of 5. Goal: the task at most 3 × the floor. Every timed task run
// is checked (Succeeded, PRE's customers within the gate, DEV 1,000 customers).
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

export default async function run() {
  const source = cachedDir('sample-data-pro', DATA_VERSION, (tmp) => {
    duck(`const c = await (await DuckDBInstance.create(':memory:', { threads: '2' })).connect();
      await c.run(\`COPY (SELECT range + 1 AS customer_id, 'Customer ' || (range + 1) AS full_name, 'customer' || (range + 1) || '@mail' || (range % 7) || '.com' AS email,
        ['ES', 'FR', 'DE'][1 + range % 3] AS country_code, range % 20 = 3 AS deleted FROM range(50000)) TO '${tmp}/customers.parquet' (FORMAT parquet)\`);
      await c.run(\`COPY (SELECT range + 1 AS order_id, 1 + (hash(range) % 50000)::BIGINT AS customer_id, DATE '2024-01-01' + CAST(range % 365 AS INTEGER) AS order_date,
        round(((range * 31) % 10000) / 100.0, 2) AS amount, ['new', 'paid', 'shipped'][1 + range % 3] AS status FROM range(1000000)) TO '${tmp}/orders.parquet' (FORMAT parquet)\`);`);
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
  pre: { target: { path: ${join(work, 'out', 'pre')} }, fraction: 0.1 }
  dev: { target: { path: ${join(work, 'out', 'dev')} }, from: pre, rows: 1000 }
tables:
  customers: { key: customer_id, root: true, filter: "deleted = false", mask: { email: email, full_name: hash } }
  orders:    { key: order_id, references: { customer_id: customers.customer_id } }
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
      for (const t of ['customers', 'orders']) await c.run(\`COPY (SELECT * FROM read_parquet('${source}/\${t}.parquet')) TO '${floorOut}/\${t}.parquet' (FORMAT parquet)\`);`;
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
            const root = (e) => e.tables.find((t) => t.table === 'customers').rowsOut;
            if (Math.abs(root(pre) - pre.expectedRootRows) > pre.allowedDeviation || root(dev) !== 1000)
              throw new Error(`wrong sizes: PRE ${root(pre)}, DEV ${root(dev)}`);
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
      `  task (PRE 10% + DEV 1k, masked, validated)   median ${task.toFixed(0)} ms  [${results
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
    console.log(goal('RegenerateSampleData / floor', `${(task / base).toFixed(2)}x`, '≤ 3x', task / base <= 3));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
