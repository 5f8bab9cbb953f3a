/**
 * applyPromotion against a fake git (a remote as a map of refs, pushes checked against their
 * leases, refusals on demand) and its own undo journal: all or nothing across repositories,
 * repositories told apart by checkout, and a pull request that cannot be abandoned keeping its
 * repository's promotion whole.
 */
import { strict as assert } from 'node:assert';
import { GitCommandError, ZERO_SHA, type Git } from '../../shared/git';
import type { Log } from '../../shared/log';
import { applyPromotion } from '../../shared/promotion/apply';
import type { PromotionPlan, RepositoryPlan } from '../../shared/promotion/plan';
import { UndoJournal } from '../../shared/undo';

const sha = (c: string) => c.repeat(40);
const quiet: Log = { info: () => undefined, warn: () => undefined, debug: () => undefined } as unknown as Log;

/** A checkout whose remote is `refs` (ref → object id); pushes honour --force-with-lease and --atomic. */
class FakeGit {
  readonly calls: string[][] = [];
  constructor(
    readonly refs: Map<string, string>,
    /** Refs the server refuses (a hook). */
    readonly refuse = new Set<string>(),
  ) {}
  async run(args: string[]): Promise<string> {
    this.calls.push(args);
    if (args[0] === 'mktag') return `${sha('9')}\n`;
    return '';
  }
  async remote(args: string[]): Promise<string> {
    this.calls.push(args);
    if (args[0] === 'ls-remote')
      return args
        .slice(2)
        .filter((r) => this.refs.has(r))
        .map((r) => `${this.refs.get(r)}\t${r}\n`)
        .join('');
    if (args[0] !== 'push') throw new Error(`unexpected git ${args.join(' ')}`);
    const leases = new Map(
      args
        .filter((a) => a.startsWith('--force-with-lease='))
        .map((a) => a.slice('--force-with-lease='.length).split(':') as [string, string]),
    );
    const specs = args.slice(args.findIndex((a) => a === 'origin') + 1);
    const changes = specs.map((spec) => {
      const [src, dst] = spec.replace(/^\+/, '').split(':');
      return { src, dst };
    });
    for (const { dst } of changes) {
      const lease = leases.get(dst);
      if (lease !== undefined && (this.refs.get(dst) ?? '') !== lease)
        throw new GitCommandError(args, `error: failed to push some refs`, `!\t${dst}:${dst}\t[rejected] (stale info)\n`);
      if (this.refuse.has(dst))
        throw new GitCommandError(
          args,
          `remote: ${dst} is locked\nerror: failed to push some refs`,
          `To x\n!\t${dst}:${dst}\t[remote rejected] (hook declined)\n`,
        );
    }
    for (const { src, dst } of changes)
      if (src) this.refs.set(dst, src);
      else this.refs.delete(dst);
    return '';
  }
}

function plan(dir: string, git: FakeGit, opts: { pullRequest?: boolean } = {}): RepositoryPlan {
  const target = opts.pullRequest ? 'refs/heads/relevo/promote-pre' : 'refs/heads/pre';
  return {
    name: 'common',
    label: `common (${dir})`,
    dir,
    git: git as unknown as Git,
    remote: 'origin',
    commit: sha('b'),
    subject: 'feat: b',
    source: { branch: 'dev', ref: 'refs/heads/dev', tip: sha('b') },
    move: opts.pullRequest
      ? { branch: 'pre', ref: 'refs/heads/pre', from: sha('a'), to: sha('a'), kind: 'pull-request' }
      : { branch: 'pre', ref: 'refs/heads/pre', from: sha('a'), to: sha('b'), kind: 'fast-forward' },
    tag: {
      version: '1.1.0-rc.1',
      tag: 'v1.1.0-rc.1',
      kind: 'candidate',
      existing: false,
      pushExisting: false,
      untested: false,
      why: 'next',
    },
    gates: [],
    backMerges: [],
    ...(opts.pullRequest
      ? { pullRequest: { sourceRef: target, targetRef: 'refs/heads/pre', title: 'Promote v1.1.0-rc.1 to pre', description: '' } }
      : {}),
    refs: [
      { ref: target, to: sha('b'), previous: opts.pullRequest ? ZERO_SHA : sha('a') },
      { ref: 'refs/tags/v1.1.0-rc.1', to: sha('b'), previous: ZERO_SHA, tag: { name: 'v1.1.0-rc.1', message: 'rc' } },
    ],
    pins: [],
    notes: [],
    orchestration: false,
    tagger: 'Relevo <relevo@example.invalid>',
    undoHolds: new Map(),
  };
}

