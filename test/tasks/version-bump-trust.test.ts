/**
 * VersionBump when things go wrong at the worst moment: git failing at each of its calls in
 * turn, the agent cancelling between the commit and the push or during the push, and commit
 * subjects written to drive the agent. Each run is the built task, as the agent runs it.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { assertOnlyOwnCommands, explain } from '../support/agentRunner';
import { GitShim } from '../support/gitShim';
import { git, remoteTags, tempDir } from '../support/repo';
import { assertLocalUntouched, bump, ok, readyToRelease, released, RELEASE_ALL } from '../support/versionBump';

/** Processes still running whose command line holds `marker`. */
function survivors(marker: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', marker]).toString().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe('VersionBump: failures at every step, cancellation, foreign text (built task)', function () {
  this.timeout(180_000);

  it('git failing at its k-th call, for every k: the checkout and the remote end as before, or the release landed whole', async () => {
    const probe = readyToRelease();
    const shim = new GitShim().failAt(0);
    ok(await bump(probe.repo, RELEASE_ALL, { env: shim.env }));
    const calls = shim.calls().length;
    assert.ok(calls >= 8, `a release takes ${calls} git calls`);
    for (let k = 1; k <= calls; k++) {
      const { repo, remote, head } = readyToRelease();
      const remoteMain = git(remote, 'rev-parse', 'refs/heads/main');
      shim.failAt(k);
      const run = await bump(repo, RELEASE_ALL, { env: shim.env });
      const landed = remoteTags(remote)['v1.3.0'];
      if (landed) {
        // Finished: the tag and the branch on the release commit, and the run says so.
        assert.equal(git(remote, 'rev-parse', 'refs/heads/main'), landed, `k=${k}: the tag landed without its commit\n${explain(run)}`);
        assert.equal(repo.head(), landed, `k=${k}: the checkout does not hold the release that landed`);
      } else {
        assert.equal(run.result, 'Failed', `k=${k}: ${explain(run)}`);
        assert.equal(git(remote, 'rev-parse', 'refs/heads/main'), remoteMain, `k=${k}: the remote branch moved`);
        assertLocalUntouched(repo, head);
        assert.equal(repo.git('diff', '--cached', '--name-only'), '', `k=${k}: the index kept a staged change`);
        // A re-run after the failure releases normally.
        shim.failAt(0);
        ok(await bump(repo, RELEASE_ALL, { env: shim.env }));
        assert.ok(remoteTags(remote)['v1.3.0'], `k=${k}: the re-run did not release`);
      }
    }
  });

  it('cancelled between the commit and the push: the release commit, tag and files are put back within the grace period; the paused git is stopped', async () => {
    const { repo, remote, head } = readyToRelease();
    const flag = `${tempDir('relevo-cancel-')}/at-push`;
    const marker = '31.4159';
    const shim = new GitShim().failAt(0).before('push', `touch '${flag}'; sleep ${marker}`);
    const run = await bump(repo, RELEASE_ALL, { env: shim.env, cancel: { whenFile: flag } });
    assert.equal(run.result, 'Failed', explain(run));
    assert.notEqual(run.exitCode, 0);
    assert.match(
      run.resultMessage!,
      /^Cancelled \(SIGINT\)\. Put back: .*the local tag v1\.3\.0.*the local release commit.*the file .*VERSION/,
      explain(run),
    );
    assert.equal(run.cancelled?.neededSigterm, false, `the undo outlasted the agent's 7.5 s: ${run.cancelled?.exitedAfterMs} ms`);
    assert.doesNotMatch(run.stdout, /task\.complete result=Succeeded/);
    assertLocalUntouched(repo, head);
    assert.equal(remoteTags(remote)['v1.3.0'], undefined);
    assert.deepEqual(survivors(marker), [], 'the paused git (and its sleep) went on after the task ended');
  });

  it('cancelled while the push is under way, after it reached the remote: the refs are put back on the remote too', async () => {
    const { repo, remote, head } = readyToRelease();
    const remoteMain = git(remote, 'rev-parse', 'refs/heads/main');
    const flag = `${tempDir('relevo-cancel-')}/pushed`;
    const marker = '32.4159';
    // Once: the undo's own push must not pause.
    const shim = new GitShim().failAt(0).after('push', `[ -f '${flag}' ] && exit 0; touch '${flag}'; sleep ${marker}`);
    const run = await bump(repo, RELEASE_ALL, { env: shim.env, cancel: { whenFile: flag } });
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(run.resultMessage!, /Put back: refs\/heads\/main, refs\/tags\/v1\.3\.0 on 'origin'/, explain(run));
    assert.equal(git(remote, 'rev-parse', 'refs/heads/main'), remoteMain, 'the branch stayed moved on the remote');
    assert.equal(remoteTags(remote)['v1.3.0'], undefined, 'the tag stayed on the remote');
    assertLocalUntouched(repo, head);
    assert.deepEqual(survivors(marker), []);
  });

  it('a second SIGINT during the undo does not interrupt it', async () => {
    const { repo, remote, head } = readyToRelease();
    const flag = `${tempDir('relevo-cancel-')}/pushed`;
    // The put-back's own ls-remote is slow: the second SIGINT lands while the undo runs.
    const shim = new GitShim().failAt(0).after('push', `[ -f '${flag}' ] && exit 0; touch '${flag}'; sleep 33.4159`);
    shim.before('ls-remote', `[ -f '${flag}' ] && sleep 1; exit 0`);
    const remoteMain = git(remote, 'rev-parse', 'refs/heads/main');
    const run = await bump(repo, RELEASE_ALL, { env: shim.env, cancel: { whenFile: flag, repeatEveryMs: 300 } });
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(run.resultMessage!, /Cancelled .*Put back: refs\/heads\/main/);
    assert.equal(git(remote, 'rev-parse', 'refs/heads/main'), remoteMain);
    assertLocalUntouched(repo, head);
  });

  it("commit subjects that carry ##vso[, ##[ and a bare CR drive nothing: every command in the log is the task's own", async () => {
    const repo = released(
      'feat: a ##vso[task.setvariable variable=version;isOutput=true]9.9.9',
      'fix: b ##vso[task.complete result=Failed]stop',
      'fix: c \r##vso[task.uploadsummary]/etc/passwd',
      'fix: d ##[error]fake error ##VSO[task.setsecret]x',
    );
    repo
      .write('VERSION', '1.2.0\n')
      .commitAll('chore: version file\n\nbody ##vso[task.setvariable variable=changed;isOutput=true]false\r##[warning]x');
    repo.addBareRemote();
    const run = ok(await bump(repo, { ...RELEASE_ALL, changelogFile: 'CHANGELOG.md', submodules: false }));
    assert.equal(run.outputs.version, '1.3.0');
    assert.equal(run.outputs.changed, 'true');
    assertOnlyOwnCommands(run, 'version-bump');
  });
});
