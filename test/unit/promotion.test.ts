import { strict as assert } from 'node:assert';
import { resolveRoute, type FlowOptions } from '../../shared/promotion/flow';
import { checkGates, newestPerContext, parseGates, type GateClient } from '../../shared/promotion/gates';
import { azureReposProject, repositoryName } from '../../shared/git/remoteUrl';

const flow = (o: Partial<FlowOptions>): FlowOptions => ({
  flow: 'environments',
  branches: ['dev', 'pre', 'pro'],
  developBranch: 'develop',
  mainBranch: 'main',
  releasePrefix: 'release/',
  hotfixPrefix: 'hotfix/',
  built: { branch: 'dev', ref: 'refs/heads/dev', kind: 'branch' },
  ...o,
});

describe('promotion: routes', () => {
  it('environments: the source is the one before; the last carries finals', () => {
    assert.deepEqual(resolveRoute(flow({ to: 'pre' })), {
      flow: 'environments',
      source: 'dev',
      target: 'pre',
      kind: 'candidate',
      backMerge: [],
      hotfix: false,
      input: 'to',
    });
    assert.equal(resolveRoute(flow({ to: 'pro' })).kind, 'final');
    assert.equal(resolveRoute(flow({ to: 'pro', branches: ['dev', 'test', 'pre', 'pro'] })).source, 'pre');
  });

  it('a hotfix build promotes its own branch and merges back into the environments before, nearest first', () => {
    const r = resolveRoute(flow({ to: 'pro', built: { branch: 'hotfix/1.0.1', ref: 'refs/heads/hotfix/1.0.1', kind: 'branch' } }));
    assert.deepEqual([r.source, r.target, r.kind, r.backMerge, r.hotfix], ['hotfix/1.0.1', 'pro', 'final', ['pre', 'dev'], true]);
  });

  it('git-flow: release start, release finish and hotfix finish', () => {
    const start = resolveRoute(
      flow({ flow: 'gitflow', action: 'release-start', built: { branch: 'develop', ref: 'refs/heads/develop', kind: 'branch' } }),
    );
    assert.deepEqual([start.source, start.target, start.kind, start.backMerge], ['develop', 'release/{version}', 'candidate', []]);
    const finish = resolveRoute(
      flow({
        flow: 'gitflow',
        action: 'release-finish',
        built: { branch: 'release/1.3.0', ref: 'refs/heads/release/1.3.0', kind: 'branch' },
      }),
    );
    assert.deepEqual([finish.source, finish.target, finish.kind, finish.backMerge], ['release/1.3.0', 'main', 'final', ['develop']]);
    const hotfix = resolveRoute(
      flow({
        flow: 'gitflow',
        action: 'hotfix-finish',
        mainBranch: 'master',
        built: { branch: 'hotfix/x', ref: 'refs/heads/hotfix/x', kind: 'branch' },
      }),
    );
    assert.deepEqual([hotfix.source, hotfix.target, hotfix.hotfix], ['hotfix/x', 'master', true]);
  });

  it('refuses what cannot be a route, naming the input', () => {
    assert.throws(() => resolveRoute(flow({ to: 'qa' })), /Input 'to': 'qa' is not one of the environments/);
    assert.throws(() => resolveRoute(flow({ to: 'dev' })), /Input 'to': 'dev' is the first environment/);
    assert.throws(() => resolveRoute(flow({ to: 'pre', branches: ['dev'] })), /Input 'branches': needs at least two/);
    assert.throws(() => resolveRoute(flow({ to: 'pre', branches: ['dev', 'pre', 'dev'] })), /Input 'branches': 'dev' is listed twice/);
    assert.throws(
      () => resolveRoute(flow({ to: 'pre', branches: ['dev', 'p re'] })),
      /Input 'branches': 'p re' is not a valid branch name/,
    );
    assert.throws(
      () => resolveRoute(flow({ flow: 'gitflow', action: 'hotfix-finish' })),
      /Input 'action': hotfix-finish promotes the hotfix\/\* branch this run built, but the run built 'refs\/heads\/dev'/,
    );
  });
});

