/**
 * BuildWheel when things go wrong at the worst moment: a build that hangs (stopped at
 * buildTimeoutMinutes), the agent cancelling during the build and during a cluster install,
 * every Databricks call failing in turn, a build tool and a server printing logging commands,
 * and the build's environment. Each run is the built task, as the agent runs it, building a
 * real project with Debian's Python (--no-isolation) and publishing to the Databricks contract
 * server through a REST shim (test/support/restShim.ts) that counts, fails and holds calls.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_SIGINT_GRACE_MS, assertOnlyOwnCommands, explain, runTask, type RunOptions, type TaskRun } from '../support/agentRunner';
import { startDatabricksServer, type DatabricksServer } from '../support/databricksServer';
import { startPypiServer } from '../support/pypiServer';
import { startRestShim, type RestShim } from '../support/restShim';
import { Repo, tempDir } from '../support/repo';

const PYTHON = '/usr/bin/python3';

function hasModules(...mods: string[]): boolean {
  try {
    execFileSync(PYTHON, ['-c', mods.map((m) => `import ${m}`).join('; ')], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Processes still running whose command line holds `marker`. */
function survivors(marker: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', marker])
      .toString()
      .split('\n')
      .filter((l) => l && !l.includes('pgrep'));
  } catch {
    return [];
  }
}

/** The work tree as git sees it, ignored files included (build/, *.egg-info). */
function snapshot(repo: Repo): string {
  return `${repo.git('status', '--porcelain', '--ignored', '--untracked-files=all')}\n${repo.git('ls-files', '-s')}`;
}

/** pyproject.toml with bytes a careless put-back would change: CRLF, a comment, no final newline. */
const PYPROJECT =
  '[build-system]\r\nrequires = ["setuptools>=61"]\r\nbuild-backend = "setuptools.build_meta"\r\n\r\n# the library\r\n[project]\r\nname = "ingest"\r\nversion = "1.0.0"\r\nrequires-python = ">=3.8"';

/** A committed project whose setup.py runs `code` (Python) before setup(). */
function project(code = ''): Repo {
  const repo = Repo.init();
  repo.write('pyproject.toml', PYPROJECT);
  repo.write('setup.py', `import os, sys, subprocess, pathlib, json\n${code}\nfrom setuptools import setup\nsetup()\n`);
  repo.write('src/ingest/__init__.py', '');
  repo.write('.gitignore', 'dist/\n');
  repo.git('add', '-A');
  repo.git('commit', '-q', '-m', 'feat: first');
  return repo;
}

/** setup.py code that, once setuptools builds the wheel, makes build/, touches `flag` and waits in a child process whose command line holds `marker`. */
function hangInWheel(flag: string, marker: string): string {
  return [
    "if 'bdist_wheel' in sys.argv:",
    "    os.makedirs('build/lib/hang', exist_ok=True)",
    `    pathlib.Path(${JSON.stringify(flag)}).write_text('hung')`,
    `    subprocess.run([sys.executable, '-c', 'import time; time.sleep(${marker})'])`,
  ].join('\n');
}

async function build(
  repo: Repo,
  inputs: RunOptions['inputs'],
  options: Omit<RunOptions, 'inputs'> = {},
): Promise<{ run: TaskRun; out: string; ms: number }> {
  const out = join(tempDir('relevo-wheels-'), 'wheels');
  const started = Date.now();
  const run = await runTask('build-wheel', {
    ...options,
    inputs: { projectDirectory: repo.dir, pythonInterpreter: PYTHON, isolation: false, sdist: false, outputDirectory: out, ...inputs },
    variables: { 'Build.SourcesDirectory': repo.dir, 'Relevo.DatabricksPollMs': '5', ...options.variables },
  });
  return { run, out, ms: Date.now() - started };
}

/**
 * A committed project built by a small in-tree PEP 517 backend (`python -m build` all the same):
 * the tests about Databricks calls run the task dozens of times, and setuptools takes a second
 * or two a build where this takes a fraction. Its wheel passes the task's checks (METADATA,
 * WHEEL tags, RECORD hashes).
 */
