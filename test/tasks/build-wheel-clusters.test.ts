/**
 * BuildWheel@1 against every cluster state and library state of the Databricks SDK for Python
 * (service/compute.py `State`, `LibraryInstallStatus`), on the Databricks contract server: what
 * each state does to the run, the log and the Summary (written on every outcome), and clusters
 * planned before anything is uploaded or installed. Real builds with /usr/bin/python3.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { explain, runTask, type TaskRun } from '../support/agentRunner';
import { startDatabricksServer, type DatabricksServer } from '../support/databricksServer';
import { Repo, tempDir } from '../support/repo';

const PYTHON = '/usr/bin/python3';

function pyprojectRepo(): Repo {
  const repo = Repo.init();
  repo.write(
    'pyproject.toml',
    '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "ingest"\nversion = "1.0.0"\n',
  );
  repo.write('src/ingest/__init__.py', '');
  repo.write('.gitignore', 'dist/\n');
  repo.git('add', '-A');
  repo.git('commit', '-q', '-m', 'feat: first');
  return repo;
}

async function install(db: DatabricksServer, clusterIds: string[], extra: Record<string, string | boolean> = {}): Promise<TaskRun> {
  return runTask('build-wheel', {
    inputs: {
      projectDirectory: pyprojectRepo().dir,
      pythonInterpreter: PYTHON,
      isolation: false,
      sdist: false,
      outputDirectory: join(tempDir('relevo-wheels-'), 'wheels'),
      databricksConnection: 'dbx',
      volumePath: '/Volumes/main/libs/wheels',
      clusterIds: clusterIds.join('\n'),
      installTimeoutMinutes: '1',
      ...extra,
    },
    endpoints: { dbx: { url: db.url, scheme: 'Token', parameters: { apitoken: db.token } } },
    variables: { 'Relevo.DatabricksPollMs': '5' },
  });
}

/** The Summary's row for a cluster. */
function row(run: TaskRun, id: string): string {
  assert.equal(run.summaries.length, 1, 'one Summary');
  return run.summaries[0].split('\n').find((l) => l.startsWith(`| ${id}`)) ?? `(no row for ${id})`;
}

