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
import { checkout, commitOn, envRepo, localState, promote, refsOf, refuseOnServer, resetRefs, type EnvRepo } from '../support/promotion';
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
    assert.match(
      run.resultMessage!,
      new RegExp(`common \\(${agents[0].dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\): the remote 'origin' rejected the push`),
    );

    const ok2 = ok(await promote(agents[0], 'dev', { to: 'pre', dryRun: true, repositories: agents.map((x) => x.dir).join('\n') }));
    const listed = JSON.parse(ok2.outputs.repositories) as { path: string; remoteUrl: string; name: string; tag: string }[];
    assert.deepEqual(
      listed.map((x) => [x.path, x.remoteUrl, x.name, x.tag]),
      [
        [agents[0].dir, `file://${a.bare}`, 'common', 'v1.1.0-rc.1'],
        [agents[1].dir, `file://${b.bare}`, 'common', 'v1.1.0-rc.1'],
      ],
    );
    assert.match(ok2.summaries[0], new RegExp(`\\| common \\(${agents[1].dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\) \\|`));
  });

  it("a dry run and a failed run fetch what the checkout lacks by object: the user's remote-tracking refs never move", async () => {
    const r = envRepo();
    commitOn(r, 'dev', 'feat: read parquet');
    const agent = checkout(r, 'dev');
    // pre and dev move on the remote after the checkout, to commits it lacks.
    commitOn(r, 'pre', 'fix: on pre', 'other.txt');
    commitOn(r, 'dev', 'feat: next', 'next.txt');
    const before = localState(agent);
    const dry = ok(await promote(agent, 'dev', { to: 'pre', strategy: 'merge', dryRun: true }));
    assert.equal(localState(agent), before, 'the dry run moved a ref of the checkout');
    assert.doesNotMatch(dry.stdout, /Put back/, 'nothing to put back: the fetch moved no ref');
    refuseOnServer(r.bare, 'refs/tags/*', 'tags are frozen today');
    failed(await promote(agent, 'dev', { to: 'pre', strategy: 'merge' }), /tags are frozen today/);
    assert.equal(localState(agent), before, 'the failed run left a ref of the checkout moved');
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
        /moved on 'origin' since this run read it \(another run pushed first\)/,
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
      // The Summary links the pull request's page, not its REST URL.
      assert.match(
        intoPro.summaries[0],
        /\[pull request \d+\]\(http:\/\/127\.0\.0\.1:\d+\/org\/Data%20Platform\/_git\/app\/pullrequest\/\d+\)/,
      );
      assert.doesNotMatch(intoPro.summaries[0], /_apis\/git/);
    });

    it('a failed status posted after a succeeded one fails the status gate (the newest status of the context counts)', async () => {
      const r = envRepo();
      const a = commitOn(r, 'dev', 'feat: read parquet');
      const repo = server.addRepository('app');
      const context = { genre: 'continuous-integration', name: 'unit-tests' };
      server.addStatus(repo.id, a, { state: 'succeeded', context });
      server.addStatus(repo.id, a, { state: 'failed', context });
      const before = refsOf(r.bare);
      const inputs = { to: 'pre', requireSucceeded: 'status:continuous-integration/unit-tests' };
      failed(
        await promote(checkout(r, 'dev'), 'dev', inputs, rest(repo.id)),
        /status:continuous-integration\/unit-tests \(status is failed\)/,
      );
      assert.equal(refsOf(r.bare), before);
      assert.ok(
        server.requestsTo('/statuses').every((q) => q.query.latestOnly !== 'true'),
        "the task reads every status, not the service's latestOnly",
      );
      server.addStatus(repo.id, a, { state: 'succeeded', context });
      ok(await promote(checkout(r, 'dev'), 'dev', inputs, rest(repo.id)));
      assert.equal(tip(r, 'pre'), a);
    });

    it("the build gate finds the commit's build behind 250 newer builds of other commits, paging as the service does", async () => {
      const r = envRepo();
      const a = commitOn(r, 'dev', 'feat: read parquet');
      const repo = server.addRepository('app');
      const ci = server.addDefinition('CI');
      const other = server.addRepository('other');
      // Builds of another repository before the commit: the query narrows them away.
      for (let i = 0; i < 5; i++) server.addBuild({ definitionId: ci.id, sourceVersion: 'f'.repeat(40), repositoryId: other.id });
      server.addBuild({ definitionId: ci.id, sourceVersion: a, sourceBranch: 'refs/heads/dev', repositoryId: repo.id });
      for (let i = 0; i < 250; i++)
        server.addBuild({
          definitionId: ci.id,
          sourceVersion: i.toString(16).padStart(40, '0'),
          sourceBranch: 'refs/heads/dev',
          repositoryId: repo.id,
        });
      const run = ok(await promote(checkout(r, 'dev'), 'dev', { to: 'pre', requireSucceeded: 'build:CI' }, rest(repo.id)));
      assert.equal(tip(r, 'pre'), a);
      const pages = server.requestsTo('/_apis/build/builds');
      assert.ok(pages.length >= 2, `one page held them all (${pages.length})\n${explain(run)}`);
      assert.ok(
        pages.slice(1).every((q) => q.query.continuationToken),
        'the next pages are asked with the token',
      );
      for (const q of pages) {
        assert.equal(q.query.repositoryId, repo.id);
        assert.equal(q.query.branchName, 'refs/heads/dev');
        assert.equal(q.query.definitions, String(ci.id));
        assert.ok(q.query.minTime, 'the walk is bounded by the commit date');
      }
    });

    it('Azure DevOps down from its k-th answer on, for every k, with a pull request and auto-complete: the whole promotion, or nothing of the run', async () => {
      const r = envRepo();
      const a = commitOn(r, 'dev', 'feat: read parquet');
      const repo = server.addRepository('app');
      const agent = checkout(r, 'dev');
      const remote = refsOf(r.bare);
      const agentRefs = refsOf(agent.dir);
      const local = localState(agent);
      const inputs = { to: 'pre', strategy: 'pull-request', autoComplete: true };
      server.failFrom(0);
      ok(await promote(agent, 'dev', inputs, rest(repo.id)));
      const answers = server.answered();
      assert.ok(answers >= 4, `a pull-request promotion takes ${answers} answers`);
      const reset = () => {
        resetRefs(r.bare, remote);
        // A run that landed moved the checkout's remote-tracking ref of what it pushed, as git does.
        resetRefs(agent.dir, agentRefs);
        server.state.pullRequests.length = 0;
      };
      reset();
      let whole = 0;
      for (let k = 1; k <= answers; k++) {
        server.failFrom(k);
        const run = await promote(agent, 'dev', inputs, rest(repo.id));
        const active = server.state.pullRequests.filter((p) => p.status === 'active');
        if (active.length) {
          // Kept whole: the pull request's branch and the tag are there.
          whole++;
          assert.equal(
            git(r.bare, 'rev-parse', active[0].sourceRefName),
            a,
            `k=${k}: an open pull request without its branch\n${explain(run)}`,
          );
          assert.equal(remoteTags(r.bare)['v1.1.0-rc.1'], a, `k=${k}: the tag is gone`);
          if (run.result !== 'Succeeded')
            assert.match(run.resultMessage!, /NOT put back: .*kept refs\/heads\/relevo\/promote-pre|kept relevo\/promote-pre/, `k=${k}`);
        } else {
          assert.equal(run.result, 'Failed', `k=${k}: ${explain(run)}`);
          assert.equal(localState(agent), local, `k=${k}: the checkout changed\n${explain(run)}`);
          assert.equal(refsOf(r.bare), remote, `k=${k}: a ref of the run stayed without its pull request\n${explain(run)}`);
        }
        server.failFrom(0);
        reset();
      }
      assert.ok(whole < answers, 'every k kept the promotion: the outage never came before the pull request');
    });
  });
});
