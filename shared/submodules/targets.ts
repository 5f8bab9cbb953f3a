/**
 * What `ls-remote` cannot tell about a tag a pin is about to move to, read from the component's
 * remote into a scratch repository (never the orchestration's): whether it points at a commit
 * (a tag on a tree or a blob would become a gitlink no clone can check out), and, for a pin on a
 * commit no version tag names, whether the tag is an ancestor of it (a move backwards).
 * Only the components that move are read; commits only where the server filters trees out.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Git, GitCommandError } from '../git';

export class TargetReader {
  private readonly root: string;
  private count = 0;

  constructor(
    private readonly git: Git,
    scratchRoot: string,
  ) {
    this.root = mkdtempSync(join(scratchRoot, 'relevo-targets-'));
  }

  /** A bare scratch repository holding the tag's object (depth 1). */
  private async fetchTag(url: string, tag: string): Promise<string> {
    const dir = join(this.root, String(this.count++));
    await this.git.run(['init', '-q', '--bare', dir]);
    await this.git.remote(
      ['-C', dir, 'fetch', '-q', '--no-tags', '--no-write-fetch-head', '--depth=1', '--filter=tree:0', '--', url, `refs/tags/${tag}`],
      url,
      `reading the tag ${tag}`,
    );
    return dir;
  }

  /** The type of the object `tag` peels to ('commit', 'tree', 'blob'; 'missing' when the server did not send it). */
  async peeledType(url: string, tag: string, peeled: string): Promise<{ type: string; dir: string }> {
    const dir = await this.fetchTag(url, tag);
    const out = await new Git(dir).run(['cat-file', '--batch-check=%(objecttype)'], { input: `${peeled}\n` });
    return { type: out.trim().split(' ').pop() || 'missing', dir };
  }

  /**
   * Whether the commit `tag` peels to is an ancestor of `pinned`: the pinned commit's history is
   * fetched without the tag's own (`--shallow-exclude`), so only the commits between come; one of
   * them has the tag's commit as a parent exactly when it is an ancestor. Undefined when the
   * remote could not answer (it refuses a commit by id, or the exclusion).
   */
  async isAncestorOfPin(dir: string, url: string, tag: string, target: string, pinned: string): Promise<boolean | undefined> {
    try {
      await this.git.remote(
        [
          '-C',
          dir,
          'fetch',
          '-q',
          '--no-tags',
          '--no-write-fetch-head',
          '--filter=tree:0',
          `--shallow-exclude=refs/tags/${tag}`,
          '--',
          url,
          pinned,
        ],
        url,
        `reading the history of ${pinned.slice(0, 12)}`,
      );
    } catch (err) {
      if (!(err instanceof GitCommandError) || /does not support/i.test(err.stderr)) {
        if (err instanceof GitCommandError) return undefined;
        throw err;
      }
      // The server selects no commit when the pinned one is in the tag's own history (upload-pack:
      // "no commits selected for shallow requests"): then the tag is not behind it. Whether the
      // pinned commit exists there at all is asked on its own.
      try {
        await this.git.remote(
          ['-C', dir, 'fetch', '-q', '--no-tags', '--no-write-fetch-head', '--depth=1', '--filter=tree:0', '--', url, pinned],
          url,
          `reading ${pinned.slice(0, 12)}`,
        );
        return false;
      } catch (again) {
        if (again instanceof GitCommandError) return undefined;
        throw again;
      }
    }
    const scratch = new Git(dir);
    const commits = (await scratch.run(['cat-file', '--batch-all-objects', '--batch-check=%(objectname) %(objecttype)']))
      .split('\n')
      .filter((l) => l.endsWith(' commit'))
      .map((l) => l.split(' ')[0]);
    if (!commits.includes(pinned)) return undefined;
    const raw = await scratch.rawCommits(commits.filter((c) => c !== target));
    return [...raw.values()].some((c) => c.parents.includes(target));
  }

  /** Removes the scratch repositories; a folder that will not go stays in the agent's temp folder, which the agent empties. */
  dispose(): void {
    try {
      rmSync(this.root, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // never hides the run's outcome
    }
  }
}
