/**
 * BuildWheel@1 run as the agent runs it, building real projects with Debian's Python tooling
 * (/usr/bin/python3 with setuptools, build, wheel, setuptools-scm; --no-isolation, since no
 * package index is reachable), publishing to a local upload server and the Databricks contract
 * server.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { explain, runTask, type RunOptions, type TaskRun } from '../support/agentRunner';
import { startDatabricksServer, type DatabricksServer } from '../support/databricksServer';
import { startPypiServer, type PypiServer } from '../support/pypiServer';
import { Repo, tempDir } from '../support/repo';
import { inspectWheel, parseHeaders, readZip } from '../../shared/python/wheel';

const PYTHON = '/usr/bin/python3';

function hasModules(...mods: string[]): boolean {
  try {
    execFileSync(PYTHON, ['-c', mods.map((m) => `import ${m}`).join('; ')], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The work tree's state: every file's bytes, and git's view including ignored files. */
function snapshot(repo: Repo): string {
  const status = repo.git('status', '--porcelain', '--ignored', '--untracked-files=all');
  const files = repo.git('ls-files', '-s');
  return `${status}\n${files}`;
}

function pyprojectRepo(name = 'ingest', version = '1.0.0'): Repo {
  const repo = Repo.init();
  repo.write(
    'pyproject.toml',
    `[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "${name}"\nversion = "${version}"\ndescription = "Reads CSV drops into bronze tables"\nrequires-python = ">=3.8"\n`,
  );
  repo.write(`src/${name.replace(/-/g, '_')}/__init__.py`, `__version__ = "${version}"\n`);
  repo.write('.gitignore', 'dist/\n');
  repo.git('add', '-A');
  repo.git('commit', '-q', '-m', 'feat: first');
  return repo;
}

function wheelMetadata(path: string): Map<string, string[]> {
  const meta = readZip(readFileSync(path)).find((e) => e.name.endsWith('.dist-info/METADATA'))!;
  return parseHeaders(meta.data.toString('utf8'));
}

function assertNoSecretLeak(run: TaskRun, ...secrets: string[]): void {
  for (const line of `${run.stdout}\n${run.stderr}`.split('\n')) {
    if (line.startsWith('##vso[task.setsecret]')) continue;
    for (const s of secrets) assert.ok(!line.includes(s), `a credential appears in: ${line}`);
  }
  for (const s of run.summaries) for (const secret of secrets) assert.ok(!s.includes(secret), 'a credential is in the summary');
}

async function build(
  repo: Repo,
  inputs: RunOptions['inputs'],
  options: Omit<RunOptions, 'inputs'> = {},
): Promise<{ run: TaskRun; out: string }> {
  const out = join(tempDir('relevo-wheels-'), 'wheels');
  const run = await runTask('build-wheel', {
    ...options,
    inputs: { projectDirectory: repo.dir, pythonInterpreter: PYTHON, isolation: false, outputDirectory: out, ...inputs },
    variables: { 'Build.SourcesDirectory': repo.dir, ...options.variables },
  });
  return { run, out };
}

