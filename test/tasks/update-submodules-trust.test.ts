/**
 * UpdateSubmodules when things go wrong at the worst moment: git failing at each of its calls
 * in turn (push mode), Azure DevOps failing each of its answers in turn (pull-request mode),
 * the agent cancelling during the push, repository hooks that would see the job token, the
 * job token mapped into the step, and `.gitmodules` values written to drive the agent. Each run
 * is the built task, as the agent runs it.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertOnlyOwnCommands, explain, ok, runTask, type RunOptions, type TaskRun } from '../support/agentRunner';
import { startAzureDevOpsServer, type AzureDevOpsServer, type PullRequestRecord } from '../support/azureDevOpsServer';
import { GitShim } from '../support/gitShim';
import {
  checkoutState,
  copyOrchestration,
  makeComponent,
  makeOrchestration,
  type ComponentRepo,
  type OrchestrationCopy,
} from '../support/orchestration';
import { git, tempDir, type Repo } from '../support/repo';

/** `git submodule update` clones from paths: git refuses the file transport for submodules unless told. */
const FILE_TRANSPORT = { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'protocol.file.allow', GIT_CONFIG_VALUE_0: 'always' };

function update(repo: Repo, inputs: RunOptions['inputs'] = {}, options: Omit<RunOptions, 'inputs'> = {}): Promise<TaskRun> {
  return runTask('update-submodules', {
    ...options,
    inputs: { workingDirectory: repo.dir, ...inputs },
    variables: { 'Build.SourceBranch': 'refs/heads/main', ...options.variables },
    env: { ...FILE_TRANSPORT, ...options.env },
  });
}

/** The commit `rev` pins at `path`. */
function pinned(repo: Repo, path: string, rev = 'HEAD'): string {
  return repo.git('ls-tree', rev, '--', path).split(/\s/)[2];
}

/** git's subcommand in a call's arguments (after -C <dir> and -c <config>). */
function subcommand(args: string): string {
  const words = args.split(' ');
  for (let i = 0; i < words.length; i++) {
    if (words[i] === '-C' || words[i] === '-c') i++;
    else if (!words[i].startsWith('-')) return words[i];
  }
  return '';
}

