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
import { ok } from '../support/agentRunner';
import { checkout, commitOn, envRepo, promote, promoteAll } from '../support/promotion';
import { git } from '../support/repo';
import { bump, released } from '../support/versionBump';
import { canBuildWheels, runFlowBuild, startFlowServices, type FlowServices } from '../support/wholeFlow';

describe('the dev → pre → pro flow, as the docs set it up (examples/whole-flow through the built tasks)', function () {
  this.timeout(180_000);
  let s: FlowServices;
  before(async function () {
    if (!canBuildWheels()) this.skip();
    s = await startFlowServices();
  });
  after(async () => {
    await s?.stop();
  });

  it('library.yml: no wheel on dev; the candidate wheel to the feed and pre on pre; the final to the feed and pro on pro', async () => {
    const r = envRepo('ingest');
    const repositoryId = s.ado.addRepository('ingest').id;
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

    const dev = await runFlowBuild('library.yml', r, 'dev', s, { parameters, repositoryId });
    assert.deepEqual(dev.ran, ['test: VersionBump@1 (version)', 'test: PostStatus', 'pre: PromoteBranch@1 (promote)']);
    assert.deepEqual([dev.variables['version.version'], dev.variables['version.release']], ['1.1.0-dev.1', 'false']);
    assert.equal(dev.variables['promote.tag'], 'v1.1.0-rc.1');
    assert.deepEqual([...s.feed.files.keys()], [], 'no wheel from a dev build');

    const pre = await runFlowBuild('library.yml', r, 'pre', s, { parameters, repositoryId });
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

    const pro = await runFlowBuild('library.yml', r, 'pro', s, { parameters, repositoryId });
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
    const repositoryId = s.ado.addRepository('picker').id;
    r.author.git('checkout', '-q', 'dev');
    r.author.commit('feat: pick tables by tag', 'notebooks/pick.py');
    r.author.git('push', '-q', 'origin', 'HEAD:refs/heads/dev');
    const dev = await runFlowBuild('component.yml', r, 'dev', s, { parameters: { component: 'picker' }, repositoryId });
    assert.deepEqual(dev.ran, ['test: VersionBump@1 (version)', 'test: PostStatus', 'pre: PromoteBranch@1 (promote)']);
    const pre = await runFlowBuild('component.yml', r, 'pre', s, { parameters: { component: 'picker' }, repositoryId });
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

  it('promotes an orchestration and the components it pins together, checked out as docs/promote-branch.md says (self with submodules; ., then the paths)', async () => {
    const ingest = envRepo('ingest');
    const pinned = commitOn(ingest, 'dev', 'feat: read parquet drops');
    const orchestration = envRepo('orchestration');
    const o = orchestration.author;
    o.git('checkout', '-q', 'dev');
    o.git('-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', ingest.bare, 'components/ingest');
    o.git('-C', 'components/ingest', 'checkout', '-q', pinned);
    o.commitAll('feat: pin ingest');
    o.git('push', '-q', 'origin', 'HEAD:refs/heads/dev');

    // - checkout: self, submodules: true: the orchestration, each component at the commit it pins.
    const build = checkout(orchestration, 'dev');
    build.git('-c', 'protocol.file.allow=always', 'submodule', 'update', '-q', '--init');
    const run = ok(
      await promoteAll(
        '.\ncomponents/ingest',
        'dev',
        { to: 'pre' },
        { cwd: build.dir, variables: { 'Build.SourcesDirectory': build.dir, 'Build.SourceVersion': build.head() } },
      ),
    );
    assert.equal(git(ingest.bare, 'rev-parse', 'pre'), pinned, 'the component moved to the commit the orchestration pins');
    assert.equal(git(orchestration.bare, 'rev-parse', 'pre'), build.head());
    assert.equal(git(ingest.bare, 'rev-parse', 'v1.1.0-rc.1^{commit}'), pinned);
    assert.equal(git(orchestration.bare, 'rev-parse', 'v1.1.0-rc.1^{commit}'), build.head());
    assert.equal(run.result, 'Succeeded');
  });
});
