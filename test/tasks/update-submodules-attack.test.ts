import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { failed, ok, runTask, type RunOptions, type TaskRun } from '../support/agentRunner';
import { startAzureDevOpsServer, type AzureDevOpsServer } from '../support/azureDevOpsServer';
import { startGitDaemon, type GitDaemon } from '../support/gitDaemon';
import { makeComponent, makeOrchestration, type ComponentRepo, type Pin } from '../support/orchestration';
import { git, Repo, tempDir } from '../support/repo';
import { bump, componentRemote, Orchestration } from '../support/versionBump';

/** Issue 17: what an attacker (or a demanding pipeline author) tried on UpdateSubmodules, each through the built task. */
function update(repo: Repo, inputs: RunOptions['inputs'] = {}, options: Omit<RunOptions, 'inputs'> = {}): Promise<TaskRun> {
  return runTask('update-submodules', {
    ...options,
    inputs: { workingDirectory: repo.dir, ...inputs },
    variables: { 'Build.SourceBranch': 'refs/heads/main', ...options.variables },
  });
}

function pinned(repo: Repo, path: string, rev = 'HEAD'): string {
  return repo.git('ls-tree', rev, '--', path).split(/\s/)[2];
}

interface Fixture {
  base: string;
  ingest: ComponentRepo;
  repo: Repo;
  bare: string;
  head: string;
  pins: Pin[];
}

/** ingest v1.0.0, v1.1.0 (annotated), served by `daemon` when given; the orchestration pins v1.0.0 plus `extra`. */
function fixture(daemon?: { base: string; daemon: GitDaemon }, extra: (base: string) => Pin[] = () => []): Fixture {
  const base = daemon?.base ?? tempDir('relevo-orch-');
  const ingest = makeComponent(base, 'ingest', ['v1.0.0', 'v1.1.0']);
  const pins: Pin[] = [
    { name: 'ingest', path: 'components/ingest', url: '../ingest.git', commit: ingest.commits['v1.0.0'] },
    ...extra(base),
  ];
  const { bare, work } = makeOrchestration(base, pins, daemon ? () => daemon.daemon.url('orchestration.git') : undefined);
  return { base, ingest, repo: work, bare, head: work.head(), pins };
}

