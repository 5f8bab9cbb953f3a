import { strict as assert } from 'node:assert';
import { Git } from '../../shared/git';
import { parseGitmodules } from '../../shared/submodules/gitmodules';
import { versionTags } from '../../shared/submodules/components';
import { decideSubmodule, parsePolicy, type Decision } from '../../shared/submodules/policy';
import { commitMessage } from '../../shared/submodules/update';
import { displayUrl, resolveSubmoduleUrl } from '../../shared/submodules/urls';
import { parseTagFormat } from '../../shared/versioning/tagFormat';
import { changeBetween, parseVersion } from '../../shared/versioning/semver';

const tags = (...names: string[]) =>
  versionTags(
    names.map((name, i) => ({ name, commit: `c${i}` })),
    parseTagFormat('v{version}', ''),
  );
const decide = (policy: string, names: string[], currentName: string | undefined, channelLabel = '', allowPrerelease = false): Decision => {
  const t = tags(...names);
  const current = t.find((x) => x.name === currentName);
  return decideSubmodule({
    name: 'ingest',
    policy: parsePolicy(policy, { input: 'defaultPolicy' }),
    tags: t,
    current,
    commit: current?.commit ?? 'untagged',
    eligibility: { channelLabel, allowPrerelease },
  });
};
const target = (d: Decision) => (d.action === 'update' ? d.target.name : d.action);

