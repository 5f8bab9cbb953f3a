/**
 * Each task's settings (tasks/<folder>/settings.ts) read from an agent environment given here
 * (shared/agent/host.ts `useAgentEnvironment`), with the defaults of the task's own task.json:
 * no bundle, no child process. Defaults, parsing, and each refusal naming its input.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { useAgentEnvironment } from '../../shared/agent/host';
import { UserError } from '../../shared/errors';
import { isBuildRepository } from '../../shared/git/buildRepository';
import { readSettings as buildWheel } from '../../tasks/build-wheel/settings';
import { readSettings as deploy } from '../../tasks/deploy-to-databricks/settings';
import { readSettings as promote } from '../../tasks/promote-branch/settings';
import { readSettings as regenerate } from '../../tasks/regenerate-sample-data/settings';
import { readSettings as updateSubmodules } from '../../tasks/update-submodules/settings';
import { readSettings as versionBump } from '../../tasks/version-bump/settings';
import { agentVariables, ROOT, type RunOptions } from '../support/agentRunner';
import { git, tempDir } from '../support/repo';

type AgentOptions = Pick<RunOptions, 'inputs' | 'variables' | 'accessToken' | 'endpoints' | 'env'>;

/** The agent environment of `folder`'s task; returns the commands the task writes (##vso lines). */
function agent(folder: string, options: AgentOptions = {}): string[] {
  const lines: string[] = [];
  useAgentEnvironment(agentVariables({ ...options, variables: { 'Build.SourcesDirectory': SOURCES, ...options.variables } }), {
    taskDirectory: join(ROOT, 'tasks', folder),
    write: (line) => lines.push(line),
  });
  return lines;
}