/** Processes still running whose command line holds `marker`. */
function survivors(marker: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', marker]).toString().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** Two components that each moved on (ingest v1.0.0 → v1.1.0, picker v1.0.0 → v1.0.1), built once and copied per run. */
function template(): { dir: string; components: Record<string, ComponentRepo> } {
  const dir = tempDir('relevo-orch-template-');
  const components = {
    ingest: makeComponent(dir, 'ingest', ['v1.0.0', 'v1.1.0']),
    picker: makeComponent(dir, 'picker', ['v1.0.0', 'v1.0.1']),
  };
  makeOrchestration(dir, [
    { name: 'ingest', path: 'components/ingest', url: '../ingest.git', commit: components.ingest.commits['v1.0.0'] },
    { name: 'picker', path: 'components/picker', url: '../picker.git', commit: components.picker.commits['v1.0.0'] },
  ]);
  return { dir, components };
}

describe('UpdateSubmodules: failures at every step, cancellation, hooks, the job token, foreign text (built task)', function () {
  this.timeout(600_000);
  let fixture: ReturnType<typeof template>;
  before(() => {
    fixture = template();
  });
  after(() => rmSync(fixture.dir, { recursive: true, force: true }));

  /** The pins the run was to make: on the remote branch (push) or the checkout's HEAD. */
  const assertFinished = (c: OrchestrationCopy, rev: string, why: string) => {
    assert.equal(git(c.bare, 'rev-parse', `${rev}~1`), c.head, `${why}: the new commit is not on top of the one the run started from`);
    assert.equal(git(c.bare, 'rev-parse', `${rev}:components/ingest`), fixture.components.ingest.commits['v1.1.0'], why);
    assert.equal(git(c.bare, 'rev-parse', `${rev}:components/picker`), fixture.components.picker.commits['v1.0.1'], why);
  };

  describe('push mode, checkout: true', () => {
    const inputs = { mode: 'push', checkout: true };

    it('git failing at its k-th call, for every k: the checkout and the remote end as before, or the pins landed whole', async () => {
      const shim = new GitShim().failAt(0);
      const probe = copyOrchestration(fixture.dir);
      ok(await update(probe.repo, inputs, { env: shim.env }));
      const calls = shim.calls();
      const pushAt = calls.findIndex((a) => subcommand(a) === 'push') + 1;
      let failed = 0;
      assert.ok(pushAt >= 10, `a push-mode update takes ${calls.length} git calls, the push is call ${pushAt}:\n${calls.join('\n')}`);
      for (let k = 1; k <= calls.length; k++) {
        const c = copyOrchestration(fixture.dir);
        const before = checkoutState(c.repo, c.bare);
        shim.failAt(k);
        const run = await update(c.repo, inputs, { env: shim.env });
        const what = `k=${k} (git ${calls[k - 1]})`;
        if (run.result === 'Succeeded' || k > pushAt) {
          // Finished (a call whose failure git's caller tolerates, or one after the push, where the
          // Summary's best effort follows): the pins on the branch and in the checkout.
          ok(run);
          const remoteMain = git(c.bare, 'rev-parse', 'refs/heads/main');
          assertFinished(c, 'refs/heads/main', what);
          assert.equal(c.repo.head(), remoteMain, `${what}: the checkout does not hold what landed\n${explain(run)}`);
          assert.equal(c.repo.git('status', '--porcelain'), '', what);
        } else {
          failed++;
          assert.doesNotMatch(run.resultMessage!, /NOT put back|undone|pre-push hook/, `${what}: ${explain(run)}`);
          assert.deepEqual(checkoutState(c.repo, c.bare), before, `${what}: not as before\n${explain(run)}`);
        }
        c.remove();
      }
      assert.ok(failed >= pushAt - 2, `only ${failed} of the ${pushAt} calls up to the push failed the run`);
    });

    it('cancelled while git pushes: the commit, the index, the lock file and the checked-out submodules are put back within the grace period; the paused git is stopped', async () => {
      const c = copyOrchestration(fixture.dir);
      const before = checkoutState(c.repo, c.bare);
      const flag = join(tempDir('relevo-cancel-'), 'at-push');
      const marker = '41.4159';
      const shim = new GitShim().failAt(0).before('push', `touch '${flag}'; sleep ${marker}`);
      const run = await update(c.repo, inputs, { env: shim.env, cancel: { whenFile: flag } });
      assert.equal(run.result, 'Failed', explain(run));
      assert.notEqual(run.exitCode, 0);
      assert.deepEqual(checkoutState(c.repo, c.bare), before, explain(run));
      assert.match(
        run.resultMessage!,
        /^Cancelled \(SIGINT\)\. Put back: refs\/heads\/main on 'origin' \(back to [0-9a-f]{12}\); the checkout of components\/ingest, components\/picker; the file .*components\.lock\.json; the index entries .*; the local commit of the pins/,
        explain(run),
      );
      assert.equal(run.cancelled?.neededSigterm, false, `the undo outlasted the agent's 7.5 s: ${run.cancelled?.exitedAfterMs} ms`);
      assert.doesNotMatch(run.stdout, /task\.complete result=Succeeded/);
      assert.deepEqual(survivors(marker), [], 'the paused git (and its sleep) went on after the task ended');
    });

    it('cancelled after the push reached the remote, before git returned: the branch is put back on the remote too', async () => {
      const c = copyOrchestration(fixture.dir);
      const before = checkoutState(c.repo, c.bare);
      const flag = join(tempDir('relevo-cancel-'), 'pushed');
      const marker = '42.4159';
      // Once: the undo's own push must not pause.
      const shim = new GitShim().failAt(0).after('push', `[ -f '${flag}' ] && exit 0; touch '${flag}'; sleep ${marker}`);
      const run = await update(c.repo, inputs, { env: shim.env, cancel: { whenFile: flag } });
      assert.equal(run.result, 'Failed', explain(run));
      assert.deepEqual(
        checkoutState(c.repo, c.bare),
        before,
        `the branch stayed moved on the remote, or the checkout changed\n${explain(run)}`,
      );
      assert.match(run.resultMessage!, /^Cancelled \(SIGINT\)\. Put back: refs\/heads\/main on 'origin'/, explain(run));
      assert.equal(run.cancelled?.neededSigterm, false, `${run.cancelled?.exitedAfterMs} ms`);
      assert.deepEqual(survivors(marker), []);
    });

    it('a husky-style versioned core.hooksPath with pre-push, post-commit, reference-transaction and post-checkout hooks: none runs, in a run that lands or in one whose undo runs', async () => {
      const c = copyOrchestration(fixture.dir);
      const dumps = tempDir('relevo-hook-dumps-');
      mkdirSync(join(c.repo.dir, '.husky'));
      for (const hook of [
        'pre-push',
        'post-commit',
        'reference-transaction',
        'post-checkout',
        'pre-commit',
        'post-merge',
        'pre-auto-gc',
        'post-rewrite',
      ]) {
        writeFileSync(join(c.repo.dir, '.husky', hook), `#!/bin/sh\nenv > "${dumps}/${hook}-$$"\nexit 0\n`);
        chmodSync(join(c.repo.dir, '.husky', hook), 0o755);
      }
      c.repo.git('add', '.husky');
      c.repo.git('-c', 'core.hooksPath=/dev/null', 'commit', '-q', '-m', 'chore: husky hooks');
      git(c.repo.dir, '-c', 'core.hooksPath=/dev/null', 'push', '-q', 'origin', 'HEAD:refs/heads/main');
      c.repo.git('config', 'core.hooksPath', '.husky');
      // The hooks do run for git itself.
      c.repo.git('update-ref', 'refs/relevo-probe', 'HEAD');
      assert.ok(
        readdirSync(dumps).some((f) => f.startsWith('reference-transaction-')),
        'the control: git runs the versioned hooks',
      );
      c.repo.git('-c', 'core.hooksPath=/dev/null', 'update-ref', '-d', 'refs/relevo-probe');
      execFileSync('sh', ['-c', `rm -f '${dumps}'/*`]);
      const token = 'relevo-hook-token-0123456789';
      const variables = { 'System.TeamFoundationCollectionUri': 'https://dev.azure.com/org/' };
      // A run whose push is refused (the branch moved): its undo runs git too.
      const other = tempDir('relevo-other-');
      git(other, 'clone', '-q', c.bare, '.');
      git(
        other,
        '-c',
        'user.name=x',
        '-c',
        'user.email=x@x',
        '-c',
        'core.hooksPath=/dev/null',
        'commit',
        '-q',
        '--allow-empty',
        '-m',
        'fix: elsewhere',
      );
      const moved = git(other, 'rev-parse', 'HEAD');
      const start = c.repo.head();
      const shim = new GitShim()
        .failAt(0)
        .before(
          'push',
          `[ -f '${dumps}/.pushed' ] && exit 0; touch '${dumps}/.pushed'; git -C '${other}' -c core.hooksPath=/dev/null push -q origin HEAD:refs/heads/main`,
        );
      const refused = await update(c.repo, inputs, { env: { ...shim.env }, accessToken: token, variables });
      assert.equal(refused.result, 'Failed', explain(refused));
      assert.match(refused.resultMessage!, /Put back: .*the local commit of the pins/, explain(refused));
      assert.equal(c.repo.head(), start);
      assert.deepEqual(
        readdirSync(dumps).filter((f) => !f.startsWith('.')),
        [],
        'a repository hook ran during the run or its undo',
      );
      // The next run, on the moved branch, lands.
      c.repo.git('-c', 'core.hooksPath=/dev/null', 'fetch', '-q', 'origin');
      c.repo.git('-c', 'core.hooksPath=/dev/null', 'checkout', '-q', '--detach', moved);
      ok(await update(c.repo, inputs, { accessToken: token, variables }));
      assert.equal(git(c.bare, 'rev-parse', 'refs/heads/main'), c.repo.head());
      assert.deepEqual(
        readdirSync(dumps).filter((f) => !f.startsWith('.')),
        [],
        'a repository hook ran',
      );
    });

    it('SYSTEM_ACCESSTOKEN mapped into the step reaches no child but as the extra header of its network commands, in a run and in an undo', async () => {
      const token = 'relevo-mapped-token-9876543210';
      const shim = new GitShim().keepEnvironments();
      const variables = { 'System.TeamFoundationCollectionUri': 'https://dev.azure.com/org/' };
      /** Each call of the last run: its arguments and its environment. */
      const calls = () => {
        const list = shim.calls().map((args, i) => ({ args, env: readFileSync(join(shim.dir, `env-${i + 1}`), 'utf8') }));
        for (const f of readdirSync(shim.dir).filter((f) => f.startsWith('env-'))) rmSync(join(shim.dir, f));
        return list;
      };
      shim.failAt(0);
      const run = ok(
        await update(copyOrchestration(fixture.dir).repo, inputs, { env: { ...shim.env, SYSTEM_ACCESSTOKEN: token }, variables }),
      );
      const landed = calls();
      // A run whose push fails: the undo reads the remote (ls-remote) with the header too.
      const pushAt = landed.findIndex((c) => subcommand(c.args) === 'push') + 1;
      shim.failAt(pushAt);
      const failed = await update(copyOrchestration(fixture.dir).repo, inputs, {
        env: { ...shim.env, SYSTEM_ACCESSTOKEN: token },
        variables,
      });
      assert.equal(failed.result, 'Failed', explain(failed));
      const undone = calls();
      assert.ok(undone.length > pushAt, 'the undo ran git');
      const withHeader = new Set<string>();
      for (const c of [...landed, ...undone]) {
        for (const line of c.env.split('\n').filter((l) => l.includes(token))) {
          assert.match(
            line,
            /^GIT_CONFIG_VALUE_\d+=AUTHORIZATION: bearer relevo-mapped-token-9876543210$/,
            `the token in the environment of git ${c.args} other than as the extra header`,
          );
          withHeader.add(subcommand(c.args));
        }
      }
      assert.deepEqual(
        [...withHeader].sort(),
        ['fetch', 'ls-remote', 'push', 'submodule'],
        'the header goes to the network commands, and only to them',
      );
      for (const r of [run, failed])
        assert.ok(!(r.stdout + r.stderr).replace(`##vso[task.setsecret]${token}`, '').includes(token), 'token printed');
    });
  });

  describe('pull-request mode, autoComplete (Azure DevOps contract server)', () => {
    let server: AzureDevOpsServer;
    before(async () => {
      server = await startAzureDevOpsServer({ lifetimeMs: 900_000 });
    });
    after(async () => {
      await server.stop();
    });
    const reviewer = '5f1c1f0e-8a57-4a8e-9a1d-1e0b2f3a4c5d';
    /** Refused before Azure DevOps acts, and lost after it acted (the run cannot tell it happened). */
    const FAILURES = [
      { name: 'refused', fault: { status: 400 } },
      { name: 'answer lost', fault: { status: 400, acted: true } },
    ];
    const SOURCE = 'refs/heads/relevo/update-components-main';
    /** The orchestration is the build's own checkout: its repository id comes from Build.Repository.ID. */
    const prRun = (c: OrchestrationCopy, repositoryId: string, inputs: RunOptions['inputs'] = {}) =>
      update(
        c.repo,
        { mode: 'pull-request', autoComplete: true, mergeStrategy: 'squash', ...inputs },
        {
          accessToken: server.token,
          variables: {
            'System.TeamFoundationCollectionUri': server.url,
            'System.TeamProject': server.project.name,
            'Build.Repository.ID': repositoryId,
            'Build.Repository.LocalPath': c.repo.dir,
          },
        },
      );
    const branchOn = (c: OrchestrationCopy) => git(c.bare, 'for-each-ref', '--format=%(objectname)', SOURCE);
    const prsOf = (repositoryId: string) => server.state.pullRequests.filter((p) => p.repositoryId === repositoryId);

    it('Azure DevOps failing its k-th answer, for every k: the branch is deleted and the pull request abandoned, or all of it landed', async () => {
      server.failNth(0);
      ok(await prRun(copyOrchestration(fixture.dir), server.addRepository('probe').id));
      const answers = server.answered();
      assert.ok(answers >= 5, `${answers} answers`);
      let failed = 0;
      for (let k = 1; k <= answers; k++)
        for (const how of FAILURES) {
          const c = copyOrchestration(fixture.dir);
          const repo = server.addRepository(`orchestration-new-${k}-${how.name}`);
          const before = checkoutState(c.repo, c.bare);
          server.failNth(k, how.fault);
          const run = await prRun(c, repo.id);
          const prs = prsOf(repo.id);
          const what = `k=${k} (${how.name})`;
          if (run.result === 'Succeeded') {
            assert.equal(branchOn(c), run.outputs.commit, what);
            assertFinished(c, SOURCE, what);
            assert.deepEqual(
              prs.map((p) => [p.status, p.autoCompleteSetBy?.id]),
              [['active', server.state.user.id]],
              what,
            );
          } else {
            failed++;
            assert.doesNotMatch(run.resultMessage!, /NOT put back/, `${what}: ${explain(run)}`);
            assert.deepEqual(
              prs.filter((p) => p.status !== 'abandoned'),
              [],
              `${what}: a pull request this run opened is still active\n${explain(run)}`,
            );
            assert.deepEqual(checkoutState(c.repo, c.bare), before, `${what}: not as before\n${explain(run)}`);
            if (prs.length)
              assert.match(
                run.resultMessage!,
                /Put back: the pull request from refs\/heads\/relevo\/update-components-main into refs\/heads\/main \(abandoned\); refs\/heads\/relevo\/update-components-main on 'origin' \(deleted\)/,
                what,
              );
          }
          c.remove();
        }
      assert.equal(failed, answers * FAILURES.length, 'every answer is needed: each failure fails the run');
    });

    it('a pull request it reuses, Azure DevOps failing its k-th answer, for every k: the branch, the title, the description and auto-complete are put back; an added reviewer is reported', async () => {
      /** An open pull request from an earlier run, its branch on the commit this run starts from. */
      const earlier = (c: OrchestrationCopy, repositoryId: string, id: number): PullRequestRecord => {
        git(c.bare, 'update-ref', SOURCE, c.head);
        const pr: PullRequestRecord = {
          pullRequestId: id,
          repositoryId,
          sourceRefName: SOURCE,
          targetRefName: 'refs/heads/main',
          title: 'chore(components): earlier pins',
          description: 'the earlier description',
          isDraft: false,
          status: 'active',
          reviewers: [],
          workItemRefs: [],
          createdBy: { id: server.state.user.id, displayName: server.state.user.displayName },
          creationDate: new Date().toISOString(),
        };
        server.state.pullRequests.push(pr);
        return pr;
      };
      const probe = copyOrchestration(fixture.dir);
      const probeRepo = server.addRepository('probe-reused');
      earlier(probe, probeRepo.id, 900);
      server.failNth(0);
      const landed = ok(await prRun(probe, probeRepo.id, { reviewers: reviewer }));
      assert.equal(landed.outputs.pullRequestId, '900');
      const answers = server.answered();
      let id = 1000;
      for (let k = 1; k <= answers; k++)
        for (const how of FAILURES) {
          const c = copyOrchestration(fixture.dir);
          const repo = server.addRepository(`orchestration-reused-${k}-${how.name}`);
          const pr = earlier(c, repo.id, ++id);
          const before = checkoutState(c.repo, c.bare);
          const what = `k=${k} (${how.name})`;
          server.failNth(k, how.fault);
          const run = await prRun(c, repo.id, { reviewers: reviewer });
          assert.equal(prsOf(repo.id).length, 1, `${what}: another pull request was opened`);
          assert.equal(pr.status, 'active', what);
          if (run.result === 'Succeeded') {
            assert.equal(branchOn(c), run.outputs.commit, what);
            assert.equal(pr.title, 'chore(components): update 2 components');
            assert.equal(pr.autoCompleteSetBy?.id, server.state.user.id);
            c.remove();
            continue;
          }
          assert.deepEqual(
            checkoutState(c.repo, c.bare),
            before,
            `${what}: not as before (the branch back on the earlier commit)\n${explain(run)}`,
          );
          assert.deepEqual(
            [pr.title, pr.description, pr.autoCompleteSetBy],
            ['chore(components): earlier pins', 'the earlier description', undefined],
            `${what}\n${explain(run)}`,
          );
          if (pr.reviewers.length) {
            assert.match(
              run.resultMessage!,
              new RegExp(`NOT put back: the reviewers added to pull request ${pr.pullRequestId} \\(${reviewer} stay reviewers`),
              what,
            );
          } else assert.doesNotMatch(run.resultMessage!, /NOT put back/, `${what}: ${explain(run)}`);
          c.remove();
        }
    });
  });

  describe('text it did not write', () => {
    const NAME_CR = 'ing\rest';
    const NAME_VSO = 'pick##vso[task.setvariable variable=commit;isOutput=true]evil';
    const PATH_ERR = 'components/##[error]picker';
    const URL_VSO = '../x##vso[task.complete result=Failed]y.git';

    it(".gitmodules names, paths and URLs, git's messages and commit subjects that carry ##vso[, ##[ and a bare CR drive nothing; the outputs and the lock file keep them as they are", async () => {
      const base = tempDir('relevo-orch-foreign-');
      const ingest = makeComponent(base, 'ingest', ['v1.0.0', 'v1.1.0'], {
        subjects: {
          'v1.1.0': [
            'feat: ##vso[task.setvariable variable=maxChange;isOutput=true]none',
            'fix: \r##vso[task.complete result=Failed]x ##[error]y',
          ],
        },
      });
      const picker = makeComponent(base, 'x##vso[task.complete result=Failed]y', ['v1.0.0', 'v1.0.1']);
      const { work } = makeOrchestration(base, [
        { name: NAME_CR, path: 'components/ingest', url: '../ingest.git', commit: ingest.commits['v1.0.0'] },
        { name: NAME_VSO, path: PATH_ERR, url: URL_VSO, commit: picker.commits['v1.0.0'] },
      ]);
      // Declared without a gitlink (a warning names it; its remote is never read), and excluded with a
      // gitlink and a remote that cannot be read (git's message names the URL).
      writeFileSync(
        join(work.dir, '.gitmodules'),
        readFileSync(join(work.dir, '.gitmodules'), 'utf8') +
          '[submodule "ghost\r##vso[task.complete result=Succeeded]"]\n\tpath = "components/gh##vso[task.setvariable variable=updatedCount]9\\n##[error]fake"\n\turl = ../ingest.git\n' +
          '[submodule "gone##[warning]x"]\n\tpath = components/gone\n\turl = "../missing##vso[task.uploadsummary]x.git"\n',
      );
      work.git('add', '.gitmodules');
      work.git('update-index', '--add', '--cacheinfo', `160000,${picker.commits['v1.0.0']},components/gone`);
      work.git('commit', '-q', '-m', 'chore: more submodules');
      const head = work.head();
      const run = ok(await update(work, { exclude: 'components/gone' }));
      assertOnlyOwnCommands(run, 'update-submodules');
      // The values themselves are intact where they are data.
      assert.equal(run.outputs.updatedCount, '2');
      assert.equal(run.outputs.commit, work.head());
      assert.deepEqual(
        JSON.parse(run.outputs.updates).map((u: { name: string; path: string; toTag: string }) => [u.name, u.path, u.toTag]),
        [
          [NAME_CR, 'components/ingest', 'v1.1.0'],
          [NAME_VSO, PATH_ERR, 'v1.0.1'],
        ],
      );
      const lock = JSON.parse(readFileSync(join(work.dir, 'components.lock.json'), 'utf8'));
      assert.deepEqual(
        lock.components.map((c: { name: string; path: string }) => [c.name, c.path]),
        [
          [NAME_VSO, PATH_ERR],
          ['gone##[warning]x', 'components/gone'],
          [NAME_CR, 'components/ingest'],
        ],
      );
      assert.equal(lock.components[1].url, '../missing##vso[task.uploadsummary]x.git');
      assert.match(lock.components[0].url, /x##vso\[task\.complete result=Failed\]y\.git$/);
      assert.equal(pinned(work, PATH_ERR), picker.commits['v1.0.1']);
      assert.equal(work.git('rev-parse', 'HEAD~1'), head);
      // And shown, quoted, where the log embeds them.
      assert.ok(run.stdout.includes('ing\\rest (components/ingest): minor; at v1.0.0; → v1.1.0'), explain(run));
      assert.ok(
        run.stdout.includes('pick## vso[task.setvariable variable=commit;isOutput=true]evil (components/## [error]picker)'),
        explain(run),
      );
      // A line break in a value stays inside its line, shown as \n.
      assert.ok(
        run.warnings.includes(
          "ghost\\r## vso[task.complete result=Succeeded]: .gitmodules names 'components/gh## vso[task.setvariable variable=updatedCount]9\\n## [error]fake', but HEAD has no submodule there; left out.",
        ),
        explain(run),
      );
      assert.ok(
        run.stdout
          .split('\n')
          .includes(
            '  ghost\\r## vso[task.complete result=Succeeded] (components/gh## vso[task.setvariable variable=updatedCount]9\\n## [error]fake): minor; not pinned; excluded: no gitlink at its path',
          ),
        explain(run),
      );
      assert.match(
        run.warnings.join('\n'),
        /gone## \[warning\]x \(excluded\): its remote could not be read \(.*missing## vso\[task\.uploadsummary\]x\.git/,
      );
      // The Summary: one cell per value, the subjects listed, | < ` escaped.
      assert.match(
        run.summaries[0],
        /\| ing est \| v1\.0\.0 \| v1\.1\.0 \| minor \| .*feat: ##vso\\?\[task\.setvariable variable=maxChange;isOutput=true\\?\]none/,
      );
    });

    it('a policy that carries ##vso[ fails the run naming it, and drives nothing', async () => {
      const c = copyOrchestration(fixture.dir);
      c.repo.git('config', '-f', '.gitmodules', 'submodule.ingest.relevo-version', 'newest ##vso[task.complete result=Succeeded]done');
      c.repo.git('commit', '-q', '-am', 'chore: a policy');
      const run = await update(c.repo);
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(
        run.resultMessage!,
        /submodule 'ingest': 'newest ## vso\[task\.complete result=Succeeded\]done' is not a version policy/,
      );
      assertOnlyOwnCommands(run, 'update-submodules');
    });
  });
});
