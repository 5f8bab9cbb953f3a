/**
 * VersionBump under attack: links, bytes, many tags, a silent remote, hooks, races, staged
 * files; and what a new user found (created files, missing branches, typos, reverts).
 * Each case runs the built task as the agent runs it, on repositories built here.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { GitShim } from '../support/gitShim';
import { git, remoteTags, Repo, tempDir } from '../support/repo';
import { assertLocalUntouched, bump, failed, ok, readyToRelease, rejectTagsOn, released, RELEASE_ALL } from '../support/versionBump';

/** A file's bytes at a revision of a repository. */
function blob(dir: string, spec: string): Buffer {
  return execFileSync('git', ['cat-file', 'blob', spec], { cwd: dir });
}

function hasObject(dir: string, sha: string): boolean {
  try {
    execFileSync('git', ['cat-file', '-e', sha], { cwd: dir, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function hook(repoDir: string, name: string, script: string): void {
  const path = join(repoDir, '.git', 'hooks', name);
  writeFileSync(path, `#!/bin/sh\n${script}\n`);
  chmodSync(path, 0o755);
}

describe('VersionBump hardening (built task)', function () {
  this.timeout(120_000);

  describe('files: exactly what was there, plus the new version', () => {
    it('a version file that is a link inside the repository: the target is written, committed and tagged', async () => {
      const repo = released('feat: a');
      repo.write('meta/VERSION', '1.2.0\n');
      symlinkSync('meta/VERSION', join(repo.dir, 'VERSION'));
      repo.commitAll('chore: version file behind a link');
      const remote = repo.addBareRemote();
      const run = ok(await bump(repo, RELEASE_ALL));
      assert.equal(run.outputs.version, '1.3.0');
      const main = git(remote, 'rev-parse', 'refs/heads/main');
      assert.equal(git(remote, 'show', `${main}:meta/VERSION`), '1.3.0');
      assert.equal(git(remote, 'ls-tree', main, 'VERSION').split(/\s/)[0], '120000', 'the link stays a link');
      assert.equal(remoteTags(remote)['v1.3.0'], main, 'the tag is on the commit that holds the new version');
      assert.equal(repo.git('status', '--porcelain'), '');
    });

    it('a link that leads outside the repository is refused, naming the file, and nothing is written', async () => {
      const outside = tempDir();
      writeFileSync(join(outside, 'VERSION'), '1.2.0\n');
      const repo = released('feat: a');
      symlinkSync(join(outside, 'VERSION'), join(repo.dir, 'VERSION'));
      repo.commitAll('chore: link out');
      const remote = repo.addBareRemote();
      const head = repo.detach().head();
      const run = failed(await bump(repo, RELEASE_ALL), /Input 'versionFiles'.*VERSION' leads outside the repository/);
      assert.match(run.resultMessage!, /Nothing was changed/);
      assert.equal(readFileSync(join(outside, 'VERSION'), 'utf8'), '1.2.0\n');
      assert.equal(remoteTags(remote)['v1.3.0'], undefined);
      assertLocalUntouched(repo, head);
    });

    it('Latin-1 bytes, a BOM and CRLF are kept byte for byte when written, and restored byte for byte after a failure', async () => {
      const init = Buffer.from('# -*- coding: latin-1 -*-\n# Caf\xe9 cr\xe8me\n__version__ = "1.2.0"\n', 'latin1');
      const pkg = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{\r\n  "name": "x",\r\n  "version": "1.2.0"\r\n}\r\n')]);
      const build = () => {
        const repo = released('feat: a');
        writeFileSync(join(repo.dir, '__init__.py'), init);
        writeFileSync(join(repo.dir, 'package.json'), pkg);
        repo.commitAll('chore: files');
        return repo;
      };
      const inputs = { versionFiles: '__init__.py\npackage.json', commitVersionFiles: true, createTag: true, pushTag: true };
      const repo = build();
      const remote = repo.addBareRemote();
      ok(await bump(repo, inputs));
      assert.ok(blob(remote, 'v1.3.0:__init__.py').equals(Buffer.from(init.toString('latin1').replace('1.2.0', '1.3.0'), 'latin1')));
      assert.ok(blob(remote, 'v1.3.0:package.json').equals(Buffer.from(pkg.toString('latin1').replace('1.2.0', '1.3.0'), 'latin1')));

      const refused = build();
      rejectTagsOn(refused.addBareRemote());
      const head = refused.detach().head();
      failed(await bump(refused, inputs), /tags are protected/);
      assert.ok(readFileSync(join(refused.dir, '__init__.py')).equals(init), 'original Latin-1 bytes restored');
      assert.ok(readFileSync(join(refused.dir, 'package.json')).equals(pkg), 'original BOM and CRLF restored');
      assert.equal(refused.head(), head);
      assert.equal(refused.git('status', '--porcelain'), '');
    });

    it('pyproject.toml: spaced and commented headers, [project] and [tool.poetry] both, and a dynamic version followed to its file', async () => {
      const repo = released('feat: a');
      repo.write(
        'static/pyproject.toml',
        '[ project ]  # the package\nname = "x"\nversion = "1.2.0"  # bumped by CI\n\n[tool.poetry]\nname = "x"\nversion = "1.2.0"\n',
      );
      repo.write(
        'dynamic/pyproject.toml',
        '[project]\nname = "pkg"\ndynamic = [\n  "version",\n]\n\n[tool.setuptools.dynamic]\nversion = { attr = "pkg.__version__" }\n',
      );
      repo.write('dynamic/src/pkg/__init__.py', '__version__ = "1.2.0"\n');
      repo.write('scm/pyproject.toml', '[project]\nname = "s"\ndynamic = ["version"]\n\n[tool.setuptools_scm]\n');
      repo.commitAll('chore: projects');
      const run = ok(
        await bump(
          repo,
          { versionFiles: 'static/pyproject.toml\ndynamic/pyproject.toml\nscm/pyproject.toml' },
          { variables: { 'Build.SourceBranch': 'refs/heads/release/1.3' } },
        ),
      );
      assert.equal(run.outputs.pep440Version, '1.3.0rc1');
      assert.equal(
        readFileSync(join(repo.dir, 'static/pyproject.toml'), 'utf8'),
        '[ project ]  # the package\nname = "x"\nversion = "1.3.0rc1"  # bumped by CI\n\n[tool.poetry]\nname = "x"\nversion = "1.3.0rc1"\n',
      );
      assert.equal(readFileSync(join(repo.dir, 'dynamic/src/pkg/__init__.py'), 'utf8'), '__version__ = "1.3.0rc1"\n');
      assert.match(run.stdout, /dynamic version.*the version is written to '.*dynamic\/src\/pkg\/__init__\.py'/);
      assert.match(run.stdout, /scm\/pyproject\.toml.*setuptools-scm/);
      assert.match(
        readFileSync(join(repo.dir, 'scm/pyproject.toml'), 'utf8'),
        /dynamic = \["version"\]/,
        'nothing written where git is the version',
      );
    });

    it('a failed run removes the changelog (and its folder) it created', async () => {
      const { repo, remote, head } = readyToRelease();
      rejectTagsOn(remote);
      failed(await bump(repo, { ...RELEASE_ALL, changelogFile: 'docs/notes/CHANGELOG.md' }), /Nothing was pushed/);
      assert.ok(!existsSync(join(repo.dir, 'docs')), 'created folder left behind');
      assertLocalUntouched(repo, head);
    });

    it('the changelog entry goes before the first release, after title and intro, in CRLF when the file is CRLF', async () => {
      const repo = released('feat(reader): parquet');
      repo
        .write('CHANGELOG.md', '# Changelog\r\n\r\nAll notable changes.\r\n\r\n## 1.2.0 (2026-01-01)\r\n\r\n- old\r\n')
        .commitAll('docs: changelog');
      ok(await bump(repo, { changelogFile: 'CHANGELOG.md' }));
      const text = readFileSync(join(repo.dir, 'CHANGELOG.md'), 'utf8');
      assert.match(
        text,
        /^# Changelog\r\n\r\nAll notable changes\.\r\n\r\n## 1\.3\.0 \(\d{4}-\d\d-\d\d\)\r\n\r\n### Features\r\n\r\n- \*\*reader:\*\* parquet \([0-9a-f]{7}\)\r\n\r\n## 1\.2\.0/,
      );
      assert.doesNotMatch(text.replace(/\r\n/g, ''), /\n/, 'every line ends in CRLF');
    });
  });

  describe('git: every status checked, bounded, and told apart', () => {
    it("repository hooks do not run for the task's own commit, tag and push (husky-style core.hooksPath included)", async () => {
      const { repo, remote } = readyToRelease();
      const markers = tempDir('relevo-hook-markers-');
      // A versioned hooks folder, as husky or pre-commit set up in an earlier step. The hooks
      // act only inside the task's run (the agent's temp folder is set there), not for the
      // test's own git commands.
      const act = (marker: string) => `[ -z "$AGENT_TEMPDIRECTORY" ] && exit 0\nenv > '${markers}/${marker}'\nexit 1`;
      for (const name of ['pre-commit', 'commit-msg', 'post-commit', 'pre-push', 'reference-transaction']) {
        repo.write(`.husky/${name}`, `#!/bin/sh\n${act(name)}\n`);
        chmodSync(join(repo.dir, '.husky', name), 0o755);
        hook(repo.dir, name, act(`classic-${name}`));
      }
      repo.git('config', 'core.hooksPath', '.husky');
      const token = 'relevo-hook-token-91c';
      const run = ok(
        await bump(repo, RELEASE_ALL, {
          accessToken: token,
          variables: { 'System.TeamFoundationCollectionUri': 'https://dev.azure.com/org/' },
        }),
      );
      assert.equal(run.outputs.tagPushed, 'true');
      assert.deepEqual(readdirSync(markers), [], 'a repository hook ran');
      assert.equal(remoteTags(remote)['v1.3.0'], git(remote, 'rev-parse', 'refs/heads/main'));
      assert.equal(repo.git('config', 'core.hooksPath'), '.husky', "the user's setting is left as it was");
    });

    it("git never sees the inputs, the endpoint's authorization, secret variables or a mapped SYSTEM_ACCESSTOKEN; only the push and fetch carry the token, as their extraheader; the agent's commands keep task-lib's form", async () => {
      const { repo } = readyToRelease();
      const token = 'relevo-secret-token-env-4b2';
      const shim = new GitShim().keepEnvironments().failAt(0);
      const run = ok(
        await bump(repo, RELEASE_ALL, {
          accessToken: token,
          variables: { 'System.TeamFoundationCollectionUri': 'https://dev.azure.com/org/' },
          env: {
            ...shim.env,
            SECRET_RELEVO_PROBE: 'relevo-secret-variable-value',
            COMMAND_CORRELATION_ID: 'corr-7',
            SYSTEM_ACCESSTOKEN: token,
            MY_MAPPED_PAT: token,
          },
        }),
      );
      assert.equal(run.outputs.tagPushed, 'true');
      const envs = shim.envs();
      assert.ok(envs.length >= 5, `git was called ${envs.length} times`);
      for (const env of envs) {
        // Only the network commands carry the token, as their extraheader (GIT_CONFIG_VALUE_n), and nowhere else.
        const carriers = env
          .split('\n')
          .filter((l) => l.includes(token))
          .map((l) => l.replace(/=.*/, '').replace(/\d+$/, 'n'));
        assert.ok(
          carriers.length === 0 || (carriers.length === 1 && carriers[0] === 'GIT_CONFIG_VALUE_n'),
          `the token reached git as ${carriers.join(', ')}`,
        );
        assert.ok(!env.includes('relevo-secret-variable-value'), 'a secret variable reached git');
        assert.doesNotMatch(env, /^(INPUT_|ENDPOINT_AUTH_|SECRET_|COMMAND_CORRELATION_ID|SYSTEM_ACCESSTOKEN|MY_MAPPED_PAT)/m);
      }
      assert.ok(
        envs.some((e) => e.includes(token)),
        'the push carried the token',
      );
      assert.deepEqual(run.secrets, [token]);
      assert.match(run.stdout, /^##vso\[task\.setvariable variable=version;isOutput=true;issecret=false;\]1\.3\.0$/m);
      assert.match(run.stdout, /^##vso\[task\.complete result=Succeeded;\]Done\.$/m);
      const refused = failed(
        await bump(released('feat: a'), { pushTag: true }, { env: { COMMAND_CORRELATION_ID: 'corr-7' } }),
        /pushTag is on but createTag is off/,
      );
      assert.match(refused.stdout, /^##vso\[task\.issue type=error;source=TaskInternal;correlationId=corr-7;\]Input 'pushTag': /m);
    });

    it('losing the race (another run pushes between the read and the push) is refused by the lease: the branch moved, a re-run gives the next version', async () => {
      const { repo, remote, head } = readyToRelease();
      const other = tempDir();
      git(other, 'clone', '-q', remote, '.');
      git(other, '-c', 'user.name=x', '-c', 'user.email=x@x', 'commit', '-q', '--allow-empty', '-m', 'fix: the other run');
      // After the task read the remote branch and before its push: another run lands. The
      // task pushes with force semantics (its own rollback needs them), so only the lease on
      // the value it read keeps the other run's commit.
      const shim = new GitShim()
        .failAt(0)
        .before(
          'push',
          `[ -f '${other}/.pushed' ] && exit 0; touch '${other}/.pushed'; cd '${other}' && git push -q origin HEAD:refs/heads/main >&2`,
        );
      const moved = git(other, 'rev-parse', 'HEAD');
      const run = failed(
        await bump(repo, RELEASE_ALL, { env: shim.env }),
        /Input 'pushTag': the branch or tag moved on 'origin' since this run read it \(another run pushed first\).*Fix: re-run the pipeline: it starts from the new commit and gives the next version/,
      );
      assert.ok(
        shim.calls().some((c) => /^ls-remote /.test(c)),
        'the task read the remote before pushing',
      );
      assert.match(run.resultMessage!, /Nothing was pushed/);
      assert.equal(git(remote, 'rev-parse', 'refs/heads/main'), moved, "the other run's commit stays");
      assert.equal(remoteTags(remote)['v1.3.0'], undefined);
      assertLocalUntouched(repo, head);
    });

    it('files the user staged stay staged, out of the release commit, and after a rollback', async () => {
      const { repo, remote } = readyToRelease();
      repo.write('notes.txt', 'work in progress\n');
      repo.git('add', 'notes.txt');
      repo.write('VERSION', '1.2.0\n');
      ok(await bump(repo, RELEASE_ALL));
      assert.equal(git(remote, 'show', '--name-only', '--format=', 'refs/heads/main'), 'VERSION', 'only the version file is committed');
      assert.equal(repo.git('diff', '--cached', '--name-only'), 'notes.txt');

      const again = readyToRelease();
      again.repo.write('notes.txt', 'work in progress\n');
      again.repo.git('add', 'notes.txt');
      rejectTagsOn(again.remote);
      failed(await bump(again.repo, RELEASE_ALL), /Nothing was pushed/);
      assert.equal(again.repo.head(), again.head);
      assert.equal(again.repo.git('diff', '--cached', '--name-only'), 'notes.txt', 'the staged file is still staged');
      assert.equal(again.repo.git('status', '--porcelain'), 'A  notes.txt');
    });

    it('a remote that accepts the connection and never answers: bounded, named, nothing changed; a dry run goes on with local tags', async () => {
      const sockets: Socket[] = [];
      const server = createServer((s) => sockets.push(s));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const repo = released('feat: a');
        repo.write('VERSION', '1.2.0\n').commitAll('chore: v');
        repo.git('remote', 'add', 'origin', `git://127.0.0.1:${(server.address() as { port: number }).port}/component.git`);
        const head = repo.detach().head();
        const timeout = { variables: { 'Build.SourceBranch': 'refs/heads/main', 'Relevo.NetworkTimeoutSeconds': '1' } };
        const started = Date.now();
        const run = failed(
          await bump(repo, RELEASE_ALL, timeout),
          /cannot list the tags on remote 'origin': 'origin' \(git:\/\/127\.0\.0\.1:\d+\/component\.git\) did not answer for 1 s while listing tags/,
        );
        assert.ok(Date.now() - started < 20_000, 'bounded');
        assert.match(run.resultMessage!, /Nothing was changed/);
        assertLocalUntouched(repo, head);
        const dry = ok(await bump(repo, { ...RELEASE_ALL, dryRun: true }, timeout));
        assert.equal(dry.outputs.version, '1.3.0');
        assert.match(dry.warnings.join('\n'), /Could not list the tags on remote 'origin'.*did not answer.*using local tags only/);
      } finally {
        for (const s of sockets) s.destroy();
        server.close();
      }
    });

    it('thousands of tags of a newer line: the maintenance line gets its version, full and depth-1, fetching only its own history', async () => {
      const origin = Repo.init();
      for (let i = 1; i <= 20; i++) {
        origin.commitAll(i === 20 ? 'feat: 1.4 line' : `fix: ${i}`);
        if (i === 5) origin.tag('v1.0.0');
      }
      origin.tag('v1.4.0');
      origin.git('branch', 'release/1.4');
      const newer: string[] = [];
      for (let i = 0; i < 10; i++) newer.push(origin.commitAll(`feat: newer ${i}`));
      const refs = Array.from(
        { length: 3000 },
        (_, i) => `create refs/tags/v${2 + Math.floor(i / 100)}.${i % 100}.0 ${newer[i % newer.length]}`,
      );
      execFileSync('git', ['update-ref', '--stdin'], { cwd: origin.dir, input: refs.join('\n') + '\n' });
      origin.git('checkout', '-q', 'release/1.4');
      origin.commitAll('fix: hotfix one');
      origin.tag('v1.4.1');
      origin.commitAll('fix: hotfix two');
      const vars = { variables: { 'Build.SourceBranch': 'refs/heads/release/1.4' } };
      const full = ok(await bump(origin, {}, vars));
      assert.equal(full.outputs.version, '1.4.2-rc.1');
      assert.equal(full.outputs.previousVersion, '1.4.1');

      const bare = tempDir('relevo-many-tags-');
      git(bare, 'clone', '-q', '--bare', origin.dir, '.');
      const work = tempDir('relevo-many-tags-work-');
      git(work, 'clone', '-q', '--depth', '1', '--no-tags', '--branch', 'release/1.4', `file://${bare}`, '.');
      const shallow = ok(await bump(new Repo(work), {}, vars));
      assert.equal(shallow.outputs.version, full.outputs.version);
      assert.equal(shallow.outputs.commitCount, full.outputs.commitCount);
      for (const sha of newer) assert.ok(!hasObject(work, sha), `the newer line's commit ${sha.slice(0, 7)} was fetched`);
      assert.equal(git(work, 'tag', '--list'), '', 'no tags fetched');
    });
  });

  describe('what a new user found', () => {
    it('an input is not expanded again: $(…) left in a value (from a variable, a branch name) stays text', async () => {
      const run = failed(
        await bump(
          released('feat: a'),
          { component: '$(My.Secret)', tagFormat: '{component}/v{version}' },
          { variables: { 'Build.SourceBranch': 'refs/heads/main', 'My.Secret': 'opensesame' } },
        ),
        /'\$\(My\.Secret\)' cannot be used in a tag name/,
      );
      assert.ok(!run.stdout.includes('opensesame/v'), 'the variable was expanded');
    });

    it('pushTag without createTag is refused, naming both', async () => {
      failed(
        await bump(released('feat: a'), { pushTag: true }),
        /Input 'pushTag': pushTag is on but createTag is off.*Fix: set 'createTag: true' as well, or turn 'pushTag' off/,
      );
    });

    it('a branch missing on the remote is named as missing, with what to do', async () => {
      const { repo, head } = readyToRelease();
      const run = failed(
        await bump(
          repo,
          { ...RELEASE_ALL, branchChannels: 'feature/*=' },
          { variables: { 'Build.SourceBranch': 'refs/heads/feature/local-only' } },
        ),
        /Input 'commitVersionFiles': the branch 'feature\/local-only' does not exist on 'origin'/,
      );
      assert.match(run.resultMessage!, /push the branch first/);
      assert.doesNotMatch(run.resultMessage!, /000000000000/);
      assertLocalUntouched(repo, head);
    });

    it('paths: a typo is a warning naming it; when none of the paths exists the task fails', async () => {
      const repo = released();
      repo.commit('feat: reader', 'ingest/reader.py');
      const one = ok(await bump(repo, { paths: 'ingest\ningset' }));
      assert.equal(one.outputs.version, '1.3.0');
      assert.match(one.warnings.join('\n'), /paths: 'ingset' matches no file/);
      failed(await bump(repo, { paths: 'ingset' }), /Input 'paths': none of the paths matches a file in the built commit: 'ingset'/);
    });

    it('a commit and its revert in the same range cancel out: a reverted breaking fix does not make a major', async () => {
      const repo = released('feat: a');
      const breaking = repo.commit('fix: rename the id column\n\nBREAKING CHANGE: id is now key');
      repo.commit(`Revert "fix: rename the id column"\n\nThis reverts commit ${breaking}.`);
      const run = ok(await bump(repo, { changelogFile: 'CHANGELOG.md' }));
      assert.equal(run.outputs.version, '1.3.0');
      assert.equal(run.outputs.commitCount, '1');
      assert.doesNotMatch(run.summaries[0], /rename the id column/);
      assert.match(run.summaries[0], /2 commit\(s\) left out/);
      assert.doesNotMatch(readFileSync(join(repo.dir, 'CHANGELOG.md'), 'utf8'), /rename the id column/);
    });

    it('a re-run in a full clone finds its version commit even after the branch moved on', async () => {
      const { repo, remote, head } = readyToRelease();
      const first = ok(await bump(repo, RELEASE_ALL));
      const other = tempDir();
      git(other, 'clone', '-q', remote, '.');
      git(other, '-c', 'user.name=x', '-c', 'user.email=x@x', 'commit', '-q', '--allow-empty', '-m', 'fix: landed after the release');
      git(other, 'push', '-q', 'origin', 'main');
      repo.git('fetch', '-q', 'origin');
      repo.git('checkout', '-q', '--detach', head);
      const again = ok(await bump(repo, RELEASE_ALL));
      assert.equal(again.outputs.version, first.outputs.version);
      assert.equal(again.outputs.changed, 'false');
      assert.match(again.summaries[0], /already released this commit as v1\.3\.0/);
    });

    it('the build of the release commit reports what the release run reported', async () => {
      const { repo } = readyToRelease();
      const release = ok(await bump(repo, RELEASE_ALL));
      // The version commit is now HEAD, as in the build it triggers (e.g. with triggerCi).
      const again = ok(await bump(repo, RELEASE_ALL));
      assert.equal(again.outputs.changed, 'false');
      for (const key of ['version', 'previousVersion', 'bump', 'commitCount'] as const)
        assert.equal(again.outputs[key], release.outputs[key], key);
      assert.equal(again.outputs.tagCreated, 'false');
      assert.equal(release.outputs.tagCreated, 'true');
      assert.equal(release.outputs.tagPushed, 'true');
    });
  });
});
