/** RegenerateSampleData with engine databricks, through the built task, against the Databricks contract server. */
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { explain, runTask, type TaskRun } from '../support/agentRunner';
import { startDatabricksServer, type DatabricksServer, type SqlOutcome } from '../support/databricksServer';
import { tempDir } from '../support/repo';

const SALT = 'dbx-salt-Qm42-never-logged';
const COLUMNS: Record<string, [string, string][]> = {
  customers: [['customer_id', 'bigint'], ['full_name', 'string'], ['email', 'string'], ['deleted', 'boolean']],
  orders: [['order_id', 'bigint'], ['customer_id', 'bigint'], ['amount', 'double']],
  countries: [['code', 'string'], ['name', 'string']],
};

function answer(fail?: (sql: string) => SqlOutcome | undefined) {
  return (sql: string): SqlOutcome => {
    const f = fail?.(sql);
    if (f) return f;
    const describe = /^DESCRIBE TABLE `[^`]+`\.`[^`]+`\.`([a-z_]+?)(?:__relevo_next)?`$/.exec(sql);
    if (describe) return { columns: [{ name: 'col_name' }, { name: 'data_type' }, { name: 'comment' }], rows: COLUMNS[describe[1]].map(([n, t]) => [n, t, null]) };
    if (/^SELECT count\(\*\) AS n/.test(sql)) return { columns: [{ name: 'n' }], rows: [['0']] };
    return { columns: [], rows: [] };
  };
}

describe('RegenerateSampleData@1 (databricks, built task)', () => {
  let server: DatabricksServer;
  let config: string;
  beforeEach(async () => {
    server = await startDatabricksServer({ lifetimeMs: 30_000 });
    const dir = tempDir('relevo-sample-dbx-');
    config = join(dir, 'sample-data.yml');
    writeFileSync(config, `seed: 42
source: { catalog: pro, schema: sales }
environments:
  pre: { target: { catalog: pre, schema: sales }, fraction: 0.1 }
  dev: { target: { catalog: dev, schema: sales }, from: pre, rows: 1000 }
tables:
  customers: { key: customer_id, root: true, filter: "deleted = false", dedupe: true, mask: { email: email, full_name: hash } }
  orders:    { key: order_id, references: { customer_id: customers.customer_id } }
  countries: { copy: full }
`);
  });
  afterEach(() => server.stop());

  const regenerate = (inputs: Record<string, string> = {}): Promise<TaskRun> =>
    runTask('regenerate-sample-data', {
      inputs: { configFile: config, engine: 'databricks', databricksConnection: 'dbx', warehouseId: 'wh-1', maskingSalt: SALT, ...inputs },
      env: { ENDPOINT_URL_DBX: server.url, ENDPOINT_AUTH_DBX: JSON.stringify({ scheme: 'Token', parameters: { apitoken: server.token } }), ENDPOINT_AUTH_SCHEME_DBX: 'Token' },
      tasksDir: process.env.RELEVO_TASKS_DIR || undefined,
    });
  const hidden = (run: TaskRun) => {
    for (const line of (run.stdout + run.stderr).split('\n')) for (const secret of [SALT, server.token]) if (line.includes(secret)) assert.match(line, /^##vso\[task\.setsecret\]/, `a secret leaked: ${line}`);
  };

  it('runs the plan on the warehouse and swaps the staged tables in; neither the salt nor the token is logged', async () => {
    server.state.sql = answer();
    const run = await regenerate();
    assert.equal(run.result, 'Succeeded', explain(run));
    const statements = [...server.state.statements.values()].map((s) => s.statement);
    assert.ok(statements.includes('ALTER TABLE `dev`.`sales`.`orders__relevo_next` RENAME TO `dev`.`sales`.`orders`'));
    assert.ok(server.requestsTo('/api/2.0/sql/statements', 'POST').every((r) => r.authorization === 'valid'));
    assert.match(run.summaries[0], /#### pre ← source \(fraction 0\.1\) → `pre\.sales`/);
    hidden(run);
  });

  it('a FAILED statement fails the task with Databricks\' message; nothing is renamed', async () => {
    server.state.sql = answer((sql) => (/^CREATE OR REPLACE TABLE `dev`/.test(sql) ? { error: { error_code: 'INSUFFICIENT_PERMISSIONS', message: 'User does not have CREATE TABLE on Schema dev.sales.' } } : undefined));
    const run = await regenerate();
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(run.resultMessage!, /dev\.customers: staging failed: .*INSUFFICIENT_PERMISSIONS/);
    assert.ok(![...server.state.statements.values()].some((s) => /RENAME TO/.test(s.statement)));
    hidden(run);
  });

  it('without a warehouse: a user error naming the input', async () => {
    const run = await regenerate({ warehouseId: '' });
    assert.equal(run.result, 'Failed');
    assert.match(run.resultMessage!, /^Input 'warehouseId': /);
  });
});
