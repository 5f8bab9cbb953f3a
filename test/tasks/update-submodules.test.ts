import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertNoToken, failed, ok, runTask, type RunOptions, type TaskRun } from '../support/agentRunner';
import { startAzureDevOpsServer, type AzureDevOpsServer } from '../support/azureDevOpsServer';
import { startGitDaemon, type GitDaemon } from '../support/gitDaemon';
import { makeComponent, makeOrchestration, type ComponentRepo, type Pin } from '../support/orchestration';
import { git, Repo, tempDir } from '../support/repo';

function update(repo: Repo, inputs: RunOptions['inputs'] = {}, options: Omit<RunOptions, 'inputs'> = {}): Promise<TaskRun> {
  return runTask('update-submodules', {
    ...options,
    inputs: { workingDirectory: repo.dir, ...inputs },
    variables: { 'Build.SourceBranch': 'refs/heads/main', ...options.variables },
  });
}

/** The commit the orchestration's HEAD pins at `path`. */
function pinned(repo: Repo, path: string, rev = 'HEAD'): string {
  return repo.git('ls-tree', rev, '--', path).split(/\s/)[2];
}

interface Fixture {
  base: string;
  components: Record<string, ComponentRepo>;
  repo: Repo;
  bare: string;
  head: string;
}

/**
 * Four components and an orchestration over them:
 * - ingest: v1.0.0 … v1.2.0, v2.0.0 (annotated and lightweight), pinned at v1.0.0, default policy;
 * - picker: v1.3.0, v1.3.1, v1.4.0-rc.1, pinned at v1.3.0 (patch policy);
 * - history: v1.2.0, v1.2.1-dev.1, pinned at v1.2.0, 'latest';
 * - scratch: no tags at all.
 * URLs are relative (`../ingest.git`), resolved against the orchestration's remote.
 */
function fixture(served: { base: string; daemon: GitDaemon } | undefined = undefined): Fixture {
  const base = served?.base ?? tempDir('relevo-orch-');
  const components = {
    ingest: makeComponent(base, 'ingest', ['v1.0.0', 'v1.1.0', 'v1.2.0', 'v2.0.0'], {
      lightweight: ['v1.1.0', 'v2.0.0'],
      subjects: { 'v1.2.0': ['fix: nulls in ids', 'feat: parquet'] },
    }),
    picker: makeComponent(base, 'picker', ['v1.3.0', 'v1.3.1', 'v1.4.0-rc.1']),
    history: makeComponent(base, 'history', ['v1.2.0', 'v1.2.1-dev.1']),
    scratch: makeComponent(base, 'scratch', []),
  };
  const pins: Pin[] = [
    { name: 'ingest', path: 'components/ingest', url: '../ingest.git', commit: components.ingest.commits['v1.0.0'] },
    { name: 'picker', path: 'components/picker', url: '../picker.git', commit: components.picker.commits['v1.3.0'], policy: 'patch' },
    { name: 'history', path: 'components/history', url: '../history.git', commit: components.history.commits['v1.2.0'], policy: 'latest' },
    { name: 'scratch', path: 'components/scratch', url: '../scratch.git', commit: components.scratch.work.head() },
  ];
  const { bare, work } = makeOrchestration(base, pins, served ? () => served.daemon.url('orchestration.git') : undefined);
  return { base, components, repo: work, bare, head: work.head() };
}