describe('BuildWheel@1 (real builds)', function () {
  this.timeout(60_000);
  before(function () {
    if (!hasModules('build', 'setuptools', 'wheel')) this.skip();
  });

  describe('publishing everywhere at once: artifact, feed with the job token, Databricks volume and cluster', () => {
    let db: DatabricksServer;
    let feed: PypiServer;
    let run: TaskRun;
    let out: string;
    let repo: Repo;
    let initial: string;
    const jobToken = 'job-token-b5d1e3f0a9';

    before(async () => {
      db = await startDatabricksServer();
      db.addVolume('/Volumes/main/libs/wheels');
      db.addCluster('0101-a', { name: 'etl' });
      db.addCluster('0101-b', { name: 'idle', state: 'TERMINATED' });
      feed = await startPypiServer();
      feed.acceptToken(jobToken);
      repo = pyprojectRepo();
      initial = snapshot(repo);
      ({ run, out } = await build(
        repo,
        {
          version: '1.3.0-rc.2',
          artifactName: 'wheels',
          feedUrl: feed.url,
          databricksConnection: 'dbx',
          volumePath: '/Volumes/main/libs/wheels/ingest',
          clusterIds: '0101-a\n0101-b',
          initScript: true,
        },
        {
          accessToken: jobToken,
          endpoints: { dbx: { url: db.url, scheme: 'Token', parameters: { apitoken: db.token } } },
          // The feed is this organization's: the job token may go there.
          variables: {
            'Relevo.DatabricksPollMs': '5',
            'Build.BuildNumber': '20260101.3',
            'System.TeamFoundationCollectionUri': new URL('/org/', feed.url).href,
          },
        },
      ));
    });
    after(async () => {
      await db.stop();
      await feed.stop();
    });

    it('builds 1.3.0rc2 from 1.3.0-rc.2, sets every output, and leaves the repository as it was', () => {
      assert.equal(run.result, 'Succeeded', explain(run));
      assert.deepEqual(Object.keys(run.outputs).sort(), ['packageName', 'pep440Version', 'sdistPath', 'uploadedTo', 'wheelPath']);
      assert.equal(run.outputs.packageName, 'ingest');
      assert.equal(run.outputs.pep440Version, '1.3.0rc2');
      assert.equal(run.outputs.wheelPath, join(out, 'ingest-1.3.0rc2-py3-none-any.whl'));
      assert.equal(run.outputs.sdistPath, join(out, 'ingest-1.3.0rc2.tar.gz'));
      assert.deepEqual(wheelMetadata(run.outputs.wheelPath).get('version'), ['1.3.0rc2']);
      assert.equal(inspectWheel(run.outputs.wheelPath, { name: 'ingest', version: '1.3.0rc2' }).name, 'ingest');
      assert.equal(snapshot(repo), initial, 'no file changed, no build/ or egg-info left');
      assert.match(readFileSync(join(repo.dir, 'pyproject.toml'), 'utf8'), /version = "1\.0\.0"/);
    });

    it('uploads the artifact, both files to the feed (form fields and digests checked by the server), and the wheel and init script to the volume', () => {
      assert.ok(run.commands.some((c) => c.command === 'artifact.upload' && c.properties.artifactname === 'wheels' && c.message === out));
      assert.deepEqual([...feed.files.keys()].sort(), ['ingest-1.3.0rc2-py3-none-any.whl', 'ingest-1.3.0rc2.tar.gz']);
      const whl = feed.files.get('ingest-1.3.0rc2-py3-none-any.whl')!;
      assert.deepEqual(
        { name: whl.fields.name, version: whl.fields.version, filetype: whl.fields.filetype, pyversion: whl.fields.pyversion },
        { name: 'ingest', version: '1.3.0rc2', filetype: 'bdist_wheel', pyversion: 'py3' },
      );
      assert.ok(whl.bytes.equals(readFileSync(run.outputs.wheelPath)));
      assert.equal(feed.files.get('ingest-1.3.0rc2.tar.gz')!.fields.filetype, 'sdist');
      assert.ok(
        db.state.files
          .get('/Volumes/main/libs/wheels/ingest/ingest-1.3.0rc2-py3-none-any.whl')!
          .equals(readFileSync(run.outputs.wheelPath)),
      );
      const script = db.state.files.get('/Volumes/main/libs/wheels/ingest/install-ingest-1.3.0rc2.sh')!.toString();
      assert.match(script, /pip install .*--index-url "\$INDEX_URL" 'ingest==1\.3\.0rc2'/);
      assert.ok(script.includes(feed.url.replace('/upload/', '/simple/')));
      assert.ok(existsSync(join(out, 'install-ingest-1.3.0rc2.sh')));
      assert.deepEqual(JSON.parse(run.outputs.uploadedTo), [
        'artifact:wheels',
        feed.url,
        '/Volumes/main/libs/wheels/ingest/ingest-1.3.0rc2-py3-none-any.whl',
        '/Volumes/main/libs/wheels/ingest/install-ingest-1.3.0rc2.sh',
      ]);
    });

    it('installs on the running cluster (polled to INSTALLED) and says the terminated one installs at start', () => {
      assert.deepEqual(
        db.state.clusters.get('0101-a')!.libraries.map((l) => [l.library.whl, l.status]),
        [['/Volumes/main/libs/wheels/ingest/ingest-1.3.0rc2-py3-none-any.whl', 'INSTALLED']],
      );
      assert.match(run.stdout, /Cluster 0101-a \(etl\): INSTALLED/);
      assert.match(run.stdout, /Cluster 0101-b \(idle\): not running: the library installs when the cluster starts/);
      assert.match(run.summaries[0], /0101-a \(etl\) \| ✅ INSTALLED/);
    });

    it('the Summary says what was built, how it was checked and where it went', () => {
      const s = run.summaries[0];
      assert.match(s, /### Wheel ingest 1\.3\.0rc2/);
      assert.match(s, /from `1\.3\.0-rc\.2`/);
      assert.match(s, /RECORD hashes/);
      assert.match(s, /`pyproject\.toml` 1\.0\.0 → 1\.3\.0rc2 for the build, put back after/);
      assert.match(s, /pipeline artifact `wheels`/);
    });

    it('no credential appears in the output, except to register it as a secret', () => {
      assert.ok(run.secrets.includes(db.token) && run.secrets.includes(jobToken));
      assertNoSecretLeak(run, db.token, jobToken);
      assert.ok(feed.requests.every((r) => r.status === 200));
    });
  });

  it('a setup.cfg project gets a final version; sdist: false builds only the wheel', async () => {
    const repo = Repo.init();
    repo.write(
      'setup.cfg',
      '[metadata]\nname = table-picker\nversion = 0.4.0\n\n[options]\npackage_dir =\n    = src\npackages = find:\n\n[options.packages.find]\nwhere = src\n',
    );
    repo.write('setup.py', 'from setuptools import setup\nsetup()\n');
    repo.write('src/table_picker/__init__.py', '');
    repo.git('add', '-A');
    repo.git('commit', '-q', '-m', 'feat: first');
    const before = snapshot(repo);
    const { run, out } = await build(repo, { version: 'v2.0.0', sdist: false });
    assert.equal(run.result, 'Succeeded', explain(run));
    assert.equal(run.outputs.pep440Version, '2.0.0');
    assert.equal(run.outputs.packageName, 'table-picker');
    assert.equal(run.outputs.sdistPath, '');
    assert.deepEqual(readdirSync(out), ['table_picker-2.0.0-py3-none-any.whl']);
    assert.equal(snapshot(repo), before);
  });

  it('a setuptools-scm project gets SETUPTOOLS_SCM_PRETEND_VERSION: 1.4.0-dev.7 → 1.4.0.dev7', async function () {
    if (!hasModules('setuptools_scm')) this.skip();
    const repo = Repo.init();
    repo.write(
      'pyproject.toml',
      '[build-system]\nrequires = ["setuptools>=61", "setuptools-scm"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "history"\ndynamic = ["version"]\n\n[tool.setuptools_scm]\n',
    );
    repo.write('src/history/__init__.py', '');
    repo.git('add', '-A');
    repo.git('commit', '-q', '-m', 'feat: first');
    repo.tag('v1.3.0');
    const before = snapshot(repo);
    const { run } = await build(repo, { version: '1.4.0-dev.7' });
    assert.equal(run.result, 'Succeeded', explain(run));
    assert.equal(run.outputs.pep440Version, '1.4.0.dev7');
    assert.deepEqual(wheelMetadata(run.outputs.wheelPath).get('version'), ['1.4.0.dev7']);
    assert.match(run.stdout, /SETUPTOOLS_SCM_PRETEND_VERSION=1\.4\.0\.dev7/);
    assert.equal(snapshot(repo), before);
  });

  it('a broken project fails with the tail of the build output; the repository and the output folder are left as they were', async () => {
    const repo = pyprojectRepo('broken');
    repo.write('setup.py', 'from setuptools import setup\nsetup(\n');
    repo.git('add', '-A');
    repo.git('commit', '-q', '-m', 'fix: oops');
    const before = snapshot(repo);
    const { run, out } = await build(repo, { version: '1.0.1' });
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(run.resultMessage!, /the build of broken failed \(exit 1\)\. The end of its output:/);
    assert.match(run.resultMessage!, /SyntaxError/);
    assert.match(run.resultMessage!, /Fix: run '\/usr\/bin\/python3 -m build --no-isolation' in /);
    assert.equal(snapshot(repo), before, 'pyproject.toml put back, no build/ or egg-info left');
    assert.ok(!existsSync(out) || readdirSync(out).length === 0, 'nothing in the output folder');
  });

  it('bad inputs fail before anything is built, naming the input and the fix', async () => {
    const repo = pyprojectRepo();
    const cases: Array<[RunOptions['inputs'], RegExp]> = [
      [{ version: 'one.two' }, /Input 'version': 'one\.two' is not a semantic version.*Fix: pass a version like 1\.3\.0/],
      [{ projectDirectory: join(repo.dir, 'nope') }, /Input 'projectDirectory': '.*nope' is not a folder/],
      [
        { pythonInterpreter: 'python-does-not-exist' },
        /Input 'pythonInterpreter': 'python-does-not-exist' cannot be run \(not found\)\. Fix: install Python 3 on the agent \(a UsePythonVersion@0 step/,
      ],
      [{ clusterIds: 'c-1' }, /Input 'volumePath': clusters install the wheel from a volume/],
      [
        { volumePath: '/dbfs/FileStore/jars', databricksConnection: 'x' },
        /Input 'volumePath': '\/dbfs\/FileStore\/jars' is not a Unity Catalog volume path/,
      ],
      [{ volumePath: '/Volumes/main/libs/wheels' }, /Input 'databricksConnection': volumePath needs a Databricks connection/],
      [{ feedUrl: 'https://user:pw@pkgs.example.com/upload/' }, /Input 'feedUrl': the URL carries credentials/],
      [{ installTimeoutMinutes: '0', volumePath: '/Volumes/main/libs/wheels' }, /Input 'installTimeoutMinutes'/],
    ];
    const runs = await Promise.all(cases.map(([inputs]) => build(repo, inputs)));
    runs.forEach(({ run, out }, i) => {
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(run.resultMessage!, cases[i][1]);
      assert.ok(!existsSync(out));
    });
  });

  it('the job token is never sent to a feed outside the organization', async () => {
    const repo = pyprojectRepo();
    const token = 'relevo-job-token-feed-scope';
    const { run, out } = await build(
      repo,
      { feedUrl: 'https://upload.pypi.org/legacy/' },
      { accessToken: token, variables: { 'System.TeamFoundationCollectionUri': 'https://dev.azure.com/contoso/' } },
    );
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(
      run.resultMessage!,
      /Input 'feedConnection': the job token is sent only to this organization's Azure Artifacts feeds, and 'upload\.pypi\.org' is not one/,
    );
    assert.ok(!existsSync(out), 'refused before building');
    const other = await build(
      repo,
      { feedUrl: 'https://pkgs.dev.azure.com/fabrikam/_packaging/feed/pypi/upload/' },
      { accessToken: token, variables: { 'System.TeamFoundationCollectionUri': 'https://dev.azure.com/contoso/' } },
    );
    assert.match(
      other.run.resultMessage!,
      /Input 'feedConnection'.*'pkgs\.dev\.azure\.com' is not one/,
      'another organization on the same host',
    );
  });

  it('an interpreter without the build module fails with the command that installs it', async function () {
    if (!hasModules('venv')) this.skip();
    const venv = join(tempDir('relevo-venv-'), 'bare');
    execFileSync(PYTHON, ['-m', 'venv', '--without-pip', venv]);
    const repo = pyprojectRepo();
    const { run } = await build(repo, { pythonInterpreter: join(venv, 'bin', 'python') });
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(run.resultMessage!, /Input 'pythonInterpreter': the Python at .*bare\/bin\/python.* has no 'build' module/);
    assert.match(
      run.resultMessage!,
      new RegExp(
        `Fix: install it: ${join(venv, 'bin', 'python').replace(/[/.]/g, '\\$&')} -m pip install build\\. This Python has no pip either`,
      ),
    );
  });

  it('without isolation, a missing backend requirement is named with its install command before building', async () => {
    const repo = pyprojectRepo();
    repo.write(
      'pyproject.toml',
      readFileSync(join(repo.dir, 'pyproject.toml'), 'utf8').replace(
        'requires = ["setuptools>=61"]',
        'requires = ["setuptools>=61", "hatch-fancy-not-installed>=1"]',
      ),
    );
    const { run } = await build(repo, {});
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(
      run.resultMessage!,
      /Input 'isolation': .* lacks the build requirements hatch-fancy-not-installed>=1.*Fix: install them: \/usr\/bin\/python3 -m pip install 'hatch-fancy-not-installed>=1'/,
    );
  });

  describe('feed', () => {
    let feed: PypiServer;
    beforeEach(async () => (feed = await startPypiServer({ existsStatus: 409 })));
    afterEach(() => feed.stop());

    it('an existing version is a clear error (409), or skipped with skipExisting; a service connection authenticates', async () => {
      const repo = pyprojectRepo();
      feed.seed('ingest-1.0.0-py3-none-any.whl');
      const endpoints = { up: { scheme: 'UsernamePassword', parameters: { username: feed.username, password: feed.password } } };
      const failed = await build(repo, { feedUrl: feed.url, feedConnection: 'up', sdist: false }, { endpoints });
      assert.equal(failed.run.result, 'Failed', explain(failed.run));
      assert.match(
        failed.run.resultMessage!,
        /Input 'skipExisting': ingest-1\.0\.0-py3-none-any\.whl is already in the feed \(HTTP 409: The feed already contains the file/,
      );
      assert.match(failed.run.resultMessage!, /Fix: build a new version \(VersionBump\), or set skipExisting: true/);
      assert.equal(JSON.parse(failed.run.outputs.uploadedTo).length, 0);
      const skipped = await build(repo, { feedUrl: feed.url, feedConnection: 'up', skipExisting: true, sdist: false }, { endpoints });
      assert.equal(skipped.run.result, 'Succeeded', explain(skipped.run));
      assert.match(skipped.run.stdout, /already there \(HTTP 409\), skipped \(skipExisting\)/);
      assertNoSecretLeak(failed.run, feed.password);
      assertNoSecretLeak(skipped.run, feed.password);
    });
  });

  describe('Databricks', () => {
    let db: DatabricksServer;
    beforeEach(async () => {
      db = await startDatabricksServer();
      db.addVolume('/Volumes/main/libs/wheels');
    });
    afterEach(() => db.stop());
    const pat = () => ({ dbx: { url: db.url, scheme: 'Token', parameters: { apitoken: db.token } } });

    it("a FAILED install fails the task with Databricks' message; the library is uninstalled and the wheel taken off the volume again", async () => {
      const c = db.addCluster('c-bad', {
        failInstall: { match: /ingest/, message: 'ERROR: Could not find a version that satisfies the requirement pandas>=99' },
      });
      const { run, out } = await build(
        pyprojectRepo(),
        { databricksConnection: 'dbx', volumePath: '/Volumes/main/libs/wheels', clusterIds: 'c-bad', sdist: false },
        { endpoints: pat(), variables: { 'Relevo.DatabricksPollMs': '5' } },
      );
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(
        run.resultMessage!,
        /Input 'clusterIds': the library did not install on cluster c-bad \(FAILED: ERROR: Could not find a version that satisfies the requirement pandas>=99\)/,
      );
      assert.match(
        run.resultMessage!,
        /Put back: the library \/Volumes\/main\/libs\/wheels\/ingest-1\.0\.0-py3-none-any\.whl on cluster c-bad \(uninstalled; a running cluster drops it at its next restart\); the file \/Volumes\/main\/libs\/wheels\/ingest-1\.0\.0-py3-none-any\.whl on the volume \(deleted\)/,
      );
      assert.doesNotMatch(run.resultMessage!, /NOT put back|Landed/);
      assert.deepEqual(JSON.parse(run.outputs.uploadedTo), [], 'nothing landed');
      assert.deepEqual([...db.state.files.keys()], []);
      assert.deepEqual(
        c.libraries.map((l) => l.status),
        ['UNINSTALL_ON_RESTART'],
      );
      assert.ok(!existsSync(out) || readdirSync(out).length === 0, 'the output folder is as before');
      assertNoSecretLeak(run, db.token);
    });

    it('403 on the volume quotes PERMISSION_DENIED and names the grant; a service principal signs in at the configured token host', async () => {
      db.addServicePrincipal('sp-app', { tenantId: 'tenant-9', secret: 'sp-secret-9f8e7d' });
      db.state.denied.add('files');
      const endpoints = {
        sp: {
          url: db.url,
          scheme: 'UsernamePassword',
          parameters: { username: 'sp-app', password: 'sp-secret-9f8e7d', tenantId: 'tenant-9' },
          data: { authorityHost: db.authorityHost },
        },
      };
      const { run } = await build(
        pyprojectRepo(),
        { databricksConnection: 'sp', volumePath: '/Volumes/main/libs/wheels', sdist: false },
        { endpoints },
      );
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(
        run.resultMessage!,
        /Could not create the directory \/Volumes\/main\/libs\/wheels: PUT \/api\/2\.0\/fs\/directories\/Volumes\/main\/libs\/wheels answered HTTP 403 PERMISSION_DENIED: User does not have permission WRITE VOLUME/,
      );
      assert.match(run.resultMessage!, /Fix: give the connection's identity WRITE VOLUME/);
      assert.equal(db.requestsTo('/oauth2/v2.0/token').length, 1);
      assertNoSecretLeak(run, 'sp-secret-9f8e7d', ...db.state.issuedAad);
    });

    it('the same version already installed: says a running cluster keeps it; restartClusters restarts and waits for INSTALLED', async () => {
      const c = db.addCluster('c-1');
      const whl = '/Volumes/main/libs/wheels/ingest-1.0.0-py3-none-any.whl';
      db.state.files.set(whl, Buffer.from('old bytes'));
      c.libraries.push({ library: { whl }, status: 'INSTALLED', messages: [], loaded: Buffer.from('old bytes') });
      const repo = pyprojectRepo();
      const inputs = { databricksConnection: 'dbx', volumePath: '/Volumes/main/libs/wheels', clusterIds: 'c-1', sdist: false };
      const first = await build(repo, inputs, { endpoints: pat(), variables: { 'Relevo.DatabricksPollMs': '5' } });
      assert.equal(first.run.result, 'Succeeded', explain(first.run));
      assert.ok(
        first.run.warnings.some((w) =>
          /already had ingest-1\.0\.0-py3-none-any\.whl installed: installing the same version again does nothing on a running cluster.*restartClusters: true/.test(
            w,
          ),
        ),
      );
      assert.equal(db.requestsTo('/clusters/restart').length, 0);
      const second = await build(
        repo,
        { ...inputs, restartClusters: true },
        { endpoints: pat(), variables: { 'Relevo.DatabricksPollMs': '5' } },
      );
      assert.equal(second.run.result, 'Succeeded', explain(second.run));
      assert.equal(db.requestsTo('/clusters/restart').length, 1);
      assert.match(second.run.stdout, /Cluster c-1 \(cluster-c-1\): restarted, INSTALLED/);
      assert.ok(c.libraries[0].loaded!.equals(readFileSync(second.run.outputs.wheelPath)), 'the cluster loaded the new file');
    });
  });
});
