/**
 * The dev → pre → pro flow as the docs set it up (issue 22): VersionBump, PromoteBranch and
 * BuildWheel run through their built bundles, one build after another, on one component. The
 * candidate and final tags are made by PromoteBranch, so the `pre` and `pro` builds find HEAD
 * already released: `changed` is false there, and `release` is what says "build this".
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ok, runTask, type TaskRun } from '../support/agentRunner';
import { checkout, envRepo, promote, type EnvRepo } from '../support/promotion';
import { git, tempDir, type Repo } from '../support/repo';
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

/** One CI build of `branch`: VersionBump, then BuildWheel when (and only when) `release` says so. */
async function ciBuild(r: EnvRepo, branch: string): Promise<{ version: TaskRun; wheels: string[]; checkout: Repo }> {
  const agent = checkout(r, branch);
  const version = ok(
    await bump(
      agent,
      { component: 'ingest', createTag: true, pushTag: true },
      { variables: { 'Build.SourceBranch': `refs/heads/${branch}` } },
    ),
  );
  if (version.outputs.release !== 'true') return { version, wheels: [], checkout: agent };
  const out = join(tempDir('relevo-flow-wheels-'), 'wheels');
  ok(
    await runTask('build-wheel', {
      inputs: {
        projectDirectory: agent.dir,
        pythonInterpreter: PYTHON,
        isolation: false,
        outputDirectory: out,
        version: version.outputs.version,
      },
      variables: { 'Build.SourcesDirectory': agent.dir, 'Build.SourceBranch': `refs/heads/${branch}` },
    }),
  );
  return { version, wheels: readdirSync(out).filter((f) => f.endsWith('.whl')), checkout: agent };
}

describe('the dev → pre → pro flow, as the docs set it up (VersionBump + PromoteBranch + BuildWheel)', function () {
  this.timeout(120_000);
  before(function () {
    if (!canBuildWheels()) this.skip();
  });

  it('builds no wheel on dev, the candidate wheel on pre and the final wheel on pro', async () => {
    const r = envRepo('ingest');
    const author = r.author;
    author.git('checkout', '-q', 'dev');
    author.write(
      'pyproject.toml',
      '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "ingest"\nversion = "1.0.0"\n',
    );
    author.write('src/ingest/__init__.py', '__version__ = "1.0.0"\n');
    author.write('.gitignore', 'dist/\nbuild/\n*.egg-info/\n');
    author.commitAll('feat: read parquet drops');
    author.git('push', '-q', 'origin', 'HEAD:refs/heads/dev');

    // dev: a dev pre-release is tagged; it is not a release, so nothing is built.
    const dev = await ciBuild(r, 'dev');
    assert.equal(dev.version.outputs.version, '1.1.0-dev.1');
    assert.equal(dev.version.outputs.changed, 'true');
    assert.equal(dev.version.outputs.release, 'false');
    assert.deepEqual(dev.wheels, []);

    // dev → pre: PromoteBranch moves the tested commit and tags the candidate.
    const toPre = ok(await promote(dev.checkout, 'dev', { to: 'pre' }));
    assert.equal(toPre.outputs.tag, 'v1.1.0-rc.1');

    // pre: HEAD already carries v1.1.0-rc.1 (the promotion made it): not changed, but a release.
    const pre = await ciBuild(r, 'pre');
    assert.equal(pre.version.outputs.version, '1.1.0-rc.1');
    assert.equal(pre.version.outputs.changed, 'false');
    assert.equal(pre.version.outputs.release, 'true');
    assert.deepEqual(pre.wheels, ['ingest-1.1.0rc1-py3-none-any.whl']);

    // pre → pro: the same commit becomes the final.
    const toPro = ok(await promote(pre.checkout, 'pre', { to: 'pro' }));
    assert.equal(toPro.outputs.tag, 'v1.1.0');

    const pro = await ciBuild(r, 'pro');
    assert.equal(pro.version.outputs.version, '1.1.0');
    assert.equal(pro.version.outputs.changed, 'false');
    assert.equal(pro.version.outputs.release, 'true');
    assert.deepEqual(pro.wheels, ['ingest-1.1.0-py3-none-any.whl']);
    assert.equal(
      git(r.bare, 'rev-parse', 'v1.1.0^{commit}'),
      git(r.bare, 'rev-parse', 'v1.1.0-rc.1^{commit}'),
      'the final is the tested candidate',
    );
    assert.ok(!existsSync(join(pro.checkout.dir, 'build')), 'the checkout is left as it was');
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
