import { strict as assert } from 'node:assert';
import { assertNoToken, failed, ok } from '../support/agentRunner';
import { startAzureDevOpsServer, type AzureDevOpsServer } from '../support/azureDevOpsServer';
import { checkout, commitOn, envRepo, noAtomic, promote, refsOf, refuseOnServer, type EnvRepo } from '../support/promotion';
import { pinSubmodules } from '../support/orchestration';
import { git, remoteTags, tempDir } from '../support/repo';

const tip = (r: EnvRepo, branch: string) => git(r.bare, 'rev-parse', `refs/heads/${branch}`);

describe('PromoteBranch (built task, run as the agent runs it)', function () {
  this.timeout(60_000);

  describe('environments dev → pre → pro', () => {
    it('dev → pre tags release candidates numbered across promotions; a re-run changes nothing', async () => {
      const r = envRepo();
      const a = commitOn(r, 'dev', 'feat: read parquet');
      const first = ok(await promote(checkout(r, 'dev'), 'dev', { to: 'pre' }));
      assert.equal(first.outputs.tag, 'v1.1.0-rc.1');
      assert.equal(first.outputs.version, '1.1.0-rc.1');
      assert.equal(first.outputs.promotedCommit, a);
      assert.equal(first.outputs.backMergeStatus, 'none');
      assert.equal(tip(r, 'pre'), a, 'pre fast-forwarded to the tested commit');
      assert.equal(remoteTags(r.bare)['v1.1.0-rc.1'], a);
      assert.equal(git(r.bare, 'cat-file', '-t', 'refs/tags/v1.1.0-rc.1'), 'tag', 'annotated');

      const b = commitOn(r, 'dev', 'fix: nulls in ids');
      const second = ok(await promote(checkout(r, 'dev'), 'dev', { to: 'pre' }));
      assert.equal(second.outputs.tag, 'v1.1.0-rc.2', 'the next number of the same version');
      assert.equal(tip(r, 'pre'), b);
      assert.equal(tip(r, 'dev'), b, 'the source is not touched');

      const before = refsOf(r.bare);
      const again = ok(await promote(checkout(r, 'dev'), 'dev', { to: 'pre' }));
      assert.equal(again.outputs.tag, 'v1.1.0-rc.2', 'a re-run reports the same candidate');
      assert.equal(refsOf(r.bare), before, 'a re-run moves nothing');
      assert.match(again.stdout, /candidate already/);
      assert.match(
        first.summaries[0],
        /\| app \| `[0-9a-f]{12}` feat: read parquet \| pre: [0-9a-f]{12} → [0-9a-f]{12} \(fast-forward\) \| `v1\.1\.0-rc\.1` \|/,
      );
    });

    it('promotes the commit the build tested, not the source head; refuses one that is not on the source branch', async () => {
      const r = envRepo();
      const tested = commitOn(r, 'dev', 'feat: one');
      const agent = checkout(r, 'dev');
      commitOn(r, 'dev', 'feat: two (pushed while the build ran)');
      const run = ok(await promote(agent, 'dev', { to: 'pre' }));
      assert.equal(tip(r, 'pre'), tested);
      assert.equal(run.outputs.promotedCommit, tested);

      const stray = commitOn(r, 'pre', 'fix: on pre only');
      const onPre = checkout(r, 'pre');
      assert.equal(onPre.head(), stray);
      const before = refsOf(r.bare);
      failed(await promote(onPre, 'dev', { to: 'pre' }), /not on the source branch 'dev'/);
      assert.equal(refsOf(r.bare), before);
    });

    it('pre → pro releases the candidate as it is, on the same commit, while dev has moved on', async () => {
      const r = envRepo();
      const a = commitOn(r, 'dev', 'feat: read parquet');
      ok(await promote(checkout(r, 'dev'), 'dev', { to: 'pre' }));
      commitOn(r, 'dev', 'feat: something newer, untested');
      const run = ok(await promote(checkout(r, 'pre'), 'pre', { to: 'pro' }));
      assert.equal(run.outputs.tag, 'v1.1.0');
      assert.equal(tip(r, 'pro'), a);
      assert.equal(remoteTags(r.bare)['v1.1.0'], a, 'the final is on the candidate commit');
      assert.match(run.summaries[0], /from `v1\.1\.0-rc\.1`/);
    });

    it('refuses a final for a commit without a candidate unless allowUntested, which the Summary flags', async () => {
      const r = envRepo();
      const c = commitOn(r, 'pre', 'fix: straight onto pre');
      const before = refsOf(r.bare);
      failed(
        await promote(checkout(r, 'pre'), 'pre', { to: 'pro' }),
        /Input 'allowUntested': commit [0-9a-f]{12} carries no release candidate.*Fix: promote the commit into 'pre' first/,
      );
      assert.equal(refsOf(r.bare), before);
      const run = ok(await promote(checkout(r, 'pre'), 'pre', { to: 'pro', allowUntested: true }));
      assert.equal(run.outputs.tag, 'v1.0.1');
      assert.equal(tip(r, 'pro'), c);
      assert.match(run.summaries[0], /Untested release/);
    });

    it('a diverged target is refused with its commits listed and nothing pushed; strategy merge makes a merge commit', async () => {
      const r = envRepo();
      commitOn(r, 'pre', 'fix: hot patch made on pre', 'other.txt');
      const a = commitOn(r, 'dev', 'feat: read parquet');
      const before = refsOf(r.bare);
      const refused = failed(
        await promote(checkout(r, 'dev'), 'dev', { to: 'pre' }),
        /'pre' has 1 commit\(s\) that 'dev' lacks.*fix: hot patch made on pre.*Fix: use 'strategy: merge'/,
      );
      assert.match(refused.resultMessage!, /Input 'strategy'/);
      assert.equal(refsOf(r.bare), before, 'nothing pushed');

      const run = ok(await promote(checkout(r, 'dev'), 'dev', { to: 'pre', strategy: 'merge' }));
      const merge = tip(r, 'pre');
      assert.deepEqual(git(r.bare, 'log', '-1', '--format=%P', merge).split(' ')[1], a);
      assert.match(
        git(r.bare, 'log', '-1', '--format=%B', merge),
        /^Merge v1\.1\.0-rc\.1 into pre\n\nPromoted [0-9a-f]{12} from 'dev' to 'pre' by Relevo PromoteBranch\./,
      );
      assert.equal(remoteTags(r.bare)['v1.1.0-rc.1'], merge, 'the candidate tag is on the merge commit: what pre holds and tests');
      assert.equal(run.outputs.promotedCommit, a);
      const rerun = ok(await promote(checkout(r, 'dev'), 'dev', { to: 'pre', strategy: 'merge' }));
      assert.equal(rerun.outputs.tag, 'v1.1.0-rc.1', "a re-run reports the merge commit's candidate, makes no other");
      assert.equal(tip(r, 'pre'), merge);
      // The next step does not dead-end: pre's tip is a tagged candidate.
      const release = ok(await promote(checkout(r, 'pre'), 'pre', { to: 'pro' }));
      assert.equal(release.outputs.tag, 'v1.1.0');
      assert.equal(tip(r, 'pro'), merge);
    });

    it('strategy merge whose merge conflicts on the target fails naming strategy and pushes nothing', async () => {
      const r = envRepo();
      commitOn(r, 'pre', 'fix: pre settings', 'config.txt', 'mode=pre\n');
      commitOn(r, 'dev', 'feat: dev settings', 'config.txt', 'mode=dev\n');
      const agent = checkout(r, 'dev');
      const before = refsOf(r.bare);
      const localBefore = agent.git('for-each-ref');
      const run = failed(
        await promote(agent, 'dev', { to: 'pre', strategy: 'merge' }),
        /Input 'strategy': merging [0-9a-f]{12} into 'pre' conflicts in config\.txt\. Nothing was promoted\. Fix: use 'strategy: pull-request'/,
      );
      assert.equal(refsOf(r.bare), before, 'nothing pushed: no branch, no tag');
      assert.equal(agent.git('for-each-ref'), localBefore, 'no local ref either');
      assert.doesNotMatch(run.stdout, /pushed /);
    });

    it("component + paths (monorepo): {component}/v{version} tags, versions from the component's paths only", async () => {
      const r = envRepo('mono', undefined, { firstTag: 'ingest/v1.0.0' });
      r.author.tag('web/v2.0.0');
      r.author.git('push', '-q', 'origin', '--tags');
      commitOn(r, 'dev', 'feat: web dashboard', 'web/app.txt');
      const fix = commitOn(r, 'dev', 'fix: ingest nulls', 'ingest/read.txt');
      const mono = { tagFormat: '{component}/v{version}', component: 'ingest', paths: 'ingest' };
      const run = ok(await promote(checkout(r, 'dev'), 'dev', { to: 'pre', ...mono }));
      assert.equal(run.outputs.tag, 'ingest/v1.0.1-rc.1', 'a patch: the feat under web/ does not count for ingest');
      assert.equal(run.outputs.version, '1.0.1-rc.1');
      assert.equal(tip(r, 'pre'), fix);
      assert.equal(remoteTags(r.bare)['ingest/v1.0.1-rc.1'], fix);
      assert.match(
        git(r.bare, 'tag', '-l', '--format=%(contents:subject)', 'ingest/v1.0.1-rc.1'),
        /^Release candidate ingest 1\.0\.1-rc\.1/,
      );
      assert.equal(
        remoteTags(r.bare)['web/v2.0.0'],
        git(r.bare, 'rev-parse', 'ingest/v1.0.0^{commit}'),
        "the other component's tags are untouched",
      );

      const web = ok(
        await promote(checkout(r, 'dev'), 'dev', { to: 'pre', tagFormat: '{component}/v{version}', component: 'web', paths: 'web' }),
      );
      assert.equal(web.outputs.tag, 'web/v2.1.0-rc.1', "web's own history: the feat");
      assert.equal(remoteTags(r.bare)['web/v2.1.0-rc.1'], fix, 'the same commit, a tag per component');

      const final = ok(await promote(checkout(r, 'pre'), 'pre', { to: 'pro', ...mono }));
      assert.equal(final.outputs.tag, 'ingest/v1.0.1', "the component's candidate released as it is");
      assert.equal(remoteTags(r.bare)['ingest/v1.0.1'], fix);
      assert.equal(tip(r, 'pro'), fix);
    });

    it('without atomic pushes, a tag the server refuses puts the branch back where it was', async () => {
      const r = envRepo();
      commitOn(r, 'dev', 'feat: read parquet');
      noAtomic(r.bare);
      refuseOnServer(r.bare, 'refs/tags/*', 'tags are frozen today');
      const before = refsOf(r.bare);
      const agent = checkout(r, 'dev');
      const run = failed(
        await promote(agent, 'dev', { to: 'pre' }),
        /tags are frozen today.*does not advertise atomic pushes.*pre went back to its recorded value/,
      );
      assert.equal(refsOf(r.bare), before, 'pre is back, no tag');
      assert.equal(agent.git('tag', '--list', 'v1.1.0-rc.1'), '', 'the local tag was removed');
      assert.ok(run.errors.length);
    });

    it('with atomic pushes a refused tag lands nothing; a branch policy (TF402455) names the pull-request strategy and the permissions', async () => {
      const r = envRepo();
      commitOn(r, 'dev', 'feat: read parquet');
      refuseOnServer(r.bare, 'refs/tags/*', 'tags are frozen today');
      const before = refsOf(r.bare);
      failed(await promote(checkout(r, 'dev'), 'dev', { to: 'pre' }), /tags are frozen today.*Nothing was pushed\./);
      assert.equal(refsOf(r.bare), before);
      refuseOnServer(
        r.bare,
        'refs/heads/pre',
        'TF402455: Pushes to this branch are not permitted; you must use a pull request to update this branch.',
      );
      const policy = failed(
        await promote(checkout(r, 'dev'), 'dev', { to: 'pre' }),
        /Input 'strategy': a branch policy on 'pre' refused the direct push \(TF402455\)\. Nothing was pushed\. Fix: use 'strategy: pull-request', or give the build service identity .*'Contribute', 'Create branch', 'Create tag' and 'Bypass policies when pushing'/,
      );
      assert.ok(policy.errors.length);
      assert.equal(refsOf(r.bare), before);
    });

    it('dry run prints the plan and leaves every ref untouched, remote and local', async () => {
      const r = envRepo();
      commitOn(r, 'pre', 'fix: on pre', 'other.txt');
      commitOn(r, 'dev', 'feat: read parquet');
      const agent = checkout(r, 'dev');
      const remoteBefore = refsOf(r.bare);
      const localBefore = agent.git('for-each-ref');
      const run = ok(await promote(agent, 'dev', { to: 'pre', strategy: 'merge', dryRun: true }));
      assert.equal(refsOf(r.bare), remoteBefore);
      assert.equal(agent.git('for-each-ref'), localBefore);
      assert.equal(run.outputs.tag, 'v1.1.0-rc.1');
      assert.match(run.stdout, /Plan: dev → pre, strategy merge/);
      assert.match(run.stdout, /pre: [0-9a-f]{12} → [0-9a-f]{12} \(merge commit\)/);
      assert.match(run.stdout, /Dry run: nothing was pushed/);
      assert.match(run.summaries[0], /\*\*Dry run\*\*/);
    });

    it('a shallow checkout lacking the target is completed as needed', async () => {
      const r = envRepo();
      for (let i = 0; i < 3; i++) commitOn(r, 'dev', `fix: ${i}`);
      const a = commitOn(r, 'dev', 'feat: read parquet');
      const run = ok(await promote(checkout(r, 'dev', 1), 'dev', { to: 'pre' }));
      assert.equal(run.outputs.tag, 'v1.1.0-rc.1');
      assert.equal(tip(r, 'pre'), a);
    });

    it('bad inputs fail naming the input, before anything moves', async () => {
      const r = envRepo();
      commitOn(r, 'dev', 'feat: x');
      const agent = checkout(r, 'dev');
      failed(await promote(agent, 'dev', { to: 'qa' }), /Input 'to': 'qa' is not one of the environments \(dev, pre, pro\)/);
      failed(await promote(agent, 'dev', { to: 'dev' }), /Input 'to': 'dev' is the first environment/);
      failed(await promote(agent, 'dev', {}), /Input 'to'/);
      failed(await promote(agent, 'dev', { to: 'pre', requireSucceeded: 'tests' }), /Input 'requireSucceeded': 'tests' is not a gate/);
      failed(await promote(agent, 'dev', { to: 'pre', strategy: 'rebase' }), /Input 'strategy'/);
      failed(await promote(agent, 'dev', { to: 'pre', remote: 'upstream' }), /Input 'remote': .* has no remote 'upstream'/);
      failed(await promote(agent, 'dev', { to: 'pre', tagFormat: 'release' }), /Input 'tagFormat'/);
      failed(
        await promote(agent, 'dev', { to: 'pre', requireSucceeded: 'build' }),
        /Input 'requireSucceeded': needs the Azure DevOps REST API/,
      );
      failed(
        await promote(agent, 'dev', { flow: 'gitflow', action: 'release-finish' }),
        /Input 'action': release-finish promotes the release\/\* branch this run built, but the run built 'refs\/heads\/dev'/,
      );
      assert.equal(tip(r, 'pre'), git(r.bare, 'rev-parse', 'v1.0.0^{commit}'));
    });
  });

  it('promotes Build.SourceVersion when the checkout is elsewhere on the branch (version read from that commit)', async () => {
    const r = envRepo();
    const tested = commitOn(r, 'dev', 'fix: the tested one');
    commitOn(r, 'dev', 'feat: newer, not tested');
    const agent = checkout(r, 'dev');
    const run = ok(await promote(agent, 'dev', { to: 'pre' }, { variables: { 'Build.SourceVersion': tested } }));
    assert.equal(run.outputs.tag, 'v1.0.1-rc.1', 'a patch: the feat after it does not count');
    assert.equal(tip(r, 'pre'), tested);
    assert.equal(agent.git('worktree', 'list').split('\n').length, 1, 'the worktree is gone');
  });

  describe('gates and pull requests (Azure DevOps REST contract server)', () => {
    let server: AzureDevOpsServer;
    beforeEach(async () => {
      server = await startAzureDevOpsServer();
    });
    afterEach(async () => {
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

    it('gates: a missing or failed build or status fails naming it and nothing moves; once they succeed the commit moves', async () => {
      const r = envRepo();
      const a = commitOn(r, 'dev', 'feat: read parquet');
      const repo = server.addRepository('app');
      const ci = server.addDefinition('CI');
      const gates = { to: 'pre', requireSucceeded: 'build:CI\nstatus:continuous-integration/unit-tests' };
      const before = refsOf(r.bare);
      const missing = failed(
        await promote(checkout(r, 'dev'), 'dev', gates, rest(repo.id)),
        /Input 'requireSucceeded': commit [0-9a-f]{12} did not pass: build:CI \(no build of this commit\); status:continuous-integration\/unit-tests \(no such status on this commit\)\. Nothing was promoted\./,
      );
      assertNoToken(missing, server.token);
      server.addBuild({ definitionId: ci.id, sourceVersion: a, sourceBranch: 'refs/heads/dev', repositoryId: repo.id, result: 'failed' });
      server.addStatus(repo.id, a, { state: 'failed', context: { genre: 'continuous-integration', name: 'unit-tests' } });
      failed(
        await promote(checkout(r, 'dev'), 'dev', gates, rest(repo.id)),
        /build:CI \(no succeeded build of this commit \(build 20260101\.\d+ of 'CI' failed\)\); status:continuous-integration\/unit-tests \(status is failed\)/,
      );
      assert.equal(refsOf(r.bare), before, 'nothing moved');

      server.addBuild({ definitionId: ci.id, sourceVersion: a, sourceBranch: 'refs/heads/dev', repositoryId: repo.id });
      server.addStatus(repo.id, a, { state: 'succeeded', context: { genre: 'continuous-integration', name: 'unit-tests' } });
      const run = ok(
        await promote(
          checkout(r, 'dev'),
          'dev',
          { ...gates, requireSucceeded: 'build\nbuild:CI\nstatus:continuous-integration/unit-tests' },
          rest(repo.id),
        ),
      );
      assert.equal(tip(r, 'pre'), a);
      assert.match(run.summaries[0], /✅ build<br>✅ build:CI<br>✅ status:continuous-integration\/unit-tests/);
      assert.match(run.stdout, /gate build:CI: passed \(build 20260101\.\d+ of 'CI' succeeded\)/);
      assertNoToken(run, server.token);
    });

    it('pull-request strategy: pushes relevo/promote-<target> with the tag and opens a pull request; a re-run reuses it', async () => {
      const r = envRepo();
      commitOn(r, 'pre', 'fix: on pre only', 'other.txt');
      const preTip = tip(r, 'pre');
      const a = commitOn(r, 'dev', 'feat: read parquet');
      const repo = server.addRepository('app');
      const reviewer = '5f1c1f0e-8a57-4a8e-9a1d-1e0b2f3a4c5d';
      const inputs = { to: 'pre', strategy: 'pull-request', autoComplete: true, reviewers: reviewer, workItems: '42' };
      const first = ok(await promote(checkout(r, 'dev'), 'dev', inputs, rest(repo.id)));
      assert.equal(server.state.pullRequests.length, 1);
      const pr = server.state.pullRequests[0];
      assert.equal(pr.title, 'Promote v1.1.0-rc.1 to pre');
      assert.equal(pr.sourceRefName, 'refs/heads/relevo/promote-pre');
      assert.equal(pr.targetRefName, 'refs/heads/pre');
      assert.deepEqual(
        pr.reviewers.map((x) => x.id),
        [reviewer],
      );
      assert.deepEqual(
        pr.workItemRefs.map((w) => String(w.id)),
        ['42'],
      );
      assert.equal(pr.autoCompleteSetBy?.id, server.state.user.id);
      assert.equal(git(r.bare, 'rev-parse', 'refs/heads/relevo/promote-pre'), a);
      assert.equal(remoteTags(r.bare)['v1.1.0-rc.1'], a);
      assert.equal(tip(r, 'pre'), preTip, 'the target waits for the pull request');
      assert.equal(first.outputs.pullRequestId, String(pr.pullRequestId));
      assert.match(first.outputs.pullRequestUrl, new RegExp(`${pr.pullRequestId}$`));
      assert.match(first.summaries[0], /opened \[pull request \d+\]/);
      assertNoToken(first, server.token);

      const again = ok(await promote(checkout(r, 'dev'), 'dev', inputs, rest(repo.id)));
      assert.equal(server.state.pullRequests.length, 1, 'no second pull request');
      assert.equal(again.outputs.pullRequestId, first.outputs.pullRequestId);
      assert.equal(again.outputs.tag, 'v1.1.0-rc.1');
      assert.match(again.summaries[0], /updated \[pull request/);
    });

    it('a hotfix into pro merges back into pre and dev; a conflict opens a pull request and the Summary says so', async () => {
      const r = envRepo();
      commitOn(r, 'dev', 'feat: new layout', 'config.txt', 'layout=new\n');
      git(r.bare, 'branch', 'hotfix/1.0.1', 'pro');
      const h = commitOn(r, 'hotfix/1.0.1', 'fix: layout crash', 'config.txt', 'layout=fixed\n');
      r.author.tag('v1.0.1-rc.1');
      r.author.git('push', '-q', 'origin', 'v1.0.1-rc.1');
      const devBefore = tip(r, 'dev');
      const repo = server.addRepository('app');
      const run = ok(await promote(checkout(r, 'hotfix/1.0.1'), 'hotfix/1.0.1', { to: 'pro' }, rest(repo.id)));
      assert.equal(run.outputs.tag, 'v1.0.1');
      assert.equal(tip(r, 'pro'), h);
      assert.equal(tip(r, 'pre'), h, 'pre fast-forwarded to the hotfix');
      assert.equal(tip(r, 'dev'), devBefore, 'dev is not touched: it conflicts');
      assert.equal(run.outputs.backMergeStatus, 'pull-request');
      const pr = server.state.pullRequests[0];
      assert.equal(pr.title, 'Back-merge v1.0.1 into dev');
      assert.equal(pr.targetRefName, 'refs/heads/dev');
      assert.equal(git(r.bare, 'rev-parse', pr.sourceRefName), h);
      assert.match(pr.description, /conflicts in: `config\.txt`/);
      assert.match(run.summaries[0], /back-merge into `dev` conflicts: \[pull request \d+\]/);
      assert.match(run.warnings.join('\n'), /merging v1\.0\.1 back into 'dev' conflicts \(config\.txt\)/);
    });
    it('a back-merge conflict whose pull request cannot be opened puts back every push (the back-merge branch too)', async () => {
      const r = envRepo();
      commitOn(r, 'dev', 'feat: new layout', 'config.txt', 'layout=new\n');
      git(r.bare, 'branch', 'hotfix/1.0.1', 'pro');
      commitOn(r, 'hotfix/1.0.1', 'fix: layout crash', 'config.txt', 'layout=fixed\n');
      r.author.tag('v1.0.1-rc.1');
      r.author.git('push', '-q', 'origin', 'v1.0.1-rc.1');
      const repo = server.addRepository('app');
      server.state.denied.add('pullRequestContribute');
      const before = refsOf(r.bare);
      const run = failed(
        await promote(checkout(r, 'hotfix/1.0.1'), 'hotfix/1.0.1', { to: 'pro' }, rest(repo.id)),
        /PullRequestContribute.*Put back: the pull request from relevo\/back-merge-[0-9a-f]{12}-into-dev into dev of app, if this run opened it \(abandoned\); refs\/heads\/pro, refs\/heads\/pre, refs\/heads\/relevo\/back-merge-[0-9a-f]{12}-into-dev, refs\/tags\/v1\.0\.1 on 'origin'; the checkout's refs\/remotes\/origin\/pro, refs\/remotes\/origin\/pre, refs\/remotes\/origin\/relevo\/back-merge-[0-9a-f]{12}-into-dev\./,
      );
      assert.equal(refsOf(r.bare), before, 'pro, pre, the tag and relevo/back-merge-<commit>-into-dev are back');
      assert.equal(server.state.pullRequests.length, 0);
      assertNoToken(run, server.token);
    });

    it('several repositories with pull requests: one that cannot be opened puts back every pushed branch and tag', async () => {
      const base = tempDir('relevo-promote-pr-multi-');
      const ingest = envRepo('ingest', undefined, { base });
      const picker = envRepo('picker', undefined, { base });
      commitOn(ingest, 'dev', 'feat: ingest parquet');
      commitOn(picker, 'dev', 'feat: picker search');
      server.addRepository('ingest');
      const pickerRepo = server.addRepository('picker');
      server.fail({ path: new RegExp(`repositories/${pickerRepo.id}/pullrequests$`, 'i'), method: 'POST', status: 403, times: Infinity });
      const before = [refsOf(ingest.bare), refsOf(picker.bare)];
      const run = failed(
        await promote(
          checkout(ingest, 'dev'),
          'dev',
          { to: 'pre', strategy: 'pull-request', repositories: `${checkout(ingest, 'dev').dir}\n${checkout(picker, 'dev').dir}` },
          rest(''),
        ),
        /in repository 'picker': .*403.*Put back: .*the pull request from relevo\/promote-pre into pre of ingest, if this run opened it \(abandoned\); .*ingest: refs\/heads\/relevo\/promote-pre, refs\/tags\/v1\.1\.0-rc\.1 on 'origin'/,
      );
      assert.deepEqual([refsOf(ingest.bare), refsOf(picker.bare)], before, 'relevo/promote-pre and the tags are gone from both');
      assert.equal(server.state.pullRequests.length, 1, "ingest's pull request was opened before picker's failed");
      assert.equal(server.state.pullRequests[0].status, 'abandoned', "ingest's pull request is abandoned");
      assertNoToken(run, server.token);
    });
  });

  describe('git-flow', () => {
    it('release-start branches release/<version> with a candidate; release-finish releases it into main and merges back into develop', async () => {
      const r = envRepo('lib', ['develop', 'main']);
      const c = commitOn(r, 'develop', 'feat: windowed joins');
      const start = ok(await promote(checkout(r, 'develop'), 'develop', { flow: 'gitflow', action: 'release-start' }));
      assert.equal(start.outputs.tag, 'v1.1.0-rc.1');
      assert.equal(tip(r, 'release/1.1.0'), c);
      assert.equal(remoteTags(r.bare)['v1.1.0-rc.1'], c);

      const fix = commitOn(r, 'release/1.1.0', 'fix: join keys', 'keys.txt');
      r.author.tag('v1.1.0-rc.2');
      r.author.git('push', '-q', 'origin', 'v1.1.0-rc.2');
      const developBefore = commitOn(r, 'develop', 'feat: next thing', 'next.txt');
      const finish = ok(await promote(checkout(r, 'release/1.1.0'), 'release/1.1.0', { flow: 'gitflow', action: 'release-finish' }));
      assert.equal(finish.outputs.tag, 'v1.1.0');
      assert.equal(tip(r, 'main'), fix);
      assert.equal(remoteTags(r.bare)['v1.1.0'], fix);
      assert.equal(finish.outputs.backMergeStatus, 'merged');
      assert.deepEqual(git(r.bare, 'log', '-1', '--format=%P', 'develop').split(' '), [developBefore, fix]);
      assert.match(git(r.bare, 'log', '-1', '--format=%s', 'develop'), /^Merge v1\.1\.0 back into develop$/);
    });
  });

  describe('several repositories', () => {
    it('a later repository refused puts the earlier ones back; an orchestration waits for its components', async () => {
      const base = tempDir('relevo-promote-multi-');
      const ingest = envRepo('ingest', undefined, { base });
      const picker = envRepo('picker', undefined, { base });
      const a = commitOn(ingest, 'dev', 'feat: ingest parquet');
      commitOn(picker, 'dev', 'feat: picker search');
      refuseOnServer(picker.bare, 'refs/heads/pre', 'pre is locked');
      const before = [refsOf(ingest.bare), refsOf(picker.bare)];
      failed(
        await promote(checkout(ingest, 'dev'), 'dev', {
          to: 'pre',
          repositories: `${checkout(ingest, 'dev').dir}\n${checkout(picker, 'dev').dir}`,
        }),
        /picker: the remote 'origin' rejected the push \(a server hook, rule or permission\): .*pre is locked.*Put back: .*ingest: refs\/heads\/pre, refs\/tags\/v1\.1\.0-rc\.1 on 'origin'/,
      );
      assert.deepEqual([refsOf(ingest.bare), refsOf(picker.bare)], before, 'every ref is back');

      const platform = envRepo('platform', undefined, { base });
      platform.author.git('checkout', '-q', 'dev');
      pinSubmodules(platform.author, [{ name: 'ingest', path: 'components/ingest', url: '../ingest.git', commit: a }]);
      platform.author.git('push', '-q', 'origin', 'HEAD:refs/heads/dev');
      const orchestration = checkout(platform, 'dev');
      const platformBefore = refsOf(platform.bare);
      failed(
        await promote(orchestration, 'dev', { to: 'pre' }),
        /Input 'repositories': the orchestration platform pins component commits that are not promoted yet: ingest is pinned at [0-9a-f]{12}, which is not on 'pre'/,
      );
      assert.equal(refsOf(platform.bare), platformBefore);
      const both = ok(
        await promote(orchestration, 'dev', { to: 'pre', repositories: `${orchestration.dir}\n${checkout(ingest, 'dev').dir}` }),
      );
      assert.equal(tip(ingest, 'pre'), a);
      assert.equal(tip(platform, 'pre'), orchestration.head());
      assert.match(both.stdout, /pin ingest at [0-9a-f]{12}: on pre after this run/);
    });
  });
});
