import { strict as assert } from 'node:assert';
import { analyzeCommits } from '../../shared/versioning/conventional';
import type { ComponentTag } from '../../shared/versioning/history';
import { parseVersion } from '../../shared/versioning/semver';
import { decideVersion, type VersionInputs } from '../../shared/versioning/decide';

const tag = (name: string, commit = name): ComponentTag => ({ name, commit, version: parseVersion(name.replace(/^v/, ''))! });
const commits = (...messages: string[]) => analyzeCommits(messages.map((message, i) => ({ hash: `h${i}`, message })));

function decide(over: Partial<VersionInputs>) {
  const tags = over.tags ?? [];
  return decideVersion({
    analysis: commits(),
    bump: 'auto',
    label: '',
    initial: '0.1.0',
    tags,
    finals: tags.filter((t) => !t.version.prerelease.length),
    ...over,
  });
}

describe('decideVersion', () => {
  it('bumps from the base by the commits', () => {
    assert.equal(decide({ base: tag('v1.2.0'), analysis: commits('feat: x', 'fix: y') }).version, '1.3.0');
    assert.deepEqual(decide({ base: tag('v1.2.0'), analysis: commits('chore: x') }).reason, { kind: 'no-relevant-commits' });
  });
  it('holds a breaking commit in 0.x but not an explicit major', () => {
    assert.equal(decide({ base: tag('v0.4.0'), analysis: commits('feat!: x') }).version, '0.5.0');
    assert.equal(decide({ base: tag('v0.4.0'), analysis: commits('x +semver: major') }).version, '1.0.0');
    assert.equal(decide({ base: tag('v0.4.0'), bump: 'major' }).version, '1.0.0');
  });
  it('numbers pre-releases by the tags of that version and label', () => {
    const tags = [tag('v1.2.0'), tag('v1.3.0-rc.1'), tag('v1.3.0-rc.7'), tag('v1.3.0-dev.9'), tag('v1.4.0-rc.3')];
    assert.equal(decide({ base: tags[0], tags, label: 'rc', analysis: commits('feat: x') }).version, '1.3.0-rc.8');
    assert.equal(decide({ base: tags[0], tags, label: 'beta', analysis: commits('feat: x') }).version, '1.3.0-beta.1');
  });
  it('moves a pre-release past a version released elsewhere', () => {
    const tags = [tag('v1.2.0'), tag('v1.3.0'), tag('v1.3.1')];
    const d = decide({ base: tags[0], tags, label: 'rc', analysis: commits('feat: x') });
    assert.equal(d.version, '1.3.2-rc.1');
    assert.equal(d.reason.kind === 'commits' && d.reason.pastRelease, '1.3.1');
  });
  it('takes the larger of the commits and the component changes (orchestrations), held in 0.x like a breaking commit', () => {
    const minor = decide({ base: tag('v1.4.0'), analysis: commits('chore: x'), componentLevel: 'minor' });
    assert.equal(minor.version, '1.5.0');
    assert.deepEqual(minor.reason, {
      kind: 'commits',
      level: 'minor',
      requested: 'auto',
      zeroMajor: false,
      pastRelease: undefined,
      fromCommits: 'none',
      fromComponents: 'minor',
    });
    assert.equal(decide({ base: tag('v1.4.0'), analysis: commits('feat: x'), componentLevel: 'patch' }).version, '1.5.0');
    assert.equal(decide({ base: tag('v1.4.0'), analysis: commits('fix: x'), componentLevel: 'major' }).version, '2.0.0');
    assert.equal(decide({ base: tag('v0.4.0'), analysis: commits('fix: x'), componentLevel: 'major' }).version, '0.5.0');
    assert.equal(decide({ base: tag('v1.4.0'), analysis: commits('chore: x'), componentLevel: 'none' }).reason.kind, 'no-relevant-commits');
    assert.equal(decide({ base: tag('v1.4.0'), bump: 'patch', componentLevel: 'major' }).version, '1.4.1', 'a forced bump wins');
  });
  it('reports a released HEAD, releases a promoted rc, starts at the initial version', () => {
    assert.equal(decide({ released: { tag: tag('v2.0.0'), onReleaseCommit: false }, base: tag('v1.0.0') }).version, '2.0.0');
    assert.equal(decide({ promoted: tag('v1.3.0-rc.2'), base: tag('v1.2.0') }).version, '1.3.0');
    assert.equal(decide({ initial: '1.0.0', label: 'dev', analysis: commits('feat: x') }).version, '1.0.0-dev.1');
  });
});