describe('UpdateSubmodules (built task, run as the agent runs it)', function () {
  this.timeout(120_000);

  describe('policies and channels (components served by git daemon)', () => {
    let daemons: GitDaemon[] = [];
    const served = async () => {
      const base = tempDir('relevo-orch-');
      const daemon = await startGitDaemon(base);
      daemons.push(daemon);
      return { base, daemon };
    };
    after(() => {
      for (const d of daemons) d.stop();
      daemons = [];
    });

    it('moves each pin under its policy, writes the lock file, commits with ***NO_CI*** and one line per change', async () => {
      const { base, daemon } = await served();
      const f = fixture({ base, daemon });
      const run = ok(await update(f.repo));
      assert.equal(run.outputs.updatedCount, '2');
      assert.equal(run.outputs.maxChange, 'minor');
      assert.equal(
        pinned(f.repo, 'components/ingest'),
        f.components.ingest.commits['v1.2.0'],
        'minor: newest in the same major, lightweight tag peeled',
      );
      assert.equal(
        pinned(f.repo, 'components/picker'),
        f.components.picker.commits['v1.3.1'],
        'patch: newest in the same minor, no rc on main',
      );
      assert.equal(pinned(f.repo, 'components/history'), f.components.history.commits['v1.2.0'], 'latest: no dev pre-release on main');
      const message = f.repo.git('log', '-1', '--format=%B');
      assert.equal(
        message.trim(),
        'chore(components): update 2 components\n\ningest: v1.0.0 → v1.2.0 (minor)\npicker: v1.3.0 → v1.3.1 (patch)\n\n***NO_CI***',
      );
      assert.equal(f.repo.git('rev-parse', 'HEAD~1'), f.head);
      const lock = JSON.parse(readFileSync(join(f.repo.dir, 'components.lock.json'), 'utf8'));
      assert.deepEqual(
        lock.components.map((c: { name: string; version: string | null; tag: string | null }) => [c.name, c.version, c.tag]),
        [
          ['history', '1.2.0', 'v1.2.0'],
          ['ingest', '1.2.0', 'v1.2.0'],
          ['picker', '1.3.1', 'v1.3.1'],
          ['scratch', null, null],
        ],
      );
      assert.equal(lock.components[1].url, '../ingest.git', 'the URL as .gitmodules writes it');
      assert.equal(
        f.repo.git('show', 'HEAD:components.lock.json'),
        readFileSync(join(f.repo.dir, 'components.lock.json'), 'utf8').trim(),
        'committed with the pins',
      );
      assert.equal(f.repo.git('status', '--porcelain'), '', 'the checkout follows the commit');
      assert.match(run.warnings.join('\n'), /scratch: its remote has no version tags/);
      const updates = JSON.parse(run.outputs.updates);
      assert.deepEqual(updates[0], {
        name: 'ingest',
        path: 'components/ingest',
        from: '1.0.0',
        fromTag: 'v1.0.0',
        to: '1.2.0',
        toTag: 'v1.2.0',
        change: 'minor',
        commit: f.components.ingest.commits['v1.2.0'],
      });
      assert.match(run.summaries[0], /\| ingest \| v1\.0\.0 \| v1\.2\.0 \| minor \| .*feat: ingest v1\.2\.0.*fix: nulls in ids/);
      assert.equal(git(f.bare, 'rev-parse', 'main'), f.head, 'mode commit pushes nothing');
      assert.ok(!existsSync(join(f.repo.dir, 'components/ingest/README.md')), 'not checked out');
    });

    it('release branches may pin release candidates; allowPrerelease admits every pre-release', async () => {
      const f = fixture(await served());
      const rc = ok(await update(f.repo, { dryRun: true }, { variables: { 'Build.SourceBranch': 'refs/heads/release/2.0' } }));
      assert.match(rc.stdout, /picker \(components\/picker\): patch; at v1\.3\.0; → v1\.3\.1/);
      const all = ok(await update(f.repo, { dryRun: true, allowPrerelease: true, defaultPolicy: 'latest' }));
      assert.match(all.stdout, /history \(components\/history\): latest; at v1\.2\.0; → v1\.2\.1-dev\.1/);
      assert.match(all.stdout, /ingest \(components\/ingest\): latest; at v1\.0\.0; → v2\.0\.0 \(major/);
      assert.equal(f.repo.head(), f.head, 'dry runs commit nothing');
      assert.equal(f.repo.git('status', '--porcelain'), '');
      assert.match(all.summaries[0], /dry run/);
    });

    it('checkout: true checks the moved submodules out at their new commits', async () => {
      const f = fixture(await served());
      ok(await update(f.repo, { checkout: true, include: 'ingest' }));
      assert.equal(git(join(f.repo.dir, 'components/ingest'), 'rev-parse', 'HEAD'), f.components.ingest.commits['v1.2.0']);
      assert.ok(!existsSync(join(f.repo.dir, 'components/picker/README.md')), 'only the moved ones');
    });
  });

  describe('policies (paths as remotes)', () => {
    it('exact versions, ranges, pin and latest from .gitmodules; the policy input for the rest', async () => {
      const f = fixture();
      f.repo.git('config', '-f', '.gitmodules', 'submodule.ingest.relevo-version', '~1.1');
      f.repo.git('config', '-f', '.gitmodules', 'submodule.picker.relevo-version', '1.3.1');
      f.repo.git('config', '-f', '.gitmodules', 'submodule.history.relevo-version', 'pin');
      f.repo.commitAll('chore: policies');
      const head = f.repo.detach().head();
      const run = ok(await update(f.repo));
      assert.equal(pinned(f.repo, 'components/ingest'), f.components.ingest.commits['v1.1.0'], '~1.1');
      assert.equal(pinned(f.repo, 'components/picker'), f.components.picker.commits['v1.3.1'], 'exact 1.3.1');
      assert.equal(pinned(f.repo, 'components/history'), f.components.history.commits['v1.2.0'], 'pin');
      assert.equal(f.repo.git('rev-parse', 'HEAD~1'), head);
      assert.equal(run.outputs.updatedCount, '2');
      const latest = fixture();
      ok(await update(latest.repo, { defaultPolicy: 'latest', include: 'ingest' }));
      assert.equal(pinned(latest.repo, 'components/ingest'), latest.components.ingest.commits['v2.0.0']);
      assert.equal(pinned(latest.repo, 'components/picker'), latest.components.picker.commits['v1.3.0'], 'not included');
    });

    it('exclude by path glob; a policy that matches nothing keeps the pin and warns', async () => {
      const f = fixture();
      const run = ok(await update(f.repo, { exclude: 'components/pick*', defaultPolicy: '^3.0' }));
      assert.equal(run.outputs.updatedCount, '0');
      assert.match(run.warnings.join('\n'), /ingest: no eligible version matches '\^3\.0'; the pin stays/);
      assert.equal(f.repo.head(), f.head, 'nothing to update: no commit');
      assert.equal(run.outputs.commit, '');
      assert.match(run.summaries[0], /Every pin is current/);
    });

    it('all or nothing: an unreadable component remote fails the run naming it; nothing is committed or pushed', async () => {
      const f = fixture();
      f.repo.git('config', '-f', '.gitmodules', 'submodule.picker.url', '../missing.git');
      f.repo.commitAll('chore: a broken url');
      const head = f.repo.detach().head();
      const run = failed(
        await update(f.repo, { mode: 'push' }),
        /cannot read the remote of submodule 'picker' \(.*missing\.git\).*Nothing was committed or pushed/,
      );
      assert.ok(run.errors.length);
      assert.equal(f.repo.head(), head);
      assert.equal(git(f.bare, 'rev-parse', 'main'), f.head);
      assert.ok(!existsSync(join(f.repo.dir, 'components.lock.json')));
    });

    it('an exact pin to a version that does not exist fails, naming the submodule', async () => {
      const f = fixture();
      f.repo.git('config', '-f', '.gitmodules', 'submodule.ingest.relevo-version', '1.9.0');
      f.repo.commitAll('chore: pin a missing version');
      failed(await update(f.repo.detach()), /submodule 'ingest' is pinned to 1\.9\.0, but its remote has no tag for that version/);
    });

    it('a bad policy names where it is written', async () => {
      const f = fixture();
      failed(await update(f.repo, { defaultPolicy: 'newest' }), /Input 'defaultPolicy': 'newest' is not a version policy/);
      f.repo.git('config', '-f', '.gitmodules', 'submodule.ingest.relevo-version', 'sometimes');
      f.repo.commitAll('chore: bad policy');
      failed(await update(f.repo.detach()), /submodule 'ingest': 'sometimes' is not a version policy.*relevo-version/);
      failed(await update(f.repo, { parallel: '0' }), /Input 'parallel'/);
    });

    it('push mode pushes the pins to the built branch; files the user staged stay out', async () => {
      const f = fixture();
      f.repo.write('notes.txt', 'wip\n');
      f.repo.git('add', 'notes.txt');
      const token = 'relevo-secret-token-submodules';
      const run = ok(
        await update(
          f.repo,
          { mode: 'push', triggerCi: true },
          {
            accessToken: token,
            variables: { 'Build.SourceBranch': 'refs/heads/main', 'System.TeamFoundationCollectionUri': 'https://dev.azure.com/org/' },
          },
        ),
      );
      const pushed = git(f.bare, 'rev-parse', 'main');
      assert.equal(pushed, f.repo.head());
      assert.equal(run.outputs.commit, pushed);
      assert.doesNotMatch(git(f.bare, 'log', '-1', '--format=%B', 'main'), /NO_CI/, 'triggerCi');
      assert.equal(
        git(f.bare, 'show', '--name-only', '--format=', 'main').split('\n').sort().join(','),
        'components.lock.json,components/ingest,components/picker',
      );
      assert.equal(f.repo.git('diff', '--cached', '--name-only'), 'notes.txt');
      assert.ok(!(run.stdout + run.stderr).replace(`##vso[task.setsecret]${token}`, '').includes(token), 'token printed');
      assert.ok(!readFileSync(join(f.repo.dir, '.git', 'config'), 'utf8').includes(token), 'token stored');
      assert.ok(!readFileSync(join(f.repo.dir, '.gitmodules'), 'utf8').includes(token), 'token in .gitmodules');
    });

    it('push mode: a branch that moved since the run started is not overwritten, and the local commit is undone', async () => {
      const f = fixture();
      const other = tempDir();
      git(other, 'clone', '-q', f.bare, '.');
      git(other, '-c', 'user.name=x', '-c', 'user.email=x@x', 'commit', '-q', '--allow-empty', '-m', 'fix: concurrent');
      git(other, 'push', '-q', 'origin', 'main');
      const moved = git(f.bare, 'rev-parse', 'main');
      failed(await update(f.repo, { mode: 'push' }), /Input 'mode'.*has moved since this run started.*nothing was pushed/);
      assert.equal(git(f.bare, 'rev-parse', 'main'), moved);
      assert.equal(f.repo.head(), f.head, 'local commit undone');
      assert.equal(f.repo.git('status', '--porcelain'), '', 'index and lock file put back');
    });
  });

  describe('pull-request mode (Azure DevOps REST contract server)', () => {
    let server: AzureDevOpsServer;
    beforeEach(async () => {
      server = await startAzureDevOpsServer();
    });
    afterEach(async () => {
      await server.stop();
    });
    /** The orchestration is the build's own checkout (Build.Repository.LocalPath), unless `ownCheckout` says otherwise. */
    const prRun = (f: Fixture, repositoryId: string, inputs: RunOptions['inputs'] = {}, ownCheckout = f.repo.dir) =>
      update(
        f.repo,
        { mode: 'pull-request', ...inputs },
        {
          accessToken: server.token,
          variables: {
            'Build.SourceBranch': 'refs/heads/main',
            'System.TeamFoundationCollectionUri': server.url,
            'System.TeamProject': server.project.name,
            'Build.Repository.ID': repositoryId,
            'Build.Repository.LocalPath': ownCheckout,
          },
        },
      );
    const reviewer = '5f1c1f0e-8a57-4a8e-9a1d-1e0b2f3a4c5d';

    it('pushes relevo/update-components-main and opens a pull request with reviewers, work items and auto-complete', async () => {
      const f = fixture();
      const repo = server.addRepository('orchestration');
      const run = ok(await prRun(f, repo.id, { autoComplete: true, mergeStrategy: 'squash', reviewers: reviewer, workItems: '42, 43' }));
      const branch = git(f.bare, 'rev-parse', 'refs/heads/relevo/update-components-main');
      assert.equal(branch, run.outputs.commit);
      assert.equal(git(f.bare, 'rev-parse', 'main'), f.head, 'the target branch is not touched');
      assert.equal(server.state.pullRequests.length, 1);
      const pr = server.state.pullRequests[0];
      assert.equal(pr.sourceRefName, 'refs/heads/relevo/update-components-main');
      assert.equal(pr.targetRefName, 'refs/heads/main');
      assert.equal(pr.title, 'chore(components): update 2 components');
      assert.match(pr.description, /\| ingest \| v1\.0\.0 \| v1\.2\.0 \| minor \|/);
      assert.deepEqual(
        pr.reviewers.map((r) => r.id),
        [reviewer],
      );
      assert.deepEqual(
        pr.workItemRefs.map((w) => String(w.id)),
        ['42', '43'],
      );
      assert.equal(pr.autoCompleteSetBy?.id, server.state.user.id, 'auto-complete set by a PATCH after creation');
      assert.equal(server.requestsTo(`/pullRequests/${pr.pullRequestId}`, 'PATCH').length, 1);
      assert.equal(run.outputs.pullRequestId, String(pr.pullRequestId));
      assert.match(run.outputs.pullRequestUrl, new RegExp(`${pr.pullRequestId}$`));
      assert.match(run.summaries[0], new RegExp(`opened \\[pull request ${pr.pullRequestId}\\]`));
      assertNoToken(run, server.token);
    });

    it("an orchestration checked out beside the pipeline's own repository gets its pull request in its own repository", async () => {
      const f = fixture();
      const orchestration = server.addRepository('orchestration');
      const pipelineRepo = server.addRepository('pipelines');
      ok(await prRun(f, pipelineRepo.id, {}, tempDir('relevo-own-checkout-')));
      assert.equal(server.state.pullRequests.length, 1);
      assert.equal(server.state.pullRequests[0].repositoryId, orchestration.id, 'found by the name its remote URL gives');
    });

    it('updates the pull request already open for the branch instead of opening another', async () => {
      const f = fixture();
      const repo = server.addRepository('orchestration');
      const first = ok(await prRun(f, repo.id));
      // The component releases again; the next scheduled run moves the pin further.
      f.components.ingest.work.commit('feat: ingest v1.3.0', 'src/ingest.py');
      f.components.ingest.work.tag('v1.3.0');
      git(f.components.ingest.work.dir, 'push', '-q', f.components.ingest.bare, 'HEAD:refs/heads/main', '--tags');
      f.repo.git('checkout', '-q', '--detach', f.head);
      f.repo.git('checkout', '-q', '--', '.');
      const second = ok(await prRun(f, repo.id));
      assert.equal(server.state.pullRequests.length, 1, 'no second pull request');
      assert.equal(second.outputs.pullRequestId, first.outputs.pullRequestId);
      assert.match(server.state.pullRequests[0].description, /v1\.3\.0/);
      assert.equal(
        git(f.bare, 'rev-parse', 'refs/heads/relevo/update-components-main'),
        second.outputs.commit,
        'the branch moved to the new pins',
      );
      assert.match(second.summaries[0], /updated \[pull request/);
    });

    it('a refused pull request rolls the pushed branch back and undoes the local commit', async () => {
      const f = fixture();
      const repo = server.addRepository('orchestration');
      server.state.denied.add('pullRequestContribute');
      const run = failed(await prRun(f, repo.id), /Contribute to pull requests/);
      assertNoToken(run, server.token);
      assert.equal(git(f.bare, 'for-each-ref', 'refs/heads/relevo'), '', 'the pushed branch was removed');
      assert.equal(f.repo.head(), f.head);
      assert.equal(f.repo.git('status', '--porcelain'), '');
    });
  });
});
