import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { explain, runTask } from '../support/agentRunner';
import { startGitDaemon } from '../support/gitDaemon';
import { git, remoteTags, Repo, tempDir } from '../support/repo';
import {
  assertLocalUntouched,
  bump,
  failed,
  ok,
  readyToRelease,
  rejectTagsOn,
  released,
  RELEASE_ALL,
  remoteTagsOrLocal,
  shallowCloneOf,
} from '../support/versionBump';

describe('VersionBump (built task, run as the agent runs it)', function () {
  this.timeout(120_000);

  describe('auto bump from conventional commits', () => {
    it('feat → minor, with every output and a summary', async () => {
      const repo = released('fix: a', 'feat(ingest): b', 'chore: c');
      const run = ok(await bump(repo));
      assert.deepEqual(run.outputs, {
        version: '1.3.0',
        previousVersion: '1.2.0',
        bump: 'minor',
        tag: 'v1.3.0',
        isPrerelease: 'false',
        pep440Version: '1.3.0',
        commitCount: '3',
        changed: 'true',
        // A new version, but no tag (createTag is off): nothing marks this commit as the release.
        release: 'false',
        channel: 'final',
        tagCreated: 'false',
        tagPushed: 'false',
        componentChanges: '[]',
      });
      assert.equal(run.summaries.length, 1);
      assert.match(run.summaries[0], /VersionBump: 1\.3\.0/);
      assert.match(run.summaries[0], /1 feature, 1 fix, 1 other/);
      assert.match(run.summaries[0], /feat\(ingest\): b/);
      assert.match(run.summaries[0], /ask for a minor bump/);
      assert.deepEqual(Object.keys(remoteTagsOrLocal(repo)).sort(), ['v1.0.0', 'v1.2.0'], 'nothing tagged by default');
    });

    it('fix → patch, breaking → major, deprecation → minor, +semver hints', async () => {
      const cases: [string[], string][] = [
        [['fix: a', 'perf: b'], '1.2.1'],
        [['revert: undo c'], '1.2.1'],
        [['feat!: drop the old reader'], '2.0.0'],
        [['fix: x\n\nBREAKING CHANGE: column renamed'], '2.0.0'],
        [['deprecate: read_v1'], '1.3.0'],
        [['update everything +semver: major'], '2.0.0'],
        [['feat: x +semver: none', 'chore: y'], '1.2.0'],
      ];
      for (const [messages, expected] of cases) {
        const run = ok(await bump(released(...messages)));
        assert.equal(run.outputs.version, expected, `${messages.join(' | ')} → ${expected}\n${explain(run)}`);
      }
    });

    it('a breaking change while the major is 0 bumps the minor', async () => {
      const repo = Repo.init();
      repo.commit('feat: start');
      repo.tag('v0.4.1');
      repo.commit('feat!: new schema');
      const run = ok(await bump(repo.detach()));
      assert.equal(run.outputs.version, '0.5.0');
      assert.equal(run.outputs.bump, 'minor');
      assert.match(run.summaries[0], /while the major version is 0/);
    });

    it('reports changed=false and keeps the version when nothing relevant happened', async () => {
      const run = ok(await bump(released('chore: deps', 'docs: readme')));
      assert.equal(run.outputs.version, '1.2.0');
      assert.equal(run.outputs.changed, 'false');
      assert.equal(run.outputs.bump, 'none');
      assert.equal(run.outputs.commitCount, '2');
    });

    it('an explicit bump wins over the commits', async () => {
      assert.equal(ok(await bump(released('chore: x'), { bump: 'major' })).outputs.version, '2.0.0');
      assert.equal(ok(await bump(released('feat: x'), { bump: 'patch' })).outputs.version, '1.2.1');
      const none = ok(await bump(released('feat: x'), { bump: 'none' }));
      assert.equal(none.outputs.version, '1.2.0');
      assert.equal(none.outputs.changed, 'false');
    });

    it('starts at initialVersion when no tag exists', async () => {
      const repo = Repo.init();
      repo.commit('feat: a');
      repo.commit('fix: b');
      const run = ok(await bump(repo.detach(), { initialVersion: '1.0.0' }));
      assert.equal(run.outputs.version, '1.0.0');
      assert.equal(run.outputs.bump, 'initial');
      assert.equal(run.outputs.previousVersion, '');
      assert.equal(run.outputs.commitCount, '2');
      assert.equal(ok(await bump(repo)).outputs.version, '0.1.0', 'default initialVersion');
    });

    it('ignores release tags that are not ancestors of HEAD', async () => {
      const repo = released('feat: on main');
      repo.git('checkout', '-q', '-b', 'other', 'v1.2.0');
      repo.commit('fix: elsewhere');
      repo.tag('v5.0.0');
      repo.git('checkout', '-q', '--detach', 'main');
      const run = ok(await bump(repo));
      assert.equal(run.outputs.version, '1.3.0');
      assert.equal(run.outputs.previousVersion, '1.2.0');
    });
  });

  describe('pre-releases', () => {
    it('dev.N counts existing tags of that version, not commits', async () => {
      const repo = released('feat: a');
      repo.tag('v1.3.0-dev.1');
      repo.commit('fix: b');
      repo.commit('fix: c');
      repo.tag('v1.3.0-dev.4');
      repo.commit('fix: d');
      const run = ok(await bump(repo.detach(), {}, { variables: { 'Build.SourceBranch': 'refs/heads/develop' } }));
      assert.equal(run.outputs.version, '1.3.0-dev.5');
      assert.equal(run.outputs.pep440Version, '1.3.0.dev5');
      assert.equal(run.outputs.isPrerelease, 'true');
      assert.equal(run.outputs.tag, 'v1.3.0-dev.5');
    });

    it('rc.N on release/* and pre, counting rc tags on any branch', async () => {
      const repo = released('feat: a');
      repo.git('checkout', '-q', '-b', 'side');
      repo.commit('fix: side');
      repo.tag('v1.3.0-rc.2');
      repo.git('checkout', '-q', '--detach', 'main');
      const run = ok(await bump(repo, {}, { variables: { 'Build.SourceBranch': 'refs/heads/release/1.3' } }));
      assert.equal(run.outputs.version, '1.3.0-rc.3');
      assert.equal(run.outputs.pep440Version, '1.3.0rc3');
      const pre = ok(await bump(repo, {}, { variables: { 'Build.SourceBranch': 'refs/heads/pre' } }));
      assert.equal(pre.outputs.version, '1.3.0-rc.3');
    });

    it('any other branch gets a label from its name; its PEP 440 version is one a feed accepts, numbered by the build id', async () => {
      const repo = released('feat: a');
      repo.write('pyproject.toml', '[project]\nname = "x"\nversion = "1.2.0"\n').commitAll('chore: pyproject');
      const run = ok(
        await bump(
          repo,
          { versionFiles: 'pyproject.toml' },
          { variables: { 'Build.SourceBranch': 'refs/heads/feature/Table_Picker', 'Build.BuildId': '48213' } },
        ),
      );
      assert.equal(run.outputs.version, '1.3.0-feature-table-picker.1');
      assert.equal(run.outputs.channel, 'feature-table-picker');
      assert.equal(run.outputs.pep440Version, '1.3.0.dev48213', 'no +local part: PyPI and Azure Artifacts refuse local versions');
      assert.match(
        readFileSync(join(repo.dir, 'pyproject.toml'), 'utf8'),
        /version = "1\.3\.0\.dev48213"/,
        'Python version files get the same version',
      );
      const other = ok(await bump(repo, {}, { variables: { 'Build.SourceBranch': 'refs/heads/feature/other', 'Build.BuildId': '48214' } }));
      assert.notEqual(other.outputs.pep440Version, run.outputs.pep440Version, 'two branches built at the same time never collide');
      const develop = ok(await bump(repo, {}, { variables: { 'Build.SourceBranch': 'refs/heads/develop', 'Build.BuildId': '48215' } }));
      assert.equal(develop.outputs.pep440Version, '1.3.0.dev1', 'the dev channel keeps its tag-counted number');
    });

    it('custom branchChannels', async () => {
      const run = ok(await bump(released('feat: a'), { branchChannels: 'main=beta\nrelease/*=' }));
      assert.equal(run.outputs.version, '1.3.0-beta.1');
    });

    it('a pull-request build computes a label from the source branch and pushes nothing', async () => {
      const repo = released('feat: a');
      repo.addBareRemote();
      const run = ok(
        await bump(
          repo,
          { createTag: true, pushTag: true },
          {
            variables: { 'Build.SourceBranch': 'refs/pull/7/merge', 'System.PullRequest.SourceBranch': 'refs/heads/feature/x' },
          },
        ),
      );
      assert.equal(run.outputs.version, '1.3.0-feature-x.1');
      assert.deepEqual(run.warnings, [], 'expected behaviour, not a warning that turns every PR run yellow');
      assert.match(run.stdout, /Pull-request build \(refs\/pull\/7\/merge\): the version is computed, but no commit, tag or push is made/);
      assert.match(run.summaries[0], /Pull-request build/);
      assert.equal(run.outputs.tagCreated, 'false');
      assert.equal(run.outputs.tagPushed, 'false');
      assert.equal(repo.git('tag', '--list', 'v1.3.0*'), '');
    });

    it('a tag build is labelled with the tag name, and releases nothing', async () => {
      const repo = released('feat: a');
      repo.tag('nightly', false);
      const run = ok(await bump(repo, { createTag: true }, { variables: { 'Build.SourceBranch': 'refs/tags/nightly' } }));
      assert.equal(run.outputs.version, '1.3.0-nightly.1');
      assert.equal(run.outputs.channel, 'nightly');
      assert.match(run.stdout, /Tag build \(refs\/tags\/nightly\)/);
      assert.equal(run.outputs.tagCreated, 'false');
      assert.equal(repo.git('tag', '--list', 'v1.3.0*'), '');
    });
  });

  describe('finals and idempotency', () => {
    it('on a final branch, a commit carrying a tested rc becomes that release unchanged', async () => {
      const repo = released('feat: a', 'fix: b');
      repo.tag('v1.3.0-rc.2');
      const candidate = repo.head();
      repo.addBareRemote();
      const run = ok(
        await bump(repo.detach(), { createTag: true, pushTag: true }, { variables: { 'Build.SourceBranch': 'refs/heads/pro' } }),
      );
      assert.equal(run.outputs.version, '1.3.0');
      assert.equal(run.outputs.previousVersion, '1.2.0');
      assert.equal(run.outputs.changed, 'true');
      assert.match(run.summaries[0], /tested candidate v1\.3\.0-rc\.2/);
      assert.equal(remoteTags(git(repo.dir, 'remote', 'get-url', 'origin'))['v1.3.0'], candidate);
    });

    it('re-running on a tagged commit reports that version and changes nothing', async () => {
      const repo = released('feat: a');
      const remote = repo.addBareRemote();
      const first = ok(await bump(repo, { createTag: true, pushTag: true }));
      assert.equal(first.outputs.version, '1.3.0');
      const tagsAfterFirst = remoteTags(remote);
      const second = ok(await bump(repo, { createTag: true, pushTag: true }));
      assert.equal(second.outputs.version, '1.3.0');
      assert.equal(second.outputs.changed, 'false');
      assert.equal(second.outputs.previousVersion, '1.2.0');
      assert.match(second.summaries[0], /already carries v1\.3\.0/);
      assert.deepEqual(remoteTags(remote), tagsAfterFirst);
    });

    it('a release tag only the remote has, above the ones this clone has: the base is the remote one', async () => {
      // The clone's own highest release is v1.2.0; another run released v1.3.0 since, on a commit
      // this clone has, and pushed only the tag. The log started early from v1.2.0 is not used.
      const repo = released('feat: a');
      const remote = repo.addBareRemote();
      const released13 = repo.head();
      git(remote, 'tag', 'v1.3.0', released13);
      repo.commit('fix: b');
      repo.commit('chore: c');
      git(repo.dir, 'push', '-q', 'origin', 'HEAD:refs/heads/main');
      const run = ok(await bump(repo.detach()));
      assert.equal(remoteTags(remote)['v1.3.0'], released13);
      assert.equal(repo.git('tag', '--list', 'v1.3.0'), '', 'the clone does not have the tag');
      assert.equal(run.outputs.previousVersion, '1.3.0', explain(run));
      assert.equal(run.outputs.version, '1.3.1');
      assert.equal(run.outputs.commitCount, '2');
    });

    it('pushing a tag that exists on the remote at another commit fails and pushes nothing', async () => {
      const repo = released('feat: a');
      const remote = repo.addBareRemote();
      // Someone released 1.3.0 from another commit that this branch does not contain.
      const other = tempDir();
      git(other, 'clone', '-q', remote, '.');
      git(other, 'checkout', '-q', '--detach', 'v1.2.0');
      git(other, '-c', 'user.name=x', '-c', 'user.email=x@x', 'commit', '-q', '--allow-empty', '-m', 'fix: elsewhere');
      git(other, '-c', 'user.name=x', '-c', 'user.email=x@x', 'tag', '-a', 'v1.3.0', '-m', 'x');
      git(other, 'push', '-q', 'origin', 'refs/tags/v1.3.0');
      repo.write('VERSION', '1.2.0\n').commitAll('feat: version file');
      git(repo.dir, 'push', '-q', 'origin', 'HEAD:refs/heads/main');
      const head = repo.detach().head();
      const before = remoteTags(remote);
      const run = failed(
        await bump(repo, { createTag: true, pushTag: true, commitVersionFiles: true, versionFiles: 'VERSION' }),
        /tag 'v1\.3\.0' already exists at commit/,
      );
      assert.match(run.resultMessage!, /nothing was changed/);
      assert.deepEqual(remoteTags(remote), before);
      assert.equal(git(remote, 'rev-parse', 'refs/heads/main'), head);
      assertLocalUntouched(repo, head);
    });
  });

  describe('applying the version', () => {
    it('writes version files, commits with ***NO_CI***, tags that commit and pushes both', async () => {
      const repo = Repo.init();
      repo.write('pyproject.toml', '[project]\nname = "ingest"\nversion = "1.2.0"\n');
      repo.write('src/ingest/__init__.py', '__version__ = "1.2.0"\n');
      repo.write('CHANGELOG.md', '# Changelog\n\n## 1.2.0 (2026-01-01)\n\n- old\n');
      repo.commitAll('feat: first');
      repo.tag('v1.2.0');
      repo.commit('feat(reader): parquet support');
      const remote = repo.addBareRemote();
      const built = repo.head();
      repo.detach();
      const run = ok(
        await bump(repo, {
          versionFiles: 'pyproject.toml\nsrc/ingest/__init__.py',
          changelogFile: 'CHANGELOG.md',
          commitVersionFiles: true,
          createTag: true,
          pushTag: true,
        }),
      );
      assert.equal(run.outputs.version, '1.3.0');
      const remoteMain = git(remote, 'rev-parse', 'refs/heads/main');
      assert.notEqual(remoteMain, built);
      assert.equal(git(remote, 'rev-parse', `${remoteMain}^`), built);
      assert.match(git(remote, 'log', '-1', '--format=%B', remoteMain), /chore\(release\): v1\.3\.0 \*\*\*NO_CI\*\*\*/);
      assert.equal(remoteTags(remote)['v1.3.0'], remoteMain);
      assert.equal(git(remote, 'cat-file', '-t', 'refs/tags/v1.3.0'), 'tag', 'annotated tag');
      assert.match(git(remote, 'show', `${remoteMain}:pyproject.toml`), /version = "1\.3\.0"/);
      assert.match(
        git(remote, 'show', `${remoteMain}:CHANGELOG.md`),
        /^# Changelog\n\n## 1\.3\.0 \(\d{4}-\d\d-\d\d\)\n\n### Features\n\n- \*\*reader:\*\* parquet support/,
      );
      assert.match(run.summaries[0], /pushed `refs\/heads\/main`, `refs\/tags\/v1\.3\.0`/);
    });

    it('pre-release versions go into Python files as PEP 440, without a commit by default', async () => {
      const repo = Repo.init();
      repo.write('setup.py', 'setup(name="x", version="1.2.0")\n').write('package.json', '{\n  "version": "1.2.0"\n}\n');
      repo.commitAll('feat: a');
      repo.tag('v1.2.0');
      repo.commit('feat: b');
      const head = repo.detach().head();
      const run = ok(
        await bump(repo, { versionFiles: 'setup.py\npackage.json' }, { variables: { 'Build.SourceBranch': 'refs/heads/dev' } }),
      );
      assert.equal(run.outputs.version, '1.3.0-dev.1');
      assert.match(readFileSync(join(repo.dir, 'setup.py'), 'utf8'), /version="1\.3\.0\.dev1"/);
      assert.match(readFileSync(join(repo.dir, 'package.json'), 'utf8'), /"version": "1\.3\.0-dev\.1"/);
      assert.equal(repo.head(), head, 'no commit');
    });

    it('dryRun computes and reports but writes, tags and pushes nothing', async () => {
      const repo = released('feat: a');
      repo.write('VERSION', '1.2.0\n').commitAll('chore: version file');
      const remote = repo.addBareRemote();
      repo.detach();
      const run = ok(
        await bump(repo, {
          dryRun: true,
          versionFiles: 'VERSION',
          createTag: true,
          pushTag: true,
          commitVersionFiles: true,
          updateBuildNumber: true,
        }),
      );
      assert.equal(run.outputs.version, '1.3.0');
      assert.match(run.stdout, /Dry run: would write 1 version file\(s\), commit, tag v1\.3\.0, push to origin/);
      assert.equal(readFileSync(join(repo.dir, 'VERSION'), 'utf8'), '1.2.0\n');
      assert.equal(repo.git('tag', '--list', 'v1.3.0'), '');
      assert.equal(remoteTags(remote)['v1.3.0'], undefined);
      assert.equal(run.buildNumber, undefined);
      assert.equal(run.outputs.tagCreated, 'false');
      assert.equal(run.outputs.tagPushed, 'false');
      assert.match(run.summaries[0], /dry run/);
    });

    it('updateBuildNumber sets the run number to the version', async () => {
      const run = ok(await bump(released('fix: a'), { updateBuildNumber: true }));
      assert.equal(run.buildNumber, '1.2.1');
    });

    it('a rejected push (server with --atomic) leaves nothing behind, local or remote', async () => {
      const { repo, remote, head } = readyToRelease();
      rejectTagsOn(remote);
      const run = failed(
        await bump(repo, RELEASE_ALL),
        /Input 'pushTag': the remote 'origin' rejected the push \(a server hook, rule or permission\): .*tags are protected.*Nothing was pushed/,
      );
      assert.equal(git(remote, 'rev-parse', 'refs/heads/main'), head);
      assert.equal(remoteTags(remote)['v1.3.0'], undefined);
      assertLocalUntouched(repo, head);
      assert.ok(run.errors.length > 0);
    });

    it('without --atomic, pushes ref by ref and rolls the branch back when the tag is refused', async () => {
      const { repo, remote, head } = readyToRelease();
      git(remote, 'config', 'receive.advertiseAtomic', 'false');
      rejectTagsOn(remote);
      failed(await bump(repo, RELEASE_ALL), /Nothing was pushed/);
      assert.equal(git(remote, 'rev-parse', 'refs/heads/main'), head, 'the branch push was rolled back');
      assert.equal(remoteTags(remote)['v1.3.0'], undefined);
      assertLocalUntouched(repo, head);
    });

    it('refuses to push a version commit when the branch moved on the remote', async () => {
      const { repo, remote, head } = readyToRelease();
      const other = tempDir();
      git(other, 'clone', '-q', remote, '.');
      git(other, '-c', 'user.name=x', '-c', 'user.email=x@x', 'commit', '-q', '--allow-empty', '-m', 'fix: concurrent');
      git(other, 'push', '-q', 'origin', 'main');
      const moved = git(remote, 'rev-parse', 'refs/heads/main');
      failed(await bump(repo, RELEASE_ALL), /Input 'commitVersionFiles'.*has moved since this run started.*re-run/);
      assert.equal(git(remote, 'rev-parse', 'refs/heads/main'), moved);
      assertLocalUntouched(repo, head);
    });
  });

  describe('monorepo', () => {
    it('two components with interleaved commits each get their own version', async () => {
      const repo = Repo.init();
      repo.commit('feat: ingest start', 'ingest/a.py');
      repo.tag('ingest/v1.0.0');
      repo.commit('feat: history start', 'history/a.py');
      repo.tag('history/v2.1.0');
      repo.commit('fix(ingest): nulls', 'ingest/a.py');
      repo.commit('feat(history): windows', 'history/a.py');
      repo.commit('fix(history): off by one', 'history/b.py');
      repo.commit('chore: root tooling', 'tools.txt');
      repo.detach();
      const ingest = ok(await bump(repo, { component: 'ingest', tagFormat: '{component}/v{version}', paths: 'ingest' }));
      assert.equal(ingest.outputs.version, '1.0.1');
      assert.equal(ingest.outputs.tag, 'ingest/v1.0.1');
      assert.equal(ingest.outputs.commitCount, '1');
      const history = ok(
        await bump(repo, { component: 'history', tagFormat: '{component}/v{version}', paths: 'history', createTag: true }),
      );
      assert.equal(history.outputs.version, '2.2.0');
      assert.equal(history.outputs.commitCount, '2');
      assert.equal(repo.git('rev-parse', 'history/v2.2.0^{commit}'), repo.head());
      const ingestAgain = ok(await bump(repo, { component: 'ingest', tagFormat: '{component}/v{version}', paths: 'ingest' }));
      assert.equal(ingestAgain.outputs.version, '1.0.1', "another component's tag on HEAD does not count");
    });
  });

  describe('shallow clones', () => {
    it('deepens step by step until the last release tag (300 commits back in 500) is reached', async () => {
      const base = tempDir();
      const origin = Repo.init('main', join(base, 'components.git.src'));
      for (let i = 1; i <= 500; i++) {
        origin.git(
          'commit',
          '-q',
          '--allow-empty',
          '-m',
          i === 200 ? 'feat: tagged release' : i === 450 ? 'feat: new' : `fix: change ${i}`,
        );
        if (i === 200) origin.tag('v1.4.0');
        if (i === 100) origin.tag('v1.0.0');
      }
      git(base, 'clone', '-q', '--bare', origin.dir, join(base, 'component.git'));
      const daemon = await startGitDaemon(base);
      try {
        const work = tempDir();
        git(work, 'clone', '-q', '--depth', '1', '--no-tags', daemon.url('component.git'), '.');
        const repo = new Repo(work).detach();
        assert.equal(repo.git('rev-parse', '--is-shallow-repository'), 'true');
        const run = ok(await bump(repo));
        assert.equal(run.outputs.version, '1.5.0');
        assert.equal(run.outputs.previousVersion, '1.4.0');
        assert.equal(run.outputs.commitCount, '300');
        assert.match(run.stdout, /Shallow clone: fetching 50 more commits/);
        const fetched = Number(repo.git('rev-list', '--count', 'HEAD'));
        assert.ok(fetched > 300 && fetched < 500, `fetched ${fetched} commits: enough to reach the tag, not the whole history`);
        assert.equal(repo.git('rev-parse', '--is-shallow-repository'), 'true');
      } finally {
        daemon.stop();
      }
    });

    it('fails with the YAML to fix it when more history cannot be fetched', async () => {
      const origin = Repo.init();
      for (let i = 0; i < 5; i++) origin.commit(`fix: ${i}`);
      origin.tag('v1.0.0', true, 'HEAD~3');
      const bare = tempDir();
      git(bare, 'clone', '-q', '--bare', origin.dir, '.');
      const work = tempDir();
      git(work, 'clone', '-q', '--depth', '1', `file://${bare}`, '.');
      const repo = new Repo(work).detach();
      // Listing tags still works; only fetching more history fails (the server hides its branches).
      git(bare, 'config', 'uploadpack.hiderefs', 'refs/heads');
      failed(await bump(repo), /fetching more history failed[\s\S]*fetchDepth: 0/);
    });
  });

  describe('credentials', () => {
    /** A stand-in for Azure Repos' smart-HTTP endpoint that records the Authorization header. */
    async function recordingServer(): Promise<{ port: number; seen: string[]; close: () => void }> {
      const seen: string[] = [];
      const server = createServer((req, res) => {
        seen.push(String(req.headers.authorization ?? ''));
        res.statusCode = 404;
        res.end('no such repository');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return { port: (server.address() as { port: number }).port, seen, close: () => server.close() };
    }

    it('sends the job token as a bearer header, registers it as a secret and never prints or stores it', async () => {
      const token = 'relevo-secret-token-7f3a9c';
      const server = await recordingServer();
      try {
        const repo = released('feat: a');
        repo.git('remote', 'add', 'origin', `http://build@127.0.0.1:${server.port}/org/project/_git/component`);
        const run = ok(
          await bump(
            repo,
            {},
            { accessToken: token, variables: { 'System.TeamFoundationCollectionUri': `http://127.0.0.1:${server.port}/org/` } },
          ),
        );
        assert.equal(run.outputs.version, '1.3.0');
        assert.ok(
          server.seen.some((h) => h === `bearer ${token}`),
          `server saw: ${JSON.stringify(server.seen)}`,
        );
        assert.deepEqual(run.secrets, [token]);
        const printed =
          run.stdout
            .split('\n')
            .filter((l) => !l.startsWith('##vso[task.setsecret]'))
            .join('\n') +
          run.stderr +
          run.summaries.join('');
        assert.ok(!printed.includes(token), 'token printed');
        assert.ok(!readFileSync(join(repo.dir, '.git', 'config'), 'utf8').includes(token), 'token stored in .git/config');
        assert.match(run.warnings.join('\n'), /Could not list the tags on remote 'origin'/);
      } finally {
        server.close();
      }
    });

    it('keeps the token out of the log with GIT_TRACE and System.Debug on, while pushing and when a push fails', async () => {
      const token = 'relevo-secret-token-debug-9d1';
      const { repo, remote } = readyToRelease();
      const debug = {
        accessToken: token,
        env: { GIT_TRACE: '1', GIT_TRACE_PACKET: '1' },
        variables: { 'System.Debug': 'true', 'System.TeamFoundationCollectionUri': 'https://dev.azure.com/org/' },
      };
      const run = ok(await bump(repo, RELEASE_ALL, debug));
      assert.equal(run.outputs.version, '1.3.0');
      assert.match(run.stdout, /##vso\[task\.debug\]/, 'debug logging was on');
      assert.ok(!(run.stdout + run.stderr).replace(`##vso[task.setsecret]${token}`, '').includes(token), 'token in the log');
      rejectTagsOn(remote);
      repo.commit('fix: another');
      git(repo.dir, 'push', '-q', 'origin', 'HEAD:refs/heads/main');
      const refused = failed(await bump(repo, RELEASE_ALL, debug), /tags are protected/);
      assert.ok(
        !(refused.stdout + refused.stderr).replace(`##vso[task.setsecret]${token}`, '').includes(token),
        'token in the log of the refused push',
      );
    });

    it('never sends the token to a remote outside the organization', async () => {
      const token = 'relevo-secret-token-other-host';
      const server = await recordingServer();
      try {
        const repo = released('feat: a');
        repo.git('remote', 'add', 'origin', `http://127.0.0.1:${server.port}/someone-else/repo.git`);
        const run = ok(
          await bump(
            repo,
            {},
            { accessToken: token, variables: { 'System.TeamFoundationCollectionUri': `http://127.0.0.1:${server.port}/org/` } },
          ),
        );
        assert.ok(server.seen.length > 0, 'git talked to the server');
        assert.ok(
          server.seen.every((h) => !h.includes(token)),
          `server saw: ${JSON.stringify(server.seen)}`,
        );
        assert.ok(!(run.stdout + run.stderr).replace(`##vso[task.setsecret]${token}`, '').includes(token));
      } finally {
        server.close();
      }
    });
  });

  describe('review cases', () => {
    it('shallow: a back-merged hotfix tag near HEAD does not hide a higher release further back', async () => {
      const origin = Repo.init();
      origin.commitAll('feat: a');
      origin.tag('v1.4.0');
      origin.git('checkout', '-q', '-b', 'hotfix/1.4');
      origin.commitAll('fix: hf');
      origin.tag('v1.4.1');
      origin.git('checkout', '-q', 'main');
      origin.commitAll('feat!: big');
      origin.tag('v2.0.0');
      for (let i = 0; i < 80; i++) origin.commitAll(`chore: ${i}`);
      origin.git('merge', '-q', '--no-ff', '-m', 'Merge hotfix', 'hotfix/1.4');
      origin.commitAll('fix: after');
      const run = ok(await bump(shallowCloneOf(origin)));
      assert.equal(run.outputs.version, '2.0.1');
      assert.equal(run.outputs.previousVersion, '2.0.0');
    });

    it('shallow: commits on a merged side branch beyond the first boundary still count', async () => {
      const origin = Repo.init();
      origin.commitAll('feat: a');
      origin.tag('v1.0.0');
      origin.git('checkout', '-q', '-b', 'feature/big');
      origin.commitAll('feat!: new schema');
      for (let i = 0; i < 80; i++) origin.commitAll(`chore: side ${i}`);
      origin.git('checkout', '-q', 'main');
      origin.commitAll('fix: main');
      origin.git('merge', '-q', '--no-ff', '-m', 'Merge feature', 'feature/big');
      const run = ok(await bump(shallowCloneOf(origin)));
      assert.equal(run.outputs.version, '2.0.0');
      assert.equal(run.outputs.commitCount, '83', 'feat!, 80 chores, the fix and the merge');
    });

    it('shallow: stops when fetching adds nothing and says how to fix it', async () => {
      const origin = Repo.init();
      for (let i = 0; i < 5; i++) origin.commitAll(`fix: ${i}`);
      origin.tag('v1.0.0', true, 'HEAD~3');
      const work = shallowCloneOf(origin);
      // The built commit's history disappears from the remote (force-pushed over and collected).
      const served = git(work.dir, 'remote', 'get-url', 'origin').replace('file://', '');
      const rewritten = git(served, 'commit-tree', '-m', 'fix: rewritten', `${git(served, 'rev-parse', 'main')}^{tree}`);
      git(served, 'update-ref', 'refs/heads/main', rewritten);
      git(served, 'reflog', 'expire', '--expire=now', '--all');
      git(served, 'gc', '-q', '--prune=now');
      failed(await bump(work), /fetching more history added no commits[\s\S]*fetchDepth: 0/);
    });

    it('re-running after commitVersionFiles reports the released version instead of failing or tagging again', async () => {
      const repo = Repo.init();
      repo.write('VERSION', '1.2.0\n').commitAll('feat: first');
      repo.tag('v1.2.0');
      repo.commit('feat: b');
      const remote = repo.addBareRemote();
      const built = repo.detach().head();
      const inputs = { versionFiles: 'VERSION', commitVersionFiles: true, createTag: true, pushTag: true };
      const first = ok(await bump(repo, inputs));
      repo.git('checkout', '-q', '--detach', built);
      repo.git('checkout', '-q', '--', '.');
      const again = ok(await bump(repo, inputs));
      assert.equal(again.outputs.version, '1.3.0');
      assert.equal(again.outputs.changed, 'false');
      assert.match(again.summaries[0], /already released this commit as v1\.3\.0/);
      for (const key of ['previousVersion', 'bump', 'commitCount', 'tag'] as const)
        assert.equal(again.outputs[key], first.outputs[key], `${key} is stable across re-runs`);
      assert.deepEqual(Object.keys(remoteTags(remote)).sort(), ['v1.2.0', 'v1.3.0']);
    });

    it('shallow: a tag whose own line is cut off above a merged side branch still excludes that branch', async () => {
      const origin = Repo.init();
      origin.commitAll('chore: root');
      const e = origin.commitAll('chore: E');
      const c1 = origin.commitAll('feat!: old');
      for (let i = 1; i <= 60; i++) origin.commitAll(`chore: L${i}`);
      origin.git('checkout', '-q', '-b', 'side-s', e);
      origin.commitAll('chore: S1');
      origin.git('checkout', '-q', 'main');
      origin.git('merge', '-q', '--no-ff', '-m', 'merge s', 'side-s');
      origin.tag('v1.0.0');
      for (let i = 1; i <= 40; i++) origin.commitAll(`chore: N${i}`);
      origin.git('checkout', '-q', '-b', 'side-x', c1);
      origin.commitAll('fix: X1');
      origin.git('checkout', '-q', 'main');
      origin.git('merge', '-q', '--no-ff', '-m', 'merge side', 'side-x');
      const full = ok(await bump(Repo.fullCloneOf(origin)));
      const shallow = ok(await bump(shallowCloneOf(origin)));
      assert.equal(full.outputs.version, '1.0.1');
      assert.equal(shallow.outputs.version, full.outputs.version);
      assert.equal(shallow.outputs.commitCount, full.outputs.commitCount);
    });

    it('re-running on a fresh shallow checkout (with or without tags) finds the earlier version commit', async () => {
      const { repo, remote, head } = readyToRelease();
      ok(await bump(repo, RELEASE_ALL));
      git(remote, 'config', 'uploadpack.allowAnySHA1InWant', 'true');
      for (const tags of [false, true]) {
        // As the agent checks out a re-run: the built commit, depth 1, tags only if fetchTags.
        const work = tempDir('relevo-rerun-');
        git(work, 'init', '-q');
        git(work, 'remote', 'add', 'origin', `file://${remote}`);
        git(work, 'fetch', '-q', '--depth=1', tags ? '--tags' : '--no-tags', 'origin', head);
        git(work, 'checkout', '-q', '--detach', head);
        const again = ok(await bump(new Repo(work), RELEASE_ALL));
        assert.equal(again.outputs.version, '1.3.0', `fetchTags: ${tags}`);
        assert.equal(again.outputs.changed, 'false');
        assert.match(again.summaries[0], /already released this commit as v1\.3\.0/);
      }
      assert.deepEqual(Object.keys(remoteTags(remote)).sort(), ['v1.0.0', 'v1.2.0', 'v1.3.0']);
    });

    it('re-running the promotion of a tested rc with a version commit reports the release', async () => {
      const { repo, remote, head } = readyToRelease();
      repo.tag('v1.3.0-rc.2');
      git(repo.dir, 'push', '-q', 'origin', 'v1.3.0-rc.2');
      const first = ok(await bump(repo, RELEASE_ALL));
      assert.equal(first.outputs.version, '1.3.0');
      repo.git('checkout', '-q', '--detach', head);
      repo.git('checkout', '-q', '--', '.');
      const again = ok(await bump(repo, RELEASE_ALL));
      assert.equal(again.outputs.version, '1.3.0');
      assert.equal(again.outputs.changed, 'false');
      assert.equal(remoteTags(remote)['v1.3.0'], git(remote, 'rev-parse', 'main'));
    });

    it('a tag of a tag is peeled to its commit', async () => {
      const repo = released('feat: a');
      repo.tag('v1.3.0-rc.1');
      repo.git('tag', '-a', 'v1.3.0', '-m', 'final', 'v1.3.0-rc.1');
      const run = ok(await bump(repo));
      assert.equal(run.outputs.version, '1.3.0');
      assert.equal(run.outputs.changed, 'false');
      assert.deepEqual(run.warnings, []);
    });

    it('re-runs keep previousVersion, bump and commitCount for pre-releases too', async () => {
      const repo = released('feat: a', 'fix: b');
      const first = ok(await bump(repo, { createTag: true }, { variables: { 'Build.SourceBranch': 'refs/heads/develop' } }));
      const again = ok(await bump(repo, { createTag: true }, { variables: { 'Build.SourceBranch': 'refs/heads/develop' } }));
      assert.equal(again.outputs.version, '1.3.0-dev.1');
      for (const key of ['previousVersion', 'bump', 'commitCount', 'version'] as const)
        assert.equal(again.outputs[key], first.outputs[key]);
    });

    it('an explicit major (input or +semver hint) leaves 0.x; a breaking commit does not', async () => {
      const repo = Repo.init();
      repo.commit('feat: start');
      repo.tag('v0.3.0');
      repo.commit('fix: x');
      assert.equal(ok(await bump(repo, { bump: 'major' })).outputs.version, '1.0.0');
      repo.commit('chore: stable +semver: major');
      assert.equal(ok(await bump(repo)).outputs.version, '1.0.0');
    });

    it('a pre-release of a version already released elsewhere moves past it', async () => {
      const repo = released('feat: a');
      const fork = repo.head();
      repo.commit('fix: on main');
      repo.tag('v1.3.0');
      repo.git('checkout', '-q', '-b', 'release/1.3', fork);
      repo.commit('fix: later on the release branch');
      const run = ok(await bump(repo, {}, { variables: { 'Build.SourceBranch': 'refs/heads/release/1.3' } }));
      assert.equal(run.outputs.version, '1.3.1-rc.1');
      assert.match(run.summaries[0], /1\.3\.0 is already released elsewhere/);
    });

    it('only an rc tag is promoted as it is on a final branch', async () => {
      const repo = released('feat: a');
      repo.tag('v1.3.0-dev.4');
      const run = ok(await bump(repo));
      assert.equal(run.outputs.version, '1.3.0');
      assert.doesNotMatch(run.summaries[0], /tested candidate/);
      assert.match(run.summaries[0], /ask for a minor bump/);
    });

    it("rejects tag formats that read other components' tags or make invalid tag names", async () => {
      failed(
        await bump(released('feat: a'), { tagFormat: '{version}-{component}', component: 'api' }),
        /Input 'tagFormat'.*right after '\{version\}'/,
      );
      failed(
        await bump(released('feat: a'), { tagFormat: '{component}/v{version}', component: 'foo.lock' }),
        /Input 'tagFormat'.*valid git tag names/,
      );
      failed(await bump(released('feat: a'), { tagFormat: 'rel//v{version}' }), /Input 'tagFormat'.*valid git tag names/);
    });

    it('a path that git cannot read names the paths input', async () => {
      failed(await bump(released('feat: a'), { paths: '../outside' }), /Input 'paths'/);
    });

    it('regex version files outside Python keep SemVer; package.json edits the top-level version only', async () => {
      const repo = Repo.init();
      repo.write('Cargo.toml', '[package]\nname = "x"\nversion = "1.2.0"\n');
      repo.write(
        'package.json',
        '{\n  "name": "x",\n  "config": { "version": "1.2.0" },\n  "version": "1.2.0",\n  "files": ["a", "b"]\n}\n',
      );
      repo.commitAll('feat: a');
      repo.tag('v1.2.0');
      repo.commit('feat: b');
      ok(
        await bump(
          repo,
          { versionFiles: 'Cargo.toml:^version = "(.+)"\npackage.json' },
          { variables: { 'Build.SourceBranch': 'refs/heads/dev' } },
        ),
      );
      assert.match(readFileSync(join(repo.dir, 'Cargo.toml'), 'utf8'), /version = "1\.3\.0-dev\.1"/);
      assert.equal(
        readFileSync(join(repo.dir, 'package.json'), 'utf8'),
        '{\n  "name": "x",\n  "config": { "version": "1.2.0" },\n  "version": "1.3.0-dev.1",\n  "files": ["a", "b"]\n}\n',
      );
    });

    it('commits git-ignored version files and writes a changelog into a new folder', async () => {
      const repo = Repo.init();
      repo.write('.gitignore', '_version.py\n').write('_version.py', '__version__ = "1.2.0"\n');
      repo.commitAll('feat: a');
      repo.tag('v1.2.0');
      repo.commit('feat: b');
      ok(await bump(repo, { versionFiles: '_version.py', changelogFile: 'docs/CHANGELOG.md', commitVersionFiles: true, createTag: true }));
      assert.match(repo.git('show', 'v1.3.0:_version.py'), /1\.3\.0/);
      assert.match(repo.git('show', 'v1.3.0:docs/CHANGELOG.md'), /## 1\.3\.0/);
    });

    it('reports which refs were left when a server without --atomic refuses the tag and the rollback', async () => {
      const { repo, remote, head } = readyToRelease();
      git(remote, 'config', 'receive.advertiseAtomic', 'false');
      git(remote, 'config', 'receive.denyNonFastForwards', 'true');
      git(remote, 'config', 'receive.denyDeletes', 'true');
      rejectTagsOn(remote);
      const run = failed(await bump(repo, RELEASE_ALL), /undoing it was refused too: on the remote, refs\/heads\/main now points at/);
      assert.doesNotMatch(run.resultMessage!, /Nothing was pushed/);
      assert.match(
        git(remote, 'log', '-1', '--format=%s', 'main'),
        /chore\(release\): v1\.3\.0/,
        'the message tells the truth: the commit is on the remote',
      );
      assertLocalUntouched(repo, head);
    });
  });

  describe('bad inputs fail with a message that names the input', () => {
    it('tagFormat without {version}', async () => {
      failed(await bump(released('feat: a'), { tagFormat: 'release' }), /Input 'tagFormat'.*\{version\}/);
    });
    it('not a git repository', async () => {
      failed(
        await runTask('version-bump', { inputs: { workingDirectory: tempDir() }, variables: { 'Build.SourceBranch': 'refs/heads/main' } }),
        /Input 'workingDirectory'.*not inside a git repository/,
      );
      failed(
        await runTask('version-bump', {
          inputs: { workingDirectory: '/nonexistent/relevo' },
          variables: { 'Build.SourceBranch': 'refs/heads/main' },
        }),
        /Input 'workingDirectory'.*does not exist/,
      );
      // The folder is checked while the first commands run: its answer is the one reported, with or without remotes and paths.
      failed(
        await runTask('version-bump', { inputs: { workingDirectory: tempDir(), paths: 'src' } }),
        /Input 'workingDirectory'.*not inside a git repository/,
      );
      const bare = tempDir();
      git(bare, 'init', '-q', '--bare');
      failed(
        await runTask('version-bump', { inputs: { workingDirectory: bare }, variables: { 'Build.SourceBranch': 'refs/heads/main' } }),
        /Input 'workingDirectory'.*not inside a git repository \(it is not a work tree\)/,
      );
      const empty = Repo.init();
      failed(
        await runTask('version-bump', { inputs: { workingDirectory: empty.dir }, variables: { 'Build.SourceBranch': 'refs/heads/main' } }),
        /Input 'workingDirectory': the repository has no commits yet/,
      );
    });
    it('without Build.SourceBranch, the branch checked out is built', async () => {
      const repo = released('feat: a');
      const run = ok(await runTask('version-bump', { inputs: { workingDirectory: join(repo.dir) } }));
      assert.equal(run.outputs.version, '1.3.0');
      repo.detach();
      failed(await runTask('version-bump', { inputs: { workingDirectory: repo.dir } }), /cannot tell which branch this run builds/);
    });
    it('unknown bump', async () => {
      failed(await bump(released('feat: a'), { bump: 'huge' }), /Input 'bump': 'huge' is not one of auto, major, minor, patch, none/);
    });
    it('unreadable version file, and nothing written', async () => {
      const repo = released('feat: a');
      repo.write('VERSION', '1.2.0\n').commitAll('chore: v');
      const head = repo.detach().head();
      failed(
        await bump(repo, { versionFiles: 'VERSION\nmissing/pyproject.toml', createTag: true }),
        /Input 'versionFiles': cannot read 'missing\/pyproject.toml'/,
      );
      assertLocalUntouched(repo, head);
    });
    it('malformed branchChannels and versionFiles patterns', async () => {
      failed(
        await bump(released('feat: a'), { branchChannels: 'main\nrelease/*=rc' }),
        /Input 'branchChannels': 'main' is not of the form 'branchPattern=label'/,
      );
      failed(await bump(released('feat: a'), { versionFiles: 'chart.yaml:^version: \\d+' }), /Input 'versionFiles'.*no capturing group/);
    });
    it('a version file outside the repository with commitVersionFiles, and nothing written', async () => {
      const outside = tempDir();
      writeFileSync(join(outside, 'VERSION'), '1.2.0\n');
      const repo = released('feat: a');
      const head = repo.detach().head();
      failed(
        await bump(repo, { versionFiles: join(outside, 'VERSION'), commitVersionFiles: true, createTag: true }),
        /Input 'versionFiles'.*outside the repository/,
      );
      assert.equal(readFileSync(join(outside, 'VERSION'), 'utf8'), '1.2.0\n');
      assertLocalUntouched(repo, head);
    });
    it('a boolean that is not true or false', async () => {
      failed(await bump(released('feat: a'), { createTag: 'yes' }), /Input 'createTag': 'yes' is not a boolean/);
    });
    it('an initialVersion that is not a release version', async () => {
      failed(await bump(released(), { initialVersion: 'v1' }), /Input 'initialVersion'/);
    });
    it('no branch: detached HEAD and no Build.SourceBranch', async () => {
      const repo = released('feat: a').detach();
      failed(await runTask('version-bump', { inputs: { workingDirectory: repo.dir } }), /Build\.SourceBranch/);
    });
  });
});
