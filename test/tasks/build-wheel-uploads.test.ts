/**
 * BuildWheel@1's uploads, bounded by progress rather than by a fixed total (issue 19): a feed
 * and a Databricks volume that read slowly but steadily take as long as they need; one that
 * stops reading fails saying how much was sent; a feed that takes the wheel and refuses the
 * sdist reports exactly what reached it; the upload form carries the wheel's METADATA as twine
 * sends it. Real builds; Relevo.NetworkTimeoutSeconds=2 makes the bound short.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { explain, runTask, type RunOptions, type TaskRun } from '../support/agentRunner';
import { startDatabricksServer } from '../support/databricksServer';
import { startPypiServer, type PypiServer } from '../support/pypiServer';
import { Repo, tempDir } from '../support/repo';

const PYTHON = '/usr/bin/python3';

/** A project whose wheel is about `mb` MB (incompressible package data), with rich metadata. */
function projectRepo(mb: number): Repo {
  const repo = Repo.init();
  repo.write(
    'pyproject.toml',
    [
      '[build-system]',
      'requires = ["setuptools>=61"]',
      'build-backend = "setuptools.build_meta"',
      '',
      '[project]',
      'name = "ingest-tools"',
      'version = "1.0.0"',
      'description = "Reads CSV drops into bronze tables"',
      'readme = "README.md"',
      'requires-python = ">=3.8"',
      'dependencies = ["requests>=2", "pyyaml"]',
      'classifiers = ["Programming Language :: Python :: 3", "License :: OSI Approved :: MIT License"]',
      '',
      '[project.urls]',
      'Homepage = "https://example.com/ingest"',
      '',
      '[tool.setuptools.package-data]',
      'ingest_tools = ["*.bin"]',
      '',
    ].join('\n'),
  );
  repo.write('README.md', '# Ingest\n\nReads CSV drops.\n');
  repo.write('src/ingest_tools/__init__.py', '');
  repo.write('.gitignore', 'dist/\n');
  repo.git('add', '-A');
  repo.git('commit', '-q', '-m', 'feat: first');
  if (mb)
    execFileSync('/bin/sh', ['-c', `head -c ${Math.round(mb * 1024 * 1024)} /dev/urandom > src/ingest_tools/data.bin`], { cwd: repo.dir });
  return repo;
}

async function build(repo: Repo, inputs: RunOptions['inputs'], options: Omit<RunOptions, 'inputs'> = {}): Promise<TaskRun> {
  return runTask('build-wheel', {
    ...options,
    inputs: {
      projectDirectory: repo.dir,
      pythonInterpreter: PYTHON,
      isolation: false,
      outputDirectory: join(tempDir('relevo-wheels-'), 'wheels'),
      ...inputs,
    },
    variables: {
      'Build.SourcesDirectory': repo.dir,
      'Relevo.NetworkTimeoutSeconds': '2',
      'Relevo.DatabricksPollMs': '5',
      ...options.variables,
    },
  });
}

function feedInputs(feed: PypiServer): { inputs: RunOptions['inputs']; options: Omit<RunOptions, 'inputs'> } {
  return {
    inputs: { feedUrl: feed.url, feedConnection: 'pypi' },
    options: {
      endpoints: { pypi: { url: feed.url, scheme: 'UsernamePassword', parameters: { username: feed.username, password: feed.password } } },
    },
  };
}