describe('submodules', () => {
  describe('.gitmodules', () => {
    it('reads names with dots, paths, urls and the relevo-version policy', () => {
      const listing =
        'submodule.ingest.path\nlibs/ingest\0submodule.ingest.url\n../ingest.git\0submodule.ingest.relevo-version\n^1.2\0submodule.a.b.path\nx/\0submodule.a.b.url\nhttps://h/a.b\0core.x\ny\0';
      assert.deepEqual(parseGitmodules(listing), [
        { name: 'ingest', path: 'libs/ingest', url: '../ingest.git', policy: '^1.2' },
        { name: 'a.b', path: 'x', url: 'https://h/a.b', policy: undefined },
      ]);
    });
    it('a submodule without a url names it', () => {
      assert.throws(() => parseGitmodules('submodule.x.path\nx\0'), /submodule 'x' has no url/);
    });
    it('a url, path, name or branch starting with - is refused (git would read it as an option)', () => {
      const entry = (name: string, path: string, url: string, branch = 'main') =>
        `submodule.${name}.path\n${path}\0submodule.${name}.url\n${url}\0submodule.${name}.branch\n${branch}\0`;
      assert.throws(() => parseGitmodules(entry('x', 'x', '--upload-pack=touch M')), /has the url '--upload-pack=touch M', which starts/);
      assert.throws(() => parseGitmodules(entry('x', '-x', '../x.git')), /has the path '-x'/);
      assert.throws(() => parseGitmodules(entry('-x', 'x', '../x.git')), /has the name '-x'/);
      assert.throws(() => parseGitmodules(entry('x', 'x', '../x.git', '-b')), /has the branch '-b'/);
    });
    it('shared/git refuses a remote operand starting with - itself, whoever calls it', async () => {
      const git = new Git(process.cwd());
      await assert.rejects(git.remoteRefs('--upload-pack=touch M', ['refs/tags/*']), /starts with '-', so git would read it as an option/);
    });
  });

  describe('relative URLs, as git resolves them', () => {
    it('against https, scp-like, file and path remotes', () => {
      assert.equal(
        resolveSubmoduleUrl('../ingest', 'https://dev.azure.com/org/proj/_git/orchestration'),
        'https://dev.azure.com/org/proj/_git/ingest',
      );
      assert.equal(
        resolveSubmoduleUrl('../../../other/_git/x', 'https://org@dev.azure.com/org/proj/_git/orch/'),
        'https://org@dev.azure.com/org/other/_git/x',
      );
      assert.equal(resolveSubmoduleUrl('./sub', 'https://h/a/orch'), 'https://h/a/orch/sub');
      assert.equal(resolveSubmoduleUrl('../ingest', 'git@ssh.dev.azure.com:v3/org/proj/orch'), 'git@ssh.dev.azure.com:v3/org/proj/ingest');
      assert.equal(resolveSubmoduleUrl('../ingest.git', '/srv/git/orchestration.git'), '/srv/git/ingest.git');
      assert.equal(resolveSubmoduleUrl('../ingest.git', 'file:///srv/git/orchestration.git'), 'file:///srv/git/ingest.git');
      assert.equal(resolveSubmoduleUrl('https://elsewhere/x.git', 'https://h/a/orch'), 'https://elsewhere/x.git');
      assert.throws(() => resolveSubmoduleUrl('../x', undefined), /needs the superproject's remote URL/);
    });
    it('shows URLs without credentials', () => {
      assert.equal(displayUrl('https://user:secret@dev.azure.com/org/_git/x'), 'https://dev.azure.com/org/_git/x');
    });
  });

  describe('policies', () => {
    const all = ['v1.0.0', 'v1.0.1', 'v1.1.0', 'v1.2.0-rc.1', 'v1.2.0-dev.3', 'v2.0.0', 'v2.1.0-rc.1'];
    it('latest, minor, patch, pin, exact and ranges on a final branch', () => {
      assert.equal(target(decide('latest', all, 'v1.0.0')), 'v2.0.0');
      assert.equal(target(decide('minor', all, 'v1.0.0')), 'v1.1.0');
      assert.equal(target(decide('patch', all, 'v1.0.0')), 'v1.0.1');
      assert.equal(target(decide('pin', all, 'v1.0.0')), 'keep');
      assert.equal(target(decide('1.1.0', all, 'v1.0.0')), 'v1.1.0');
      assert.equal(target(decide('v1.0.1', all, 'v2.0.0')), 'v1.0.1', 'an exact version may move down');
      assert.equal(target(decide('^1.0', all, 'v1.0.0')), 'v1.1.0');
      assert.equal(target(decide('~1.0', all, 'v1.0.0')), 'v1.0.1');
      assert.equal(target(decide('>=1.0.0 <2.0.0', all, 'v1.0.0')), 'v1.1.0');
    });
    it('release candidates on a pre-release channel, its own label too, every pre-release with allowPrerelease', () => {
      assert.equal(target(decide('minor', all, 'v1.0.0', 'rc')), 'v1.2.0-rc.1');
      assert.equal(target(decide('latest', all, 'v1.0.0', 'rc')), 'v2.1.0-rc.1');
      assert.equal(target(decide('^1.0', all, 'v1.0.0', 'rc')), 'v1.2.0-rc.1');
      assert.equal(target(decide('minor', ['v1.0.0', 'v1.2.0-dev.3'], 'v1.0.0', 'dev')), 'v1.2.0-dev.3');
      assert.equal(target(decide('minor', ['v1.0.0', 'v1.2.0-dev.3'], 'v1.0.0', 'rc')), 'keep');
      assert.equal(target(decide('minor', ['v1.0.0', 'v1.2.0-dev.3'], 'v1.0.0', '', true)), 'v1.2.0-dev.3');
    });
    it('never moves backwards on a moving policy; no tags → skip; no match → keep with a warning', () => {
      assert.equal(target(decide('minor', ['v1.0.0', 'v1.1.0'], 'v1.1.0')), 'keep');
      const skip = decide('latest', [], undefined);
      assert.equal(skip.action, 'skip');
      const none = decide('^3', all, 'v1.0.0');
      assert.equal(none.action, 'keep');
      assert.match((none as { warning?: string }).warning ?? '', /no eligible version matches '\^3'/);
      const untagged = decide('minor', all, undefined);
      assert.match((untagged as { warning?: string }).warning ?? '', /carries no version tag/);
      assert.equal(target(decide('latest', all, undefined)), 'v2.0.0', 'latest moves an untagged pin');
    });
    it('an exact version that does not exist is an error; a bad policy names the input', () => {
      assert.throws(() => decide('1.9.0', all, 'v1.0.0'), /pinned to 1\.9\.0, but its remote has no tag for that version/);
      assert.throws(() => parsePolicy('sometimes', { submodule: 'ingest' }), /submodule 'ingest': 'sometimes' is not a version policy/);
    });
    it('the change between versions', () => {
      const v = (s: string) => parseVersion(s)!;
      assert.equal(changeBetween(v('1.0.0'), v('2.0.0')), 'major');
      assert.equal(changeBetween(v('1.0.0'), v('1.1.0')), 'minor');
      assert.equal(changeBetween(v('1.2.0-rc.1'), v('1.2.0-rc.2')), 'patch');
      assert.equal(changeBetween(undefined, v('1.0.0')), 'minor');
    });
  });

  it('the commit message: one line per change, ***NO_CI*** unless asked', () => {
    const u = {
      name: 'ingest',
      path: 'p',
      from: '1.0.0',
      fromTag: 'v1.0.0',
      to: '1.1.0',
      toTag: 'v1.1.0',
      change: 'minor' as const,
      commit: 'c',
      url: 'u',
      previousCommit: 'p',
    };
    assert.equal(commitMessage([u], false), 'chore(components): update 1 component\n\ningest: v1.0.0 → v1.1.0 (minor)\n\n***NO_CI***\n');
    assert.equal(
      commitMessage([u, { ...u, name: 'x' }], true),
      'chore(components): update 2 components\n\ningest: v1.0.0 → v1.1.0 (minor)\nx: v1.0.0 → v1.1.0 (minor)\n',
    );
  });
});
