import { strict as assert } from 'node:assert';
import { analyzeCommits, commitLevel, parseCommit } from '../../shared/versioning/conventional';

const level = (message: string) => commitLevel(parseCommit({ hash: 'h', message }));

describe('conventional commits', () => {
  it('reads type, scope, subject', () => {
    const c = parseCommit({ hash: 'abc', message: 'feat(parser): add arrays\n\nbody' });
    assert.equal(c.type, 'feat');
    assert.equal(c.scope, 'parser');
    assert.equal(c.subject, 'add arrays');
    assert.equal(c.breaking, false);
  });

  it('maps types to levels', () => {
    assert.equal(level('feat: x'), 'minor');
    assert.equal(level('fix: x'), 'patch');
    assert.equal(level('perf: x'), 'patch');
    assert.equal(level('revert: x'), 'patch');
    assert.equal(level('Revert "feat: x"'), 'patch');
    assert.equal(level('chore: x'), 'none');
    assert.equal(level('docs(readme): x'), 'none');
    assert.equal(level('just a message'), 'none');
  });

  it('treats ! and BREAKING CHANGE footers as major', () => {
    assert.equal(level('feat!: drop py3.8'), 'major');
    assert.equal(level('fix(api)!: rename'), 'major');
    assert.equal(level('fix: rename\n\nBREAKING CHANGE: the column is gone'), 'major');
    assert.equal(level('fix: rename\n\nBREAKING-CHANGE: gone'), 'major');
    assert.equal(level('chore: x\n\nmentions BREAKING CHANGE: inline only'), 'none');
  });

  it('treats deprecations as minor', () => {
    assert.equal(level('deprecate: old reader'), 'minor');
    assert.equal(level('fix: y\n\nDeprecated: read_v1, use read_v2'), 'minor');
  });

  it('honours +semver hints over the conventional reading', () => {
    assert.equal(level('update things +semver: major'), 'major');
    assert.equal(level('update +semver:minor'), 'minor');
    assert.equal(level('tweak\n\n+semver: patch'), 'patch');
    assert.equal(level('feat: x +semver: none'), 'none');
    assert.equal(level('x +semver: breaking'), 'major');
    assert.equal(level('x +semver: feature'), 'minor');
  });

  it("reads Azure Repos' merge titles", () => {
    const c = parseCommit({ hash: 'h', message: 'Merged PR 42: feat(ingest): stream files' });
    assert.equal(c.type, 'feat');
    assert.equal(c.scope, 'ingest');
    assert.equal(commitLevel(c), 'minor');
  });

  it('takes the highest level and counts kinds', () => {
    const a = analyzeCommits([
      { hash: '1', message: 'fix: a' },
      { hash: '2', message: 'feat: b' },
      { hash: '3', message: 'chore: c' },
      { hash: '4', message: 'fix: d' },
    ]);
    assert.equal(a.level, 'minor');
    assert.deepEqual(a.counts, { fix: 2, feat: 1, other: 1 });
    assert.equal(analyzeCommits([]).level, 'none');
  });
});