describe('BuildWheel@1 uploads: bounded by progress, what reached the feed, the whole METADATA (built task)', function () {
  this.timeout(300_000);
  before(function () {
    try {
      execFileSync(PYTHON, ['-c', 'import build, setuptools, wheel'], { stdio: 'ignore' });
    } catch {
      this.skip();
    }
  });

  it('a feed that reads slowly (1.5 MB at 256 KB/s, 2 s stall bound) takes as long as it needs; the form carries the METADATA fields twine sends', async () => {
    const feed = await startPypiServer();
    feed.pace = { bytesPerSecond: 256 * 1024 };
    const { inputs, options } = feedInputs(feed);
    const started = Date.now();
    const run = await build(projectRepo(1.5), { ...inputs, sdist: false }, options);
    assert.equal(run.result, 'Succeeded', explain(run));
    assert.ok(Date.now() - started > 5000, 'the upload took longer than the stall bound');
    const [file] = [...feed.files.values()];
    assert.equal(file.filename, 'ingest_tools-1.0.0-py3-none-any.whl');
    const f = file.fields;
    assert.equal(f.name, 'ingest-tools', 'the name as METADATA writes it');
    assert.equal(f.summary, 'Reads CSV drops into bronze tables');
    assert.equal(f.requires_python, '>=3.8');
    assert.deepEqual([...file.lists.requires_dist].sort(), ['pyyaml', 'requests (>=2)'], 'as setuptools writes them');
    assert.deepEqual(file.lists.classifiers, ['Programming Language :: Python :: 3', 'License :: OSI Approved :: MIT License']);
    assert.deepEqual(file.lists.project_urls, ['Homepage, https://example.com/ingest']);
    assert.equal(f.description_content_type, 'text/markdown');
    assert.match(f.description, /^# Ingest\r?\n\r?\nReads CSV drops\./, 'multipart/form-data sends line ends as CRLF');
    assert.match(f.blake2_256_digest, /^[0-9a-f]{64}$/, 'checked by the server with Python hashlib');
  });

  it('a feed that stops reading fails after the stall bound, saying how much was sent, with a clear message (no bug report, task.complete printed)', async () => {
    const feed = await startPypiServer();
    feed.pace = { stopAfterBytes: 256 * 1024 };
    const { inputs, options } = feedInputs(feed);
    const run = await build(projectRepo(8), { ...inputs, sdist: false }, options);
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(
      run.resultMessage!,
      /Input 'feedUrl': Could not upload ingest_tools-1\.0\.0-py3-none-any\.whl to .*: no bytes moved for 2 s after [\d.]+ MB of 8\.0 MB were sent\..*Fix: the upload stopped moving/,
    );
    assert.doesNotMatch(run.stdout, /Unexpected error|a bug in Relevo/);
    assert.match(run.stdout, /^##vso\[task\.complete result=Failed;\]/m);
    assert.equal(run.summaries.length, 1, 'the Summary is written on failure too');
  });

  it('a feed that takes the wheel and refuses the sdist: the log, the Summary and uploadedTo say exactly what reached it', async () => {
    const feed = await startPypiServer();
    feed.refuse = { match: /\.tar\.gz$/, message: "Invalid distribution file. File extension '.tar.gz' is not allowed in this feed." };
    const { inputs, options } = feedInputs(feed);
    const run = await build(projectRepo(0), inputs, options);
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(run.resultMessage!, /Could not upload ingest-tools-1\.0\.0\.tar\.gz .*HTTP 400: Invalid distribution file/);
    assert.match(run.stdout, /Feed: ingest_tools-1\.0\.0-py3-none-any\.whl uploaded to /);
    assert.deepEqual(JSON.parse(run.outputs.uploadedTo), [feed.url]);
    assert.match(run.summaries[0], /- feed: `ingest_tools-1\.0\.0-py3-none-any\.whl` uploaded/);
    assert.doesNotMatch(run.summaries[0], /tar\.gz` uploaded/);
    assert.deepEqual([...feed.files.keys()], ['ingest_tools-1.0.0-py3-none-any.whl']);
    assert.doesNotMatch(run.stdout, /Put back: [^\n]*tar\.gz/, 'the refused sdist never landed: nothing to put back');
  });

  it('a Databricks volume that reads slowly takes as long as it needs; one that stops reading fails saying how much was sent, and nothing is left on it', async () => {
    const db = await startDatabricksServer();
    db.addVolume('/Volumes/main/libs/wheels');
    const slow = await startDatabricksServer();
    slow.addVolume('/Volumes/main/libs/wheels');
    db.state.uploadPace = { bytesPerSecond: 256 * 1024 };
    slow.state.uploadPace = { stopAfterBytes: 256 * 1024 };
    const inputs = () => ({ databricksConnection: 'dbx', volumePath: '/Volumes/main/libs/wheels', sdist: false });
    const endpoints = (s: typeof db) => ({ endpoints: { dbx: { url: s.url, scheme: 'Token', parameters: { apitoken: s.token } } } });
    const [ok, stalled] = await Promise.all([
      build(projectRepo(1.5), { ...inputs() }, endpoints(db)),
      build(projectRepo(8), { ...inputs() }, endpoints(slow)),
    ]);
    assert.equal(ok.result, 'Succeeded', explain(ok));
    assert.deepEqual([...db.state.files.keys()], ['/Volumes/main/libs/wheels/ingest_tools-1.0.0-py3-none-any.whl']);
    assert.equal(stalled.result, 'Failed', explain(stalled));
    assert.match(
      stalled.resultMessage!,
      /Could not upload \/Volumes\/main\/libs\/wheels\/ingest_tools-1\.0\.0-py3-none-any\.whl: PUT .* answered no bytes moved for 2 s after [\d.]+ MB of 8\.0 MB were sent.*Fix: the upload stopped moving/,
    );
    assert.deepEqual([...slow.state.files.keys()], []);
  });
});
