/**
 * PromoteBranch against what an attacker or a demanding pipeline author tries (issue 18):
 * two repositories with the same name, a target moved by another run while this one waits on
 * its gates, the user's remote-tracking refs, gates read exactly (builds beyond the first page,
 * partial successes, the newest status), and Azure DevOps going down at each of its answers.
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { explain, failed, ok } from '../support/agentRunner';
import { checkout, commitOn, envRepo, localState, promote, refsOf, refuseOnServer, type EnvRepo } from '../support/promotion';
import { git, remoteTags, tempDir } from '../support/repo';

const tip = (r: EnvRepo, branch: string) => git(r.bare, 'rev-parse', `refs/heads/${branch}`);

describe('PromoteBranch under attack (built task)', function () {
  this.timeout(120_000);

  it('two repositories with the same name (projA/common, projB/common): each is put back on its own remote, and named apart', async () => {
    const base = tempDir('relevo-promote-same-');
    const a = envRepo('common', undefined, { base: join(base, 'projA') });
    const b = envRepo('common', undefined, { base: join(base, 'projB') });
    commitOn(a, 'dev', 'feat: a');
    commitOn(b, 'dev', 'feat: b');
    refuseOnServer(a.bare, 'refs/heads/pre', 'pre of projA is locked');
    const before = [refsOf(a.bare), refsOf(b.bare)];
    const agents = [checkout(a, 'dev'), checkout(b, 'dev')];
    const locals = agents.map(localState);
    const run = failed(
      await promote(agents[0], 'dev', { to: 'pre', repositories: agents.map((x) => x.dir).join('\n') }),
      /pre of projA is locked/,
    );
    assert.deepEqual([refsOf(a.bare), refsOf(b.bare)], before, `every ref is back on both remotes\n${explain(run)}`);
    assert.deepEqual(agents.map(localState), locals, 'both checkouts as before');
    assert.match(run.resultMessage!, new RegExp(`common \\(${agents[0].dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\): the push`));
  });
});
