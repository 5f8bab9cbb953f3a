/**
 * BuildWheel@1 on projects as they are written in the wild (issue 19): a version kept in a
 * module that setup.py `exec`s, versions that cannot be published, a stale build/ from an
 * earlier local build, a tag-less checkout of a setuptools-scm project, build requirements
 * that `python -m build` reports missing. Real builds with /usr/bin/python3 --no-isolation.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { explain, runTask, type RunOptions, type TaskRun } from '../support/agentRunner';
import { Repo, tempDir } from '../support/repo';
import { readZip } from '../../shared/python/wheel';

const PYTHON = '/usr/bin/python3';

function hasModules(...mods: string[]): boolean {
  try {
    execFileSync(PYTHON, ['-c', mods.map((m) => `import ${m}`).join('; ')], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function snapshot(repo: Repo): string {
  return `${repo.git('status', '--porcelain', '--ignored', '--untracked-files=all')}\n${repo.git('ls-files', '-s')}`;
}

function committed(repo: Repo, files: Record<string, string>): Repo {
  for (const [path, text] of Object.entries(files)) repo.write(path, text);
  repo.git('add', '-A');
  repo.git('commit', '-q', '-m', 'feat: first');
  return repo;
}

/** The Databricks SDK for Python as released in 2024 (v0.30.0): setup.py execs databricks/sdk/version.py. */
function sdkShapedRepo(): Repo {
  return committed(Repo.init(), {
    'setup.py': [
      'import io, pathlib',
      'from setuptools import setup, find_packages',
      'version_data = {}',
      "version_file = pathlib.Path(__file__).parent / 'databricks' / 'sdk' / 'version.py'",
      'with version_file.open("r") as f:',
      '    exec(f.read(), version_data)',
      "setup(name='databricks-sdk', version=version_data['__version__'], packages=find_packages(exclude=['tests', 'tests.*']),",
      "      python_requires='>=3.7', description='Databricks SDK for Python (Beta)')",
      '',
    ].join('\n'),
    'databricks/__init__.py': '',
    'databricks/sdk/__init__.py': 'from databricks.sdk.version import __version__\n',
    'databricks/sdk/version.py': "__version__ = '0.30.0'\n",
    // A test that writes the same string, not at module level: not the version file.
    'tests/test_version.py': "def test_version():\n    version = '0.30.0'\n    assert version\n",
    '.gitignore': 'dist/\n',
  });
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

function wheelNames(path: string): string[] {
  return readZip(readFileSync(path)).map((e) => e.name);
}

describe('BuildWheel@1 on real-world project shapes (real builds)', function () {
  this.timeout(90_000);
  before(function () {
    if (!hasModules('build', 'setuptools', 'wheel')) this.skip();
  });

  it('a setup.py that execs its version.py (the Databricks SDK 0.30.0 shape): the version the project reports is found in version.py, stamped, put back', async () => {
    const repo = sdkShapedRepo();
    const before = snapshot(repo);
    const { run } = await build(repo, { version: '1.3.0-rc.2', sdist: false });
    assert.equal(run.result, 'Succeeded', explain(run));
    assert.equal(run.outputs.pep440Version, '1.3.0rc2');
    assert.match(run.outputs.wheelPath, /databricks_sdk-1\.3\.0rc2-py3-none-any\.whl$/);
    assert.match(
      run.stdout,
      /Version 1\.3\.0rc2 stamped into .*databricks\/sdk\/version\.py \(the version setup\.py --version reports\) for the build \(was 0\.30\.0/,
    );
    const version = readZip(readFileSync(run.outputs.wheelPath)).find((e) => e.name === 'databricks/sdk/version.py')!;
    assert.equal(version.data.toString(), "__version__ = '1.3.0rc2'\n");
    assert.equal(snapshot(repo), before);
  });

  it('the same shape with the version in two modules is refused, naming both and the version input; nothing built', async () => {
    const repo = sdkShapedRepo();
    committed(repo, { 'databricks/sdk/__about__.py': "VERSION = '0.30.0'\n" });
    const { run, out } = await build(repo, { version: '1.3.0' });
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(
      run.resultMessage!,
      /Input 'version': the project reports version 0\.30\.0 \(.*\), and 2 files hold it: databricks\/sdk\/__about__\.py, databricks\/sdk\/version\.py/,
    );
    assert.ok(!existsSync(out) || readdirSync(out).length === 0);
  });

  it('versions without a publishable PEP 440 form are refused before building, naming version', async () => {
    const repo = sdkShapedRepo();
    const cases: Array<[string, RegExp]> = [
      [
        '1.3.0+build.5',
        /Input 'version': '1\.3\.0\+build\.5' cannot be published as a Python version: its build metadata \(\+build\.5\) would become a PEP 440 local version/,
      ],
      ['1.3.0-rc.2.3', /Input 'version': '1\.3\.0-rc\.2\.3' cannot be published .* would become 1\.3\.0rc2 like other versions/],
    ];
    const runs = await Promise.all(cases.map(([version]) => build(repo, { version })));
    runs.forEach(({ run }, i) => {
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(run.resultMessage!, cases[i][1]);
      assert.doesNotMatch(run.stdout, /-m build/, 'nothing was built');
    });
  });

  it('a build/lib left by an earlier local build does not ship a module deleted from the source; build/ is put back', async () => {
    const repo = sdkShapedRepo();
    repo.write('.gitignore', 'dist/\nbuild/\n*.egg-info/\n');
    repo.write('databricks/sdk/gone.py', 'X = 1\n');
    repo.git('add', '-A');
    repo.git('commit', '-q', '-m', 'feat: gone');
    execFileSync(PYTHON, ['setup.py', '-q', 'build'], { cwd: repo.dir, stdio: 'ignore' });
    assert.ok(existsSync(join(repo.dir, 'build/lib/databricks/sdk/gone.py')));
    repo.git('rm', '-q', 'databricks/sdk/gone.py');
    repo.git('commit', '-q', '-m', 'refactor: drop gone');
    const before = snapshot(repo);
    const { run } = await build(repo, { sdist: false });
    assert.equal(run.result, 'Succeeded', explain(run));
    assert.match(run.stdout, /build was there from an earlier build: set aside/);
    const names = wheelNames(run.outputs.wheelPath);
    assert.ok(names.includes('databricks/sdk/version.py'));
    assert.ok(!names.includes('databricks/sdk/gone.py'), names.join(', '));
    assert.equal(snapshot(repo), before, 'the earlier build/ is back as it was');
    assert.ok(existsSync(join(repo.dir, 'build/lib/databricks/sdk/gone.py')));
  });

  it('a setuptools-scm project in a tag-less checkout with version empty: refused when publishing (local version), a loud warning otherwise', async function () {
    if (!hasModules('setuptools_scm')) this.skip();
    // Two checkouts: two builds in one folder would race on its egg-info.
    const scmRepo = () =>
      committed(Repo.init(), {
        'pyproject.toml':
          '[build-system]\nrequires = ["setuptools>=61", "setuptools-scm"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "history"\ndynamic = ["version"]\n\n[tool.setuptools_scm]\n',
        'src/history/__init__.py': '',
        '.gitignore': 'dist/\n',
      });
    const [published, local] = await Promise.all([
      build(scmRepo(), { artifactName: 'wheels', sdist: false }),
      build(scmRepo(), { sdist: false }),
    ]);
    assert.equal(published.run.result, 'Failed', explain(published.run));
    assert.match(
      published.run.resultMessage!,
      /Input 'version': the project built version 0\.1\.dev1\+g[0-9a-f]+, a local version .* this checkout has none .*nothing was published\. Fix: set 'version' .* fetchTags: true/,
    );
    assert.ok(!existsSync(published.out) || readdirSync(published.out).length === 0);
    assert.ok(!published.run.stdout.includes('artifact.upload'));
    assert.equal(local.run.result, 'Succeeded', explain(local.run));
    assert.match(
      local.run.stdout,
      /##vso\[task\.issue type=warning[^\]]*\]the project built version 0\.1\.dev1\+g[0-9a-f]+, a local version/,
    );
  });

  it('build requirements python -m build reports missing are all named; skipDependencyCheck (-x) builds with what is installed', async () => {
    // A checkout each: builds in one folder would race on its egg-info.
    const xdep = () =>
      committed(Repo.init(), {
        'pyproject.toml': '[build-system]\nrequires = ["setuptools>=40"]\nbuild-backend = "setuptools.build_meta"\n',
        'setup.cfg': '[metadata]\nname = xdep\nversion = 0.1.0\n\n[options]\nsetup_requires =\n    foo-missing\n    bar-missing>=2\n',
        '.gitignore': 'dist/\n',
      });
    const [checked, skipped, isolated] = await Promise.all([
      build(xdep(), { sdist: false }),
      build(xdep(), { sdist: false, skipDependencyCheck: true }),
      build(xdep(), { isolation: true, skipDependencyCheck: true }),
    ]);
    assert.equal(checked.run.result, 'Failed', explain(checked.run));
    // Every missing one (build prints them in no fixed order).
    const fix = /Fix: install the build requirements \(\/usr\/bin\/python3 -m pip install ('[^)]*')\), set skipDependencyCheck: true/.exec(
      checked.run.resultMessage!,
    );
    assert.deepEqual(fix?.[1].split(' ').sort(), ["'bar-missing>=2'", "'foo-missing'"], checked.run.resultMessage);
    assert.equal(skipped.run.result, 'Succeeded', explain(skipped.run));
    assert.match(skipped.run.stdout, /-m build --wheel .*--no-isolation --skip-dependency-check/);
    assert.equal(isolated.run.result, 'Failed');
    assert.match(isolated.run.resultMessage!, /Input 'skipDependencyCheck': an isolated build installs its requirements itself/);
  });
});
