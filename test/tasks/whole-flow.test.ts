/**
 * The dev → pre → pro flow as the docs set it up (issue 22). The pipelines of
 * examples/whole-flow/ run build by build: each template's steps are expanded as the agent
 * would (parameters, then `$(…)` from the variables and earlier steps' outputs, conditions
 * evaluated), and each Relevo step runs through its built bundle on real repositories, real
 * Python builds, and the Azure DevOps, feed and Databricks contract servers. The candidate and
 * final tags are made by PromoteBranch, so the `pre` and `pro` builds find HEAD already
 * released: `changed` is false there, and `release` is what says "build this".
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ok, runTask, type RunOptions } from '../support/agentRunner';
import { startAzureDevOpsServer, type AzureDevOpsServer } from '../support/azureDevOpsServer';
import { startDatabricksServer, type DatabricksServer } from '../support/databricksServer';
import { evaluate, inputsOf, templateSteps } from '../support/pipelineTemplate';
import { checkout, envRepo, promote, type EnvRepo } from '../support/promotion';
import { startPypiServer, type PypiServer } from '../support/pypiServer';
import { git, tempDir } from '../support/repo';
import { bump, released } from '../support/versionBump';

const PYTHON = '/usr/bin/python3';

function canBuildWheels(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import build, setuptools, wheel'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

interface Services {
  ado: AzureDevOpsServer;
  feed: PypiServer;
  db: DatabricksServer;
  repositoryId: string;
  jobToken: string;
}

/** What one build of `branch` ran: each step by task and name, and the variables it ended with. */
interface Build {
  ran: string[];
  variables: Record<string, string>;
}

/**
 * One CI build of `branch` of `template`, as Azure Pipelines would run it: every stage and step
 * whose condition holds, in order. Relevo steps run through their bundles; a status-posting
 * script posts to the contract server. (The agent's differences: Debian's Python without
 * isolation, since there is no package index here, and paths the agent would root.)
 */
async function ciBuild(template: string, parameters: Record<string, string>, r: EnvRepo, branch: string, s: Services): Promise<Build> {
  const agent = checkout(r, branch);
  const variables: Record<string, string> = {
    'Build.SourceBranch': `refs/heads/${branch}`,
    volumePathPre: '/Volumes/main/libs/pre/ingest',
    volumePathPro: '/Volumes/main/libs/pro/ingest',
    clusterIdsPre: 'pre-1',
    clusterIdsPro: 'pro-1',
  };
  const agentVariables = {
    'Build.SourceBranch': `refs/heads/${branch}`,
    'Build.SourceVersion': agent.head(),
    'Build.SourcesDirectory': agent.dir,
    'Build.Repository.ID': s.repositoryId,
    'System.TeamProject': s.ado.project.name,
  };
  const ran: string[] = [];
  const setOutputs = (name: string | undefined, outputs: Record<string, string>) => {
    for (const [k, v] of Object.entries(outputs)) variables[`${name}.${k}`] = v;
  };
  for (const step of templateSteps(template, parameters)) {
    if (!evaluate(step.stageCondition, variables) || !evaluate(step.condition, variables)) continue;
    ran.push(`${step.stage}: ${step.task}${step.name ? ` (${step.name})` : ''}`);
    const inputs = inputsOf(step, variables);
    const rest: Omit<RunOptions, 'inputs'> = {
      accessToken: s.jobToken,
      variables: { ...agentVariables, 'System.TeamFoundationCollectionUri': s.ado.url },
    };
    if (step.task === 'PostStatus') {
      s.ado.addStatus(s.repositoryId, agent.head(), { state: 'succeeded', context: { genre: inputs.genre, name: inputs.name } });
    } else if (step.task === 'VersionBump@1') {
      setOutputs(step.name, ok(await bump(agent, inputs, rest)).outputs);
    } else if (step.task === 'PromoteBranch@1') {
      setOutputs(step.name, ok(await promote(agent, branch, inputs, rest)).outputs);
    } else if (step.task === 'BuildWheel@1') {
      const run = await runTask('build-wheel', {
        inputs: {
          ...inputs,
          projectDirectory: join(agent.dir, inputs.projectDirectory),
          pythonInterpreter: PYTHON,
          isolation: false,
          outputDirectory: join(tempDir('relevo-flow-wheels-'), 'wheels'),
        },
        accessToken: s.jobToken,
        endpoints: Object.fromEntries(
          ['dbx-pre', 'dbx-pro'].map((id) => [id, { url: s.db.url, scheme: 'Token', parameters: { apitoken: s.db.token } }]),
        ),
        // The feed is this organization's: the job token may go there.
        variables: {
          ...agentVariables,
          'System.TeamFoundationCollectionUri': new URL('/org/', s.feed.url).href,
          'Relevo.DatabricksPollMs': '5',
        },
      });
      setOutputs(step.name, ok(run).outputs);
    } else {
      throw new Error(`the test cannot run ${step.task} of ${template}`);
    }
  }
  return { ran, variables };
}

