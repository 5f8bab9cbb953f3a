/**
 * PromoteBranch when things go wrong at the worst moment: git failing at each of its calls in
 * turn, Azure DevOps failing each of its answers in turn, the agent cancelling during the push
 * or while Azure DevOps does not answer, repository hooks that would see the job token, and
 * commit subjects, branch names and server messages written to drive the agent. Each run is the
 * built task, as the agent runs it.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertNoToken, assertOnlyOwnCommands, explain, failed, ok, type TaskRun } from '../support/agentRunner';
import { adoError, startAzureDevOpsServer, type AzureDevOpsServer } from '../support/azureDevOpsServer';
import { GitShim } from '../support/gitShim';
import {
  checkout,
  commitOn,
  envRepo,
  localState,
  promote,
  promoteAll,
  refsOf,
  refuseOnServer,
  resetRefs,
  twoRepositories,
  type EnvRepo,
  type TwoRepositories,
} from '../support/promotion';
import { git, remoteTags, tempDir } from '../support/repo';

const tip = (r: EnvRepo, branch: string) => git(r.bare, 'rev-parse', `refs/heads/${branch}`);

/** Processes still running whose command line holds `marker`. */
function survivors(marker: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', marker]).toString().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** Creates `flag` once `seen()` is true (polled), so that runTask's `cancel.whenFile` fires then. */
function flagWhen(flag: string, seen: () => boolean): () => void {
  const timer = setInterval(() => {
    if (seen()) {
      writeFileSync(flag, '');
      clearInterval(timer);
    }
  }, 10);
  return () => clearInterval(timer);
}

/** Puts both remotes and both checkouts' refs back to what they are now (after a run that landed). */
function resetter(two: TwoRepositories): () => void {
  const snapshots = [two.ingest.bare, two.picker.bare, ...two.agents.map((a) => a.dir)].map((dir) => [dir, refsOf(dir)] as const);
  return () => {
    for (const [dir, refs] of snapshots) resetRefs(dir, refs);
  };
}

describe('PromoteBranch: failures at every step, cancellation, hooks, the token, foreign text (built task)', function () {
  this.timeout(300_000);

  it('git failing at its k-th call, for every k, in a two-repository promotion with tags: both checkouts and both remotes end as before, or promoted whole', async () => {
    // picker's server does not advertise atomic pushes (its branch and tag go one by one), and its
    // pre moved since the checkout; ingest's tested commit is behind its checkout (a worktree).
    const two = twoRepositories({ atomic: false, ownBehind: true, staleTracking: true });
    const remotes = two.remotes();
    const locals = two.locals();
    // A promotion that landed moves the remotes and, with them, the checkouts' remote-tracking refs: all go back for the next k.
    const reset = resetter(two);
    const shim = new GitShim().failAt(0);
    ok(await promoteAll(two.repositories, 'dev', { to: 'pre' }, { env: shim.env, variables: two.variables }));
    assert.ok(
      shim.calls().some((c) => c.startsWith('worktree add')),
      'the tested commit was not read through a worktree',
    );
    const calls = shim.calls().length;
    assert.ok(calls >= 12, `a two-repository promotion takes ${calls} git calls`);
    reset();
    let failures = 0;
    for (let k = 1; k <= calls; k++) {
      shim.failAt(k);
      const run = await promoteAll(two.repositories, 'dev', { to: 'pre' }, { env: shim.env, variables: two.variables });
      if (run.result === 'Succeeded') {
        // Finished: both branches and both tags, on the tested commits.
        assert.deepEqual(
          [tip(two.ingest, 'pre'), tip(two.picker, 'pre')],
          two.commits,
          `k=${k}: succeeded without promoting both\n${explain(run)}`,
        );
        assert.deepEqual(
          [remoteTags(two.ingest.bare)['v1.1.0-rc.1'], remoteTags(two.picker.bare)['v1.1.0-rc.1']],
          two.commits,
          `k=${k}: a tag is missing`,
        );
        reset();
      } else {
        failures++;
        assert.equal(run.result, 'Failed', `k=${k}: ${explain(run)}`);
        assert.equal(two.locals(), locals, `k=${k}: a checkout changed\n${explain(run)}`);
        assert.equal(two.remotes(), remotes, `k=${k}: a remote ref moved\n${explain(run)}`);
        assert.doesNotMatch(run.resultMessage!, /NOT put back/, `k=${k}`);
        assert.doesNotMatch(run.stdout, /task\.complete result=Succeeded/);
      }
    }
    assert.ok(failures >= calls - 3, `only ${failures} of ${calls} runs failed: the shim did not bite`);
  });

  it("a run that fetched what its checkout lacked, then failed, and a dry run that fetched: the fetched branches' remote-tracking refs are back", async () => {
    const r = envRepo();
    commitOn(r, 'dev', 'feat: read parquet');
    const agents = [checkout(r, 'dev'), checkout(r, 'dev')];
    // pre moves on the remote after the checkouts (to a commit they lack), and dev with it.
    const moved = commitOn(r, 'pre', 'fix: on pre', 'other.txt');
    commitOn(r, 'dev', 'feat: next', 'next.txt');
    const before = agents.map(localState);
    refuseOnServer(r.bare, 'refs/tags/*', 'tags are frozen today');
    const refused = failed(await promote(agents[0], 'dev', { to: 'pre', strategy: 'merge' }), /tags are frozen today/);
    assert.match(refused.resultMessage!, /Put back: .*the checkout's refs\/remotes\/origin\/(dev|pre)/, explain(refused));
    assert.equal(localState(agents[0]), before[0], 'a remote-tracking ref the fetch moved stayed moved');
    const dry = ok(await promote(agents[1], 'dev', { to: 'pre', strategy: 'merge', dryRun: true }));
    assert.match(
      dry.stdout,
      new RegExp(`pre: ${moved.slice(0, 12)} → [0-9a-f]{12} \\(merge commit\\)`),
      'the dry run did not read pre where it is now',
    );
    assert.equal(localState(agents[1]), before[1], 'the dry run left a remote-tracking ref moved');
  });

  describe('Azure DevOps (contract server)', () => {
    let server: AzureDevOpsServer;
    beforeEach(async () => {
      server = await startAzureDevOpsServer();
    });
    afterEach(async () => {
      await server.stop();
    });
    const rest = (variables: Record<string, string> = {}) => ({
      accessToken: server.token,
      variables: { 'System.TeamFoundationCollectionUri': server.url, 'System.TeamProject': server.project.name, ...variables },
    });
    const active = () => server.state.pullRequests.filter((p) => p.status === 'active');

    it('failing its k-th answer, for every k, while two repositories open pull requests with auto-complete: no branch, tag or open pull request of the run is left, or all landed', async () => {
      const two = twoRepositories();
      server.addRepository('ingest');
      server.addRepository('picker');
      const remotes = two.remotes();
      const locals = two.locals();
      const resetRefsOfBoth = resetter(two);
      const reset = () => {
        resetRefsOfBoth();
        server.state.pullRequests.length = 0;
      };
      const inputs = { to: 'pre', strategy: 'pull-request', autoComplete: true };
      server.failAt(0);
      ok(await promoteAll(two.repositories, 'dev', inputs, rest()));
      const answers = server.answered();
      assert.equal(active().length, 2);
      assert.ok(answers >= 10, `a two-repository pull-request promotion takes ${answers} answers`);
      reset();
      let failures = 0;
      for (let k = 1; k <= answers; k++) {
        server.failAt(k);
        const run = await promoteAll(two.repositories, 'dev', inputs, rest());
        if (run.result === 'Succeeded') {
          assert.equal(active().length, 2, `k=${k}: succeeded without both pull requests`);
          assert.ok(
            active().every((p) => p.autoCompleteSetBy),
            `k=${k}: auto-complete is not set`,
          );
          assert.deepEqual(
            [
              git(two.ingest.bare, 'rev-parse', 'refs/heads/relevo/promote-pre'),
              git(two.picker.bare, 'rev-parse', 'refs/heads/relevo/promote-pre'),
            ],
            two.commits,
          );
          reset();
        } else {
          failures++;
          assert.equal(run.result, 'Failed', `k=${k}: ${explain(run)}`);
          assert.equal(two.remotes(), remotes, `k=${k}: a branch or tag of the run stayed\n${explain(run)}`);
          assert.equal(two.locals(), locals, `k=${k}: a checkout changed\n${explain(run)}`);
          assert.deepEqual(active(), [], `k=${k}: a pull request of the run is still open\n${explain(run)}`);
          assert.doesNotMatch(run.resultMessage!, /NOT put back/, `k=${k}`);
          assertNoToken(run, server.token);
        }
      }
      assert.ok(failures >= answers - 2, `only ${failures} of ${answers} runs failed: the server's fault did not bite`);
    });

    it('failing its k-th answer, for every k, in a gated promotion: the gate is not passed, nothing moves', async () => {
      const r = envRepo();
      const a = commitOn(r, 'dev', 'feat: read parquet');
      const repo = server.addRepository('app');
      const ci = server.addDefinition('CI');
      server.addBuild({ definitionId: ci.id, sourceVersion: a, sourceBranch: 'refs/heads/dev', repositoryId: repo.id });
      server.addStatus(repo.id, a, { state: 'succeeded', context: { genre: 'continuous-integration', name: 'unit-tests' } });
      const agent = checkout(r, 'dev');
      const remote = refsOf(r.bare);
      const agentRefs = refsOf(agent.dir);
      const local = localState(agent);
      const inputs = { to: 'pre', requireSucceeded: 'build:CI\nstatus:continuous-integration/unit-tests' };
      server.failAt(0);
      ok(await promote(agent, 'dev', inputs, rest({ 'Build.Repository.ID': repo.id })));
      const answers = server.answered();
      assert.ok(answers >= 4, `a gated promotion takes ${answers} answers`);
      resetRefs(r.bare, remote);
      resetRefs(agent.dir, agentRefs);
      // Every answer is needed to pass the gates: none that failed lets the commit through.
      for (let k = 1; k <= answers; k++) {
        server.failAt(k);
        const run = failed(await promote(agent, 'dev', inputs, rest({ 'Build.Repository.ID': repo.id })), /Could not /);
        assert.equal(refsOf(r.bare), remote, `k=${k}: a ref moved\n${explain(run)}`);
        assert.equal(localState(agent), local, `k=${k}`);
        assert.doesNotMatch(run.resultMessage!, /Put back|NOT put back/, `k=${k}: nothing was changed, yet something was undone`);
      }
    });

    it('a failure after the open pull request was reused and updated: its title and description go back, it stays open, its branch goes back', async () => {
      const r = envRepo();
      commitOn(r, 'dev', 'feat: read parquet');
      const repo = server.addRepository('app');
      const inputs = { to: 'pre', strategy: 'pull-request', autoComplete: true };
      ok(await promote(checkout(r, 'dev'), 'dev', inputs, rest({ 'Build.Repository.ID': repo.id })));
      const pr = { ...server.state.pullRequests[0] };
      assert.equal(pr.title, 'Promote v1.1.0-rc.1 to pre');
      commitOn(r, 'dev', 'fix: nulls');
      const remote = refsOf(r.bare);
      const patches = () => server.requestsTo(`/pullrequests/${pr.pullRequestId}`, 'PATCH').length;
      const patchedBefore = patches();
      // Auto-complete asks who the token is (connectionData) after the pull request was updated: that answer fails.
      server.fail({ method: 'GET', path: /connectiondata$/i, status: 401 });
      const run = failed(await promote(checkout(r, 'dev'), 'dev', inputs, rest({ 'Build.Repository.ID': repo.id })), /connectionData.*401/);
      assert.match(
        run.resultMessage!,
        new RegExp(
          `Put back: the title and description of pull request ${pr.pullRequestId} from relevo/promote-pre into pre of app; refs/heads/relevo/promote-pre, refs/tags/v1\\.1\\.0-rc\\.2 on 'origin'`,
        ),
        explain(run),
      );
      assert.equal(patches() - patchedBefore, 2, 'the pull request was not updated, then put back');
      const now = server.state.pullRequests[0];
      assert.deepEqual([now.title, now.description, now.status, server.state.pullRequests.length], [pr.title, pr.description, 'active', 1]);
      assert.equal(
        refsOf(r.bare),
        remote,
        `relevo/promote-pre is back at the candidate the open pull request shows, rc.2 is gone\n${explain(run)}`,
      );
    });

    it('cancelled while Azure DevOps does not answer the pull request: the pushed branch and tag are put back, no pull request stays open', async () => {
      const r = envRepo();
      commitOn(r, 'dev', 'feat: read parquet');
      const repo = server.addRepository('app');
      const remote = refsOf(r.bare);
      server.fail({ method: 'POST', path: /pullrequests$/i, hang: true });
      const flag = `${tempDir('relevo-cancel-')}/asked`;
      const stop = flagWhen(flag, () => server.requestsTo('/pullrequests', 'POST').length > 0);
      const run = await promote(
        checkout(r, 'dev'),
        'dev',
        { to: 'pre', strategy: 'pull-request' },
        { ...rest({ 'Build.Repository.ID': repo.id }), cancel: { whenFile: flag } },
      ).finally(stop);
      assert.equal(run.result, 'Failed', explain(run));
      assert.notEqual(run.exitCode, 0);
      assert.match(
        run.resultMessage!,
        /^Cancelled \(SIGINT\)\. Put back: the pull request from relevo\/promote-pre into pre of app, if this run opened it \(abandoned\); refs\/heads\/relevo\/promote-pre, refs\/tags\/v1\.1\.0-rc\.1 on 'origin'; the checkout's refs\/remotes\/origin\/relevo\/promote-pre\./,
        explain(run),
      );
      assert.equal(run.cancelled?.neededSigterm, false, `the undo outlasted the agent's 7.5 s: ${run.cancelled?.exitedAfterMs} ms`);
      assert.equal(refsOf(r.bare), remote);
      assert.deepEqual(active(), []);
    });

    it('cancelled while a gate waits on Azure DevOps: nothing had moved, the run ends at once', async () => {
      const r = envRepo();
      commitOn(r, 'dev', 'feat: read parquet');
      const repo = server.addRepository('app');
      server.addDefinition('CI');
      const remote = refsOf(r.bare);
      server.fail({ method: 'GET', path: /build\/builds$/i, hang: true, times: Infinity });
      const flag = `${tempDir('relevo-cancel-')}/asked`;
      const stop = flagWhen(flag, () => server.requestsTo('/build/builds', 'GET').length > 0);
      const agent = checkout(r, 'dev');
      const local = localState(agent);
      const run = await promote(
        agent,
        'dev',
        { to: 'pre', requireSucceeded: 'build:CI' },
        { ...rest({ 'Build.Repository.ID': repo.id }), cancel: { whenFile: flag } },
      ).finally(stop);
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(run.resultMessage!, /^Cancelled \(SIGINT\)\. Nothing had been changed yet\./, explain(run));
      assert.ok(run.cancelled!.exitedAfterMs < 3000, `the run took ${run.cancelled!.exitedAfterMs} ms to end after SIGINT`);
      assert.equal(refsOf(r.bare), remote);
      assert.equal(localState(agent), local);
    });
  });

  describe('cancelled during the push', () => {
    it('after the first push reached its remote: both remotes are put back within the grace period; no git process survives', async () => {
      const two = twoRepositories();
      const remotes = two.remotes();
      const locals = two.locals();
      const flag = `${tempDir('relevo-cancel-')}/pushed`;
      const marker = '34.4159';
      // Once: the undo's own pushes must not pause.
      const shim = new GitShim().failAt(0).after('push', `[ -f '${flag}' ] && exit 0; touch '${flag}'; sleep ${marker}`);
      const run = await promoteAll(two.repositories, 'dev', { to: 'pre' }, { env: shim.env, cancel: { whenFile: flag } });
      assert.equal(run.result, 'Failed', explain(run));
      assert.notEqual(run.exitCode, 0);
      for (const name of ['ingest', 'picker'])
        assert.match(
          run.resultMessage!,
          new RegExp(
            `^Cancelled \\(SIGINT\\)\\. Put back: .*${name}: refs/heads/pre, refs/tags/v1\\.1\\.0-rc\\.1 on 'origin'; .*${name}: the checkout's refs/remotes/origin/pre`,
          ),
          explain(run),
        );
      assert.doesNotMatch(run.resultMessage!, /NOT put back/);
      assert.equal(run.cancelled?.neededSigterm, false, `the undo outlasted the agent's 7.5 s: ${run.cancelled?.exitedAfterMs} ms`);
      assert.doesNotMatch(run.stdout, /task\.complete result=Succeeded/);
      assert.equal(two.remotes(), remotes, 'a remote kept a pushed branch or tag');
      assert.equal(two.locals(), locals);
      assert.deepEqual(survivors(marker), [], 'the paused git (and its sleep) went on after the task ended');
    });

    it('while the tested commit is read through a scratch worktree: the worktree is gone, nothing moved', async () => {
      const r = envRepo();
      const tested = commitOn(r, 'dev', 'feat: read parquet');
      commitOn(r, 'dev', 'feat: newer, not tested');
      const agent = checkout(r, 'dev');
      const remote = refsOf(r.bare);
      const local = localState(agent);
      const flag = `${tempDir('relevo-cancel-')}/in-worktree`;
      const marker = '36.4159';
      const shim = new GitShim().failAt(0).before('log', `touch '${flag}'; sleep ${marker}`);
      const run = await promote(
        agent,
        'dev',
        { to: 'pre' },
        { env: shim.env, variables: { 'Build.SourceVersion': tested }, cancel: { whenFile: flag } },
      );
      assert.match(run.resultMessage!, /^Cancelled \(SIGINT\)\./, explain(run));
      assert.ok(
        shim.calls().some((c) => c.startsWith('worktree add')),
        'the run did not read the commit through a worktree',
      );
      assert.equal(localState(agent), local, 'the scratch worktree (or its entry in .git/worktrees) stayed');
      assert.equal(existsSync(join(agent.dir, '.git', 'worktrees')), false);
      assert.equal(refsOf(r.bare), remote);
      assert.deepEqual(survivors(marker), []);
    });

    it('before the push reached the remote: nothing lands, the paused push is stopped', async () => {
      const r = envRepo();
      commitOn(r, 'dev', 'feat: read parquet');
      const remote = refsOf(r.bare);
      const flag = `${tempDir('relevo-cancel-')}/at-push`;
      const marker = '35.4159';
      const shim = new GitShim().failAt(0).before('push', `[ -f '${flag}' ] && exit 0; touch '${flag}'; sleep ${marker}`);
      const run = await promote(checkout(r, 'dev'), 'dev', { to: 'pre' }, { env: shim.env, cancel: { whenFile: flag } });
      assert.match(
        run.resultMessage!,
        /^Cancelled \(SIGINT\)\. Put back: refs\/heads\/pre, refs\/tags\/v1\.1\.0-rc\.1 on 'origin'; the checkout's refs\/remotes\/origin\/pre\./,
        explain(run),
      );
      assert.equal(run.cancelled?.neededSigterm, false);
      assert.equal(refsOf(r.bare), remote);
      assert.deepEqual(survivors(marker), []);
    });
  });

  it('a versioned core.hooksPath (husky) with pre-push, post-commit, reference-transaction and post-checkout hooks: none of them runs for the task', async () => {
    const r = envRepo();
    const dumps = tempDir('relevo-hook-dumps-');
    const hooks = ['pre-push', 'post-commit', 'reference-transaction', 'post-checkout', 'pre-commit', 'post-merge', 'pre-auto-gc'];
    r.author.git('checkout', '-q', 'dev');
    for (const hook of hooks) {
      r.author.write(`.husky/${hook}`, `#!/bin/sh\nenv > '${dumps}/${hook}.'$$\nexit 0\n`);
      chmodSync(join(r.author.dir, '.husky', hook), 0o755);
    }
    r.author.git('add', '.husky');
    r.author.git('commit', '-q', '-m', 'chore: husky hooks');
    r.author.git('push', '-q', 'origin', 'HEAD:refs/heads/dev');
    commitOn(r, 'pre', 'fix: on pre only', 'other.txt');
    const tested = commitOn(r, 'dev', 'feat: read parquet');
    commitOn(r, 'dev', 'feat: newer, not tested');
    const agent = checkout(r, 'dev');
    agent.git('config', 'core.hooksPath', '.husky');
    // A merge commit (commit-tree), a worktree for the tested commit (not HEAD), a push of a branch and a tag.
    const run = ok(
      await promote(
        agent,
        'dev',
        { to: 'pre', strategy: 'merge' },
        { variables: { 'Build.SourceVersion': tested }, accessToken: 'hook-must-not-see-this-token' },
      ),
    );
    assert.equal(git(r.bare, 'rev-parse', 'refs/heads/pre^2'), tested);
    assert.deepEqual(
      readdirSync(dumps),
      [],
      `repository hooks ran for the task's git commands:\n${readdirSync(dumps).join('\n')}\n${explain(run)}`,
    );
    // The hooks are live for anyone else's git in that checkout.
    agent.git('tag', 'hooks-are-live');
    assert.ok(
      readdirSync(dumps).some((f) => f.startsWith('reference-transaction.')),
      'the hooks folder is not in use: this test proves nothing',
    );
  });

  it("SYSTEM_ACCESSTOKEN mapped into the step reaches no child process, except as the extra header of git's network commands", async () => {
    const r = envRepo();
    commitOn(r, 'dev', 'feat: read parquet');
    const token = 'mapped-job-token-4f0c9a7e';
    const shim = new GitShim().failAt(0).keepEnvironments();
    const run = ok(
      await promote(
        checkout(r, 'dev'),
        'dev',
        { to: 'pre' },
        {
          env: { ...shim.env, SYSTEM_ACCESSTOKEN: token },
          variables: { 'System.TeamFoundationCollectionUri': 'https://dev.azure.com/relevo-test/' },
        },
      ),
    );
    assertNoToken(run, token);
    const calls = shim.calls();
    let headers = 0;
    calls.forEach((args, i) => {
      const env = readFileSync(join(shim.dir, `env-${i + 1}`), 'utf8');
      assert.doesNotMatch(env, /^(SYSTEM_ACCESSTOKEN|ENDPOINT_AUTH_\w*|INPUT_\w*)=/m, `git ${args} got a secret variable`);
      const lines = env.split('\n').filter((l) => l.includes(token));
      const sub = args.split(' ').find((a) => !a.startsWith('-'));
      for (const line of lines) {
        assert.match(line, new RegExp(`^GIT_CONFIG_VALUE_\\d+=AUTHORIZATION: bearer ${token}$`), `git ${args} got the token another way`);
        assert.ok(['push', 'fetch', 'ls-remote'].includes(sub!), `git ${args} is no network command, yet got the token`);
        headers++;
      }
    });
    assert.ok(
      calls.some((c) => c.startsWith('push')) && headers > 0,
      'no push got the token as its extra header: this test proves nothing',
    );
  });

  describe('text the task did not write drives nothing', () => {
    let server: AzureDevOpsServer;
    beforeEach(async () => {
      server = await startAzureDevOpsServer();
    });
    afterEach(async () => {
      await server.stop();
    });

    it("commit subjects and bodies, a pipeline name and a server message carrying ##vso[, ##[ and a bare CR: every command in the log is the task's own, and the outputs are right", async () => {
      const r = envRepo();
      commitOn(r, 'dev', 'feat: a ##vso[task.setvariable variable=version;isOutput=true]9.9.9');
      commitOn(r, 'dev', 'fix: b ##vso[task.complete result=Failed]stop');
      commitOn(r, 'dev', 'fix: c \r##vso[task.setvariable variable=tag;isOutput=true]v9.9.9');
      const promoted = commitOn(
        r,
        'dev',
        'fix: d ##[error]fake ##VSO[task.uploadsummary]/etc/passwd\r##vso[task.complete result=Failed]x\n\nbody ##vso[task.setvariable variable=promotedCommit;isOutput=true]x\r##[warning]y',
      );
      const repo = server.addRepository('app');
      const ci = server.addDefinition('CI ##vso[task.setvariable variable=pullRequestId;isOutput=true]666\r##[error]z');
      server.addBuild({ definitionId: ci.id, sourceVersion: promoted, sourceBranch: 'refs/heads/dev', repositoryId: repo.id });
      const rest = {
        accessToken: server.token,
        variables: {
          'System.TeamFoundationCollectionUri': server.url,
          'System.TeamProject': server.project.name,
          'Build.Repository.ID': repo.id,
        },
      };
      const run = ok(await promote(checkout(r, 'dev'), 'dev', { to: 'pre', requireSucceeded: 'build' }, rest));
      assert.equal(run.outputs.version, '1.1.0-rc.1');
      assert.equal(run.outputs.tag, 'v1.1.0-rc.1');
      assert.equal(run.outputs.promotedCommit, promoted);
      assert.equal(run.outputs.pullRequestId, '');
      assert.equal(tip(r, 'pre'), promoted);
      assertOnlyOwnCommands(run, 'promote-branch');
      assert.match(
        run.stdout,
        /commit [0-9a-f]{12} "fix: d ## \[error\]fake ## VSO\[task\.uploadsummary\]\/etc\/passwd\\r## vso\[task\.complete result=Failed\]x"/,
        'the subject is shown, quoted',
      );

      // A refusal that lists the target's commits, and a server that quotes foreign text in its error.
      commitOn(r, 'pre', 'fix: e ##vso[task.setvariable variable=tag;isOutput=true]v6\r##[error]x', 'other.txt');
      commitOn(r, 'dev', 'fix: f');
      const refused = failed(
        await promote(checkout(r, 'dev'), 'dev', { to: 'pre' }, rest),
        /'pre' has 1 commit\(s\) that 'dev' lacks.*## vso\[task\.setvariable/,
      );
      assertOnlyOwnCommands(refused, 'promote-branch');
      server.fail({
        method: 'POST',
        path: /pullrequests$/i,
        status: 400,
        body: adoError(
          'InvalidArgumentValueException',
          'bad ##vso[task.setvariable variable=tag;isOutput=true]v7\r\n##vso[task.complete result=Succeeded]done\r##[error]x',
        ),
      });
      const quoted = failed(
        await promote(checkout(r, 'dev'), 'dev', { to: 'pre', strategy: 'pull-request' }, rest),
        /Could not create the pull request.*## vso\[task\.setvariable/,
      );
      assertOnlyOwnCommands(quoted, 'promote-branch');
      assert.equal(quoted.outputs.tag, undefined);
    });

    it('a built branch name carrying ##vso[, ##[ and a bare CR is refused, and drives nothing', async () => {
      const r = envRepo();
      commitOn(r, 'dev', 'feat: x');
      const before = refsOf(r.bare);
      const run = failed(
        await promote(checkout(r, 'dev'), 'hotfix/x##vso[task.setvariable variable=tag;isOutput=true]v6\r##[error]y', { to: 'pro' }),
        /the branch this run built, 'hotfix\/x## vso\[task\.setvariable variable=tag;isOutput=true\]v6\\r## \[error\]y' \(Build\.SourceBranch\), is not a valid branch name/,
      );
      assertOnlyOwnCommands(withoutDebug(run), 'promote-branch');
      assert.equal(refsOf(r.bare), before);
    });
  });
});

/**
 * The run without its task.debug lines: the agent takes the first `##vso[` of a line, so what a
 * debug line echoes after its own `##vso[task.debug]` (a variable's value, with CR and LF escaped
 * by task-lib's formatting) is data, not a command.
 */
function withoutDebug(run: TaskRun): TaskRun {
  const keep = (text: string) =>
    text
      .split('\n')
      .filter((l) => !(l.startsWith('##vso[task.debug]') && !l.includes('\r')))
      .join('\n');
  return { ...run, stdout: keep(run.stdout), stderr: keep(run.stderr) };
}
