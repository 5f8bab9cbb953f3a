import { strict as assert } from 'node:assert';
import { channelFor, DEFAULT_BRANCH_CHANNELS, labelFromBranch, parseBranchChannels } from '../../shared/versioning/channels';
import { toPep440 } from '../../shared/versioning/pep440';
import { effectiveLevel, nextRelease, parseVersion } from '../../shared/versioning/semver';
import { parseTagFormat } from '../../shared/versioning/tagFormat';
import { branchContext } from '../../shared/git/branch';
import { UserError } from '../../shared/errors';

describe('semver rules', () => {
  it('bumps releases', () => {
    const v = parseVersion('1.2.3')!;
    assert.equal(nextRelease(v, 'major'), '2.0.0');
    assert.equal(nextRelease(v, 'minor'), '1.3.0');
    assert.equal(nextRelease(v, 'patch'), '1.2.4');
    assert.equal(nextRelease(v, 'none'), '1.2.3');
  });
  it('bumps the minor for a breaking change while the major is 0', () => {
    assert.equal(effectiveLevel(parseVersion('0.4.1')!, 'major'), 'minor');
    assert.equal(effectiveLevel(parseVersion('1.4.1')!, 'major'), 'major');
    assert.equal(effectiveLevel(parseVersion('0.4.1')!, 'patch'), 'patch');
  });
  it('parses strictly', () => {
    assert.equal(parseVersion('v1.2.3'), undefined);
    assert.equal(parseVersion('1.2'), undefined);
    assert.equal(parseVersion('1.2.3-rc.1')!.prerelease.join('.'), 'rc.1');
  });
});

describe('branch channels', () => {
  const rules = parseBranchChannels(DEFAULT_BRANCH_CHANNELS);
  it('maps the default branches', () => {
    assert.equal(channelFor('main', rules).label, '');
    assert.equal(channelFor('pro', rules).label, '');
    assert.equal(channelFor('master', rules).label, '');
    assert.equal(channelFor('pre', rules).label, 'rc');
    assert.equal(channelFor('release/1.3', rules).label, 'rc');
    assert.equal(channelFor('hotfix/fix-nulls', rules).label, 'rc');
    assert.equal(channelFor('dev', rules).label, 'dev');
    assert.equal(channelFor('develop', rules).label, 'dev');
  });
  it('labels any other branch from its name', () => {
    assert.equal(channelFor('feature/Add_Table-Picker', rules).label, 'feature-add-table-picker');
    assert.equal(labelFromBranch('123'), 'b123');
    assert.equal(labelFromBranch('///'), 'branch');
  });
  it('takes the first matching rule', () => {
    const custom = parseBranchChannels('release/legacy=\nrelease/*=rc');
    assert.equal(channelFor('release/legacy', custom).label, '');
    assert.equal(channelFor('release/2.0', custom).label, 'rc');
  });
  it('rejects malformed rules naming the input', () => {
    assert.throws(
      () => parseBranchChannels('main'),
      (e: UserError) => e instanceof UserError && /branchChannels/.test(e.message),
    );
    assert.throws(() => parseBranchChannels('dev=dev.x'), /branchChannels.*not a valid SemVer/);
    assert.throws(() => parseBranchChannels('dev=12'), /branchChannels/);
  });
});

describe('PEP 440', () => {
  it('converts pre-releases', () => {
    assert.equal(toPep440('1.3.0'), '1.3.0');
    assert.equal(toPep440('1.3.0-rc.2'), '1.3.0rc2');
    assert.equal(toPep440('1.3.0-dev.7'), '1.3.0.dev7');
    assert.equal(toPep440('1.3.0-alpha.1'), '1.3.0a1');
    assert.equal(toPep440('1.3.0-beta.4'), '1.3.0b4');
    assert.equal(toPep440('1.3.0-feature-x.3'), '1.3.0.dev3');
    assert.equal(
      toPep440('1.3.0-feature-x.3', { devNumber: 4711 }),
      '1.3.0.dev4711',
      'branch builds: the build id, unique in the organization',
    );
    assert.equal(toPep440('1.3.0-dev.7', { devNumber: 4711 }), '1.3.0.dev7', 'the dev channel keeps its tag-counted number');
    assert.equal(toPep440('1.3.0-rc.2', { devNumber: 4711 }), '1.3.0rc2');
  });
});

describe('tag formats', () => {
  it('writes and reads tags', () => {
    const f = parseTagFormat('v{version}', '');
    assert.equal(f.tagFor('1.2.3'), 'v1.2.3');
    assert.equal(f.versionOf('v1.2.3-rc.1')!.version, '1.2.3-rc.1');
    assert.equal(f.versionOf('1.2.3'), undefined);
    assert.equal(f.versionOf('vnext'), undefined);
    assert.equal(f.refPattern, 'refs/tags/v*');
  });
  it('supports monorepo components', () => {
    const f = parseTagFormat('{component}/v{version}', 'ingest');
    assert.equal(f.tagFor('1.0.0'), 'ingest/v1.0.0');
    assert.equal(f.versionOf('ingest/v1.0.0')!.version, '1.0.0');
    assert.equal(f.versionOf('history/v1.0.0'), undefined);
    assert.equal(f.refPattern, 'refs/tags/ingest/v*');
  });
  it('rejects bad formats naming the input', () => {
    assert.throws(() => parseTagFormat('release', ''), /Input 'tagFormat'.*\{version\}/);
    assert.throws(() => parseTagFormat('{version}-{version}', ''), /tagFormat/);
    assert.throws(() => parseTagFormat('{component}/v{version}', ''), /Input 'component'/);
    assert.throws(() => parseTagFormat('v{version}{name}', ''), /unknown placeholder/);
    assert.throws(() => parseTagFormat('v {version}', ''), /valid git tag names/);
  });
});

describe('branch context', () => {
  it('reads Build.SourceBranch, never HEAD', () => {
    assert.deepEqual(branchContext({ sourceBranch: 'refs/heads/release/1.3' }), {
      branch: 'release/1.3',
      ref: 'refs/heads/release/1.3',
      kind: 'branch',
    });
  });
  it('uses the pull request source branch', () => {
    const ctx = branchContext({ sourceBranch: 'refs/pull/12/merge', pullRequestSourceBranch: 'refs/heads/feature/x' })!;
    assert.equal(ctx.branch, 'feature/x');
    assert.equal(ctx.kind, 'pull-request');
  });
  it('labels a tag build with the tag name, not the ref path', () => {
    assert.deepEqual(branchContext({ sourceBranch: 'refs/tags/nightly-2026' }), {
      branch: 'nightly-2026',
      ref: 'refs/tags/nightly-2026',
      kind: 'tag',
    });
  });
  it('is undefined without variables', () => {
    assert.equal(branchContext({}), undefined);
  });
});
