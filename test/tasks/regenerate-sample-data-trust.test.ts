/**
 * RegenerateSampleData (DuckDB) when things go wrong at the worst moment: a rename of the swap
 * failing, each in turn; the agent cancelling during the swap, at each rename (paused there by
 * a `rename()` shim, test/support/renameShim.ts), and during a long statement; and a source
 * whose names and data are written to drive the agent. Each run is the built task, as the
 * agent runs it, with DuckDB for real.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertOnlyOwnCommands, explain, runTask, type RunOptions, type TaskRun } from '../support/agentRunner';
import { RenameShim } from '../support/renameShim';
import { tempDir } from '../support/repo';
import { FOREIGN, makeForeignData, makeSalesData, SALES_CONFIG, seededToolCache } from '../support/sampleData';

const SALT = 'pepper-trust-Kq27';
let tools: string;
let pro: string;

/** Every file of a folder and its bytes' hash (the manifest too): what "as before" means. */
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

function regenerate(
  file: string,
  inputs: Record<string, string | boolean> = {},
  options: Pick<RunOptions, 'env' | 'cancel'> = {},
): Promise<TaskRun> {
  return runTask('regenerate-sample-data', {
    inputs: { configFile: file, maskingSalt: SALT, ...inputs },
    variables: { 'Agent.ToolsDirectory': tools },
    tasksDir: process.env.RELEVO_TASKS_DIR || undefined,
    ...options,
  });
}

/** A workspace whose PRE and DEV an earlier run (seed 42) wrote; its config now asks for seed 43. */
async function regenerated(): Promise<{ dir: string; out: string; file: string; before: Record<string, Record<string, string>> }> {
  const dir = tempDir('relevo-sample-trust-');
  const file = join(dir, 'sample-data.yml');
  writeFileSync(file, SALES_CONFIG(pro, 'parquet'));
  const first = await regenerate(file);
  assert.equal(first.result, 'Succeeded', explain(first));
  writeFileSync(file, SALES_CONFIG(pro, 'parquet').replace('seed: 42', 'seed: 43'));
  const out = join(dir, 'out');
  return { dir, out, file, before: { pre: snapshot(join(out, 'pre')), dev: snapshot(join(out, 'dev')) } };
}

/** PRE and DEV byte for byte as before, and nothing of the run left beside them. */
function assertAsBefore(out: string, before: Record<string, Record<string, string>>, context: string): void {
  assert.deepEqual({ pre: snapshot(join(out, 'pre')), dev: snapshot(join(out, 'dev')) }, before, `${context}: a target changed`);
  assert.deepEqual(readdirSync(out).sort(), ['dev', 'pre'], `${context}: staging or a previous folder left behind`);
}

