/**
 * PromoteBranch against what an attacker or a demanding pipeline author tries (issue 18):
 * two repositories with the same name, a target moved by another run while this one waits on
 * its gates, the user's remote-tracking refs, gates read exactly (builds beyond the first page,
 * partial successes, the newest status), and Azure DevOps going down at each of its answers.
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { assertNoToken, explain, failed, ok } from '../support/agentRunner';
import { startAzureDevOpsServer, type AzureDevOpsServer } from '../support/azureDevOpsServer';
import { checkout, commitOn, envRepo, localState, promote, refsOf, refuseOnServer, type EnvRepo } from '../support/promotion';
import { git, remoteTags, tempDir } from '../support/repo';

const tip = (r: EnvRepo, branch: string) => git(r.bare, 'rev-parse', `refs/heads/${branch}`);

describe('PromoteBranch under attack (built task)', function () {
  this.timeout(120_000);

  it('two repositories with the same name (projA/common, projB/common): each is put back on its own remote, and named apart', async () => {
    const base = tempDir('relevo-promote-same-');
    const a = envRepo('common', undefined, { base: join(base, 'projA') });
    const b = envRepo('common', undefined, { base: join(base, 'projB') });
    commitOn(a, 'dev', 'feat: a');
    commitOn(b, 'dev', 'feat: b');
    refuseOnServer(a.bare, 'refs/heads/pre', 'pre of projA is locked');
    const before = [refsOf(a.bare), refsOf(b.bare)];
    const agents = [checkout(a, 'dev'), checkout(b, 'dev')];
    const locals = agents.map(localState);
    const run = failed(
      await promote(agents[0], 'dev', { to: 'pre', repositories: agents.map((x) => x.dir).join('\n') }),
      /pre of projA is locked/,
    );
    assert.deepEqual([refsOf(a.bare), refsOf(b.bare)], before, `every ref is back on both remotes\n${explain(run)}`);
    assert.deepEqual(agents.map(localState), locals, 'both checkouts as before');
    assert.match(run.resultMessage!, new RegExp(`common \\(${agents[0].dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\): the push`));
  });

  describe('Azure DevOps (contract server)', () => {
    let server: AzureDevOpsServer;
    beforeEach(async () => {
      server = await startAzureDevOpsServer();
    });
    afterEach(async () => {
      server.onRequest(undefined);
      await server.stop();
    });
    const rest = (repositoryId: string, variables: Record<string, string> = {}) => ({
      accessToken: server.token,
      variables: {
        'System.TeamFoundationCollectionUri': server.url,
        'System.TeamProject': server.project.name,
        'Build.Repository.ID': repositoryId,
        ...variables,
      },
    });

    it("another run moves pre while this one waits on its gate: the push is refused as a race and the other run's pre stays", async () => {
      const r = envRepo();
      const a = commitOn(r, 'dev', 'feat: read parquet');
      const repo = server.addRepository('app');
      const ci = server.addDefinition('CI');
      server.addBuild({ definitionId: ci.id, sourceVersion: a, sourceBranch: 'refs/heads/dev', repositoryId: repo.id });
      const agent = checkout(r, 'dev');
      let other: string | undefined;
      // The task read pre with ls-remote before it asked for the builds: pre moves in between.
      server.onRequest((req) => {
        if (!other && /\/_apis\/build\/builds$/i.test(req.path)) other = commitOn(r, 'pre', 'fix: pushed by another run', 'other.txt');
      });
      const run = failed(
        await promote(agent, 'dev', { to: 'pre', requireSucceeded: 'build:CI' }, rest(repo.id)),
        /refused \(race\)[\s\S]*another run pushed first/,
      );
      assert.ok(other, 'the builds were never asked for');
      assert.equal(tip(r, 'pre'), other, `the other run's pre was overwritten\n${explain(run)}`);
      assert.equal(remoteTags(r.bare)['v1.1.0-rc.1'], undefined, 'the tag went in without its branch');
      assertNoToken(run, server.token);
    });

    it('a partially succeeded build of the commit does not pass the build gate', async () => {
      const r = envRepo();
      const a = commitOn(r, 'dev', 'feat: read parquet');
      const repo = server.addRepository('app');
      const ci = server.addDefinition('CI');
      server.addBuild({
        definitionId: ci.id,
        sourceVersion: a,
        sourceBranch: 'refs/heads/dev',
        repositoryId: repo.id,
        result: 'partiallySucceeded',
      });
      const before = refsOf(r.bare);
      failed(
        await promote(checkout(r, 'dev'), 'dev', { to: 'pre', requireSucceeded: 'build:CI' }, rest(repo.id)),
        /build:CI \(no succeeded build of this commit \(build 20260101\.\d+ of 'CI' partiallySucceeded\)\)/,
      );
      assert.equal(refsOf(r.bare), before, 'nothing moved');
    });

    it('a hotfix promoted into pre, then into pro: one back-merge pull request into dev for the change, reused', async () => {
      const r = envRepo();
      commitOn(r, 'dev', 'feat: new layout', 'config.txt', 'layout=new\n');
      git(r.bare, 'branch', 'hotfix/1.0.1', 'pro');
      const h = commitOn(r, 'hotfix/1.0.1', 'fix: layout crash', 'config.txt', 'layout=fixed\n');
      const repo = server.addRepository('app');
      const intoPre = ok(await promote(checkout(r, 'hotfix/1.0.1'), 'hotfix/1.0.1', { to: 'pre' }, rest(repo.id)));
      assert.equal(intoPre.outputs.tag, 'v1.0.1-rc.1');
      assert.equal(server.state.pullRequests.length, 1, 'the conflict into dev opened a pull request');
      const intoPro = ok(await promote(checkout(r, 'hotfix/1.0.1'), 'hotfix/1.0.1', { to: 'pro' }, rest(repo.id)));
      assert.equal(intoPro.outputs.tag, 'v1.0.1');
      assert.equal(tip(r, 'pro'), h);
      const intoDev = server.state.pullRequests.filter((p) => p.targetRefName === 'refs/heads/dev');
      assert.equal(intoDev.length, 1, `one pull request into dev for one change\n${explain(intoPro)}`);
      assert.equal(intoDev[0].status, 'active');
      assert.equal(intoDev[0].title, 'Back-merge v1.0.1 into dev', 'updated by the second run');
      assert.match(intoPro.stdout, /updated the open pull request/);
    });
  });
});
