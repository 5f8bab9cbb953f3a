/**
 * The checkout's remote-tracking refs: git moves `refs/remotes/<remote>/<branch>` when it pushes
 * that branch, puts it back or fetches it by name (its default refspec). Registered with the undo
 * journal before such a command, from their values then, so a failure or a cancel leaves them as
 * they were.
 */
import type { Git } from '../git';
import { journal as runJournal, type UndoJournal } from '../undo';

/** Registers putting back the tracking refs of `refs` (full names; only refs/heads/* have one). `label` prefixes the journal's line. */
export async function registerTrackingRefs(
  git: Git,
  remote: string,
  refs: string[],
  label = '',
  journal: UndoJournal = runJournal,
): Promise<void> {
  const tracking = [
    ...new Set(refs.filter((r) => r.startsWith('refs/heads/')).map((r) => `refs/remotes/${remote}/${r.slice('refs/heads/'.length)}`)),
  ];
  if (!tracking.length) return;
  const listed = await git.run(['for-each-ref', '--format=%(refname) %(objectname)', ...tracking]);
  const was = new Map(
    listed
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ') as [string, string]),
  );
  const lines = tracking.map((ref) => (was.has(ref) ? `update ${ref} ${was.get(ref)}` : `delete ${ref}`));
  journal.register(`${label}the checkout's ${tracking.join(', ')}`, () =>
    git.run(['update-ref', '--stdin'], { input: lines.join('\n') + '\n' }),
  );
}