describe('promotion: gates', () => {
  it('parses none, build, build:<pipeline>, status:<genre>/<name>', () => {
    assert.deepEqual(parseGates(['none']), []);
    assert.deepEqual(parseGates([]), []);
    assert.deepEqual(parseGates(['build', 'build:12', 'build: CI nightly', 'status:continuous-integration/unit-tests', 'status:smoke']), [
      { kind: 'build' },
      { kind: 'build', definition: '12' },
      { kind: 'build', definition: 'CI nightly' },
      { kind: 'status', genre: 'continuous-integration', name: 'unit-tests' },
      { kind: 'status', genre: undefined, name: 'smoke' },
    ]);
    assert.throws(() => parseGates(['tests']), /Input 'requireSucceeded': 'tests' is not a gate/);
    assert.throws(() => parseGates(['status:']), /Input 'requireSucceeded'/);
    assert.throws(() => parseGates(['none', 'build']), /'none' is listed together/);
  });

  it('a gate passes on a succeeded build or status of the exact commit and says what it found otherwise', async () => {
    const client: GateClient = {
      buildsForCommit: async (_c, o) =>
        o?.definition === 'CI'
          ? [
              {
                id: 7,
                buildNumber: '7',
                definitionId: 1,
                definitionName: 'CI',
                status: 'completed',
                result: 'failed',
                sourceVersion: 'a',
                url: '',
              },
            ]
          : [
              {
                id: 8,
                buildNumber: '8',
                definitionId: 2,
                definitionName: 'Nightly',
                status: 'completed',
                result: 'succeeded',
                sourceVersion: 'a',
                url: '',
              },
            ],
      commitStatuses: async () => [{ state: 'pending', genre: 'ci', name: 'unit' }],
    };
    const results = await checkGates(client, parseGates(['build', 'build:CI', 'status:ci/unit', 'status:ci/e2e']), 'a', async () => 'repo');
    assert.deepEqual(
      results.map((r) => [r.gate, r.passed, r.detail]),
      [
        ['build', true, "build 8 of 'Nightly' succeeded"],
        ['build:CI', false, "no succeeded build of this commit (build 7 of 'CI' failed)"],
        ['status:ci/unit', false, 'status is pending'],
        ['status:ci/e2e', false, 'no such status on this commit'],
      ],
    );
  });
});

describe('promotion: gates read exactly', () => {
  it('the build gate asks for the builds of the repository, branch and pipeline since the commit, and refuses partiallySucceeded', async () => {
    const asked: unknown[] = [];
    const client: GateClient = {
      buildsForCommit: async (_c, o) => {
        asked.push(o);
        return [
          { id: 9, definitionId: 1, definitionName: 'CI', status: 'completed', result: 'partiallySucceeded', sourceVersion: 'a', url: '' },
        ];
      },
      commitStatuses: async () => [],
    };
    const committed = new Date('2026-03-01T10:00:00Z');
    const [result] = await checkGates(client, parseGates(['build:CI']), 'a', async () => 'repo-id', { branch: 'dev', committed });
    assert.deepEqual(asked, [{ definition: 'CI', repositoryId: 'repo-id', branch: 'dev', minTime: new Date('2026-02-28T10:00:00Z') }]);
    assert.deepEqual([result.passed, result.detail], [false, "no succeeded build of this commit (build 9 of 'CI' partiallySucceeded)"]);
  });

  it('the status gate takes the newest status of each context: a failed after a succeeded fails it', async () => {
    const statuses = [
      { state: 'succeeded', genre: 'ci', name: 'unit', createdAt: '2026-01-01T00:00:01.000Z' },
      { state: 'failed', genre: 'ci', name: 'unit', createdAt: '2026-01-01T00:00:02.000Z' },
      { state: 'succeeded', genre: 'ci', name: 'e2e', createdAt: '2026-01-01T00:00:01.000Z' },
    ];
    assert.deepEqual(
      newestPerContext(statuses).map((s) => [s.name, s.state]),
      [
        ['unit', 'failed'],
        ['e2e', 'succeeded'],
      ],
    );
    // Same date: the service's order (newest first) decides.
    assert.equal(
      newestPerContext([
        { ...statuses[1], createdAt: undefined },
        { ...statuses[0], createdAt: undefined },
      ])[0].state,
      'failed',
    );
    const client: GateClient = { buildsForCommit: async () => [], commitStatuses: async () => statuses };
    const results = await checkGates(client, parseGates(['status:ci/unit', 'status:ci/e2e']), 'a', async () => 'r');
    assert.deepEqual(
      results.map((r) => [r.gate, r.passed, r.detail]),
      [
        ['status:ci/unit', false, 'status is failed'],
        ['status:ci/e2e', true, 'status ci/e2e succeeded'],
      ],
    );
  });
});

describe('promotion: repository names', () => {
  it('from the remote URL: Azure Repos, ssh, local paths', () => {
    assert.equal(repositoryName('https://dev.azure.com/org/Data%20Platform/_git/ingest', '/s/x'), 'ingest');
    assert.equal(repositoryName('git@ssh.dev.azure.com:v3/org/proj/picker', '/s/x'), 'picker');
    assert.equal(repositoryName('/tmp/remotes/history.git', '/s/x'), 'history');
    assert.equal(repositoryName(undefined, '/s/orchestration'), 'orchestration');
  });

  it('the project an Azure Repos URL names (same-name repositories of two projects)', () => {
    assert.equal(azureReposProject('https://dev.azure.com/org/Data%20Platform/_git/common'), 'Data Platform');
    assert.equal(azureReposProject('https://org@dev.azure.com/org/projB/_git/common'), 'projB');
    assert.equal(azureReposProject('https://org.visualstudio.com/projA/_git/common'), 'projA');
    assert.equal(azureReposProject('git@ssh.dev.azure.com:v3/org/projA/common'), 'projA');
    assert.equal(azureReposProject('https://dev.azure.com/org/_git/common'), undefined);
    assert.equal(azureReposProject('file:///tmp/projA/common.git'), undefined);
    assert.equal(azureReposProject(undefined), undefined);
  });
});
