/**
 * `checkout: true`: the moved submodules checked out at their new commits
 * (`git submodule update --init --checkout`), registered with the run's undo journal first.
 * What is known before: which submodules were checked out (a `.git` in their folder) and where
 * their HEAD was, and the `submodule.<name>.*` entries of the repository's own configuration.
 * The undo puts each back: a submodule that was checked out returns to its branch or commit;
 * one that was not is emptied again (`git submodule deinit`) and its configuration entries are
 * what they were. The clone git keeps under `.git/modules/<name>` stays (git keeps it after a
 * deinit too; the next checkout reuses it), as fetched objects do.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Git } from '../git';
import { quoteForeign } from '../output';
import { journal } from '../undo';

interface Before {
  name: string;
  path: string;
  dir: string;
  /** Checked out before: its HEAD, as `checkout` takes it back (a branch name, or a commit). */
  head?: { branch?: string; commit: string };
}

export async function checkOutSubmodules(
  git: Git,
  top: string,
  remote: string,
  subs: readonly { name: string; path: string }[],
): Promise<void> {
  const before: Before[] = [];
  for (const s of subs) {
    const dir = join(top, s.path);
    const entry: Before = { name: s.name, path: s.path, dir };
    if (existsSync(join(dir, '.git'))) {
      const [commit, branch] = (await git.run(['-C', dir, 'rev-parse', 'HEAD', '--symbolic-full-name', 'HEAD'])).split('\n');
      entry.head = { commit, branch: branch?.startsWith('refs/heads/') ? branch.slice('refs/heads/'.length) : undefined };
    }
    before.push(entry);
  }
  const config = submoduleConfig(await git.run(['-C', top, 'config', '--local', '--null', '--list']));
  const paths = subs.map((s) => s.path);
  journal.register(`the checkout of ${paths.map(quoteForeign).join(', ')}`, async () => {
    const now = submoduleConfig(await git.run(['-C', top, 'config', '--local', '--null', '--list']));
    for (const b of before) {
      if (b.head) {
        await git.run(['-C', b.dir, 'checkout', '--quiet', ...(b.head.branch ? [b.head.branch] : ['--detach', b.head.commit])]);
        continue;
      }
      if (existsSync(join(b.dir, '.git'))) await git.run(['-C', top, 'submodule', 'deinit', '--force', '--quiet', '--', b.path]);
      // deinit drops the whole section: what was there before comes back, nothing else.
      const prefix = `submodule.${b.name}.`;
      const had = config.filter(([k]) => k.startsWith(prefix));
      if (now.some(([k]) => k.startsWith(prefix)) || had.length)
        await git.run(['-C', top, 'config', '--local', '--remove-section', `submodule.${b.name}`]).catch(() => undefined);
      for (const [key, value] of had) await git.run(['-C', top, 'config', '--local', '--add', key, value]);
    }
  });
  await git.remote(['-C', top, 'submodule', 'update', '--init', '--checkout', '--', ...paths], remote, `checking out ${paths.join(', ')}`);
}

/** The `submodule.*` entries of `git config --null --list`, in order. */
function submoduleConfig(listing: string): [string, string][] {
  return listing
    .split('\0')
    .filter(Boolean)
    .map((entry): [string, string] => {
      const eol = entry.indexOf('\n');
      return eol < 0 ? [entry, ''] : [entry.slice(0, eol), entry.slice(eol + 1)];
    })
    .filter(([key]) => key.startsWith('submodule.'));
}