describe('RegenerateSampleData (DuckDB): failures and cancels during the swap, foreign text (built task)', function () {
  this.timeout(180_000);
  before(async () => {
    tools = seededToolCache();
    pro = await makeSalesData(tempDir('relevo-pro-trust-'), { customers: 2_000, orders: 5_000, duplicates: 20 });
  });

  describe('the swap', function () {
    before(function () {
      if (!RenameShim.available()) this.skip();
    });

    it('a rename of the swap failing, each in turn: PRE and DEV end exactly as before, nothing left; a re-run swaps in', async () => {
      const ws = await regenerated();
      const shim = new RenameShim(ws.out);
      const swap = ['pre → pre.relevo-old', 'pre.relevo-next → pre', 'dev → dev.relevo-old', 'dev.relevo-next → dev'];
      for (let k = 1; k <= swap.length; k++) {
        const run = await regenerate(ws.file, {}, { env: shim.failAt(k).env });
        assert.equal(run.result, 'Failed', `k=${k}: ${explain(run)}`);
        assert.deepEqual(
          shim
            .renames()
            .slice(0, k)
            .map((r) =>
              r
                .split(`${ws.out}/`)
                .join('')
                .replace(/\.relevo-next-[0-9a-f]{8}/g, '.relevo-next'),
            ),
          swap.slice(0, k),
          `k=${k}: the swap is two renames per environment`,
        );
        assert.match(run.resultMessage!, /swapping in the environments failed: .*EIO/, `k=${k}`);
        assert.match(run.resultMessage!, /Put back: .*the folder .*\/out\/pre[;.]/, `k=${k}: ${run.resultMessage}`);
        assert.doesNotMatch(run.resultMessage!, /NOT put back/, `k=${k}`);
        assertAsBefore(ws.out, ws.before, `k=${k}`);
      }
      const again = await regenerate(ws.file);
      assert.equal(again.result, 'Succeeded', explain(again));
      assert.notDeepEqual(snapshot(join(ws.out, 'pre')), ws.before.pre, 'the re-run swapped in the new sample');
    });

    it('cancelled during the swap, at each rename: every folder already swapped is put back within the grace; PRE and DEV exactly as before', async () => {
      const ws = await regenerated();
      const shim = new RenameShim(ws.out);
      for (let k = 1; k <= 4; k++) {
        shim.pauseAt(k, 600);
        const run = await regenerate(ws.file, {}, { env: shim.env, cancel: { whenFile: shim.flag } });
        assert.equal(run.result, 'Failed', `k=${k}: ${explain(run)}`);
        assert.notEqual(run.exitCode, 0);
        assert.match(run.resultMessage!, /^Cancelled \(SIGINT\)\. Put back: /, `k=${k}: ${explain(run)}`);
        assert.doesNotMatch(run.resultMessage!, /NOT put back/, `k=${k}`);
        assert.equal(
          run.cancelled?.neededSigterm,
          false,
          `k=${k}: the undo outlasted the agent's 7.5 s (${run.cancelled?.exitedAfterMs} ms)`,
        );
        assert.doesNotMatch(run.stdout, /task\.complete result=Succeeded/);
        assertAsBefore(ws.out, ws.before, `k=${k}`);
      }
    });

    it('a rename still under way when the undo starts (it outlasts the 1.5 s the task gives its work to stop): the undo waits for it, then puts the folder back', async () => {
      const ws = await regenerated();
      // The first rename moves PRE aside; it lands 2.5 s after the cancel, during the undo.
      const shim = new RenameShim(ws.out).pauseAt(1, 2500);
      const run = await regenerate(ws.file, {}, { env: shim.env, cancel: { whenFile: shim.flag } });
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(run.resultMessage!, /^Cancelled \(SIGINT\)\. Put back: the folder .*\/out\/pre; the staging folder/, explain(run));
      assert.equal(run.cancelled?.neededSigterm, false, `${run.cancelled?.exitedAfterMs} ms`);
      assertAsBefore(ws.out, ws.before, 'late rename');
    });
  });

  it('cancelled during a long statement: DuckDB is interrupted, the run ends at once, the staging is removed', async () => {
    const ws = await regenerated();
    // A filter that keeps every row but takes DuckDB tens of seconds (a join of every customer
    // with 3,000 rows, a string built for each pair).
    writeFileSync(
      ws.file,
      SALES_CONFIG(pro, 'parquet').replace(
        'filter: "deleted = false"',
        'filter: "deleted = false AND NOT EXISTS (SELECT 1 FROM range(3000) r WHERE length(repeat(full_name, (r.range % 64)::INT)) < 0)"',
      ),
    );
    const staging = () => readdirSync(ws.out).some((n) => /^pre\.relevo-next-[0-9a-f]{8}$/.test(n));
    const run = await regenerate(ws.file, {}, { cancel: { when: staging } });
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(
      run.resultMessage!,
      /^Cancelled \(SIGINT\)\. Put back: the staging folder .*pre\.relevo-next-[0-9a-f]{8} \(removed\)/,
      explain(run),
    );
    assert.equal(run.cancelled?.neededSigterm, false);
    // Without the interrupt the task would wait out its 1.5 s for the statement, then the statement itself.
    assert.ok(
      run.cancelled!.exitedAfterMs < 1500,
      `the statement was not interrupted: the run ended ${run.cancelled!.exitedAfterMs} ms after SIGINT`,
    );
    assertAsBefore(ws.out, ws.before, 'long statement');
  });

  describe('a source whose names and data carry ##vso[, ##[ and a bare CR', () => {
    let dir: string;
    let folder: string;
    const config = (filter = '') => `seed: 7
source: { path: ${JSON.stringify(folder)}, format: parquet }
environments:
  pre: { target: { path: ${JSON.stringify('out/pre ##[warning]x\r##vso[task.complete result=Failed]')} }, fraction: 0.5 }
tables:
  customers: { key: customer_id, root: true, ${filter}mask: { ${JSON.stringify(FOREIGN.column)}: hash, full_name: hash } }
  orders: { key: order_id, references: { customer_id: customers.customer_id } }
`;
    before(async () => {
      dir = tempDir('relevo-sample-foreign-');
      folder = await makeForeignData(dir);
    });

    it("a run prints the names, paths and masks, and drives nothing: every command in the log is the task's own", async () => {
      const file = join(dir, 'ok.yml');
      writeFileSync(file, config());
      const run = await regenerate(file);
      assert.equal(run.result, 'Succeeded', explain(run));
      assert.match(
        run.stdout,
        /masked note ## vso\[task\.setvariable variable=report;isOutput=true\]\/etc\/passwd\\r## \[error\]x\\n## \[warning\]y \(hash\)/,
      );
      assert.match(run.stdout, /Source .*pro ## vso\[task\.uploadsummary\]x/);
      assert.deepEqual(Object.keys(run.outputs), ['report']);
      assertOnlyOwnCommands(run, 'regenerate-sample-data');
      const dry = await regenerate(file, { dryRun: true });
      assert.equal(dry.result, 'Succeeded', explain(dry));
      assertOnlyOwnCommands(dry, 'regenerate-sample-data');
    });

    it('a filter that fails at run time, DuckDB quoting the data in its error: the run fails, the value is dropped, the message drives nothing', async () => {
      const file = join(dir, 'failing.yml');
      // Valid for the check with no rows; each row's comment cannot be cast when staging.
      writeFileSync(file, config('filter: "CAST(comment AS INTEGER) >= 0", '));
      const run = await regenerate(file);
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(
        run.resultMessage!,
        /^customers: computing the sampling hash of the root's rows failed: Conversion Error: Could not convert string '…' to INT32/,
        explain(run),
      );
      assert.doesNotMatch(run.stdout + run.stderr, /task\.complete result=Succeeded\]done/, 'the source value is not in the log');
      assert.match(run.resultMessage!, /Put back: the staging folder/);
      assertOnlyOwnCommands(run, 'regenerate-sample-data');
    });
  });
});
