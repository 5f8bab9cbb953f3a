/**
 * DeployToDatabricks@1 run as the agent runs it: a real orchestration release (components with
 * tags, gitlinks, the lock file) deployed to the Databricks contract server
 * (test/support/databricksServer.ts), which holds the components' remotes as Databricks would
 * fetch them.
 */
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertOnlyOwnCommands, explain, type TaskRun } from '../support/agentRunner';
import { deploy, makeRelease, makeWorkspace, type Release } from '../support/deploy';
import type { DatabricksServer } from '../support/databricksServer';
import { tempDir } from '../support/repo';

const JOBS = 'ingest nightly\nreport nightly\nhistory nightly';

const ok = (run: TaskRun) => assert.equal(run.result, 'Succeeded', explain(run));
const failed = (run: TaskRun, pattern: RegExp) => {
  assert.equal(run.result, 'Failed', explain(run));
  assert.match(run.resultMessage ?? '', pattern, explain(run));
};
const writes = (ws: DatabricksServer) => ws.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);

describe('DeployToDatabricks@1 (built task, stand-in workspace)', function () {
  this.timeout(120_000);
  let release: Release;
  before(() => {
    release = makeRelease();
  });

  describe('an orchestration release of three components, to Git folders and to jobs', () => {
    let ws: DatabricksServer;
    let run: TaskRun;
    before(async () => {
      ws = await makeWorkspace(release);
      run = await deploy(release, ws, { jobs: JOBS });
    });
    after(() => ws.stop());

    it("moves every folder to its component's tag (detached, on the tag's commit) and pins every job to the commit", () => {
      ok(run);
      for (const c of release.components) {
        const repo = ws.repoAt(`/Workspace/pro/${c.name}`)!;
        assert.equal(repo.head, c.commits['v1.1.0'], c.name);
        assert.equal(repo.branch, undefined, `${c.name} is detached on the tag`);
        assert.deepEqual(repo.patches, [{ tag: 'v1.1.0' }], `${c.name}: one PATCH, with the tag only`);
        const job = [...ws.state.jobs.values()].find((j) => j.settings.name === `${c.name} nightly`)!;
        assert.deepEqual(job.settings.git_source, {
          git_url: c.bare,
          git_provider: 'azureDevOpsServices',
          git_commit: c.commits['v1.1.0'],
        });
      }
    });

    it('sets deployed: component, target, from, to and commit of every folder and job', () => {
      const deployed = JSON.parse(run.outputs.deployed) as Array<Record<string, unknown>>;
      assert.equal(deployed.length, 6);
      const ingest = release.components[0];
      assert.deepEqual(deployed[0], {
        component: 'ingest',
        target: '/Workspace/pro/ingest',
        from: 'v1.0.0',
        to: 'v1.1.0',
        commit: ingest.commits['v1.1.0'],
        changed: true,
      });
      assert.deepEqual(deployed[3], {
        component: 'ingest',
        target: 'job:701',
        from: ingest.commits['v1.0.0'],
        to: ingest.commits['v1.1.0'],
        commit: ingest.commits['v1.1.0'],
        changed: true,
      });
    });

    it('the Summary is the bill of materials as the workspace now has it, with a link to each folder and job', () => {
      const s = run.summaries[0];
      assert.match(s, /### Deployed to http:\/\/127\.0\.0\.1:\d+/);
      assert.match(s, /gitlinks and components\.lock\.json agree/);
      const folder = ws.repoAt('/Workspace/pro/report')!;
      assert.ok(
        s.includes(
          `| report | v1.1.0 | \`${release.components[1].commits['v1.1.0'].slice(0, 12)}\` | [\`/Workspace/pro/report\`](${ws.url}/browse/folders/${folder.id}) | v1.0.0 | ✅ v1.1.0 |`,
        ),
        s,
      );
      assert.ok(s.includes(`[job 703 (history nightly)](${ws.url}/jobs/703)`), s);
    });

    it('the plan reads the folders with one listing and checks the right to manage each job before anything moves', () => {
      assert.equal(ws.requestsTo('/api/2.0/repos', 'GET').filter((r) => r.path === '/api/2.0/repos').length, 1);
      const firstWrite = ws.requests.findIndex((r) => r.method !== 'GET');
      const lastPermission = ws.requests.map((r) => r.path).lastIndexOf('/api/2.0/permissions/jobs/703');
      assert.ok(lastPermission >= 0 && lastPermission < firstWrite, 'every permission read before the first move');
    });

    it('a re-run changes nothing: no move is sent, and every target is reported unchanged', async () => {
      const before = ws.snapshot();
      const sent = ws.requests.length;
      const again = await deploy(release, ws, { jobs: JOBS });
      ok(again);
      assert.deepEqual(
        ws.requests.slice(sent).filter((r) => r.method !== 'GET'),
        [],
      );
      assert.equal(ws.snapshot(), before);
      assert.ok((JSON.parse(again.outputs.deployed) as Array<{ changed: boolean }>).every((d) => !d.changed));
      assert.match(again.stdout, /0 to move/);
    });
  });

  it("the third folder's move fails: the first two are put back, no job moved, and the message says what failed and what was put back", async () => {
    const ws = await makeWorkspace(release);
    const before = ws.snapshot();
    const third = ws.repoAt('/Workspace/pro/history')!;
    ws.fail({
      method: 'PATCH',
      path: `/api/2.0/repos/${third.id}`,
      status: 400,
      body: { error_code: 'INVALID_PARAMETER_VALUE', message: 'Checkout failed: index.lock exists' },
    });
    const run = await deploy(release, ws, { jobs: JOBS, parallel: 1 });
    failed(
      run,
      /history → the Git folder \/Workspace\/pro\/history: Could not move the Git folder \/Workspace\/pro\/history to tag v1\.1\.0: PATCH \/api\/2\.0\/repos\/\d+ answered HTTP 400 INVALID_PARAMETER_VALUE: Checkout failed: index\.lock exists/,
    );
    assert.match(
      run.resultMessage!,
      /Put back: .*the Git folder \/Workspace\/pro\/history back on tag v1\.0\.0; the Git folder \/Workspace\/pro\/report back on tag v1\.0\.0; the Git folder \/Workspace\/pro\/ingest back on tag v1\.0\.0\./,
    );
    assert.equal(ws.snapshot(), before, 'every folder where it was');
    assert.deepEqual(ws.repoAt('/Workspace/pro/ingest')!.patches, [{ tag: 'v1.1.0' }, { tag: 'v1.0.0' }]);
    assert.deepEqual(ws.requestsTo('/jobs/update'), [], 'no job was moved');
    await ws.stop();
  });

  it("a job's update fails after the folders and the other jobs moved: all of them are put back", async () => {
    const ws = await makeWorkspace(release);
    const before = ws.snapshot();
    ws.fail({
      method: 'POST',
      path: '/api/2.2/jobs/update',
      status: 403,
      body: { error_code: 'PERMISSION_DENIED', message: 'User does not have Manage permissions on job 703.' },
    });
    // The first update is refused; with parallel 1 nothing else moved, so fail the last instead.
    const run = await deploy(release, ws, { jobs: JOBS, parallel: 8 });
    failed(run, /Could not set the git_source of job \d+: POST \/api\/2\.2\/jobs\/update answered HTTP 403 PERMISSION_DENIED/);
    assert.match(run.resultMessage!, /Fix: give the connection's identity CAN MANAGE on job \d+/);
    assert.equal(ws.snapshot(), before);
    await ws.stop();
  });

  it('a folder whose head does not move although Databricks accepted the move: the deploy fails, naming it, and the others are put back', async () => {
    const ws = await makeWorkspace(release);
    const before = ws.snapshot();
    ws.repoAt('/Workspace/pro/report')!.stuck = true;
    const run = await deploy(release, ws, { jobs: JOBS });
    failed(
      run,
      new RegExp(
        `the Git folder /Workspace/pro/report accepted the move to v1\\.1\\.0, but its head is ${release.components[1].commits['v1.0.0'].slice(0, 12)}, not ${release.components[1].commits['v1.1.0'].slice(0, 12)}`,
      ),
    );
    assert.doesNotMatch(run.resultMessage!, /NOT put back/);
    assert.equal(ws.snapshot(), before);
    await ws.stop();
  });

  it('name=tag for one component, without an orchestration: its folder gives the URL; only that folder and its job move', async () => {
    const ws = await makeWorkspace(release, { folderAt: { tag: 'v1.1.0' } });
    const [ingest, report] = release.components;
    ws.state.jobs.get(701)!.settings.git_source = {
      git_url: ingest.bare,
      git_provider: 'azureDevOpsServices',
      git_commit: ingest.commits['v1.1.0'],
    };
    const empty = tempDir('relevo-no-orchestration-');
    const run = await deploy(
      release,
      ws,
      { workingDirectory: empty, components: 'ingest=v1.0.0', jobs: 'ingest nightly' },
      { variables: { 'Build.SourcesDirectory': empty } },
    );
    ok(run);
    assert.equal(ws.repoAt('/Workspace/pro/ingest')!.head, ingest.commits['v1.0.0']);
    assert.equal(ws.repoAt('/Workspace/pro/report')!.head, report.commits['v1.1.0'], 'report untouched');
    assert.equal(ws.state.jobs.get(701)!.settings.git_source!.git_commit, ingest.commits['v1.0.0']);
    assert.deepEqual(
      JSON.parse(run.outputs.deployed).map((d: { target: string }) => d.target),
      ['/Workspace/pro/ingest', 'job:701'],
    );
    await ws.stop();
  });

  it("jobsPin: tag pins git_tag; a job on the orchestration repository takes the orchestration's own tag", async () => {
    const ws = await makeWorkspace(release, { folders: false, jobs: ['ingest'] });
    const orchestrationJob = ws.addJob('release train', { git_url: release.bare, git_provider: 'azureDevOpsServices', git_branch: 'main' });
    const run = await deploy(release, ws, { gitFolders: '', jobs: `ingest nightly\n${orchestrationJob.job_id}`, jobsPin: 'tag' });
    ok(run);
    assert.deepEqual(ws.state.jobs.get(701)!.settings.git_source, {
      git_url: release.components[0].bare,
      git_provider: 'azureDevOpsServices',
      git_tag: 'v1.1.0',
    });
    assert.deepEqual(orchestrationJob.settings.git_source, {
      git_url: release.bare,
      git_provider: 'azureDevOpsServices',
      git_tag: 'v2.0.0',
    });
    await ws.stop();
  });

  describe('a folder that does not exist', () => {
    it('without createMissing: refused in the plan, naming the folder; nothing is moved', async () => {
      const ws = await makeWorkspace(release, { folders: ['ingest', 'report'] });
      const before = ws.snapshot();
      const run = await deploy(release, ws);
      failed(
        run,
        /the plan found 1 problem, so nothing was moved:.*the Git folder \/Workspace\/pro\/history for history does not exist: create it, or set createMissing: true/s,
      );
      assert.deepEqual(writes(ws), []);
      assert.equal(ws.snapshot(), before);
      await ws.stop();
    });

    it("with createMissing: created from the component's URL (Azure Repos), then moved to the tag; a re-run leaves it", async () => {
      const ws = await makeWorkspace(release, { folders: ['ingest', 'report'] });
      const run = await deploy(release, ws, { createMissing: true });
      ok(run);
      const history = release.components[2];
      const create = ws.requestsTo('/api/2.0/repos', 'POST');
      assert.deepEqual(
        create.map((r) => r.body),
        [{ url: history.bare, provider: 'azureDevOpsServices', path: '/Workspace/pro/history' }],
      );
      const folder = ws.repoAt('/Workspace/pro/history')!;
      assert.equal(folder.head, history.commits['v1.1.0']);
      assert.equal(folder.branch, undefined);
      assert.match(
        run.stdout,
        /history → the Git folder \/Workspace\/pro\/history: create from .*history\.git \(azureDevOpsServices\), then tag v1\.1\.0/,
      );
      assert.deepEqual(JSON.parse(run.outputs.deployed)[2], {
        component: 'history',
        target: '/Workspace/pro/history',
        from: '',
        to: 'v1.1.0',
        commit: history.commits['v1.1.0'],
        changed: true,
      });
      const sent = ws.requests.length;
      ok(await deploy(release, ws, { createMissing: true }));
      assert.deepEqual(
        ws.requests.slice(sent).filter((r) => r.method !== 'GET'),
        [],
      );
      await ws.stop();
    });

    it('with createMissing, and a later move fails: the folder it created is removed', async () => {
      const ws = await makeWorkspace(release, { folders: ['ingest', 'report'] });
      const before = ws.snapshot();
      // parallel 1: the folders (history created last), then the job, which fails.
      ws.fail({
        method: 'POST',
        path: '/api/2.2/jobs/update',
        status: 400,
        body: { error_code: 'INVALID_PARAMETER_VALUE', message: 'nope' },
      });
      const run = await deploy(release, ws, { createMissing: true, parallel: 1, jobs: 'history nightly' });
      failed(run, /Put back: .*the Git folder \/Workspace\/pro\/history \(created by this run\) removed/);
      assert.equal(ws.repoAt('/Workspace/pro/history'), undefined);
      assert.equal(ws.snapshot(), before);
      await ws.stop();
    });
  });

  describe('a folder with uncommitted changes (someone edited pro by hand)', () => {
    it('is refused, naming the folder and what to do; the others are put back', async () => {
      const ws = await makeWorkspace(release);
      ws.repoAt('/Workspace/pro/report')!.uncommitted = ['notebooks/daily.py'];
      const before = ws.snapshot();
      const run = await deploy(release, ws);
      failed(
        run,
        /the Git folder \/Workspace\/pro\/report has uncommitted changes \(someone edited it in the workspace\), and Databricks refused to move it: .*notebooks\/daily\.py/,
      );
      assert.match(run.resultMessage!, /Fix: commit or discard those changes .*set discardLocalChanges: true/);
      assert.equal(ws.snapshot(), before);
      await ws.stop();
    });

    it('discardLocalChanges: the move discards them (dangerously_force_discard_all, for that folder only), and the Summary says where', async () => {
      const ws = await makeWorkspace(release);
      const report = ws.repoAt('/Workspace/pro/report')!;
      report.uncommitted = ['notebooks/daily.py'];
      const run = await deploy(release, ws, { discardLocalChanges: true });
      ok(run);
      assert.deepEqual(report.patches, [{ tag: 'v1.1.0' }, { tag: 'v1.1.0', dangerously_force_discard_all: true }]);
      assert.deepEqual(report.uncommitted, []);
      assert.deepEqual(ws.repoAt('/Workspace/pro/ingest')!.patches, [{ tag: 'v1.1.0' }]);
      assert.match(run.summaries[0], /\*\*Uncommitted changes discarded\*\*[\s\S]*`\/Workspace\/pro\/report`: .*notebooks\/daily\.py/);
      assert.ok(run.warnings.some((w) => /\/Workspace\/pro\/report: uncommitted changes discarded/.test(w)));
      await ws.stop();
    });
  });

  it("a missing Git credential, in each of Databricks' wordings: detected, with what to do for a PAT, a service principal and Entra ID federation; nothing stays moved", async () => {
    for (const wording of ['missing', 'aad', 'choose'] as const) {
      const ws = await makeWorkspace(release);
      ws.state.gitCredential = false;
      ws.state.gitCredentialError = wording;
      const before = ws.snapshot();
      const run = await deploy(release, ws, { jobs: JOBS });
      failed(run, /Databricks could not pull .*: the identity has no usable Git credential/);
      const m = run.resultMessage!;
      assert.match(m, /This connection signs in with a personal access token/, wording);
      assert.match(m, /\(a\) Personal access token: .*Linked accounts/);
      assert.match(m, /\(b\) Service principal: .*git-credentials create azureDevOpsServices/);
      assert.match(m, /\(c\) Microsoft Entra ID federation .*azureDevOpsServicesAad/);
      assert.match(
        m,
        wording === 'choose'
          ? /set gitCredentialId to the one to use/
          : wording === 'aad'
            ? /Azure Active Directory credentials missing/
            : /Missing Git provider credentials/,
      );
      // The jobs moved meanwhile (they pull at run time, not now) are put back too; the folders never moved.
      assert.equal(ws.snapshot(), before, wording);
      assert.doesNotMatch(m, /NOT put back/, wording);
      await ws.stop();
    }
  });

  it('through an Azure Resource Manager connection (workload identity federation): deploys, and a missing Git credential gets the federation advice first', async () => {
    // The workspace's server is also Azure AD and the OIDC endpoint: it accepts the tokens its /aad issued.
    const arm = (server: DatabricksServer) => {
      server.addServicePrincipal('deployer-app', { tenantId: 'tenant-1', federated: true });
      server.state.jobTokens.add('job-token-deploy');
      return {
        inputs: { databricksConnection: '', databricksAzureSubscription: 'arm', databricksWorkspaceUrl: server.url },
        options: {
          accessToken: 'job-token-deploy',
          endpoints: {
            arm: {
              scheme: 'WorkloadIdentityFederation',
              parameters: { serviceprincipalid: 'deployer-app', tenantid: 'tenant-1' },
              data: { environmentAuthorityUrl: server.authorityHost },
            },
          },
          variables: { 'System.OidcRequestUri': server.oidcRequestUri },
        },
      };
    };
    const ws = await makeWorkspace(release);
    const viaWs = arm(ws);
    const first = await deploy(release, ws, { ...viaWs.inputs, jobs: 'ingest nightly' }, viaWs.options);
    ok(first);
    assert.ok(ws.requestsTo('/aad/tenant-1/oauth2/v2.0/token', 'POST').length > 0, 'signed in through Azure AD');
    assert.equal(ws.repoAt('/Workspace/pro/ingest')!.head, release.components[0].commits['v1.1.0']);
    const ws2 = await makeWorkspace(release);
    const viaWs2 = arm(ws2);
    ws2.state.gitCredential = false;
    const before = ws2.snapshot();
    const run = await deploy(release, ws2, viaWs2.inputs, viaWs2.options);
    failed(run, /This connection signs in as a service principal through workload identity federation/);
    assert.match(run.resultMessage!, /\(c\) Microsoft Entra ID federation/);
    assert.equal(ws2.snapshot(), before);
    await Promise.all([ws.stop(), ws2.stop()]);
  });

  it('a lock file that disagrees with the gitlinks: refused before the workspace is asked anything', async () => {
    const disagreeing = makeRelease({ lock: 'disagree' });
    const ws = await makeWorkspace(disagreeing);
    const run = await deploy(disagreeing, ws, { jobs: JOBS });
    const ingest = disagreeing.components[0];
    failed(
      run,
      new RegExp(
        `the lock file components\\.lock\\.json disagrees with the gitlinks .*ingest: the gitlink pins ${ingest.commits['v1.1.0'].slice(0, 12)}, the lock file says ${ingest.commits['v1.0.0'].slice(0, 12)} \\(v1\\.1\\.0\\)`,
      ),
    );
    assert.deepEqual(ws.requests, []);
    // An explicit name=tag does not depend on the pins, nor on the lock file that speaks for them.
    const explicit = await deploy(disagreeing, ws, { components: 'report=v1.0.0' });
    ok(explicit);
    assert.equal(ws.repoAt('/Workspace/pro/report')!.patches.length, 0, 'report was on v1.0.0 already');
    await ws.stop();
  });

  it('a dry run reads the release and the workspace, prints the plan and moves nothing', async () => {
    const ws = await makeWorkspace(release, { folders: ['ingest', 'report'] });
    const before = ws.snapshot();
    const run = await deploy(release, ws, { jobs: JOBS, createMissing: true, dryRun: true });
    ok(run);
    assert.ok(ws.requests.length > 0);
    assert.deepEqual(writes(ws), [], 'only GET requests');
    assert.equal(ws.snapshot(), before);
    assert.match(run.stdout, /ingest → the Git folder \/Workspace\/pro\/ingest: tag v1\.0\.0 → tag v1\.1\.0/);
    assert.match(run.stdout, /history → the Git folder \/Workspace\/pro\/history: create from/);
    assert.match(run.stdout, /Dry run: 6 target\(s\) would move; nothing was changed\./);
    assert.match(run.summaries[0], /### Dry run: would deploy/);
    assert.equal((JSON.parse(run.outputs.deployed) as unknown[]).length, 6);
  });

  it('a plan that finds several problems lists every one of them and moves nothing', async () => {
    const ws = await makeWorkspace(release, { folders: ['ingest', 'report'] });
    ws.repoAt('/Workspace/pro/report')!.url = release.components[0].bare; // linked to another repository
    ws.state.jobs.get(702)!.manageable = false;
    ws.addJob('notebooks from the workspace');
    const run = await deploy(release, ws, { jobs: `${JOBS}\nnotebooks from the workspace\nno such job\n999` });
    failed(run, /the plan found 6 problems, so nothing was moved/);
    const m = run.resultMessage!;
    assert.match(m, /\/Workspace\/pro\/report is linked to .*ingest\.git, not to report's repository/);
    assert.match(m, /\/Workspace\/pro\/history for history does not exist/);
    assert.match(m, /may not manage job 702 \(report nightly\): give it CAN MANAGE/);
    assert.match(m, /job 704 \(notebooks from the workspace\) has no git_source/);
    assert.match(m, /there is no job named 'no such job'/);
    assert.match(m, /job 999 does not exist/);
    assert.deepEqual(writes(ws), []);
    await ws.stop();
  });

  it("the server failing its k-th answer, for every k: the workspace ends as before, or deployed whole; the server's words drive nothing", async () => {
    // One job: every kind of call (listing, status, create, move, read back, job read, permissions, update) in few calls.
    const probe = await makeWorkspace(release, { folders: ['ingest', 'report'] });
    ok(await deploy(release, probe, { jobs: 'history nightly', createMissing: true }));
    const finished = probe.snapshot().replace(/\d{10}/g, 'ID');
    const calls = probe.requests.length;
    await probe.stop();
    assert.ok(calls >= 14, `a deploy takes ${calls} calls`);
    for (let k = 1; k <= calls; k++) {
      const ws = await makeWorkspace(release, { folders: ['ingest', 'report'] });
      const before = ws.snapshot();
      ws.failNth(k);
      const run = await deploy(release, ws, { jobs: 'history nightly', createMissing: true });
      assertOnlyOwnCommands(run, 'deploy-to-databricks');
      if (run.result === 'Succeeded')
        assert.equal(ws.snapshot().replace(/\d{10}/g, 'ID'), finished, `k=${k}: succeeded but not deployed whole\n${explain(run)}`);
      else {
        assert.equal(ws.snapshot(), before, `k=${k}: not as before\n${explain(run)}`);
        assert.doesNotMatch(run.resultMessage!, /NOT put back/, `k=${k}`);
      }
      await ws.stop();
    }
  });

  it("cancelled during slow PATCHes: every folder is put back (each once its PATCH has landed, all at once), within the agent's grace", async () => {
    const ws = await makeWorkspace(release);
    const before = ws.snapshot();
    // Each PATCH takes 2 s: put back one after another, three folders would outlast the grace.
    for (const r of ws.state.repos.values()) r.patchDelayMs = 2000;
    const slow = ws.repoAt('/Workspace/pro/report')!;
    const flag = join(tempDir('relevo-cancel-'), 'patching');
    ws.hooks.onRequest = (r) => {
      if (r.method === 'PATCH' && r.path === `/api/2.0/repos/${slow.id}`) writeFileSync(flag, '');
    };
    const run = await deploy(release, ws, { jobs: JOBS }, { cancel: { whenFile: flag } });
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(
      run.resultMessage!,
      /^Cancelled \(SIGINT\)\. Put back: .*the Git folder \/Workspace\/pro\/report back on tag v1\.0\.0/,
      explain(run),
    );
    assert.equal(run.cancelled?.neededSigterm, false, `the undo outlasted the agent's 7.5 s: ${run.cancelled?.exitedAfterMs} ms`);
    assert.equal(ws.snapshot(), before);
    // The slow PATCH landed (the server applies it at its end), and the put-back came after it.
    assert.deepEqual(slow.patches, [{ tag: 'v1.1.0' }, { tag: 'v1.0.0' }]);
    const putBack = ws.requests.find(
      (r) => r.method === 'PATCH' && r.path === `/api/2.0/repos/${slow.id}` && (r.body as { tag?: string }).tag === 'v1.0.0',
    )!;
    assert.ok(
      putBack.at >= ws.requests.find((r) => r.method === 'PATCH' && r.path === `/api/2.0/repos/${slow.id}`)!.answeredAt!,
      'the put-back was sent after the slow PATCH ended',
    );
    // All three put back at once: each put-back PATCH was sent before any of them was answered.
    const putBacks = ws.requests.filter((r) => r.method === 'PATCH' && (r.body as { tag?: string }).tag === 'v1.0.0');
    assert.equal(putBacks.length, 3);
    assert.ok(
      Math.max(...putBacks.map((r) => r.at)) < Math.min(...putBacks.map((r) => r.answeredAt!)),
      'the folders were put back one after another',
    );
    await ws.stop();
  });

  it('names and server messages that carry ##vso[, ##[ and a bare CR drive nothing', async () => {
    const ws = await makeWorkspace(release, { jobs: false });
    const ingest = release.components[0];
    // (git refuses '[' in branch and tag names: the foreign text comes in names and messages.)
    ws.addJob('nightly ##vso[task.setvariable variable=deployed;isOutput=true]pwned\r##[error]x', {
      git_url: ingest.bare,
      git_provider: 'azureDevOpsServices',
      git_branch: 'main',
    });
    const ok1 = await deploy(release, ws, { jobs: '701' });
    ok(ok1);
    assertOnlyOwnCommands(ok1, 'deploy-to-databricks');
    assert.match(ok1.stdout, /job 701 \(nightly ## vso\[task\.setvariable variable=deployed;isOutput=true\]pwned\\r## \[error\]x\)/);
    const ws2 = await makeWorkspace(release);
    ws2.fail({
      method: 'PATCH',
      path: '/api/2.0/repos/',
      status: 400,
      body: {
        error_code: 'INVALID_PARAMETER_VALUE',
        message: 'bad ##vso[task.setvariable variable=deployed;isOutput=true]x\r##[warning]y\n##vso[task.complete result=Succeeded]',
      },
    });
    const bad = await deploy(release, ws2);
    assert.equal(bad.result, 'Failed', explain(bad));
    assertOnlyOwnCommands(bad, 'deploy-to-databricks');
    await ws.stop();
    await ws2.stop();
  });
});
