import { strict as assert } from 'node:assert';
import {
  AzureDevOpsError,
  connectAzureDevOps,
  organizationOf,
  tokenGoesTo,
  type AzureDevOpsClient,
  type AzureDevOpsConnectionOptions,
} from '../../shared/clients/azureDevOps';
import { RetriesExhaustedError, backoffMs, parseRetryAfter, withRetries } from '../../shared/clients/http';
import { adoError, startAzureDevOpsServer, type AzureDevOpsServer } from '../support/azureDevOpsServer';

const COMMIT_A = 'a'.repeat(40);
const COMMIT_B = 'b'.repeat(40);
const REVIEWER = '11111111-2222-3333-4444-555555555555';
const REVIEWER_2 = '66666666-7777-8888-9999-000000000000';

/** Fast retries for tests; the 429 test measures the server's Retry-After, not this backoff. */
const FAST = { baseDelayMs: 5, maxDelayMs: 20, maxTotalMs: 5_000 };

async function rejection(promise: Promise<unknown>): Promise<AzureDevOpsError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof AzureDevOpsError, `expected an AzureDevOpsError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

describe('Azure DevOps client (against the contract server, through azure-devops-node-api)', () => {
  let server: AzureDevOpsServer;
  let client: AzureDevOpsClient;
  const connect = (overrides: Partial<AzureDevOpsConnectionOptions> = {}) =>
    connectAzureDevOps({
      collectionUri: server.url,
      token: server.token,
      project: server.project.name,
      retry: FAST,
      timeoutMs: 2_000,
      ...overrides,
    });
  /** Every error must keep the token out of what it shows. */
  const noToken = (err: AzureDevOpsError) => {
    for (const text of [err.message, err.fix, err.url ?? '', err.serverMessage ?? '', String(err.stack)])
      assert.ok(!text.includes(server.token), `the token leaked into: ${text}`);
  };

  beforeEach(async () => {
    server = await startAzureDevOpsServer({ lifetimeMs: 30_000 });
    client = connect();
  });
  afterEach(() => server.stop());

  describe('discovery and repositories', () => {
    it('finds the git area and a repository by name, with the negotiated api-version in the Accept header', async () => {
      const repo = server.addRepository('ingest');
      const info = await client.repository('ingest');
      assert.deepEqual(info, {
        id: repo.id,
        name: 'ingest',
        remoteUrl: `${server.url}Data%20Platform/_git/ingest`,
        webUrl: `${server.url}Data%20Platform/_git/ingest`,
        defaultBranch: 'refs/heads/main',
        project: { id: server.project.id, name: 'Data Platform' },
      });
      const calls = server.requests.map((r) => `${r.method} ${r.path.replace(/^\/org\//, '')}`);
      assert.deepEqual(calls, [
        'OPTIONS _apis/Location',
        'GET _apis/ResourceAreas',
        'OPTIONS _apis/git',
        'GET Data Platform/_apis/git/repositories/ingest',
      ]);
      assert.equal(server.requestsTo('/repositories/ingest')[0].apiVersion, '7.2-preview.2');
      assert.ok(server.requests.every((r) => r.authorization === 'valid'));
      // discovery happens once per area
      await client.repository(repo.id);
      assert.equal(server.requests.filter((r) => r.method === 'OPTIONS').length, 2);
    });

    it('works against an on-premises server (no resource areas, api 7.0)', async () => {
      await server.stop();
      server = await startAzureDevOpsServer({ resourceAreas: 'onPremises', maxVersion: '7.0', releasedVersion: '7.0' });
      server.addRepository('ingest');
      const info = await connect().repository('ingest');
      assert.equal(info.name, 'ingest');
      assert.equal(server.requestsTo('/repositories/ingest')[0].apiVersion, '7.0');
    });

    it('a repository the token cannot see: 404 with the job authorization scope hint', async () => {
      server.addRepository('secret', { hidden: true });
      const err = await rejection(client.repository('secret'));
      assert.equal(err.status, 404);
      assert.equal(err.kind, 'notFound');
      assert.equal(err.method, 'GET');
      assert.match(err.url!, /\/org\/Data%20Platform\/_apis\/git\/repositories\/secret$/);
      assert.match(
        err.message,
        /Could not read the repository 'secret' in project 'Data Platform': GET http:\/\/127\.0\.0\.1:\d+\/org\/Data%20Platform\/_apis\/git\/repositories\/secret answered 404 Not Found/,
      );
      assert.match(err.fix, /Limit job authorization scope to referenced repositories/);
      assert.match(err.fix, /resources\.repositories/);
      assert.equal(server.requestsTo('/repositories/secret').length, 1, 'a 404 is not retried');
      noToken(err);
    });

    it('reports who the token is (connectionData)', async () => {
      assert.deepEqual(await client.authenticatedUser(), { id: server.state.user.id, displayName: 'Data Platform Build Service (org)' });
    });

    it('reads the organization from the usual collection URLs', () => {
      assert.equal(organizationOf(new URL('https://dev.azure.com/contoso/')), 'contoso');
      assert.equal(organizationOf(new URL('https://contoso.visualstudio.com/')), 'contoso');
      assert.equal(organizationOf(new URL('https://tfs.example.com/tfs/DefaultCollection/')), 'DefaultCollection');
    });
  });

  describe('pull requests', () => {
    it('creates a pull request with reviewers and work items, then finds it again instead of duplicating', async () => {
      const repo = server.addRepository('orchestration');
      assert.equal(await client.findActivePullRequest(repo.id, 'relevo/update-submodules', 'main'), undefined);
      const find = server.requestsTo('/pullRequests', 'GET')[0];
      assert.equal(find.query['searchCriteria.sourceRefName'], 'refs/heads/relevo/update-submodules');
      assert.equal(find.query['searchCriteria.targetRefName'], 'refs/heads/main');
      assert.equal(find.query['searchCriteria.status'], '1'); // PullRequestStatus.Active

      const pr = await client.createPullRequest(repo.id, {
        sourceRefName: 'relevo/update-submodules',
        targetRefName: 'refs/heads/main',
        title: 'chore: update components',
        description: 'ingest 1.2.0 → 1.3.0',
        reviewerIds: [REVIEWER],
        workItemIds: [42],
      });
      const create = server.requestsTo('/pullRequests', 'POST');
      assert.equal(create.length, 1);
      assert.equal(create[0].apiVersion, '7.2-preview.2');
      assert.deepEqual(create[0].body, {
        sourceRefName: 'refs/heads/relevo/update-submodules',
        targetRefName: 'refs/heads/main',
        title: 'chore: update components',
        description: 'ingest 1.2.0 → 1.3.0',
        isDraft: false,
        reviewers: [{ id: REVIEWER }],
        workItemRefs: [{ id: '42' }],
      });
      assert.equal(pr.id, 1);
      assert.equal(pr.status, 'active');
      assert.equal(pr.webUrl, `${server.url}Data%20Platform/_git/orchestration/pullrequest/1`);
      assert.deepEqual(pr.reviewerIds, [REVIEWER]);
      assert.deepEqual(server.state.pullRequests[0].workItemRefs, [{ id: '42' }]);

      const again = await client.findActivePullRequest(repo.id, 'refs/heads/relevo/update-submodules', 'main');
      assert.equal(again?.id, pr.id);
      assert.equal(again?.title, 'chore: update components');
    });

    it('a second create for the same branches: 409 TF401179 quoted and explained', async () => {
      const repo = server.addRepository('orchestration');
      const input = { sourceRefName: 'promote/pre', targetRefName: 'pro', title: 'Promote pre → pro' };
      await client.createPullRequest(repo.id, input);
      const err = await rejection(client.createPullRequest(repo.id, input));
      assert.equal(err.status, 409);
      assert.equal(err.kind, 'pullRequestExists');
      assert.equal(err.typeKey, 'GitPullRequestExistsException');
      assert.equal(err.serverMessage, 'TF401179: An active pull request for the source and target branch already exists.');
      assert.match(
        err.message,
        /POST .*\/pullRequests answered 409 Conflict \(GitPullRequestExistsException\): "TF401179: An active pull request/,
      );
      assert.match(err.fix, /active pull request from refs\/heads\/promote\/pre into refs\/heads\/pro already exists/);
      assert.equal(server.requestsTo('/pullRequests', 'POST').length, 2, 'a 409 is not retried');
      noToken(err);
    });

    it('a create refused because a branch does not exist quotes TF401398', async () => {
      const repo = server.addRepository('orchestration', { branches: ['refs/heads/main'] });
      const err = await rejection(client.createPullRequest(repo.id, { sourceRefName: 'gone', targetRefName: 'main', title: 't' }));
      assert.equal(err.status, 400);
      assert.equal(err.kind, 'badRequest');
      assert.match(err.message, /TF401398: The pull request cannot be activated/);
    });

    it("updates title and description only (a long description is cut to Azure DevOps' 4000 characters)", async () => {
      const repo = server.addRepository('orchestration');
      const pr = await client.createPullRequest(repo.id, { sourceRefName: 'a', targetRefName: 'main', title: 'old' });
      const updated = await client.updatePullRequest(repo.id, pr.id, { title: 'new', description: 'x'.repeat(5000) });
      const patch = server.requestsTo(`/pullRequests/${pr.id}`, 'PATCH')[0];
      assert.deepEqual(Object.keys(patch.body as object), ['title', 'description']);
      assert.equal((patch.body as { description: string }).description.length, 4000);
      assert.match((patch.body as { description: string }).description, /… \(truncated\)$/);
      assert.equal(updated.title, 'new');
    });

    it('abandons a pull request with a PATCH of its status only; it is no longer found as active', async () => {
      const repo = server.addRepository('orchestration');
      const pr = await client.createPullRequest(repo.id, { sourceRefName: 'a', targetRefName: 'main', title: 't' });
      const abandoned = await client.abandonPullRequest(repo.id, pr.id);
      const patch = server.requestsTo(`/pullRequests/${pr.id}`, 'PATCH')[0];
      assert.deepEqual(Object.keys(patch.body as object), ['status']);
      assert.equal(abandoned.status, 'abandoned');
      assert.equal(server.state.pullRequests[0].status, 'abandoned');
      assert.equal(await client.findActivePullRequest(repo.id, 'a', 'main'), undefined);
    });

    it("sets auto-complete with a PATCH: autoCompleteSetBy = connectionData's user, merge strategies as the library's enum", async () => {
      const repo = server.addRepository('orchestration');
      const pr = await client.createPullRequest(repo.id, { sourceRefName: 'a', targetRefName: 'main', title: 't' });
      const result = await client.setAutoComplete(repo.id, pr.id, {
        mergeStrategy: 'squash',
        deleteSourceBranch: true,
        transitionWorkItems: false,
        mergeCommitMessage: 'Merged by Relevo',
      });
      const patch = server.requestsTo(`/pullRequests/${pr.id}`, 'PATCH')[0];
      assert.equal(patch.apiVersion, '7.2-preview.2');
      assert.deepEqual(patch.body, {
        autoCompleteSetBy: { id: server.state.user.id },
        completionOptions: {
          mergeStrategy: 2,
          deleteSourceBranch: true,
          transitionWorkItems: false,
          mergeCommitMessage: 'Merged by Relevo',
        },
      });
      assert.equal(result.autoCompleteSetById, server.state.user.id);
      const strategies = { noFastForward: 1, squash: 2, rebase: 3, rebaseMerge: 4 } as const;
      for (const [name, value] of Object.entries(strategies)) {
        await client.setAutoComplete(repo.id, pr.id, { mergeStrategy: name as keyof typeof strategies });
        const last = server.requestsTo(`/pullRequests/${pr.id}`, 'PATCH').at(-1)!;
        assert.equal((last.body as { completionOptions: { mergeStrategy: number } }).completionOptions.mergeStrategy, value, name);
      }
      assert.equal(server.requestsTo('/_apis/connectionData').length, 1, 'the identity is asked once');
    });

    it('adds only the reviewers an open pull request does not have yet', async () => {
      const repo = server.addRepository('orchestration');
      const pr = await client.createPullRequest(repo.id, {
        sourceRefName: 'a',
        targetRefName: 'main',
        title: 't',
        reviewerIds: [REVIEWER],
      });
      server.state.pullRequests[0].reviewers[0].vote = 10; // approved: must not be reset
      assert.deepEqual(await client.addReviewers(repo.id, pr.id, [REVIEWER, REVIEWER_2]), [REVIEWER_2]);
      const puts = server.requests.filter((r) => r.method === 'PUT');
      assert.equal(puts.length, 1);
      assert.match(puts[0].path, new RegExp(`/pullRequests/${pr.id}/reviewers/${REVIEWER_2}$`));
      assert.equal(puts[0].apiVersion, '7.2-preview.1');
      assert.deepEqual(puts[0].body, { id: REVIEWER_2, vote: 0 });
      assert.deepEqual(
        server.state.pullRequests[0].reviewers.map((r) => [r.id, r.vote]),
        [
          [REVIEWER, 10],
          [REVIEWER_2, 0],
        ],
      );
    });

    it('a pull request that does not exist: 404 naming it', async () => {
      const repo = server.addRepository('orchestration');
      const err = await rejection(client.updatePullRequest(repo.id, 77, { title: 'x' }));
      assert.equal(err.kind, 'notFound');
      assert.match(err.fix, /pull request 77 does not exist/);
    });
  });

  describe('builds and statuses', () => {
    it('lists the builds of a commit by pipeline id and by name', async () => {
      const repo = server.addRepository('ingest');
      const ci = server.addDefinition('ingest-ci', { path: '\\components' });
      const other = server.addDefinition('other');
      server.addBuild({ definitionId: ci.id, sourceVersion: COMMIT_A, repositoryId: repo.id, id: 101 });
      server.addBuild({ definitionId: ci.id, sourceVersion: COMMIT_B, repositoryId: repo.id, id: 102 });
      server.addBuild({
        definitionId: ci.id,
        sourceVersion: COMMIT_A,
        repositoryId: repo.id,
        id: 103,
        status: 'inProgress',
        result: undefined,
      });
      server.addBuild({ definitionId: other.id, sourceVersion: COMMIT_A, repositoryId: repo.id, id: 104, result: 'failed' });

      const byId = await client.buildsForCommit(COMMIT_A, { definition: ci.id, repositoryId: repo.id });
      assert.deepEqual(
        byId.map((b) => [b.id, b.definitionId, b.definitionName, b.status, b.result, b.sourceVersion]),
        [
          [103, ci.id, 'ingest-ci', 'inProgress', undefined, COMMIT_A],
          [101, ci.id, 'ingest-ci', 'completed', 'succeeded', COMMIT_A],
        ],
      );
      assert.equal(byId[1].url, `${server.url}Data%20Platform/_build/results?buildId=101`);
      const list = server.requestsTo('/_apis/build/builds')[0];
      assert.equal(list.apiVersion, '7.2-preview.7');
      assert.equal(list.query.definitions, String(ci.id));
      assert.equal(list.query.repositoryId, repo.id);
      assert.equal(list.query.repositoryType, 'TfsGit');
      assert.equal(list.query.$top, '200');
      assert.equal(list.query.queryOrder, '4'); // BuildQueryOrder.QueueTimeDescending

      const byName = await client.buildsForCommit(COMMIT_A, { definition: 'Ingest-CI' });
      assert.deepEqual(
        byName.map((b) => b.id),
        [103, 101],
      );
      assert.equal(server.requestsTo('/_apis/build/definitions')[0].query.name, 'Ingest-CI');
      const all = await client.buildsForCommit(COMMIT_A);
      assert.deepEqual(all.map((b) => b.id).sort(), [101, 103, 104]);
    });

    it('a pipeline name that matches none or several is explained', async () => {
      server.addDefinition('ci', { path: '\\a' });
      server.addDefinition('ci', { path: '\\b' });
      const none = await rejection(client.buildsForCommit(COMMIT_A, { definition: 'missing' }));
      assert.equal(none.kind, 'notFound');
      assert.match(none.message, /no pipeline named 'missing'/);
      const several = await rejection(client.buildsForCommit(COMMIT_A, { definition: 'ci' }));
      assert.match(several.message, /2 pipelines are named 'ci'.*1 \(\\a\\ci\), 2 \(\\b\\ci\)/);
      assert.match(several.fix, /pipeline's id/);
    });

    it('reads every status posted on a commit, newest first, with its date (not only the latest of each context)', async () => {
      const repo = server.addRepository('ingest');
      server.addStatus(repo.id, COMMIT_A, { state: 'failed', context: { genre: 'relevo', name: 'tests' } });
      server.addStatus(repo.id, COMMIT_A, {
        state: 'succeeded',
        context: { genre: 'relevo', name: 'tests' },
        description: 'all green',
        targetUrl: 'https://example.test/run/1',
      });
      server.addStatus(repo.id, COMMIT_A, { state: 'pending', context: { name: 'sonar' } });
      server.addStatus(repo.id, COMMIT_B, { state: 'error', context: { name: 'other commit' } });
      const statuses = await client.commitStatuses(repo.id, COMMIT_A);
      assert.deepEqual(
        statuses.map((s) => [s.state, s.genre, s.name, s.description, s.targetUrl]),
        [
          ['pending', undefined, 'sonar', undefined, undefined],
          ['succeeded', 'relevo', 'tests', 'all green', 'https://example.test/run/1'],
          ['failed', 'relevo', 'tests', undefined, undefined],
        ],
      );
      assert.ok(statuses.every((s) => s.createdAt && !Number.isNaN(Date.parse(s.createdAt))));
      assert.ok(statuses[1].createdAt! > statuses[2].createdAt!);
      const request = server.requestsTo('/statuses')[0];
      assert.equal(request.query.latestOnly, 'false');
      assert.equal(request.apiVersion, '7.2-preview.2');
    });

    it('follows the builds pages (x-ms-continuationtoken) to a build of the commit beyond the first page', async () => {
      const repo = server.addRepository('ingest');
      const ci = server.addDefinition('ingest-ci');
      const wanted = server.addBuild({
        definitionId: ci.id,
        sourceVersion: COMMIT_A,
        repositoryId: repo.id,
        sourceBranch: 'refs/heads/dev',
      });
      for (let i = 0; i < 450; i++)
        server.addBuild({ definitionId: ci.id, sourceVersion: COMMIT_B, repositoryId: repo.id, sourceBranch: 'refs/heads/dev' });
      const minTime = new Date(Date.parse(wanted.queueTime) - 1000);
      const builds = await client.buildsForCommit(COMMIT_A, { definition: ci.id, repositoryId: repo.id, branch: 'dev', minTime });
      assert.deepEqual(
        builds.map((b) => b.id),
        [wanted.id],
      );
      const pages = server.requestsTo('/_apis/build/builds');
      assert.equal(pages.length, 3, '200 + 200 + 51');
      assert.equal(pages[0].query.continuationToken, undefined);
      assert.ok(pages[1].query.continuationToken && pages[2].query.continuationToken !== pages[1].query.continuationToken);
      assert.ok(Math.abs(new Date(pages[0].query.minTime).getTime() - minTime.getTime()) < 1000, 'minTime is sent (to the second)');
      assert.equal(pages[0].query.branchName, 'refs/heads/dev');
      // Without minTime the walk is bounded by maxPages.
      server.requests.length = 0;
      assert.deepEqual(await client.buildsForCommit(COMMIT_A, { definition: ci.id, maxPages: 1 }), []);
      assert.equal(server.requestsTo('/_apis/build/builds').length, 1);
    });
  });

  describe('permissions and the token', () => {
    it('401: says the job token was refused and how to provide it, never showing it', async () => {
      server.addRepository('ingest');
      const wrong = `${server.token}-expired`;
      const err = await rejection(connect({ token: wrong }).repository('ingest'));
      assert.equal(err.status, 401);
      assert.equal(err.kind, 'unauthorized');
      assert.match(err.message, /TF400813/);
      assert.match(err.fix, /Allow scripts to access the OAuth token/);
      assert.match(err.fix, /System\.AccessToken/);
      for (const text of [err.message, err.fix, String(err.stack)]) assert.ok(!text.includes(wrong));
      assert.deepEqual([...new Set(server.requests.map((r) => r.authorization))], ['invalid']);
      assert.equal(server.requests.length, 1, 'a 401 is not retried');
    });

    it('403 on a pull request names the permission and the project build identity', async () => {
      server.addRepository('orchestration');
      const repo = await client.repository('orchestration'); // teaches the client the project id
      server.state.denied.add('pullRequestContribute');
      const err = await rejection(client.createPullRequest(repo.id, { sourceRefName: 'a', targetRefName: 'main', title: 't' }));
      assert.equal(err.status, 403);
      assert.equal(err.kind, 'forbidden');
      assert.match(err.message, /TF401027: You need the Git 'PullRequestContribute' permission/);
      assert.match(
        err.fix,
        /"Data Platform Build Service \(org\)" \(the job token's identity, Build\\[0-9a-f-]{36}\) 'Contribute to pull requests' on repository 'orchestration'/,
      );
      noToken(err);
    });

    it('403 on builds names View builds for both build identities', async () => {
      server.state.denied.add('viewBuilds');
      server.state.identityScope = 'collection';
      const builds = await rejection(client.buildsForCommit(COMMIT_A, { definition: 3 }));
      assert.equal(builds.status, 403);
      assert.equal(builds.kind, 'forbidden');
      assert.match(builds.fix, /'View builds' on the pipeline/);
      assert.match(builds.fix, /"Data Platform Build Service \(org\)".*"Project Collection Build Service \(org\)"/);
      noToken(builds);
    });

    it('a policy rejection is quoted and explained', async () => {
      const repo = server.addRepository('ingest');
      const pr = await client.createPullRequest(repo.id, { sourceRefName: 'a', targetRefName: 'main', title: 't' });
      const message = 'TF402455: Pushes to this branch are not permitted; you must use a pull request to update this branch.';
      server.fail({
        method: 'PATCH',
        path: '/pullrequests/',
        status: 403,
        body: adoError('GitRefUpdateRejectedByPolicyException', message),
      });
      const err = await rejection(client.setAutoComplete(repo.id, pr.id, { mergeStrategy: 'squash' }));
      assert.equal(err.kind, 'policy');
      assert.equal(err.serverMessage, message);
      assert.match(err.fix, /branch policy refused it/);
    });
  });

  describe('retries and timeouts', () => {
    it('two 503s, then success', async () => {
      server.addRepository('ingest');
      server.fail({ path: 'repositories/ingest', status: 503, times: 2 });
      const retries: string[] = [];
      const info = await connect({
        onRetry: (e) => retries.push(`${e.attempt} ${e.reason} ${e.method} ${e.url?.replace(server.url, '')}`),
      }).repository('ingest');
      assert.equal(info.name, 'ingest');
      assert.deepEqual(
        server.requestsTo('/repositories/ingest').map((r) => r.status),
        [503, 503, 200],
      );
      assert.deepEqual(retries, [
        '1 HTTP 503 GET Data%20Platform/_apis/git/repositories/ingest',
        '2 HTTP 503 GET Data%20Platform/_apis/git/repositories/ingest',
      ]);
    });

    it('a 503 on a create is retried (nothing was created); a 500 is not (it may have been)', async () => {
      const repo = server.addRepository('orchestration');
      server.fail({ method: 'POST', path: '/pullrequests', status: 503 });
      await client.createPullRequest(repo.id, { sourceRefName: 'a', targetRefName: 'main', title: 't' });
      assert.equal(server.state.pullRequests.length, 1);
      server.fail({ method: 'POST', path: '/pullrequests', status: 500 });
      const err = await rejection(client.createPullRequest(repo.id, { sourceRefName: 'b', targetRefName: 'main', title: 't' }));
      assert.equal(err.kind, 'unavailable');
      assert.equal(server.requestsTo('/pullRequests', 'POST').length, 3);
    });

    it("honours Retry-After on a 429 (JSON body and, through v17's rateLimit, a text body)", async () => {
      server.addRepository('ingest');
      server.fail({ path: 'repositories/ingest', status: 429, headers: { 'retry-after': '1' } });
      let started = Date.now();
      await client.repository('ingest');
      assert.ok(Date.now() - started >= 950, `waited only ${Date.now() - started} ms`);

      server.fail({ path: '/statuses', status: 429, headers: { 'retry-after': '1' }, body: 'Too many requests' });
      const repo = server.state.repositories[0];
      started = Date.now();
      await client.commitStatuses(repo.id, COMMIT_A);
      assert.ok(Date.now() - started >= 950, `waited only ${Date.now() - started} ms`);
    });

    it('a Retry-After beyond the time bound stops at once', async () => {
      server.addRepository('ingest');
      server.fail({ path: 'repositories/ingest', status: 429, headers: { 'retry-after': '120' } });
      const started = Date.now();
      const err = await rejection(client.repository('ingest'));
      assert.ok(Date.now() - started < 1_000);
      assert.equal(err.kind, 'throttled');
      assert.match(err.message, /asked to wait 120 s \(Retry-After\), beyond the 5 s bound/);
    });

    it('retries are bounded: always 503 ends after maxAttempts, quoting Azure DevOps', async () => {
      const repo = server.addRepository('ingest');
      server.fail({ path: '/statuses', status: 503, times: Infinity });
      const err = await rejection(connect({ retry: { ...FAST, maxAttempts: 3 } }).commitStatuses(repo.id, COMMIT_A));
      assert.equal(server.requestsTo('/statuses').length, 3);
      assert.equal(err.status, 503);
      assert.equal(err.kind, 'unavailable');
      assert.match(
        err.message,
        /answered 503 Service Unavailable \(ServiceUnavailableException\): "TF400898: The service is temporarily unavailable\. Try again later\." \(gave up after 3 attempts in [\d.]+ s\)/,
      );
      noToken(err);
    });

    it('an endpoint that never answers: a timeout error naming the URL, within the bound', async () => {
      server.addRepository('ingest');
      server.fail({ path: 'repositories/ingest', hang: true, times: Infinity });
      const started = Date.now();
      const err = await rejection(connect({ timeoutMs: 300, retry: { ...FAST, maxAttempts: 2 } }).repository('ingest'));
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 2_000, `took ${elapsed} ms`);
      assert.equal(err.kind, 'timeout');
      assert.match(
        err.message,
        /GET http:\/\/127\.0\.0\.1:\d+\/org\/Data%20Platform\/_apis\/git\/repositories\/ingest did not answer within 0\.3 s \(gave up after 2 attempts/,
      );
      assert.equal(server.requestsTo('/repositories/ingest').length, 2);
      noToken(err);
    });

    it('the total time bound cuts a request that is still running', async () => {
      server.addRepository('ingest');
      server.fail({ path: 'repositories/ingest', hang: true });
      const started = Date.now();
      const err = await rejection(connect({ timeoutMs: 10_000, retry: { ...FAST, maxTotalMs: 400 } }).repository('ingest'));
      assert.ok(Date.now() - started < 1_500);
      assert.equal(err.kind, 'timeout');
      assert.match(err.message, /repositories\/ingest was still unanswered when the 0\.4 s bound/);
    });

    it('a create that times out is not repeated (it may have happened)', async () => {
      const repo = server.addRepository('ingest');
      server.fail({ method: 'POST', path: '/pullrequests', hang: true });
      const err = await rejection(
        connect({ timeoutMs: 300 }).createPullRequest(repo.id, { sourceRefName: 'a', targetRefName: 'main', title: 't' }),
      );
      assert.equal(err.kind, 'timeout');
      assert.equal(server.requestsTo('/pullrequests', 'POST').length, 1);
    });
  });
});