describe('UpdateSubmodules under attack (issue 17, built task)', function () {
  this.timeout(120_000);
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

  describe('must not happen', () => {
    it('a .gitmodules URL, path or name starting with - is refused before any git command sees it: in a dry run, for an excluded submodule, with the job token', async () => {
      const s = await served();
      const marker = join(tempDir('relevo-marker-'), 'MARKER');
      const f = fixture(s, () => [
        { name: 'evil', path: 'components/evil', url: `--upload-pack=touch ${marker}; echo`, commit: 'a'.repeat(40) },
      ]);
      const run = failed(
        await update(
          f.repo,
          { dryRun: true, exclude: 'evil' },
          { accessToken: 'relevo-token-17', variables: { 'System.TeamFoundationCollectionUri': 'https://dev.azure.com/org/' } },
        ),
        /\.gitmodules: submodule 'evil' has the url '--upload-pack=touch .*MARKER; echo', which starts with '-'.*Refused/,
      );
      assert.ok(!existsSync(marker), 'the command in the URL ran');
      assert.doesNotMatch(run.stdout, /Unexpected error/);
      for (const [field, value] of [
        ['path', '-components/evil'],
        ['name', '-evil'],
      ]) {
        const g = fixture();
        const name = field === 'name' ? value : 'evil';
        g.repo.git('config', '-f', '.gitmodules', `submodule.${name}.path`, field === 'path' ? value : 'components/evil');
        g.repo.git('config', '-f', '.gitmodules', `submodule.${name}.url`, '../ingest.git');
        g.repo.git('commit', '-q', '-am', 'chore: an entry');
        failed(await update(g.repo.detach(), { dryRun: true }), new RegExp(`has the ${field} '${value}', which starts with '-'`));
      }
    });

    it("VersionBump's submodules: true reads component changes through the same guard: a URL starting with - runs nothing", async () => {
      const remotes = tempDir('relevo-components-');
      const ingest = componentRemote(remotes, 'ingest', ['1.0.0', '1.1.0']);
      const marker = join(tempDir('relevo-marker-'), 'MARKER');
      const o = Orchestration.init();
      o.pin('ingest', ingest.at('1.0.0'), ingest.bare).commit('feat: pin ingest');
      o.tag('v1.0.0');
      o.pin('ingest', ingest.at('1.1.0'), `--upload-pack=touch ${marker}; echo`).commit('chore: ingest 1.1.0');
      failed(
        await bump(o.repo, { submodules: true }),
        /\.gitmodules: submodule 'ingest' has the url '--upload-pack=touch .*MARKER; echo', which starts with '-'.*Refused/,
      );
      assert.ok(!existsSync(marker), 'the command in the URL ran');
    });

    it('a stale .gitmodules entry (no gitlink) with a dead URL is left out and never fetched', async () => {
      const f = fixture();
      f.repo.git('config', '-f', '.gitmodules', 'submodule.gone.path', 'components/gone');
      f.repo.git('config', '-f', '.gitmodules', 'submodule.gone.url', 'git://127.0.0.1:1/gone.git');
      f.repo.git('commit', '-q', '-am', 'chore: a stale entry');
      const run = ok(await update(f.repo.detach()));
      assert.equal(run.outputs.updatedCount, '1');
      assert.equal(pinned(f.repo, 'components/ingest'), f.ingest.commits['v1.1.0']);
      assert.match(run.warnings.join('\n'), /gone: \.gitmodules names 'components\/gone', but HEAD has no submodule there; left out/);
      assert.doesNotMatch(run.stdout, /gone\.git/, 'its remote was not read');
    });

    it("'../../outside' as a submodule path is a user error naming .gitmodules and the entry", async () => {
      const f = fixture();
      f.repo.git('config', '-f', '.gitmodules', 'submodule.ingest.path', '../../outside');
      f.repo.git('commit', '-q', '-am', 'chore: a path outside');
      const run = failed(
        await update(f.repo.detach(), { dryRun: true }),
        /\.gitmodules: submodule 'ingest' has the path '\.\.\/\.\.\/outside', which is not a folder inside the repository/,
      );
      assert.doesNotMatch(run.stdout + run.stderr, /Unexpected error|at .*\.js:\d+/);
    });

    it('lockFile never overwrites a tracked file, .gitmodules, a submodule, .git or a path outside the work tree; its own lock is rewritten', async () => {
      const f = fixture();
      const cases: [string, RegExp][] = [
        ['README.md', /'README\.md' is a file the repository tracks, and not a lock file UpdateSubmodules wrote/],
        ['.gitmodules', /'\.gitmodules' is a file the repository tracks/],
        ['components/ingest', /is the path of the submodule 'components\/ingest'/],
        ['components', /is a folder holding the submodule 'components\/ingest'/],
        ['components/ingest/lock.json', /is inside the submodule 'components\/ingest'/],
        ['.git/components.lock.json', /is under '\.git'/],
        ['../outside.lock.json', /is not a file inside the repository/],
        [join(f.base, 'elsewhere.lock.json'), /is not a file inside the repository/],
      ];
      for (const [lockFile, why] of cases) {
        const run = failed(await update(f.repo, { lockFile }), new RegExp(`Input 'lockFile': .*${why.source}.*nothing was changed`));
        assert.equal(f.repo.head(), f.head, lockFile);
        assert.equal(f.repo.git('status', '--porcelain'), '', lockFile);
        assert.ok(!existsSync(join(f.base, 'outside.lock.json')) && !existsSync(join(f.base, 'elsewhere.lock.json')), lockFile);
        assert.doesNotMatch(run.stdout, /Unexpected error/);
      }
      ok(await update(f.repo, { lockFile: 'deps/components.lock.json' }));
      assert.equal(JSON.parse(f.repo.git('show', 'HEAD:deps/components.lock.json')).components[0].commit, f.ingest.commits['v1.1.0']);
      ok(await update(f.repo, { lockFile: 'deps/components.lock.json', dryRun: true })); // the lock it wrote is its own to rewrite
    });

    it('a tag on a tree or a blob is no version: skipped with a warning naming it, the newest tag on a commit is pinned', async () => {
      const s = await served();
      const f = fixture(s);
      const work = f.ingest.work;
      work.git('tag', 'v1.2.0', 'HEAD^{tree}');
      work.git('tag', '-a', 'v1.3.0', '-m', 'v1.3.0', work.git('rev-parse', 'HEAD:README.md'));
      git(work.dir, 'push', '-q', f.ingest.bare, '--tags');
      const dry = ok(await update(f.repo, { dryRun: true }));
      assert.match(dry.stdout, /ingest \(components\/ingest\): minor; at v1\.0\.0; → v1\.1\.0/);
      const run = ok(await update(f.repo));
      assert.equal(pinned(f.repo, 'components/ingest'), f.ingest.commits['v1.1.0']);
      const warnings = run.warnings.join('\n');
      assert.match(warnings, /ingest: the tag 'v1\.3\.0' points at a blob, not a commit: it is not a version, and was skipped/);
      assert.match(warnings, /ingest: the tag 'v1\.2\.0' points at a tree, not a commit/);
      assert.equal(JSON.parse(f.repo.git('show', 'HEAD:components.lock.json')).components[0].tag, 'v1.1.0');
    });

    it('a pin on an untagged commit never moves back to a tag in its history, under latest, a range, minor or patch; forward it moves', async () => {
      const s = await served();
      const f = fixture(s);
      const work = f.ingest.work;
      const ahead = work.commit('fix: after v1.1.0', 'src/ingest.py');
      git(work.dir, 'push', '-q', f.ingest.bare, 'HEAD:refs/heads/main');
      f.repo.git('update-index', '--cacheinfo', `160000,${ahead},components/ingest`);
      f.repo.git('commit', '-q', '-m', 'chore: pin ingest ahead of v1.1.0');
      const head = f.repo.detach().head();
      for (const defaultPolicy of ['latest', '^1.0', 'minor', 'patch']) {
        const run = ok(await update(f.repo, { defaultPolicy }));
        assert.equal(run.outputs.updatedCount, '0', defaultPolicy);
        assert.equal(f.repo.head(), head, `${defaultPolicy}: nothing committed`);
        assert.equal(pinned(f.repo, 'components/ingest'), ahead, defaultPolicy);
        if (defaultPolicy === 'latest' || defaultPolicy === '^1.0')
          assert.match(run.stdout, /keep: the pinned commit [0-9a-f]{12} already contains v1\.1\.0: a pin never moves backwards/);
      }
      // A release after the pin: forward, it moves.
      work.commit('feat: v1.2.0', 'src/ingest.py');
      work.tag('v1.2.0');
      git(work.dir, 'push', '-q', f.ingest.bare, 'HEAD:refs/heads/main', '--tags');
      const run = ok(await update(f.repo, { defaultPolicy: 'latest' }));
      assert.equal(run.outputs.updatedCount, '1');
      assert.equal(pinned(f.repo, 'components/ingest'), work.head());
    });
  });

  describe('pull-request mode (Azure DevOps contract server)', () => {
    let server: AzureDevOpsServer;
    beforeEach(async () => {
      server = await startAzureDevOpsServer();
    });
    afterEach(async () => {
      await server.stop();
    });
    const SOURCE = 'refs/heads/relevo/update-components-main';
    const prRun = (f: Fixture, repositoryId: string, inputs: RunOptions['inputs'] = {}, variables: Record<string, string> = {}) =>
      update(
        f.repo,
        { mode: 'pull-request', ...inputs },
        {
          accessToken: server.token,
          variables: {
            'System.TeamFoundationCollectionUri': server.url,
            'System.TeamProject': server.project.name,
            'Build.Repository.ID': repositoryId,
            'Build.Repository.LocalPath': f.repo.dir,
            ...variables,
          },
        },
      );
    const PR_BUILD = { 'Build.SourceBranch': 'refs/pull/7/merge', 'System.PullRequest.SourceBranch': 'refs/heads/feature' };

    it("in a pull-request build the update branch is built on the target's tip and carries only the pins and the lock file; the target's channel decides", async () => {
      const f = fixture();
      const work = f.ingest.work;
      work.commit('feat: v1.2.0-rc.1', 'src/ingest.py');
      work.tag('v1.2.0-rc.1');
      git(work.dir, 'push', '-q', f.ingest.bare, 'HEAD:refs/heads/main', '--tags');
      // The build's checkout: the merge of an unmerged feature into main.
      f.repo.write('feature.txt', 'unmerged feature\n');
      f.repo.git('add', 'feature.txt');
      f.repo.git('commit', '-q', '-m', 'Merge pull request 7: feature');
      const merge = f.repo.detach().head();
      const repo = server.addRepository('orchestration');
      const run = ok(await prRun(f, repo.id, { targetBranch: 'main' }, PR_BUILD));
      const branch = git(f.bare, 'rev-parse', SOURCE);
      assert.equal(git(f.bare, 'rev-parse', `${SOURCE}~1`), f.head, "built on main's tip, not on the merge commit");
      assert.equal(
        git(f.bare, 'diff', '--name-only', f.head, branch).split('\n').sort().join(','),
        'components.lock.json,components/ingest',
        'only the pins and the lock file',
      );
      assert.equal(
        git(f.bare, 'rev-parse', `${SOURCE}:components/ingest`),
        f.ingest.commits['v1.1.0'],
        "main's channel: no release candidate",
      );
      assert.equal(f.repo.head(), merge, 'the checkout of the pull-request build is left alone');
      assert.equal(f.repo.git('status', '--porcelain'), '');
      assert.equal(server.state.pullRequests[0].targetRefName, 'refs/heads/main');
      assert.equal(run.outputs.commit, branch);
    });

    it('in a pull-request build without targetBranch it refuses, naming targetBranch, and pushes nothing', async () => {
      const f = fixture();
      const repo = server.addRepository('orchestration');
      failed(
        await prRun(f, repo.id, {}, PR_BUILD),
        /Input 'targetBranch': a pull-request build \(refs\/pull\/7\/merge\) has no branch to open the pull request against/,
      );
      assert.equal(git(f.bare, 'for-each-ref', 'refs/heads/relevo'), '');
      assert.equal(server.state.pullRequests.length, 0);
    });

    it('a scheduled run with nothing new pushes nothing and leaves the pull request as it is (no new iteration, no PATCH)', async () => {
      const f = fixture();
      const repo = server.addRepository('orchestration');
      const first = ok(await prRun(f, repo.id, { autoComplete: true }));
      const branch = git(f.bare, 'rev-parse', SOURCE);
      const id = server.state.pullRequests[0].pullRequestId;
      const patches = server.requestsTo(`/pullRequests/${id}`, 'PATCH').length;
      // The next night: a fresh checkout of main, the same component versions.
      f.repo.git('checkout', '-q', '--detach', f.head);
      f.repo.git('checkout', '-q', '--', '.');
      f.repo.git('clean', '-qfd');
      const second = ok(await prRun(f, repo.id, { autoComplete: true }));
      assert.equal(git(f.bare, 'rev-parse', SOURCE), branch, 'nothing pushed');
      assert.equal(second.outputs.commit, first.outputs.commit);
      assert.equal(second.outputs.pullRequestId, String(id));
      assert.equal(server.requestsTo(`/pullRequests/${id}`, 'PATCH').length, patches, 'the pull request was not touched');
      assert.equal(server.state.pullRequests.length, 1);
      assert.match(second.summaries[0], /already carries these pins.*nothing was pushed.*left as it was/);
    });
  });

  describe('must be right', () => {
    it('the lock file: code-point order whatever the locale, URLs as .gitmodules writes them, read back: a hand-edited lock is reported and corrected, a deleted one recreated', async () => {
      const f = fixture(undefined, (base) => {
        const zeta = makeComponent(base, 'Zeta', ['v1.0.0']);
        return [
          {
            name: 'Zeta',
            path: 'components/Zeta',
            url: '../Zeta.git',
            commit: zeta.commits['v1.0.0'],
            policy: 'pin',
          },
        ];
      });
      f.repo.detach();
      ok(await update(f.repo, {}, { env: { LANG: 'en_US.UTF-8', LC_ALL: 'en_US.UTF-8' } }));
      const lock = () => JSON.parse(f.repo.git('show', 'HEAD:components.lock.json'));
      assert.deepEqual(
        lock().components.map((c: { path: string; url: string }) => [c.path, c.url]),
        [
          ['components/Zeta', '../Zeta.git'],
          ['components/ingest', '../ingest.git'],
        ],
        "code-point order ('Z' before 'i'), URLs as written",
      );
      // A hand edit: the lock says another commit than the gitlink.
      const edited = lock();
      edited.components[1].commit = f.ingest.commits['v1.0.0'];
      f.repo.write('components.lock.json', JSON.stringify(edited, null, 2) + '\n');
      f.repo.git('commit', '-q', '-am', 'chore: edit the lock by hand');
      const corrected = ok(await update(f.repo.detach()));
      assert.match(
        corrected.warnings.join('\n'),
        /components\.lock\.json disagrees with the gitlinks \('components\/ingest': the gitlink pins [0-9a-f]{12}, the lock file says [0-9a-f]{12}\)/,
      );
      assert.equal(lock().components[1].commit, f.ingest.commits['v1.1.0'], 'written anew from the gitlinks');
      assert.equal(corrected.outputs.updatedCount, '0');
      f.repo.git('rm', '-q', 'components.lock.json');
      f.repo.git('commit', '-q', '-m', 'chore: lose the lock');
      const recreated = ok(await update(f.repo.detach()));
      assert.match(f.repo.git('log', '-1', '--format=%s'), /recreate components\.lock\.json/);
      assert.equal(lock().components.length, 2);
      assert.match(recreated.summaries[0], /was deleted: it is written anew/);
      const quiet = ok(await update(f.repo.detach()));
      assert.match(quiet.summaries[0], /Every pin is current/);
    });

    it('policies come from .gitmodules at HEAD, not from an uncommitted edit; a dry run sets updatedCount 0 and plannedCount', async () => {
      const f = fixture();
      f.repo.git('config', '-f', '.gitmodules', 'submodule.ingest.relevo-version', 'pin');
      const dry = ok(await update(f.repo, { dryRun: true }));
      assert.equal(dry.outputs.updatedCount, '0');
      assert.equal(dry.outputs.plannedCount, '1');
      assert.match(dry.stdout, /ingest \(components\/ingest\): minor; at v1\.0\.0; → v1\.1\.0/);
    });

    it("submodule names with '/' work with {component} tag formats", async () => {
      const base = tempDir('relevo-orch-');
      const ingest = makeComponent(base, 'ingest', ['components/ingest/v1.0.0', 'components/ingest/v1.1.0']);
      const { work } = makeOrchestration(base, [
        { name: 'components/ingest', path: 'components/ingest', url: '../ingest.git', commit: ingest.commits['components/ingest/v1.0.0'] },
      ]);
      ok(await update(work, { tagFormat: '{component}/v{version}' }));
      assert.equal(pinned(work, 'components/ingest'), ingest.commits['components/ingest/v1.1.0']);
      failed(await update(work, { tagFormat: '{component}/{version}.lock', dryRun: true }), /Input 'tagFormat'/);
    });

    it(".gitmodules: a malformed file shows git's message; a gitlink without an entry is reported and recorded; two names for one path are refused", async () => {
      const f = fixture();
      f.repo.write('.gitmodules', readFileSync(join(f.repo.dir, '.gitmodules'), 'utf8') + '[broken\n');
      f.repo.git('commit', '-q', '-am', 'chore: break .gitmodules');
      failed(
        await update(f.repo.detach(), { dryRun: true }),
        /\.gitmodules' cannot be read: bad config line 4 in blob [0-9a-f]+:\.gitmodules/,
      );

      const g = fixture();
      g.repo.git('update-index', '--add', '--cacheinfo', `160000,${g.ingest.commits['v1.0.0']},vendor/stray`);
      g.repo.git('commit', '-q', '-m', 'chore: a stray gitlink');
      const run = ok(await update(g.repo.detach()));
      assert.match(run.warnings.join('\n'), /the gitlink 'vendor\/stray' \([0-9a-f]{12}\) has no entry in \.gitmodules/);
      const stray = JSON.parse(g.repo.git('show', 'HEAD:components.lock.json')).components.find(
        (c: { path: string }) => c.path === 'vendor/stray',
      );
      assert.deepEqual(stray, {
        name: 'vendor/stray',
        path: 'vendor/stray',
        url: null,
        version: null,
        tag: null,
        commit: g.ingest.commits['v1.0.0'],
      });

      const h = fixture();
      h.repo.git('config', '-f', '.gitmodules', 'submodule.twin.path', 'components/ingest');
      h.repo.git('config', '-f', '.gitmodules', 'submodule.twin.url', '../ingest.git');
      h.repo.git('commit', '-q', '-am', 'chore: two names');
      failed(await update(h.repo.detach(), { dryRun: true }), /submodules 'ingest' and 'twin' both have the path 'components\/ingest'/);
    });

    it("SemVer's 0.x rule: under minor, 0.1.0 → 0.9.0 is breaking and the pin stays on 0.1.x; latest takes it, as a major change", async () => {
      const base = tempDir('relevo-orch-');
      const ingest = makeComponent(base, 'ingest', ['v0.1.0', 'v0.1.1', 'v0.9.0']);
      const { work } = makeOrchestration(base, [
        { name: 'ingest', path: 'components/ingest', url: '../ingest.git', commit: ingest.commits['v0.1.0'] },
      ]);
      const minor = ok(await update(work, { dryRun: true }));
      assert.match(minor.stdout, /ingest \(components\/ingest\): minor; at v0\.1\.0; → v0\.1\.1 \(patch/);
      const latest = ok(await update(work, { defaultPolicy: 'latest' }));
      assert.equal(latest.outputs.maxChange, 'major');
      assert.match(work.git('log', '-1', '--format=%B'), /ingest: v0\.1\.0 → v0\.9\.0 \(major\)/);
    });

    it("the job token goes to this organization's URLs whatever the case of the path, never elsewhere; a 401 says the credentials were not accepted", async () => {
      const seen: { path: string; auth: string }[] = [];
      const server = createServer((req, res) => {
        seen.push({ path: req.url ?? '', auth: String(req.headers.authorization ?? '') });
        res.statusCode = 401;
        res.setHeader('WWW-Authenticate', 'Basic realm="x"');
        res.end('no');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as { port: number }).port;
      // Another host: the same handler on 127.0.0.2 (the loopback network).
      const elsewhere = createServer(server.listeners('request')[0] as Parameters<typeof createServer>[1]);
      await new Promise<void>((r) => elsewhere.listen(0, '127.0.0.2', r));
      const otherPort = (elsewhere.address() as { port: number }).port;
      try {
        const token = 'relevo-token-case-17';
        const f = fixture();
        f.repo.write(
          '.gitmodules',
          [
            '[submodule "other"]',
            '\tpath = components/other',
            `\turl = http://127.0.0.2:${otherPort}/other/project/_git/other`,
            '[submodule "ingest"]',
            '\tpath = components/ingest',
            `\turl = http://127.0.0.1:${port}/ORG/project/_git/ingest`,
          ].join('\n') + '\n',
        );
        f.repo.git('update-index', '--add', '--cacheinfo', `160000,${f.ingest.commits['v1.0.0']},components/other`);
        f.repo.git('add', '.gitmodules');
        f.repo.git('commit', '-q', '-m', 'chore: remotes over http');
        const options = { accessToken: token, variables: { 'System.TeamFoundationCollectionUri': `http://127.0.0.1:${port}/org/` } };
        const run = failed(
          await update(f.repo.detach(), { include: 'ingest', dryRun: true }, options),
          /cannot read the remote of submodule 'ingest' .*the remote did not accept the credentials \(401\).*Fix: the job token goes only to this organization's URLs/,
        );
        assert.doesNotMatch(run.stdout, /grant the build service 'Read'/);
        assert.ok(
          seen.some((r) => r.path.startsWith('/ORG/') && r.auth === `bearer ${token}`),
          JSON.stringify(seen),
        );
        failed(await update(f.repo, { include: 'other', dryRun: true }, options), /cannot read the remote of submodule 'other'/);
        assert.ok(
          seen.some((r) => r.path.startsWith('/other/')),
          'the other host was asked',
        );
        assert.ok(!seen.some((r) => r.path.startsWith('/other/') && r.auth.includes(token)), 'the token went to another host');
      } finally {
        server.close();
        elsewhere.close();
      }
    });

    it("the Summary's change log fetches only the range between the two pins (--shallow-exclude of the old tag) and lists its subjects", async () => {
      const s = await served();
      const base = s.base;
      const ingest = makeComponent(base, 'ingest', ['v1.0.0', 'v1.1.0'], { subjects: { 'v1.1.0': ['fix: one', 'fix: two'] } });
      for (let i = 0; i < 5; i++) ingest.work.commit(`chore: old history ${i}`, 'old.txt');
      const { work } = makeOrchestration(
        base,
        [{ name: 'ingest', path: 'components/ingest', url: '../ingest.git', commit: ingest.commits['v1.0.0'] }],
        () => s.daemon.url('orchestration.git'),
      );
      const trace = join(tempDir('relevo-trace-'), 'packets');
      const run = ok(await update(work, {}, { env: { GIT_TRACE_PACKET: trace } }));
      assert.match(run.summaries[0], /\| ingest \| v1\.0\.0 \| v1\.1\.0 \| minor \| feat: ingest v1\.1\.0<br>fix: two<br>fix: one \|/);
      assert.match(readFileSync(trace, 'utf8'), /deepen-not refs\/tags\/v1\.0\.0/, 'the fetch asked for the range only');
    });
  });
});
