import { strict as assert } from 'node:assert';
import { analyzeCommits, commitLevel, parseCommit, summarizeCommits } from '../../shared/versioning/conventional';

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

  describe('reverts', () => {
    const A = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
    const B = 'b2c3d4e5f60718293a4b5c6d7e8f9012345678a1';
    const C = 'c3d4e5f60718293a4b5c6d7e8f9012345678a1b2';
    const D = 'd4e5f60718293a4b5c6d7e8f9012345678a1b2c3';
    const E = 'e5f60718293a4b5c6d7e8f9012345678a1b2c3d4';
    const hashes = (cs: { hash: string }[]) => cs.map((c) => c.hash);

    it("reads the reverted sha from git's revert message and from revert:", () => {
      assert.equal(parseCommit({ hash: B, message: `Revert "fix: x"\n\nThis reverts commit ${A}.\n` }).reverts, A);
      assert.equal(parseCommit({ hash: B, message: `Revert "fix: x"\r\n\r\nThis reverts commit ${A.toUpperCase()}.\r\n` }).reverts, A);
      assert.equal(parseCommit({ hash: B, message: `Revert "Merge branch 'x'"\n\nThis reverts commit ${A}, reversing\nchanges made to ${C}.\n` }).reverts, A);
      assert.equal(parseCommit({ hash: B, message: 'Revert "fix: x"\n\nThis reverts commit a1b2c3d.' }).reverts, 'a1b2c3d');
      assert.equal(parseCommit({ hash: B, message: `revert(api): drop the rename\n\nThis reverts commit ${A}.` }).reverts, A);
      assert.equal(parseCommit({ hash: B, message: `Merged PR 7: Revert "fix: x"\n\nThis reverts commit ${A}.` }).reverts, A);
      assert.equal(parseCommit({ hash: B, message: `Reapply "fix: x"\n\nThis reverts commit ${A}.` }).reverts, A);
      assert.equal(parseCommit({ hash: B, message: 'Revert "fix: x"' }).reverts, undefined);
      assert.equal(parseCommit({ hash: B, message: `fix: x\n\nThis reverts commit ${A}.` }).reverts, undefined, 'only reverts revert');
      assert.equal(parseCommit({ hash: B, message: 'Revert "fix: x"\n\nThis reverts commit xyz.' }).reverts, undefined);
    });

    it('a breaking fix and its revert cancel out (newest first, full sha)', () => {
      const a = analyzeCommits([
        { hash: C, message: 'chore: tidy' },
        { hash: B, message: `Revert "fix: rename the column"\n\nThis reverts commit ${A}.\n` },
        { hash: A, message: 'fix: rename the column\n\nBREAKING CHANGE: the column is gone' },
      ]);
      assert.equal(a.level, 'none');
      assert.deepEqual(hashes(a.commits), [C]);
      assert.deepEqual(hashes(a.cancelled), [B, A]);
      assert.deepEqual(a.counts, { other: 1 });
      assert.equal(a.explicitMajor, false);
    });

    it('pairs by abbreviated sha either way', () => {
      const short = analyzeCommits([
        { hash: B, message: 'Revert "feat: x"\n\nThis reverts commit a1b2c3d.' },
        { hash: A, message: 'feat: x' },
        { hash: C, message: 'fix: y' },
      ]);
      assert.equal(short.level, 'patch');
      assert.deepEqual(hashes(short.commits), [C]);
      assert.deepEqual(hashes(short.cancelled), [B, A]);
      // The log gives abbreviated hashes and the revert names the full one.
      const abbreviatedLog = analyzeCommits([
        { hash: B.slice(0, 7), message: `Revert "feat: x"\n\nThis reverts commit ${A}.` },
        { hash: A.slice(0, 7), message: 'feat: x' },
      ]);
      assert.equal(abbreviatedLog.level, 'none');
      assert.equal(abbreviatedLog.cancelled.length, 2);
    });

    it('a revert of a revert cancels the first revert, and the original counts', () => {
      const log = [
        { hash: C, message: `Revert "Revert "feat!: drop v1""\n\nThis reverts commit ${B}.` },
        { hash: B, message: `Revert "feat!: drop v1"\n\nThis reverts commit ${A}.` },
        { hash: A, message: 'feat!: drop v1' },
      ];
      const a = analyzeCommits(log);
      assert.equal(a.level, 'major');
      assert.deepEqual(hashes(a.commits), [A]);
      assert.deepEqual(hashes(a.cancelled), [C, B]);
      // git 2.43+ writes `Reapply "…"` for the second revert.
      const reapplied = analyzeCommits([{ hash: C, message: `Reapply "feat!: drop v1"\n\nThis reverts commit ${B}.` }, ...log.slice(1)]);
      assert.equal(reapplied.level, 'major');
      assert.deepEqual(hashes(reapplied.commits), [A]);
      // Three reverts in a row: the last one and the second cancel, the first cancels the original.
      const thrice = analyzeCommits([{ hash: D, message: `Revert "Revert "Revert "feat!: drop v1"""\n\nThis reverts commit ${C}.` }, ...log]);
      assert.equal(thrice.level, 'none');
      assert.deepEqual(hashes(thrice.cancelled), [D, C, B, A]);
    });

    it('the result does not depend on the order the commits come in', () => {
      const log = [
        { hash: C, message: `Revert "Revert "feat: x""\n\nThis reverts commit ${B}.` },
        { hash: B, message: `Revert "feat: x"\n\nThis reverts commit ${A}.` },
        { hash: A, message: 'feat: x' },
      ];
      for (const order of [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]]) {
        const a = analyzeCommits(order.map((i) => log[i]));
        assert.equal(a.level, 'minor', String(order));
        assert.deepEqual(hashes(a.commits), [A], String(order));
      }
    });

    it('a revert of a commit before the range is a patch', () => {
      const a = analyzeCommits([
        { hash: B, message: `Revert "feat!: drop v1"\n\nThis reverts commit ${E}.` },
        { hash: A, message: 'chore: x' },
      ]);
      assert.equal(a.level, 'patch');
      assert.deepEqual(hashes(a.commits), [B, A]);
      assert.deepEqual(a.cancelled, []);
      assert.deepEqual(a.counts, { revert: 1, other: 1 });
      // A hint quoted from the reverted commit's subject is not the revert's own.
      const hinted = analyzeCommits([{ hash: B, message: `Revert "reshape +semver: major"\n\nThis reverts commit ${E}.` }]);
      assert.equal(hinted.level, 'patch');
      assert.equal(hinted.explicitMajor, false);
      assert.equal(level('Revert "x"\n\nThis reverts commit 1234567.\n\n+semver: minor'), 'minor');
    });

    it('the conventional revert: type pairs through the same line', () => {
      const a = analyzeCommits([
        { hash: B, message: `revert(api): bring back the old name\n\nThis reverts commit ${A}.` },
        { hash: A, message: 'feat(api)!: rename' },
        { hash: C, message: 'fix: y' },
      ]);
      assert.equal(a.level, 'patch');
      assert.deepEqual(hashes(a.commits), [C]);
      assert.deepEqual(a.counts, { fix: 1 });
    });

    it('a revert without the line is a patch and pairs with nothing', () => {
      const a = analyzeCommits([
        { hash: B, message: 'Revert "feat: x"' },
        { hash: A, message: 'feat: x' },
      ]);
      assert.equal(a.level, 'minor');
      assert.deepEqual(hashes(a.commits), [B, A]);
      assert.deepEqual(a.counts, { revert: 1, feat: 1 });
      assert.deepEqual(a.cancelled, []);
    });

    it('an explicit major only counts when its commit does', () => {
      const a = summarizeCommits([
        parseCommit({ hash: B, message: `Revert "reshape +semver: major"\n\nThis reverts commit ${A}.` }),
        parseCommit({ hash: A, message: 'reshape +semver: major' }),
      ]);
      assert.equal(a.level, 'none');
      assert.equal(a.explicitMajor, false);
    });

    it('a second revert of an already cancelled commit is a patch', () => {
      const a = analyzeCommits([
        { hash: C, message: `Revert "fix: x"\n\nThis reverts commit ${A}.` },
        { hash: B, message: `Revert "fix: x"\n\nThis reverts commit ${A}.` },
        { hash: A, message: 'fix!: x' },
      ]);
      assert.equal(a.level, 'patch');
      assert.deepEqual(hashes(a.commits), [B]);
      assert.deepEqual(hashes(a.cancelled), [C, A]);
    });

    it('short made-up hashes do not pair by accident', () => {
      const a = analyzeCommits([
        { hash: 'h1', message: 'Revert "feat: x"\n\nThis reverts commit 1234567.' },
        { hash: '1', message: 'feat: x' },
      ]);
      assert.equal(a.level, 'minor');
      assert.deepEqual(a.cancelled, []);
    });
  });
});