describe('BuildWheel@1: every Databricks cluster and library state (built task, contract server)', function () {
  this.timeout(90_000);
  before(function () {
    try {
      execFileSync(PYTHON, ['-c', 'import build, setuptools, wheel'], { stdio: 'ignore' });
    } catch {
      this.skip();
    }
  });

  it('RUNNING, RESIZING, RESTARTING and PENDING clusters get the install and are waited on; RESTORED counts as installed; TERMINATED, TERMINATING and a PENDING one that stops install at start', async () => {
    const db = await startDatabricksServer();
    db.addVolume('/Volumes/main/libs/wheels');
    db.addCluster('running');
    db.addCluster('resizing', { state: 'RESIZING' });
    db.addCluster('restarting', { state: 'RESTARTING', restartReads: 2 });
    db.addCluster('starting', { state: 'PENDING', starting: { reads: 2, to: 'RUNNING' } });
    db.addCluster('restored', { installEnds: { match: /ingest/, status: 'RESTORED', messages: [] } });
    db.addCluster('stopped', { state: 'TERMINATED' });
    db.addCluster('stopping', { state: 'TERMINATING', stateMessage: 'Terminating: user request' });
    db.addCluster('failed-start', {
      state: 'PENDING',
      starting: { reads: 1, to: 'TERMINATED' },
      stateMessage: 'Cloud provider quota exceeded',
    });
    const ids = ['running', 'resizing', 'restarting', 'starting', 'restored', 'stopped', 'stopping', 'failed-start'];
    const run = await install(db, ids);
    assert.equal(run.result, 'Succeeded', explain(run));
    for (const id of ['running', 'resizing', 'restarting', 'starting']) {
      assert.match(run.stdout, new RegExp(`Cluster ${id} \\(cluster-${id}\\): INSTALLED\\n`), id);
      assert.match(row(run, id), /✅ INSTALLED/);
      assert.deepEqual(
        db.state.clusters.get(id)!.libraries.map((l) => l.status),
        ['INSTALLED'],
      );
    }
    assert.match(run.stdout, /Cluster restored \(cluster-restored\): INSTALLED — RESTORED/);
    assert.match(
      run.stdout,
      /Cluster stopped \(cluster-stopped\): not running: the library installs when the cluster starts — TERMINATED: Inactive cluster/,
    );
    assert.match(run.stdout, /Cluster stopping \(cluster-stopping\): not running: .* — TERMINATING: Terminating: user request/);
    assert.match(
      run.stdout,
      /Cluster failed-start \(cluster-failed-start\): not running: .* — PENDING → TERMINATED: Cloud provider quota exceeded/,
    );
    for (const id of ['stopped', 'stopping', 'failed-start']) assert.match(row(run, id), /⏸ not running: installs when it starts/);
  });

  it("SKIPPED and UNINSTALL_ON_RESTART end the wait at once and fail the run with Databricks' messages; the Summary lists every cluster's outcome", async () => {
    const db = await startDatabricksServer();
    db.addVolume('/Volumes/main/libs/wheels');
    db.addCluster('fine');
    db.addCluster('skipping', {
      installEnds: {
        match: /ingest/,
        status: 'SKIPPED',
        messages: ['Library installation skipped: conflicts with ingest==0.9.0 ##vso[task.complete result=Succeeded]'],
      },
    });
    db.addCluster('removing', { installEnds: { match: /ingest/, status: 'UNINSTALL_ON_RESTART', messages: [] } });
    const started = Date.now();
    const run = await install(db, ['fine', 'skipping', 'removing']);
    assert.equal(run.result, 'Failed', explain(run));
    assert.ok(Date.now() - started < 45_000, 'not polled for the whole timeout');
    assert.match(
      run.resultMessage!,
      /Input 'clusterIds': the library did not install on cluster skipping \(SKIPPED \(Databricks will not install it\): Library installation skipped: conflicts with ingest==0\.9\.0/,
    );
    assert.match(run.resultMessage!, /cluster removing \(UNINSTALL_ON_RESTART \(marked for removal while Relevo waited\): no message\)/);
    assert.doesNotMatch(run.stdout, /^##vso\[task\.complete result=Succeeded/m);
    assert.match(row(run, 'fine'), /✅ INSTALLED/);
    assert.match(row(run, 'skipping'), /❌ SKIPPED: Databricks will not install it: Library installation skipped/);
    assert.match(row(run, 'removing'), /❌ UNINSTALL_ON_RESTART/);
    assert.match(run.summaries[0], /\*\*Failed:\*\* .*the library did not install on cluster skipping/);
    // The undo: the library comes off every cluster this run installed it on, the wheel off the volume.
    assert.deepEqual([...db.state.files.keys()], []);
  });

  it('an unknown cluster id, or a cluster in ERROR or UNKNOWN, fails the run before anything is uploaded or installed, naming clusterIds and each id', async () => {
    const db = await startDatabricksServer();
    db.addVolume('/Volumes/main/libs/wheels');
    db.addCluster('fine');
    db.addCluster('broken', { state: 'ERROR', stateMessage: 'Spark driver unresponsive' });
    db.addCluster('lost', { state: 'UNKNOWN' });
    const started = Date.now();
    const run = await install(db, ['fine', 'nope-123', 'broken', 'lost'], { artifactName: 'wheels' });
    assert.equal(run.result, 'Failed', explain(run));
    assert.ok(Date.now() - started < 30_000, 'the valid cluster is not polled on');
    assert.match(
      run.resultMessage!,
      /Input 'clusterIds': nothing was installed or uploaded: cluster nope-123: no such cluster \(Cluster nope-123 does not exist\)/,
    );
    assert.match(
      run.resultMessage!,
      /cluster broken: the cluster is in ERROR: nothing can be installed until it is fixed: Spark driver unresponsive/,
    );
    assert.match(run.resultMessage!, /cluster lost: the cluster is in a state Databricks reports as UNKNOWN/);
    assert.deepEqual(db.requestsTo('/libraries/install'), []);
    assert.deepEqual(db.requestsTo('/fs/files', 'PUT'), []);
    assert.ok(!run.stdout.includes('##vso[artifact.upload'), 'no artifact either');
    assert.match(row(run, 'fine'), /nothing installed \(another cluster was refused\)/);
    assert.match(row(run, 'nope-123'), /❌ refused before anything was installed: no such cluster/);
    assert.match(row(run, 'broken'), /❌ refused/);
    assert.deepEqual(JSON.parse(run.outputs.uploadedTo), []);
  });
});
