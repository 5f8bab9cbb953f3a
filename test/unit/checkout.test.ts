import { strict as assert } from 'node:assert';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckout } from '../../shared/git/checkout';
import { git, Repo, tempDir } from '../support/repo';

/** What git itself says: the answer readCheckout must give, or leave to git. */
function gitSays(dir: string): { top: string; shallow: boolean; head: string } {
  const [top, shallow, head] = git(dir, 'rev-parse', '--show-toplevel', '--is-shallow-repository', 'HEAD').split('\n');
  return { top, shallow: shallow === 'true', head };
}

describe('readCheckout: a checkout read from its files, as git reads it', () => {
  it('detached HEAD (as agents check out), a branch with a loose ref, a branch in packed-refs', () => {
    const repo = Repo.init();
    repo.commit('feat: a');
    repo.commit('fix: b');
    const { top, shallow, head } = gitSays(repo.dir);
    const onBranch = readCheckout(repo.dir);
    assert.deepEqual({ top: onBranch?.top, shallow: onBranch?.shallow, head: onBranch?.head }, { top, shallow, head });
    repo.git('pack-refs', '--all');
    assert.equal(readCheckout(repo.dir)?.head, head, 'packed branch ref');
    repo.detach();
    assert.equal(readCheckout(repo.dir)?.head, head, 'detached');
    assert.equal(readCheckout(repo.dir)?.shallowFile, join(repo.dir, '.git', 'shallow'));
  });

  it('a shallow clone is shallow', () => {
    const origin = Repo.init();
    origin.commit('feat: a');
    origin.commit('fix: b');
    const clone = tempDir();
    git(clone, 'clone', '-q', '--depth', '1', `file://${origin.dir}`, '.');
    assert.equal(gitSays(clone).shallow, true);
    assert.equal(readCheckout(clone)?.shallow, true);
  });

  it('leaves to git what it does not read: no commit yet, a subfolder, GIT_DIR, a linked work tree', () => {
    const empty = Repo.init();
    assert.equal(readCheckout(empty.dir), undefined, 'unborn branch');
    const repo = Repo.init();
    repo.commit('feat: a');
    mkdirSync(join(repo.dir, 'sub'));
    assert.equal(readCheckout(join(repo.dir, 'sub')), undefined, 'subfolder');
    assert.equal(readCheckout(repo.dir, { ...process.env, GIT_DIR: join(repo.dir, '.git') }), undefined, 'GIT_DIR');
    const linked = join(tempDir(), 'wt');
    repo.git('worktree', 'add', '-q', '--detach', linked);
    assert.equal(readCheckout(linked), undefined, 'linked work tree (.git is a file)');
    assert.equal(readCheckout(tempDir()), undefined, 'no repository');
  });
});
