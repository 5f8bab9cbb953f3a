/**
 * planPromotion's refusals before anything is read or moved, against a fake git: which input
 * is wrong, and every repository's problem named at once (by its checkout).
 */
import { strict as assert } from 'node:assert';
import type { Git, TagRef } from '../../shared/git';
import type { Log } from '../../shared/log';
import { resolveRoute } from '../../shared/promotion/flow';
import { planPromotion, type PromotionOptions } from '../../shared/promotion/plan';

const quiet = { info: () => undefined, warn: () => undefined, debug: () => undefined } as unknown as Log;

/** A checkout with a HEAD, the remotes of its configuration, and a remote listing `remoteRefs` answers. */
function fakeGit(o: { remotes: Record<string, string>; listing: TagRef[]; head?: string }) {
  const calls: string[][] = [];
  const git = {
    ready: Promise.resolve(),
    opened: { head: o.head ?? 'b'.repeat(40), shallow: false },
    calls,
    async run(args: string[]) {
      calls.push(args);
      if (args[0] === 'config')
        return Object.entries(o.remotes)
          .map(([name, url]) => `remote.${name}.url\n${url}\0`)
          .join('');
      throw new Error(`unexpected git ${args.join(' ')}`);
    },
    async localTags() {
      return [];
    },
    async remoteRefs(_remote: string, patterns: string[]) {
      calls.push(['ls-remote', ...patterns]);
      return o.listing;
    },
  };
  return git;
}

function options(gits: Record<string, ReturnType<typeof fakeGit>>, extra: Partial<PromotionOptions> = {}): PromotionOptions {
  return {
    route: resolveRoute({
      flow: 'environments',
      branches: ['dev', 'pre', 'pro'],
      to: 'pre',
      developBranch: 'develop',
      mainBranch: 'main',
      releasePrefix: 'release/',
      hotfixPrefix: 'hotfix/',
    }),
    remote: 'origin',
    strategy: 'fast-forward',
    tagFormat: 'v{version}',
    component: '',
    paths: [],
    allowUntested: false,
    gitOptions: {},
    scratch: '/tmp',
    parallel: 2,
    openGit: ((dir: string) => gits[dir] as unknown as Git & { ready: Promise<void> }) as PromotionOptions['openGit'],
    ...extra,
  };
}

describe('promotion: planPromotion (fake git)', () => {
  it("a checkout without the remote fails naming 'remote' and the remotes it has, before reading anything remote", async () => {
    const git = fakeGit({ remotes: { upstream: 'https://dev.azure.com/o/p/_git/app' }, listing: [] });
    await assert.rejects(
      planPromotion([{ dir: '/s/app', input: 'workingDirectory' }], options({ '/s/app': git }), quiet),
      /Input 'remote': '\/s\/app' has no remote 'origin' \(it has upstream\)/,
    );
    assert.ok(!git.calls.some((c) => c[0] === 'ls-remote'), 'nothing was read from a remote');
  });

  it('a missing source branch fails naming branches; several repositories name each failing checkout, and nothing is promoted', async () => {
    const one = fakeGit({
      remotes: { origin: 'https://dev.azure.com/o/projA/_git/common' },
      listing: [{ name: 'refs/heads/pre', commit: 'a'.repeat(40) }],
    });
    await assert.rejects(
      planPromotion([{ dir: '/s/a', input: 'workingDirectory' }], options({ '/s/a': one }), quiet),
      /Input 'branches': the source branch 'dev' does not exist on 'origin' of common; nothing was promoted/,
    );
    const a = fakeGit({ remotes: { origin: 'https://dev.azure.com/o/projA/_git/common' }, listing: [] });
    const b = fakeGit({ remotes: {}, listing: [] });
    await assert.rejects(
      planPromotion(
        [
          { dir: '/s/a', input: 'repositories' },
          { dir: '/s/b', input: 'repositories' },
        ],
        options({ '/s/a': a, '/s/b': b }),
        quiet,
      ),
      /2 of 2 repositories cannot be promoted; nothing was promoted\. \[\/s\/a\] Input 'branches': the source branch 'dev' does not exist.* \[\/s\/b\] Input 'remote': '\/s\/b' has no remote 'origin' \(it has none\)/,
    );
  });

  it('a pull request for a release start is refused before any repository is opened', async () => {
    const route = resolveRoute({
      flow: 'gitflow',
      action: 'release-start',
      branches: [],
      developBranch: 'develop',
      mainBranch: 'main',
      releasePrefix: 'release/',
      hotfixPrefix: 'hotfix/',
    });
    let opened = 0;
    await assert.rejects(
      planPromotion(
        [{ dir: '/s/app', input: 'workingDirectory' }],
        options({}, { route, strategy: 'pull-request', openGit: (() => (opened++, undefined)) as unknown as PromotionOptions['openGit'] }),
        quiet,
      ),
      /Input 'strategy': a release start creates the release branch/,
    );
    assert.equal(opened, 0);
  });
});