function quickProject(): Repo {
  const repo = Repo.init();
  repo.write(
    'pyproject.toml',
    '[build-system]\nrequires = []\nbuild-backend = "quick_backend"\nbackend-path = ["."]\n\n[project]\nname = "ingest"\nversion = "1.0.0"\n',
  );
  repo.write(
    'quick_backend.py',
    [
      'import base64, hashlib, os, zipfile',
      'def _hash(data):',
      "    return 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()",
      'def get_requires_for_build_wheel(config_settings=None):',
      '    return []',
      'def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):',
      "    info = 'ingest-1.0.0.dist-info'",
      '    files = {',
      "        'ingest/__init__.py': b'',",
      "        info + '/METADATA': b'Metadata-Version: 2.1\\nName: ingest\\nVersion: 1.0.0\\n',",
      "        info + '/WHEEL': b'Wheel-Version: 1.0\\nGenerator: quick_backend\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n',",
      '    }',
      "    record = ''.join('%s,%s,%d\\n' % (p, _hash(d), len(d)) for p, d in files.items()) + info + '/RECORD,,\\n'",
      "    name = 'ingest-1.0.0-py3-none-any.whl'",
      "    with zipfile.ZipFile(os.path.join(wheel_directory, name), 'w') as z:",
      '        for p, d in files.items():',
      '            z.writestr(p, d)',
      "        z.writestr(info + '/RECORD', record)",
      '    return name',
      '',
    ].join('\n'),
  );
  repo.git('add', '-A');
  repo.git('commit', '-q', '-m', 'feat: first');
  return repo;
}

function emptyOrAbsent(dir: string): boolean {
  return !existsSync(dir) || readdirSync(dir).length === 0;
}

const VOLUME = '/Volumes/main/libs/wheels';
const FOLDER = `${VOLUME}/ingest`;
const WHEEL = `${FOLDER}/ingest-1.0.0-py3-none-any.whl`;
const SCRIPT = `${FOLDER}/install-ingest-1.0.0.sh`;

/** A workspace with a volume (holding an unrelated file) and a running cluster, behind a REST shim. */
async function workspace(): Promise<{
  db: DatabricksServer;
  shim: RestShim;
  endpoints: RunOptions['endpoints'];
  before: () => string;
  state: () => string;
  stop: () => Promise<void>;
}> {
  const db = await startDatabricksServer();
  db.addVolume(VOLUME);
  db.state.files.set(`${VOLUME}/other.whl`, Buffer.from('not ours'));
  db.addCluster('0101-a', { name: 'etl' });
  const shim = await startRestShim(db.url);
  const state = () =>
    JSON.stringify({
      files: [...db.state.files].map(([k, v]) => [k, v.toString('base64')]).sort(),
      directories: [...db.state.directories].sort(),
      // A library marked for uninstall is what "as before" looks like on a running cluster: Databricks drops it at the next restart.
      libraries: [...db.state.clusters.values()].map((c) => [
        c.id,
        c.libraries.filter((l) => l.status !== 'UNINSTALL_ON_RESTART').map((l) => l.library),
      ]),
    });
  const initial = state();
  return {
    db,
    shim,
    endpoints: { dbx: { url: shim.url, scheme: 'Token', parameters: { apitoken: db.token } } },
    before: () => initial,
    state,
    stop: async () => {
      await shim.stop();
      await db.stop();
    },
  };
}

const PUBLISH = { databricksConnection: 'dbx', volumePath: FOLDER, clusterIds: '0101-a', initScript: true };

/** Text a server or a build tool might send, written to drive the agent. */
const FOREIGN =
  'refused ##vso[task.setvariable variable=pep440Version;isOutput=true]9.9.9\r##[error]x\nnext ##vso[task.complete result=Succeeded]done';

