import { strict as assert } from 'node:assert';
import { resolveRoute, type FlowOptions } from '../../shared/promotion/flow';
import { checkGates, parseGates, type GateClient } from '../../shared/promotion/gates';
import { repositoryName } from '../../shared/git/remoteUrl';

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

describe('promotion: repository names', () => {
  it('from the remote URL: Azure Repos, ssh, local paths', () => {
    assert.equal(repositoryName('https://dev.azure.com/org/Data%20Platform/_git/ingest', '/s/x'), 'ingest');
    assert.equal(repositoryName('git@ssh.dev.azure.com:v3/org/proj/picker', '/s/x'), 'picker');
    assert.equal(repositoryName('/tmp/remotes/history.git', '/s/x'), 'history');
    assert.equal(repositoryName(undefined, '/s/orchestration'), 'orchestration');
  });
});