describe('the dev → pre → pro flow, as the docs set it up (examples/whole-flow through the built tasks)', function () {
  this.timeout(180_000);
  let s: Services;
  before(async function () {
    if (!canBuildWheels()) this.skip();
    const ado = await startAzureDevOpsServer();
    const feed = await startPypiServer();
    const db = await startDatabricksServer();
    const jobToken = ado.token; // the job token: Azure DevOps and the organization's feed take it
    feed.acceptToken(jobToken);
    for (const v of ['/Volumes/main/libs/pre', '/Volumes/main/libs/pro']) db.addVolume(v);
    db.addCluster('pre-1', { name: 'pre' });
    db.addCluster('pro-1', { name: 'pro' });
    s = { ado, feed, db, repositoryId: '', jobToken };
  });
  after(async () => {
    await Promise.all([s?.ado.stop(), s?.feed.stop(), s?.db.stop()]);
  });

  it('library.yml: no wheel on dev; the candidate wheel to the feed and pre on pre; the final to the feed and pro on pro', async () => {
    const r = envRepo('ingest');
    s.repositoryId = s.ado.addRepository('ingest').id;
    r.author.git('checkout', '-q', 'dev');
    r.author.write(
      'pyproject.toml',
      '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "ingest"\nversion = "1.0.0"\n',
    );
    r.author.write('src/ingest/__init__.py', '__version__ = "1.0.0"\n');
    r.author.write('.gitignore', 'dist/\nbuild/\n*.egg-info/\n');
    r.author.commitAll('feat: read parquet drops');
    r.author.git('push', '-q', 'origin', 'HEAD:refs/heads/dev');
    const parameters = { component: 'ingest', feedUrl: s.feed.url, databricksPre: 'dbx-pre', databricksPro: 'dbx-pro' };

    const dev = await ciBuild('library.yml', parameters, r, 'dev', s);
    assert.deepEqual(dev.ran, ['test: VersionBump@1 (version)', 'test: PostStatus', 'pre: PromoteBranch@1 (promote)']);
    assert.deepEqual([dev.variables['version.version'], dev.variables['version.release']], ['1.1.0-dev.1', 'false']);
    assert.equal(dev.variables['promote.tag'], 'v1.1.0-rc.1');
    assert.deepEqual([...s.feed.files.keys()], [], 'no wheel from a dev build');

    const pre = await ciBuild('library.yml', parameters, r, 'pre', s);
    assert.deepEqual(pre.ran, [
      'test: VersionBump@1 (version)',
      'test: BuildWheel@1 (wheel)',
      'test: PostStatus',
      'test: PostStatus',
      'pro: PromoteBranch@1 (promote)',
    ]);
    assert.deepEqual(
      [pre.variables['version.version'], pre.variables['version.changed'], pre.variables['version.release']],
      ['1.1.0-rc.1', 'false', 'true'],
    );
    assert.ok(s.feed.files.has('ingest-1.1.0rc1-py3-none-any.whl'), 'the candidate wheel is in the feed');
    assert.ok(s.db.state.files.has('/Volumes/main/libs/pre/ingest/ingest-1.1.0rc1-py3-none-any.whl'), 'and in the pre volume');
    assert.equal(pre.variables['promote.tag'], 'v1.1.0');

    const pro = await ciBuild('library.yml', parameters, r, 'pro', s);
    assert.deepEqual(pro.ran, ['test: VersionBump@1 (version)', 'test: BuildWheel@1 (final)', 'test: PostStatus', 'test: PostStatus']);
    assert.deepEqual([pro.variables['version.version'], pro.variables['version.release']], ['1.1.0', 'true']);
    assert.ok(s.feed.files.has('ingest-1.1.0-py3-none-any.whl'), 'the final wheel is in the feed');
    assert.ok(s.db.state.files.has('/Volumes/main/libs/pro/ingest/ingest-1.1.0-py3-none-any.whl'), 'and in the pro volume');
    assert.ok(!s.db.state.files.has('/Volumes/main/libs/pre/ingest/ingest-1.1.0-py3-none-any.whl'), 'not in pre');
    assert.equal(
      git(r.bare, 'rev-parse', 'v1.1.0^{commit}'),
      git(r.bare, 'rev-parse', 'v1.1.0-rc.1^{commit}'),
      'the final is the tested candidate',
    );
  });

  it('component.yml: the tested commit goes dev → pre → pro, gated on the statuses its own builds posted', async () => {
    const r = envRepo('picker');
    s.repositoryId = s.ado.addRepository('picker').id;
    r.author.git('checkout', '-q', 'dev');
    r.author.commit('feat: pick tables by tag', 'notebooks/pick.py');
    r.author.git('push', '-q', 'origin', 'HEAD:refs/heads/dev');
    const dev = await ciBuild('component.yml', { component: 'picker' }, r, 'dev', s);
    assert.deepEqual(dev.ran, ['test: VersionBump@1 (version)', 'test: PostStatus', 'pre: PromoteBranch@1 (promote)']);
    const pre = await ciBuild('component.yml', { component: 'picker' }, r, 'pre', s);
    assert.deepEqual(pre.ran, ['test: VersionBump@1 (version)', 'test: PostStatus', 'test: PostStatus', 'pro: PromoteBranch@1 (promote)']);
    assert.equal(pre.variables['promote.tag'], 'v1.1.0');
    assert.equal(git(r.bare, 'rev-parse', 'pro'), git(r.bare, 'rev-parse', 'v1.1.0-rc.1^{commit}'));
  });

  it('says release when this run makes the final tag itself, and never in a pull-request build or a dry run of a dev build', async () => {
    const repo = released('feat: a');
    const main = ok(await bump(repo, { createTag: true }));
    assert.deepEqual([main.outputs.version, main.outputs.tagCreated, main.outputs.release], ['1.3.0', 'true', 'true']);
    const again = released('feat: a');
    const pr = ok(
      await bump(
        again,
        { createTag: true },
        {
          variables: {
            'Build.SourceBranch': 'refs/pull/7/merge',
            'System.PullRequest.SourceBranch': 'refs/heads/feature/a',
            'System.PullRequest.TargetBranch': 'refs/heads/main',
          },
        },
      ),
    );
    assert.equal(pr.outputs.release, 'false');
    const dryRun = ok(await bump(again, { createTag: true, dryRun: true }));
    assert.equal(dryRun.outputs.release, 'true', 'a dry run says what the real run would');
    const devDry = ok(await bump(again, { createTag: true, dryRun: true }, { variables: { 'Build.SourceBranch': 'refs/heads/develop' } }));
    assert.equal(devDry.outputs.release, 'false');
  });

  it('takes a hotfix straight into pro once its own build tagged the candidate, as examples/promote-environments.yml does', async () => {
    const r = envRepo('ingest');
    r.author.git('fetch', '-q', 'origin');
    r.author.git('checkout', '-q', '-B', 'hotfix/null-ids', 'origin/pro');
    r.author.commit('fix: keep null ids out', 'src/clean.py');
    r.author.git('push', '-q', 'origin', 'HEAD:refs/heads/hotfix/null-ids');
    const branch = 'hotfix/null-ids';

    // Without the candidate tag the promotion is refused, and the fix says what to do.
    const untagged = checkout(r, branch);
    const refused = await promote(untagged, branch, { to: 'pro' });
    assert.equal(refused.result, 'Failed');
    assert.match(
      refused.resultMessage ?? '',
      /carries no release candidate.*Fix: tag it as a candidate in this branch's build.*VersionBump with 'createTag: true'/s,
    );

    const build = checkout(r, branch);
    const version = ok(
      await bump(
        build,
        { component: 'ingest', createTag: true, pushTag: true },
        { variables: { 'Build.SourceBranch': `refs/heads/${branch}` } },
      ),
    );
    assert.equal(version.outputs.version, '1.0.1-rc.1');
    assert.equal(version.outputs.release, 'true');
    const toPro = ok(await promote(build, branch, { to: 'pro' }));
    assert.equal(toPro.outputs.tag, 'v1.0.1');
    assert.equal(git(r.bare, 'rev-parse', 'pro'), build.head());
    for (const b of ['pre', 'dev']) git(r.bare, 'merge-base', '--is-ancestor', build.head(), b); // merged back: throws if not
  });
});