describe('BuildWheel: a hung build, cancellation, failures at every call, foreign text, the build environment (built task)', function () {
  this.timeout(240_000);
  /** The Databricks calls of a publish (artifact, volume folder, wheel, init script, one cluster), in order. */
  let calls: Array<{ method: string; path: string }> = [];
  before(async function () {
    if (!hasModules('build', 'setuptools', 'wheel')) this.skip();
    const ws = await workspace();
    try {
      const probe = await build(quickProject(), { ...PUBLISH, artifactName: 'wheels' }, { endpoints: ws.endpoints });
      assert.equal(probe.run.result, 'Succeeded', explain(probe.run));
      calls = ws.shim.calls.map((c) => ({ method: c.method, path: c.path }));
    } finally {
      await ws.stop();
    }
  });

  it('buildTimeoutMinutes takes decimal minutes above 0; anything else fails before the build, naming the input', async () => {
    const repo = project();
    const bad = ['0', '-1', 'abc', '1e2', '1441', '0x10'];
    const runs = await Promise.all(bad.map((value) => build(repo, { buildTimeoutMinutes: value })));
    runs.forEach(({ run, out }, i) => {
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(
        run.resultMessage!,
        new RegExp(
          `^Input 'buildTimeoutMinutes': '${bad[i].replace(/[.]/g, '\\.')}' is not a number of minutes above 0 and at most 1440\\. Fix: `,
        ),
      );
      assert.ok(!existsSync(out));
    });
    assert.doesNotMatch(runs[0].run.stdout, /-m build/, 'refused before the build started');
  });

  it('a build that hangs is stopped at buildTimeoutMinutes (0.1: 6 s) with every process it started; the stamped file comes back byte for byte, build/ and *.egg-info go', async () => {
    const flag = join(tempDir('relevo-hang-'), 'hung');
    const marker = '41.4159';
    const repo = project(hangInWheel(flag, marker));
    const before = snapshot(repo);
    const { run, out, ms } = await build(repo, { version: '1.3.0-rc.2', buildTimeoutMinutes: '0.1' });
    assert.ok(existsSync(flag), `the build never reached the wheel: ${explain(run)}`);
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(
      run.resultMessage!,
      /^Input 'buildTimeoutMinutes': the build of ingest ran for 6 s and was stopped with every process it started \(it was at: Building wheel\)\. Its last output:/,
    );
    assert.match(
      run.resultMessage!,
      /Put back: the file .*pyproject\.toml; the build folders \(build\/, \*\.egg-info\) the build made in /,
    );
    assert.ok(ms < 6000 + 12_000, `the run took ${ms} ms`);
    assert.equal(readFileSync(join(repo.dir, 'pyproject.toml'), 'utf8'), PYPROJECT, 'the stamped file, byte for byte');
    assert.equal(snapshot(repo), before, 'no build/ or egg-info left');
    assert.ok(emptyOrAbsent(out), 'nothing in the output folder');
    assert.deepEqual(survivors(marker), [], 'a process of the build went on');
  });

  it('cancelled during the build: the stamped file, build/ and *.egg-info are put back within the grace; the build and its children are stopped; nothing in the output folder', async () => {
    const flag = join(tempDir('relevo-cancel-'), 'hung');
    const marker = '42.4159';
    const repo = project(hangInWheel(flag, marker));
    const before = snapshot(repo);
    const { run, out } = await build(repo, { version: '1.3.0-rc.2' }, { cancel: { whenFile: flag } });
    assert.equal(run.result, 'Failed', explain(run));
    assert.notEqual(run.exitCode, 0);
    assert.match(
      run.resultMessage!,
      /^Cancelled \(SIGINT\)\. Put back: the file .*pyproject\.toml; the build folders \(build\/, \*\.egg-info\) the build made in /,
      explain(run),
    );
    assert.equal(run.cancelled?.neededSigterm, false, `the undo outlasted the agent's grace: ${run.cancelled?.exitedAfterMs} ms`);
    assert.doesNotMatch(run.stdout, /task\.complete result=Succeeded/);
    assert.equal(readFileSync(join(repo.dir, 'pyproject.toml'), 'utf8'), PYPROJECT);
    assert.equal(snapshot(repo), before);
    assert.ok(emptyOrAbsent(out));
    assert.deepEqual(survivors(marker), []);
  });

  const moments: Array<[string, { method: string; path: string; nth: number }]> = [
    ['while Databricks takes the install (libraries/install answered late)', { method: 'POST', path: '/libraries/install', nth: 1 }],
    ['while the task polls the install (cluster-status answered late)', { method: 'GET', path: '/libraries/cluster-status', nth: 2 }],
  ];
  for (const [moment, { nth, ...hold }] of moments) {
    it(`cancelled ${moment}: the request is abandoned at once, the library uninstalled, the volume files and folder deleted, within the grace`, async () => {
      const ws = await workspace();
      try {
        const flag = join(tempDir('relevo-cancel-'), 'held');
        ws.shim.hold(hold, { flagFile: flag, releaseAfterMs: 4000, nth });
        const { run, out } = await build(quickProject(), PUBLISH, { endpoints: ws.endpoints, cancel: { whenFile: flag } });
        assert.equal(run.result, 'Failed', explain(run));
        assert.match(
          run.resultMessage!,
          /^Cancelled \(SIGINT\)\. Put back: the library \/Volumes\/main\/libs\/wheels\/ingest\/ingest-1\.0\.0-py3-none-any\.whl on cluster 0101-a \(uninstalled; a running cluster drops it at its next restart\); the file \/Volumes\/main\/libs\/wheels\/ingest\/install-ingest-1\.0\.0\.sh on the volume \(deleted\); the file \/Volumes\/main\/libs\/wheels\/ingest\/ingest-1\.0\.0-py3-none-any\.whl on the volume \(deleted\); the folder \/Volumes\/main\/libs\/wheels\/ingest this run made on the volume \(deleted\); the file .*install-ingest-1\.0\.0\.sh; the file .*ingest-1\.0\.0-py3-none-any\.whl\.$/,
          explain(run),
        );
        assert.equal(run.cancelled?.neededSigterm, false);
        assert.ok(run.cancelled!.exitedAfterMs < AGENT_SIGINT_GRACE_MS);
        assert.equal(ws.state(), ws.before(), 'the workspace is as before');
        assert.equal(ws.db.state.clusters.get('0101-a')!.libraries[0]?.status, 'UNINSTALL_ON_RESTART');
        const held = ws.shim.calls.find((c) => c.held)!;
        const undo = ws.shim.calls.filter((c) => c.n > held.n);
        assert.deepEqual(
          undo.map((c) => `${c.method} ${c.path}`),
          [
            'POST /api/2.0/libraries/uninstall',
            `DELETE /api/2.0/fs/files${SCRIPT}`,
            `DELETE /api/2.0/fs/files${WHEEL}`,
            `DELETE /api/2.0/fs/directories${FOLDER}`,
          ],
        );
        // Abandoned at once: left open, it would close only when the task exits, 2.5 s or more after the
        // cancel (the order of the abandon and the undo's first call can flip by a few ms under load).
        assert.ok(
          held.abandonedAt !== undefined && held.abandonedAt - held.at < 2000,
          'the held request was not abandoned when the cancel came (it stayed open until the task ended)',
        );
        assert.ok(emptyOrAbsent(out));
        assert.deepEqual(JSON.parse(run.outputs.uploadedTo), []);
      } finally {
        await ws.stop();
      }
    });
  }

  it('cancelled while waiting to retry (503, Retry-After: 20): the wait is cut short, the undo runs at once', async () => {
    const ws = await workspace();
    try {
      // The first poll after the install.
      const install = calls.findIndex((c) => c.path.endsWith('/libraries/install'));
      const k = calls.findIndex((c, i) => i > install && c.path.endsWith('/cluster-status')) + 1;
      const flag = join(tempDir('relevo-cancel-'), 'throttled');
      ws.shim.failAt(k, {
        status: 503,
        headers: { 'retry-after': '20' },
        body: { error_code: 'TEMPORARILY_UNAVAILABLE', message: 'later' },
        flagFile: flag,
      });
      const { run } = await build(quickProject(), PUBLISH, { endpoints: ws.endpoints, cancel: { whenFile: flag } });
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(run.resultMessage!, /^Cancelled \(SIGINT\)\. Put back: the library /);
      assert.equal(ws.state(), ws.before());
      // The task's runner waits up to 1.5 s for the work to settle before it undoes: a wait that
      // was cut short settles at once, a 20 s one would hold the undo back for those 1.5 s.
      assert.ok(run.cancelled!.exitedAfterMs < 1400, `exited ${run.cancelled!.exitedAfterMs} ms after SIGINT`);
    } finally {
      await ws.stop();
    }
  });

  it('every Databricks call failing in turn (before and after Databricks acted), with a message that carries ##vso[: the workspace ends as before, the log says what landed and what was put back', async () => {
    assert.ok(calls.length >= 10, `a publish takes ${calls.length} calls`);
    // A read failing after Databricks answered is the same as one failing before: writes get both.
    const cases = calls.flatMap((c, i) =>
      c.method === 'GET' || c.method === 'HEAD'
        ? [{ k: i + 1, forward: false }]
        : [
            { k: i + 1, forward: false },
            { k: i + 1, forward: true },
          ],
    );
    const lanes = [quickProject(), quickProject()];
    const initial = lanes.map(snapshot);
    const body = { error_code: 'INVALID_STATE', message: FOREIGN };
    const firstFilesCall = calls.findIndex((c) => c.path.includes('/api/2.0/fs/'));
    assert.ok(firstFilesCall > 0, 'the clusters are read before the volume is touched');
    const check = async (lane: number, { k, forward }: { k: number; forward: boolean }) => {
      const ws = await workspace();
      try {
        ws.shim.failAt(k, { forward, status: 400, body });
        const { run, out } = await build(lanes[lane], { ...PUBLISH, artifactName: 'wheels' }, { endpoints: ws.endpoints });
        const at = `k=${k} (${calls[k - 1].method} ${calls[k - 1].path}, ${forward ? 'after' : 'before'} Databricks acted)`;
        assertOnlyOwnCommands(run, 'build-wheel');
        assert.equal(snapshot(lanes[lane]), initial[lane], `${at}: the project changed`);
        assert.equal(run.result, 'Failed', `${at}: ${explain(run)}`);
        assert.match(run.resultMessage!, /HTTP 400/, at);
        assert.equal(ws.state(), ws.before(), `${at}: the workspace is not as before\n${explain(run)}`);
        assert.doesNotMatch(run.resultMessage!, /NOT put back/, at);
        assert.equal(run.outputs.pep440Version, undefined, `${at}: an output was set`);
        if (k - 1 < firstFilesCall) {
          // The clusters are read before anything is published: nothing went anywhere.
          assert.doesNotMatch(run.resultMessage!, /Landed/, at);
          assert.deepEqual(JSON.parse(run.outputs.uploadedTo), [], at);
          assert.ok(!existsSync(join(out, 'ingest-1.0.0-py3-none-any.whl')), `${at}: the output folder was not put back`);
        } else {
          assert.match(run.resultMessage!, /Landed before the failure, and kept: the artifact 'wheels'/, at);
          assert.deepEqual(JSON.parse(run.outputs.uploadedTo), ['artifact:wheels'], at);
          assert.ok(existsSync(join(out, 'ingest-1.0.0-py3-none-any.whl')), `${at}: the artifact's folder was emptied`);
        }
      } finally {
        await ws.stop();
      }
    };
    for (let i = 0; i < cases.length; i += lanes.length)
      await Promise.all(lanes.map((_, lane) => (cases[i + lane] ? check(lane, cases[i + lane]) : undefined)));
  });

  it('a wheel of the same name already on the volume gets its previous bytes back when the install fails', async () => {
    const ws = await workspace();
    try {
      ws.db.state.files.set(WHEEL, Buffer.from('the wheel of an earlier build'));
      ws.db.state.clusters.get('0101-a')!.failInstall = {
        match: /ingest/,
        message: 'ERROR: No matching distribution found for pandas>=99',
      };
      const before = ws.state();
      const { run } = await build(
        quickProject(),
        { databricksConnection: 'dbx', volumePath: FOLDER, clusterIds: '0101-a' },
        { endpoints: ws.endpoints },
      );
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(
        run.resultMessage!,
        /Put back: the library .* on cluster 0101-a .*; the file \/Volumes\/main\/libs\/wheels\/ingest\/ingest-1\.0\.0-py3-none-any\.whl on the volume \(its previous bytes written back\)/,
      );
      assert.equal(ws.state(), before);
      assert.equal(ws.db.state.files.get(WHEEL)!.toString(), 'the wheel of an earlier build');
    } finally {
      await ws.stop();
    }
  });

  it('a file the feed accepted lands and is reported; an upload the cancel cut off is reported as maybe landed, never as put back', async () => {
    const feed = await startPypiServer();
    const shim = await startRestShim(feed.url);
    const ws = await workspace();
    try {
      const feedUrl = new URL(new URL(feed.url).pathname, shim.url).href;
      const endpoints = {
        ...ws.endpoints,
        up: { scheme: 'UsernamePassword', parameters: { username: feed.username, password: feed.password } },
      };
      ws.db.state.clusters.get('0101-a')!.failInstall = {
        match: /ingest/,
        message: 'ERROR: No matching distribution found for pandas>=99',
      };
      const failed = await build(
        quickProject(),
        { feedUrl, feedConnection: 'up', databricksConnection: 'dbx', volumePath: FOLDER, clusterIds: '0101-a' },
        { endpoints },
      );
      assert.equal(failed.run.result, 'Failed', explain(failed.run));
      assert.match(
        failed.run.resultMessage!,
        /Landed before the failure, and kept: ingest-1\.0\.0-py3-none-any\.whl in the feed http:\/\/127\.0\.0\.1:\d+\/org\/_packaging\/feed\/pypi\/upload\/\. Put back: the library /,
      );
      assert.deepEqual(JSON.parse(failed.run.outputs.uploadedTo), [feedUrl]);
      assert.ok(feed.files.has('ingest-1.0.0-py3-none-any.whl'));
      assert.equal(ws.state(), ws.before());

      feed.files.clear();
      const flag = join(tempDir('relevo-cancel-'), 'uploading');
      shim.hold({ method: 'POST', path: '/upload/' }, { flagFile: flag });
      const cancelled = await build(quickProject(), { feedUrl, feedConnection: 'up' }, { endpoints, cancel: { whenFile: flag } });
      assert.equal(cancelled.run.result, 'Failed', explain(cancelled.run));
      assert.match(
        cancelled.run.resultMessage!,
        /^Cancelled \(SIGINT\)\. Put back: the file .*ingest-1\.0\.0-py3-none-any\.whl\. NOT put back: ingest-1\.0\.0-py3-none-any\.whl in the feed .* \(the upload was under way when the run stopped: the feed may have kept it, and a feed does not give a version back\)\.$/,
      );
      assert.equal(cancelled.run.cancelled?.neededSigterm, false);
      assert.deepEqual(JSON.parse(cancelled.run.outputs.uploadedTo), []);
    } finally {
      await ws.stop();
      await shim.stop();
      await feed.stop();
    }
  });

  it('a restart (restartClusters) cannot be undone: a failure after it says so, and the volume gets the previous wheel back', async () => {
    const ws = await workspace();
    try {
      const c = ws.db.state.clusters.get('0101-a')!;
      ws.db.state.files.set(WHEEL, Buffer.from('the wheel of an earlier build'));
      c.libraries.push({
        library: { whl: WHEEL },
        status: 'INSTALLED',
        messages: [],
        loaded: Buffer.from('the wheel of an earlier build'),
      });
      const inputs = { databricksConnection: 'dbx', volumePath: FOLDER, clusterIds: '0101-a', restartClusters: true };
      const probe = await build(quickProject(), inputs, { endpoints: ws.endpoints });
      assert.equal(probe.run.result, 'Succeeded', explain(probe.run));
      // The first read of the cluster after the restart (the call after it), in a workspace set up alike.
      const k = ws.shim.calls.findIndex((x) => x.path.endsWith('/clusters/restart')) + 2;
      assert.equal(ws.shim.calls[k - 1]?.path, '/api/2.1/clusters/get');
      const fresh = await workspace();
      try {
        const cluster = fresh.db.state.clusters.get('0101-a')!;
        fresh.db.state.files.set(WHEEL, Buffer.from('the wheel of an earlier build'));
        cluster.libraries.push({
          library: { whl: WHEEL },
          status: 'INSTALLED',
          messages: [],
          loaded: Buffer.from('the wheel of an earlier build'),
        });
        fresh.shim.failAt(k, { status: 400, body: { error_code: 'INVALID_PARAMETER_VALUE', message: 'no' } });
        const { run } = await build(quickProject(), inputs, { endpoints: fresh.endpoints });
        assert.equal(run.result, 'Failed', explain(run));
        assert.match(
          run.resultMessage!,
          /Put back: the file \/Volumes\/main\/libs\/wheels\/ingest\/ingest-1\.0\.0-py3-none-any\.whl on the volume \(its previous bytes written back\)/,
        );
        assert.match(
          run.resultMessage!,
          /NOT put back: the restart of cluster 0101-a \(a restart cannot be undone: the cluster loaded the file this run uploaded\)\./,
        );
        assert.doesNotMatch(run.resultMessage!, /the library .* \(uninstalled/, "the library was there before: not this run's to take off");
        assert.equal(fresh.db.state.files.get(WHEEL)!.toString(), 'the wheel of an earlier build');
        assert.equal(cluster.libraries.length, 1);
      } finally {
        await fresh.stop();
      }
    } finally {
      await ws.stop();
    }
  });

  it("the build tool's ##vso[, ##[ and bare CR drive nothing: its output is folded in the task's own group, shown as text", async () => {
    const repo = project(
      `print(${JSON.stringify(FOREIGN)}, flush=True)\nprint('##vso[task.uploadsummary]/etc/passwd', file=sys.stderr, flush=True)\nif 'bdist_wheel' in sys.argv:\n    raise SystemExit('stop ##vso[task.setvariable variable=wheelPath;isOutput=true]/tmp/x')`,
    );
    const { run } = await build(repo, {});
    assert.equal(run.result, 'Failed', explain(run));
    assertOnlyOwnCommands(run, 'build-wheel');
    assert.deepEqual(run.outputs, {}, 'an output was set');
    assert.match(
      run.stdout,
      /## vso\[task\.setvariable variable=pep440Version;isOutput=true\]9\.9\.9\\r## \[error\]x/,
      'the text is shown, neutralised',
    );
    const lines = run.stdout.split('\n');
    const open = lines.indexOf('##[group]Build output');
    const close = lines.indexOf('##[endgroup]');
    const shown = lines.findIndex((l) => l.includes('## vso[task.setvariable variable=pep440Version'));
    assert.ok(open >= 0 && open < shown && shown < close, `the build output is not inside the group:\n${explain(run)}`);
  });

  it('the build sees no job token, secret variable or service connection credential in its environment', async () => {
    const dump = join(tempDir('relevo-env-'), 'env.json');
    const repo = project(`pathlib.Path(${JSON.stringify(dump)}).write_text(json.dumps(dict(os.environ)))`);
    const ws = await workspace();
    try {
      const token = 'job-token-4e1f9a7c55';
      const secret = 'secret-variable-value-7d3b';
      const { run } = await build(
        repo,
        { databricksConnection: 'dbx', volumePath: FOLDER },
        {
          accessToken: token,
          endpoints: ws.endpoints,
          env: {
            SYSTEM_ACCESSTOKEN: token,
            SECRET_RELEASE_SIGNING_KEY: secret,
            VSTS_SECRET_VARIABLES: JSON.stringify(['Release.Signing.Key']),
          },
        },
      );
      assert.equal(run.result, 'Succeeded', explain(run));
      const env = JSON.parse(readFileSync(dump, 'utf8')) as Record<string, string>;
      assert.ok(Object.keys(env).length > 3, 'the dump holds the environment');
      const names = Object.keys(env).filter((n) => /^(SYSTEM_ACCESSTOKEN|ENDPOINT_AUTH|SECRET_|INPUT_)/i.test(n));
      assert.deepEqual(names, [], 'the build got credential variables');
      for (const value of [token, secret, ws.db.token])
        assert.ok(!Object.values(env).some((v) => v.includes(value)), `a credential reached the build: ${value}`);
    } finally {
      await ws.stop();
    }
  });
});