const remote = () => new Map([['refs/heads/pre', sha('a')]]);
const promotion = (...repositories: RepositoryPlan[]): PromotionPlan => ({
  route: { flow: 'environments', source: 'dev', target: 'pre', kind: 'candidate', backMerge: [], hotfix: false, input: 'to' },
  strategy: repositories[0].pullRequest ? 'pull-request' : 'fast-forward',
  repositories,
});

describe('promotion: applyPromotion (fake git)', () => {
  it('two repositories with the same name: the second refused, the first is put back on its own remote, named by its checkout', async () => {
    const a = new FakeGit(remote());
    const b = new FakeGit(remote(), new Set(['refs/heads/pre']));
    const journal = new UndoJournal();
    await assert.rejects(
      applyPromotion(promotion(plan('/s/projA/common', a), plan('/s/projB/common', b)), { parallel: 1, log: quiet, journal }),
      /common \(\/s\/projB\/common\): the remote 'origin' rejected the push/,
    );
    assert.equal(a.refs.get('refs/heads/pre'), sha('b'), 'the first push landed before the second was refused');
    const report = await journal.unwind();
    assert.deepEqual([...a.refs], [['refs/heads/pre', sha('a')]], "projA's pre back, its tag gone");
    assert.deepEqual([...b.refs], [['refs/heads/pre', sha('a')]], 'projB: nothing landed');
    assert.ok(
      report.undone.some((w) => w.startsWith('common (/s/projA/common): refs/heads/pre, refs/tags/v1.1.0-rc.1')),
      report.undone.join('\n'),
    );
    assert.deepEqual(report.left, []);
  });

  it("a ref another run moved after this run's push is left alone by the put-back (the lease)", async () => {
    const a = new FakeGit(remote());
    const b = new FakeGit(remote(), new Set(['refs/heads/pre']));
    const journal = new UndoJournal();
    await assert.rejects(applyPromotion(promotion(plan('/a', a), plan('/b', b)), { parallel: 1, log: quiet, journal }));
    a.refs.set('refs/heads/pre', sha('c')); // another run
    await journal.unwind();
    assert.equal(a.refs.get('refs/heads/pre'), sha('c'));
    assert.equal(a.refs.has('refs/tags/v1.1.0-rc.1'), false, 'the tag, still at what this run pushed, is deleted');
  });

  it('every push landed and every pull request opened: landed, kept, results per checkout', async () => {
    const a = new FakeGit(remote());
    const journal = new UndoJournal();
    const result = await applyPromotion(promotion(plan('/a', a, { pullRequest: true })), {
      parallel: 1,
      log: quiet,
      journal,
      openPullRequest: async () => ({ id: 7, url: 'https://dev.azure.com/org/p/_git/common/pullrequest/7', reused: false }),
    });
    assert.deepEqual(
      result.repositories.map((r) => [r.dir, r.pullRequest?.id]),
      [['/a', 7]],
    );
    assert.deepEqual(journal.pending, []);
    const report = await journal.unwind();
    assert.match(report.landed.join(), /relevo\/promote-pre, v1\.1\.0-rc\.1, pull request 7/);
    assert.equal(a.refs.get('refs/heads/relevo/promote-pre'), sha('b'));
  });

  it('a pull request that cannot be abandoned keeps its branch and tag (not a pull request of a deleted branch)', async () => {
    const a = new FakeGit(remote());
    const journal = new UndoJournal();
    const repo = plan('/a', a, { pullRequest: true });
    await assert.rejects(
      applyPromotion(promotion(repo), {
        parallel: 1,
        log: quiet,
        journal,
        openPullRequest: async (r) => {
          // As pullRequestOpener does: registered before, and the service is down by the time it undoes.
          journal.register('the pull request', () => {
            r.undoHolds.set('refs/heads/relevo/promote-pre', 'the pull request may be open');
            throw new Error('Azure DevOps answered 503');
          });
          throw new Error('the auto-complete PATCH answered 503');
        },
      }),
      /auto-complete PATCH answered 503/,
    );
    const report = await journal.unwind();
    assert.equal(a.refs.get('refs/heads/relevo/promote-pre'), sha('b'), 'the branch stays with its pull request');
    assert.equal(a.refs.get('refs/tags/v1.1.0-rc.1'), sha('9'), 'the tag stays');
    assert.ok(
      report.left.some((l) => /kept refs\/heads\/relevo\/promote-pre|kept relevo\/promote-pre/.test(l.reason)),
      JSON.stringify(report.left),
    );
  });
});
