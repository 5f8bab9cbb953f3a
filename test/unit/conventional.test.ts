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
      assert.equal(
        parseCommit({ hash: B, message: `Revert "Merge branch 'x'"\n\nThis reverts commit ${A}, reversing\nchanges made to ${C}.\n` })
          .reverts,
        A,
      );
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
      const thrice = analyzeCommits([
        { hash: D, message: `Revert "Revert "Revert "feat!: drop v1"""\n\nThis reverts commit ${C}.` },
        ...log,
      ]);
      assert.equal(thrice.level, 'none');
      assert.deepEqual(hashes(thrice.cancelled), [D, C, B, A]);
    });

    it('the result does not depend on the order the commits come in', () => {
      const log = [
        { hash: C, message: `Revert "Revert "feat: x""\n\nThis reverts commit ${B}.` },
        { hash: B, message: `Revert "feat: x"\n\nThis reverts commit ${A}.` },
        { hash: A, message: 'feat: x' },
      ];
      for (const order of [
        [0, 1, 2],
        [2, 1, 0],
        [1, 2, 0],
        [2, 0, 1],
      ]) {
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

describe('parseCommit reads exactly what it read before it was made faster', () => {
  // The reading before (named groups, every check a regular expression), kept as the oracle.
  const HEADER_FORM = /^(?<type>[A-Za-z][\w-]*)(?:\((?<scope>[^()\r\n]*)\))?(?<bang>!)?:[ \t]+(?<subject>\S.*)$/;
  const AZURE_MERGE = /^Merged PR \d+:\s*/;
  const GIT_REVERT = /^(?:Revert|Reapply) "/;
  const REVERTS_LINE = /^[ \t]*This reverts commit ([0-9a-fA-F]{4,64})\b/m;
  const BREAKING_FOOTER = /^BREAKING[ -]CHANGE:[ \t]*\S/m;
  const DEPRECATED_FOOTER = /^(?:Deprecated|DEPRECATED):[ \t]*\S/m;
  const SEMVER_HINT = /\+semver:\s*(major|breaking|minor|feature|patch|fix|none|skip)\b/i;
  const HINT: Record<string, string> = {
    major: 'major',
    breaking: 'major',
    minor: 'minor',
    feature: 'minor',
    patch: 'patch',
    fix: 'patch',
    none: 'none',
    skip: 'none',
  };
  const reverted = (body: string) => (body.includes('This reverts commit') ? REVERTS_LINE.exec(body)?.[1].toLowerCase() : undefined);
  function oracle(hash: string, raw: string) {
    const message = (raw.includes('\r') ? raw.replace(/\r\n/g, '\n') : raw).trim();
    const newline = message.indexOf('\n');
    const header = (newline < 0 ? message : message.slice(0, newline)).replace(AZURE_MERGE, '').trim();
    const body = newline < 0 ? '' : message.slice(newline + 1);
    const hintMatch = /semver/i.test(message) ? SEMVER_HINT.exec(message) : null;
    const hint = hintMatch ? HINT[hintMatch[1].toLowerCase()] : undefined;
    const breakingFooter = body.includes('BREAKING') && BREAKING_FOOTER.test(body);
    const deprecatedFooter = /eprecated:/i.test(body) && DEPRECATED_FOOTER.test(body);
    const m = HEADER_FORM.exec(header);
    if (!m?.groups) {
      if (!GIT_REVERT.test(header))
        return {
          hash,
          type: undefined,
          scope: undefined,
          subject: header,
          breaking: breakingFooter,
          deprecated: deprecatedFooter,
          hint,
          reverts: undefined,
        };
      const ownHint = hint && SEMVER_HINT.exec(body);
      return {
        hash,
        type: 'revert',
        scope: undefined,
        subject: header,
        breaking: breakingFooter,
        deprecated: deprecatedFooter,
        hint: ownHint ? HINT[ownHint[1].toLowerCase()] : undefined,
        reverts: reverted(body),
      };
    }
    const type = m.groups.type.toLowerCase();
    return {
      hash,
      type,
      scope: m.groups.scope?.trim() || undefined,
      subject: m.groups.subject.trim(),
      breaking: m.groups.bang === '!' || breakingFooter,
      deprecated: type === 'deprecate' || type === 'deprecation' || deprecatedFooter,
      hint,
      reverts: type === 'revert' ? reverted(body) : undefined,
    };
  }

  it('on hand-picked headers and on 20,000 generated messages', () => {
    const picked = [
      'feat: x',
      'Feat(Scope): X',
      'fix!: y',
      'fix(a)!: y',
      'fix(a)(b): y',
      'fix(a: y',
      'fix(): y',
      'fix( a ): y ',
      'fix:y',
      'fix:\ty',
      'fix:  \t y',
      'fix: \u00a0y',
      'fix: y\u2028z',
      'fix: y\rz',
      'fix:',
      'fix: ',
      '1fix: y',
      '-fix: y',
      'f: y',
      'fix-up_2: y',
      'fix.up: y',
      'fix (a): y',
      'Merged PR 12: feat(ingest): y',
      'Merged PR x: feat: y',
      'Merged PR 7:fix: y',
      '  Merged PR 7: fix: y',
      'Revert "feat: y"',
      'Reapply "x"',
      'revert: y',
      'feat(a\rb): y',
      'feat(a)b: y',
      'feat!!: y',
      'feat!(a): y',
      ':',
      '',
      ' ',
      'x +semver: major',
      'x +SemVer:Minor',
      'x semver: major',
    ];
    const parts = [
      'feat',
      'fix',
      'Fix',
      'revert',
      'deprecate',
      'chore',
      'x',
      '(',
      ')',
      '(core)',
      '!',
      ':',
      ' ',
      '\t',
      '\u00a0',
      'subject',
      '+semver: major',
      '+semver:none',
      '\n',
      '\r\n',
      '\n\n',
      'BREAKING CHANGE: z',
      'BREAKING-CHANGE:',
      'Deprecated: w',
      'DEPRECATED: v',
      'deprecated: u',
      'This reverts commit abcdef12.',
      '  This reverts commit ABCDEF1234',
      'Revert "',
      'Merged PR 3: ',
      '\u2028',
      '"',
    ];
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
    const free = () => Array.from({ length: 1 + Math.floor(random() * 8) }, () => pick(parts)).join('');
    // Mostly well-formed headers, each piece sometimes off by a character.
    const formed = () =>
      pick(['', '', 'Merged PR 9: ', '  ']) +
      pick(['feat', 'fix', 'FEAT', 'revert', 'deprecation', 'docs', 'a-b_c', '9x', '-x', 'x.y', '']) +
      pick(['', '', '(core)', '( core )', '()', '(a(b))', '(a', '(a\rb)', 'core)', ' (x)']) +
      pick(['', '', '!', '!!']) +
      pick([':', ':', '', ';', '::']) +
      pick([' ', ' ', '\t', '  \t', '', '\u00a0']) +
      pick(['subject', 'subject ', ' x', '\u00a0x', 'a\u2028b', 'a\rb', '"q"', '']) +
      pick([
        '',
        '',
        '\n\nbody',
        '\n\nBREAKING CHANGE: y',
        '\r\n\r\nDeprecated: z',
        '\n\nThis reverts commit abcd1234.',
        '\n+semver: minor',
        ' +semver: patch',
      ]);
    const generated = Array.from({ length: 20_000 }, (_, i) => (i % 2 ? free() : formed()));
    for (const [i, message] of [...picked, ...generated].entries()) {
      assert.deepEqual(parseCommit({ hash: `h${i}`, message }), oracle(`h${i}`, message), JSON.stringify(message));
    }
  });
});