/** `read` fails with a UserError about `input` whose message matches `pattern`. */
function refused(read: () => unknown, input: string | undefined, pattern: RegExp): void {
  assert.throws(read, (err: unknown) => {
    assert.ok(err instanceof UserError, `not a UserError: ${String(err)}`);
    assert.equal(err.input, input, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

const SOURCES = tempDir('relevo-settings-sources-');
const SHA = 'a'.repeat(40);
const branch = { 'Build.SourceBranch': 'refs/heads/dev' };
const rest = {
  accessToken: 'job-token-Zq81',
  variables: { ...branch, 'System.TeamFoundationCollectionUri': 'https://dev.azure.com/org/', 'System.TeamProject': 'p' },
};
const dbx = { dbx: { url: 'https://adb-1.2.azuredatabricks.net', scheme: 'Token', parameters: { apitoken: 'dapi-secret-77' } } };

after(() => {
  // Later tests in this process read the real (empty) agent environment again.
  useAgentEnvironment({}, { taskDirectory: ROOT, write: () => undefined });
});

describe('settings: VersionBump', () => {
  it('defaults from task.json; bump and versionFiles parsed', () => {
    agent('version-bump');
    const s = versionBump();
    assert.equal(s.dir, SOURCES, 'workingDirectory defaults to $(Build.SourcesDirectory)');
    assert.equal(s.dryRun, false);
    const o = s.options({ branch: 'dev', ref: 'refs/heads/dev', kind: 'branch' });
    assert.equal(o.tagFormat, 'v{version}');
    assert.equal(o.bump, 'auto');
    assert.equal(o.initialVersion, '0.1.0');
    assert.equal(o.branch.branch, 'dev');
  });

  it('refuses a bad bump, a bad boolean', () => {
    agent('version-bump', { inputs: { bump: 'huge' } });
    refused(versionBump, 'bump', /'huge' is not one of auto, major, minor, patch, none/);
    agent('version-bump', { inputs: { dryRun: 'yes' } });
    refused(versionBump, 'dryRun', /'yes' is not a boolean/);
  });
});

describe('settings: BuildWheel', () => {
  const project = tempDir('relevo-settings-wheel-');
  writeFileSync(join(project, 'pyproject.toml'), '[project]\nname = "ingest"\nversion = "1.0.0"\n');

  it('defaults: 30 minutes, isolation and sdist on, the wheels folder under the staging directory', () => {
    agent('build-wheel', { inputs: { projectDirectory: project }, variables: { 'Build.ArtifactStagingDirectory': '/stage' } });
    const s = buildWheel();
    assert.equal(s.project.name, 'ingest');
    assert.equal(s.timeoutMs, 30 * 60_000);
    assert.equal(s.isolation, true);
    assert.equal(s.sdist, true);
    assert.equal(s.outputDirectory, '/stage/wheels');
    assert.equal(s.interpreter, 'python3');
    assert.equal(s.version, undefined);
  });

  it('parses the version (SemVer to PEP 440, a leading v dropped) and decimal minutes', () => {
    agent('build-wheel', {
      inputs: { projectDirectory: project, version: 'v1.3.0-rc.2', buildTimeoutMinutes: '0.5' },
      variables: { 'Build.ArtifactStagingDirectory': '/stage', 'Build.BuildId': '812' },
    });
    const s = buildWheel();
    assert.deepEqual(s.version, { semver: '1.3.0-rc.2', pep440: '1.3.0rc2' });
    assert.equal(s.timeoutMs, 30_000);
  });

  it('refuses each bad input by name', () => {
    const base = { projectDirectory: project };
    const vars = { 'Build.ArtifactStagingDirectory': '/stage' };
    agent('build-wheel', { inputs: { ...base, buildTimeoutMinutes: '0' }, variables: vars });
    refused(buildWheel, 'buildTimeoutMinutes', /'0' is not a number of minutes/);
    agent('build-wheel', { inputs: { ...base, version: 'one' }, variables: vars });
    refused(buildWheel, 'version', /'one' is not a semantic version/);
    agent('build-wheel', { inputs: base });
    refused(buildWheel, 'outputDirectory', /a variable in it is not set/);
    agent('build-wheel', { inputs: { ...base, artifactName: 'a b' }, variables: vars });
    refused(buildWheel, 'artifactName', /'a b' is not an artifact name/);
    agent('build-wheel', { inputs: { ...base, feedUrl: 'https://u:p@example.com/upload/' }, variables: vars });
    refused(buildWheel, 'feedUrl', /carries credentials/);
    agent('build-wheel', { inputs: { ...base, feedUrl: 'https://pypi.example.com/upload/' }, variables: vars, accessToken: 't-1' });
    refused(buildWheel, 'feedConnection', /the job token is sent only to this organization's Azure Artifacts feeds/);
    agent('build-wheel', { inputs: { ...base, clusterIds: 'c-1' }, variables: vars });
    refused(buildWheel, 'volumePath', /volumePath is empty/);
    agent('build-wheel', { inputs: { ...base, volumePath: '/dbfs/x' }, variables: vars });
    refused(buildWheel, 'volumePath', /not a Unity Catalog volume path/);
    agent('build-wheel', { inputs: { ...base, volumePath: '/Volumes/a/b/c' }, variables: vars });
    refused(buildWheel, 'databricksConnection', /volumePath needs a Databricks connection/);
    agent('build-wheel', { inputs: { projectDirectory: join(project, 'missing') }, variables: vars });
    refused(buildWheel, 'projectDirectory', /is not a folder/);
  });
});

describe('settings: PromoteBranch', () => {
  it('defaults: environments dev → pre → pro, fast-forward, the working directory at Build.SourceVersion', () => {
    agent('promote-branch', { inputs: { to: 'pre' }, variables: { ...branch, 'Build.SourceVersion': SHA } });
    const s = promote();
    assert.equal(s.dryRun, false);
    assert.equal(s.options.strategy, 'fast-forward');
    assert.equal(s.options.remote, 'origin');
    assert.equal(s.options.tagFormat, 'v{version}');
    assert.deepEqual(s.gates, []);
    assert.deepEqual(s.repositories, [{ dir: SOURCES, input: 'workingDirectory', commit: SHA }]);
    assert.equal(s.azureDevOps, undefined, 'nothing needs the REST API');
    assert.equal(s.pullRequests, undefined);
  });

  it('several repositories: only the build’s own checkout is taken at Build.SourceVersion, and its id needs no lookup', async () => {
    const own = join(SOURCES, 'self');
    const other = join(SOURCES, 'other');
    for (const d of [own, other]) mkdirSync(join(d, '.git'), { recursive: true });
    agent('promote-branch', {
      inputs: { to: 'pre', repositories: 'self\nother' },
      variables: { ...branch, 'Build.SourceVersion': SHA, 'Build.Repository.LocalPath': own, 'Build.Repository.ID': 'id-self' },
    });
    const s = promote();
    assert.deepEqual(s.repositories, [
      { dir: own, input: 'repositories', commit: SHA },
      { dir: other, input: 'repositories', commit: undefined },
    ]);
    assert.equal(await s.repositoryId({ name: 'self', dir: own }), 'id-self');
    await assert.rejects(s.repositoryId({ name: 'other', dir: other }), /no REST client/);
  });

  it('gates and pull requests take the REST API on the job token; back-merges only if there is one', () => {
    agent('promote-branch', { inputs: { to: 'pre', strategy: 'pull-request', workItems: '7' }, ...rest });
    const s = promote();
    assert.equal(typeof s.azureDevOps, 'function');
    assert.deepEqual(s.pullRequests?.workItemIds, [7]);
    agent('promote-branch', {
      inputs: { flow: 'gitflow', action: 'release-finish' },
      variables: { 'Build.SourceBranch': 'refs/heads/release/1.2' },
    });
    assert.equal(promote().azureDevOps, undefined, 'a back-merge conflict is reported without a pull request');
  });

  it('refuses each bad input by name', () => {
    agent('promote-branch', { inputs: { to: 'pre' }, variables: { 'Build.SourceBranch': 'refs/pull/4/merge' } });
    refused(promote, undefined, /a pull-request validation build \(refs\/pull\/4\/merge\)/);
    agent('promote-branch', { inputs: { to: 'qa' }, variables: branch });
    refused(promote, 'to', /'qa' is not one of the environments/);
    agent('promote-branch', { inputs: { to: 'pre', flow: 'trunk' }, variables: branch });
    refused(promote, 'flow', /'trunk' is not one of environments, gitflow/);
    agent('promote-branch', { inputs: { to: 'pre', strategy: 'rebase' }, variables: branch });
    refused(promote, 'strategy', /'rebase' is not one of/);
    agent('promote-branch', { inputs: { to: 'pre', requireSucceeded: 'tests' }, variables: branch });
    refused(promote, 'requireSucceeded', /'tests' is not a gate/);
    agent('promote-branch', { inputs: { to: 'pre', requireSucceeded: 'build' }, variables: branch });
    refused(promote, 'requireSucceeded', /needs the Azure DevOps REST API with the job token/);
    agent('promote-branch', { inputs: { to: 'pre', strategy: 'pull-request' }, variables: branch });
    refused(promote, 'strategy', /needs the Azure DevOps REST API/);
    agent('promote-branch', { inputs: { to: 'pre', repositories: 'a\n./a' }, variables: branch });
    refused(promote, 'repositories', /is listed twice/);
    agent('promote-branch', { inputs: { to: 'pre' }, variables: { ...branch, 'Build.SourceVersion': 'HEAD' } });
    refused(promote, undefined, /Build.SourceVersion 'HEAD' is not a commit id/);
    agent('promote-branch', { inputs: { to: 'pre', strategy: 'pull-request', workItems: 'x' }, ...rest });
    refused(promote, 'workItems', /'x' is not a work item id/);
  });
});

describe('settings: UpdateSubmodules', () => {
  it('defaults: commit mode, minor policy, 8 at once, the lock file; no pull request', () => {
    agent('update-submodules', { variables: branch });
    const s = updateSubmodules();
    assert.equal(s.dir, SOURCES);
    assert.equal(s.options.mode, 'commit');
    assert.equal(s.options.defaultPolicy, 'minor');
    assert.equal(s.options.parallel, 8);
    assert.equal(s.options.lockFile, 'components.lock.json');
    assert.deepEqual(s.options.branch, { branch: 'dev', ref: 'refs/heads/dev', kind: 'branch' });
    assert.equal(s.pullRequestOpener, undefined);
  });

  it('pull-request mode checks the job token before anything (not in a dry run)', () => {
    agent('update-submodules', { inputs: { mode: 'pull-request' }, ...rest });
    assert.equal(typeof updateSubmodules().pullRequestOpener, 'function');
    agent('update-submodules', { inputs: { mode: 'pull-request', dryRun: true }, variables: branch });
    assert.equal(updateSubmodules().pullRequestOpener, undefined);
  });

  it('refuses each bad input by name', () => {
    agent('update-submodules');
    refused(updateSubmodules, undefined, /Build.SourceBranch is not set/);
    agent('update-submodules', { inputs: { mode: 'merge' }, variables: branch });
    refused(updateSubmodules, 'mode', /'merge' is not one of commit, push, pull-request/);
    agent('update-submodules', { inputs: { parallel: '0' }, variables: branch });
    refused(updateSubmodules, 'parallel', /'0' is not a whole number from 1 to 64/);
    agent('update-submodules', { inputs: { mode: 'pull-request' }, variables: branch });
    refused(updateSubmodules, 'mode', /pull-request mode needs the Azure DevOps REST API.*or use mode 'push'/);
    agent('update-submodules', { inputs: { mode: 'pull-request', mergeStrategy: 'ours' }, ...rest });
    refused(updateSubmodules, 'mergeStrategy', /'ours' is not one of/);
  });
});

describe('settings: RegenerateSampleData', () => {
  const dir = tempDir('relevo-settings-sampling-');
  const config = (source: string, mask = '') =>
    `seed: 1\nsource: ${source}\nenvironments:\n  dev: { target: ${source.includes('catalog') ? '{ catalog: dev, schema: s }' : '{ path: out }'}, rows: 10 }\ntables:\n  customers: { key: id, root: true${mask} }\n`;
  writeFileSync(join(dir, 'files.yml'), config('{ path: data, format: csv }'));
  writeFileSync(join(dir, 'masked.yml'), config('{ path: data, format: csv }', ', mask: { email: email }'));
  writeFileSync(join(dir, 'tables.yml'), config('{ catalog: pro, schema: s }'));

  it('defaults: DuckDB from the tool cache, every environment, no report file given', () => {
    agent('regenerate-sample-data', { inputs: { configFile: join(dir, 'files.yml') }, variables: { 'Agent.ToolsDirectory': '/tools' } });
    const s = regenerate();
    assert.equal(s.config.tables[0].name, 'customers');
    assert.equal(s.dryRun, false);
    assert.deepEqual(s.environments, []);
    assert.equal(s.reportFile, undefined);
    assert.equal(s.salt, undefined);
    assert.deepEqual(s.engine, { kind: 'duckdb', toolsDirectory: '/tools', modulePath: undefined, registry: undefined });
  });

  it('the salt is registered as a secret as it is read, and never in a debug line', () => {
    const lines = agent('regenerate-sample-data', {
      inputs: { configFile: join(dir, 'masked.yml'), maskingSalt: 'salt-Vw93' },
      env: { SYSTEM_DEBUG: 'true' },
    });
    assert.equal(regenerate().salt, 'salt-Vw93');
    assert.deepEqual(
      lines.filter((l) => l.includes('salt-Vw93')),
      ['##vso[task.setsecret]salt-Vw93\n'],
    );
  });

  it('the databricks engine: the connection, the warehouse, Relevo.StatementTimeoutSeconds', () => {
    agent('regenerate-sample-data', {
      inputs: { configFile: join(dir, 'tables.yml'), engine: 'databricks', databricksConnection: 'dbx', warehouseId: 'wh-1' },
      endpoints: dbx,
      variables: { 'Relevo.StatementTimeoutSeconds': '90' },
    });
    const e = regenerate().engine;
    assert.ok(e.kind === 'databricks');
    assert.equal(e.warehouseId, 'wh-1');
    assert.equal(e.statementTimeoutMs, 90_000);
    assert.equal(e.databricks.authKind, 'pat');
  });

  it('refuses each bad input by name', () => {
    agent('regenerate-sample-data');
    refused(regenerate, 'configFile', /there is no configuration file/);
    agent('regenerate-sample-data', { inputs: { configFile: join(dir, 'files.yml'), engine: 'spark' } });
    refused(regenerate, 'engine', /'spark' is not one of duckdb, databricks/);
    agent('regenerate-sample-data', { inputs: { configFile: join(dir, 'masked.yml') } });
    refused(regenerate, 'maskingSalt', /1 column\(s\) are masked \(customers\.email\), and masks need a salt/);
    agent('regenerate-sample-data', { inputs: { configFile: join(dir, 'masked.yml'), maskingSalt: '$(SampleMaskingSalt)' } });
    refused(regenerate, 'maskingSalt', /the variable \$\(SampleMaskingSalt\) is not defined/);
    agent('regenerate-sample-data', { inputs: { configFile: join(dir, 'tables.yml') } });
    refused(regenerate, 'engine', /the duckdb engine reads files/);
    const dbxInputs = { configFile: join(dir, 'tables.yml'), engine: 'databricks' };
    agent('regenerate-sample-data', { inputs: dbxInputs });
    refused(regenerate, 'databricksConnection', /the databricks engine needs a Databricks connection/);
    agent('regenerate-sample-data', { inputs: { ...dbxInputs, databricksConnection: 'nope' } });
    refused(regenerate, 'databricksConnection', /the service connection 'nope' is not available to this job/);
    agent('regenerate-sample-data', { inputs: { ...dbxInputs, databricksConnection: 'dbx' }, endpoints: dbx });
    refused(regenerate, 'warehouseId', /needs a SQL warehouse/);
  });
});

describe('settings: DeployToDatabricks', () => {
  const base = { gitFolders: '/Workspace/pro/{component}', databricksConnection: 'dbx' };

  it('defaults: commit pins, 8 at once, the lock file; explicit name=tag lists need no orchestration', () => {
    const lines = agent('deploy-to-databricks', { inputs: base, endpoints: dbx });
    const s = deploy();
    assert.equal(s.dir, SOURCES);
    assert.equal(s.dryRun, false);
    assert.equal(s.plan.jobsPin, 'commit');
    assert.equal(s.plan.parallel, 8);
    assert.equal(s.plan.gitCredentialId, undefined);
    assert.equal(s.release.lockFile, 'components.lock.json');
    assert.equal(s.release.orchestrationTag, false);
    assert.equal(s.explicitOnly, false);
    assert.equal(s.databricks.authKind, 'pat');
    assert.ok(lines.includes('##vso[task.setsecret]dapi-secret-77\n'), 'the connection token is registered as it is read');
    agent('deploy-to-databricks', {
      inputs: { ...base, components: 'ingest=v1.0.0', jobs: '12', jobsPin: 'tag', gitCredentialId: '5' },
      endpoints: dbx,
    });
    const t = deploy();
    assert.equal(t.explicitOnly, true);
    assert.equal(t.release.orchestrationTag, true);
    assert.equal(t.plan.gitCredentialId, 5);
  });

  it('refuses each bad input by name', () => {
    agent('deploy-to-databricks', { inputs: { databricksConnection: 'dbx' }, endpoints: dbx });
    refused(deploy, 'gitFolders', /there is nowhere to deploy to/);
    agent('deploy-to-databricks', { inputs: { ...base, jobsPin: 'branch' }, endpoints: dbx });
    refused(deploy, 'jobsPin', /'branch' is not one of commit, tag/);
    agent('deploy-to-databricks', { inputs: { ...base, gitCredentialId: 'abc' }, endpoints: dbx });
    refused(deploy, 'gitCredentialId', /'abc' is not a Git credential id/);
    agent('deploy-to-databricks', { inputs: { ...base, parallel: '65' }, endpoints: dbx });
    refused(deploy, 'parallel', /not a whole number from 1 to 64/);
    agent('deploy-to-databricks', { inputs: { gitFolders: base.gitFolders } });
    refused(deploy, 'databricksConnection', /the deployment needs a Databricks connection/);
    agent('deploy-to-databricks', { inputs: { gitFolders: base.gitFolders, databricksAzureSubscription: 'arm' } });
    refused(deploy, 'databricksAzureSubscription', /the service connection 'arm' is not available/);
  });
});

describe("the build's own repository (one rule for every task)", () => {
  it('is the repository git finds from the folder: a subfolder is in it, a repository nested in it or beside it is not', () => {
    const own = tempDir('relevo-own-');
    git(own, 'init', '-q');
    mkdirSync(join(own, 'src', 'deep'), { recursive: true });
    const nested = join(own, 'vendor', 'other');
    mkdirSync(nested, { recursive: true });
    git(nested, 'init', '-q');
    const beside = tempDir('relevo-beside-');
    git(beside, 'init', '-q');
    assert.equal(isBuildRepository(own, own), true);
    assert.equal(isBuildRepository(join(own, 'src', 'deep'), `${own}/`), true);
    assert.equal(isBuildRepository(nested, own), false);
    assert.equal(isBuildRepository(beside, own), false);
    assert.equal(isBuildRepository(own, undefined), false);
  });
});