describe('retry policy (shared/clients/http.ts)', () => {
  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-10-21T07:28:00Z');
    assert.equal(parseRetryAfter('3', now), 3_000);
    assert.equal(parseRetryAfter(['2'], now), 2_000);
    assert.equal(parseRetryAfter(1, now), 1_000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2026 07:28:05 GMT', now), 5_000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2026 07:27:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });

  it('backs off exponentially with jitter, capped', () => {
    const policy = { baseDelayMs: 100, maxDelayMs: 1_000 };
    assert.equal(backoffMs(1, { ...policy, random: () => 0 }), 50);
    assert.equal(backoffMs(1, { ...policy, random: () => 0.999999 }), 100);
    assert.equal(backoffMs(3, { ...policy, random: () => 0.999999 }), 400);
    assert.equal(backoffMs(10, { ...policy, random: () => 0.999999 }), 1_000);
  });

  it('stops on a final failure, on maxAttempts, and on the total time', async () => {
    const sleeps: number[] = [];
    let clock = 0;
    const policy = {
      sleep: async (ms: number) => void (sleeps.push(ms), (clock += ms)),
      now: () => clock,
      random: () => 0.5,
      baseDelayMs: 100,
    };
    let calls = 0;
    await assert.rejects(
      withRetries(
        async () => {
          calls++;
          throw new Error('final');
        },
        () => ({ retry: false }),
        policy,
      ),
      /^Error: final$/,
    );
    assert.equal(calls, 1);

    calls = 0;
    const exhausted = await withRetries(
      async () => {
        calls++;
        throw new Error('again');
      },
      () => ({ retry: true, reason: 'test' }),
      { ...policy, maxAttempts: 3 },
    ).catch((e: unknown) => e);
    assert.ok(exhausted instanceof RetriesExhaustedError);
    assert.equal(exhausted.attempts, 3);
    assert.deepEqual(sleeps, [75, 150]);

    sleeps.length = 0;
    const timeUp = await withRetries(
      async () => {
        throw new Error('slow');
      },
      () => ({ retry: true, reason: 'test', retryAfterMs: 40_000 }),
      { ...policy, maxAttempts: 10, maxTotalMs: 60_000 },
    ).catch((e: unknown) => e);
    assert.ok(timeUp instanceof RetriesExhaustedError);
    assert.equal(timeUp.attempts, 2);
    assert.deepEqual(sleeps, [40_000]);
    assert.match(timeUp.reason, /asked to wait 40 s \(Retry-After\), beyond the 60 s bound/);
  });
});

describe('job token scope', () => {
  it('goes to this organization only, never to another organization on a shared host', () => {
    assert.equal(tokenGoesTo('dev.azure.com', '/contoso/_apis/git', 'dev.azure.com', 'contoso'), true);
    assert.equal(tokenGoesTo('dev.azure.com', '/fabrikam/_apis/git', 'dev.azure.com', 'contoso'), false);
    assert.equal(tokenGoesTo('vsrm.dev.azure.com', '/contoso/_apis/release', 'dev.azure.com', 'contoso'), true);
    assert.equal(tokenGoesTo('contoso.visualstudio.com', '/_apis/git', 'contoso.visualstudio.com', 'contoso'), true);
    assert.equal(tokenGoesTo('contoso.vsrm.visualstudio.com', '/_apis', 'contoso.visualstudio.com', 'contoso'), true);
    assert.equal(tokenGoesTo('fabrikam.visualstudio.com', '/_apis', 'contoso.visualstudio.com', 'contoso'), false);
    assert.equal(tokenGoesTo('tfs.example.com', '/tfs/DefaultCollection/_apis', 'tfs.example.com', 'DefaultCollection'), true);
    assert.equal(tokenGoesTo('evil.example.com', '/contoso/', 'dev.azure.com', 'contoso'), false);
  });
});
