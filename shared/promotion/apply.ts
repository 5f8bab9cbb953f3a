/**
 * Carrying a promotion plan out, all or nothing. Every change is registered with the run's undo
 * journal (shared/undo.ts) before it is made, from what the plan read before anything moved:
 * - per repository, the refs its push moves (target branch, back-merges, pull-request branches,
 *   the tag) go back to the values the plan read (`putBackRemoteRefs` reads the remote first,
 *   so the step is right whether the push landed, landed in part or never happened, and leaves
 *   alone a ref another run moved since);
 * - the checkout's remote-tracking refs of those branches (git moves them with a push) go back
 *   to what they were;
 * - every pull request the run opens is abandoned, and one it updated gets its title and
 *   description back (./pullRequests.ts).
 * A failure or a cancellation anywhere (in any repository, while opening any pull request)
 * unwinds all of it, newest first, and the journal's report says what was put back. Once every
 * push landed and every pull request is open, the promotion is marked landed and kept.
 *
 * Per repository the refs still go in one push: `--atomic` where the server advertises it, else
 * ref by ref with pushAll's own put-back of the refs already pushed when a later one is refused
 * (shared/git/push.ts). No local ref is made: tag objects are pushed by their object id.
 */
import { mapLimit } from '../concurrency';
import { UserError } from '../errors';
import { GitCommandError, ZERO_SHA } from '../git';
import { explainPushFailure, PartialPushError, PushError, pushAll, putBackRemoteRefs, type RefUpdate } from '../git/push';
import { explainPushRefusal } from '../git/pushRefusals';
import type { Log } from '../log';
import { markdownCode } from '../markdown';
import { quoteForeign } from '../output';
import { journal as runJournal, type UndoJournal } from '../undo';
import type { RepositoryPlan, PromotionPlan } from './plan';
import { registerTrackingRefs } from './tracking';

export interface OpenedPullRequest {
  id: number;
  url: string;
  reused: boolean;
}

/**
 * Opens a pull request in a repository, or updates the open one for the same branches. It
 * registers with the undo journal, before opening or updating, how to take that back.
 */
export type OpenPullRequest = (
  repo: RepositoryPlan,
  req: { sourceRef: string; targetRef: string; title: string; description: string },
) => Promise<OpenedPullRequest>;

export interface RepositoryResult {
  /** The checkout (what identifies the repository: two of a run may have the same name). */
  dir: string;
  label: string;
  pushed: RefUpdate[];
  createdTag?: string;
  pullRequest?: OpenedPullRequest;
  backMergePullRequests: (OpenedPullRequest & { branch: string })[];
}

export interface PromotionResult {
  repositories: RepositoryResult[];
}

class RepositoryFailure extends Error {
  constructor(
    readonly plan: RepositoryPlan,
    readonly error: unknown,
  ) {
    super(error instanceof Error ? error.message : String(error));
  }
}

const shortRef = (ref: string) => ref.replace(/^refs\/(heads|tags)\//, '');

export async function applyPromotion(
  plan: PromotionPlan,
  opts: { openPullRequest?: OpenPullRequest; parallel: number; log: Log; journal?: UndoJournal },
): Promise<PromotionResult> {
  const log = opts.log;
  const journal = opts.journal ?? runJournal;
  const several = plan.repositories.length > 1;
  // Every repository's push runs to its end (landed or refused) before a failure is reported: the journal then puts back all of them.
  const settled = await mapLimit(plan.repositories, opts.parallel, (r) =>
    pushRepository(r, several, log, journal).then(
      (result) => ({ result }),
      (error: unknown) => ({ error: new RepositoryFailure(r, error) }),
    ),
  );
  const failure = settled.find((s): s is { error: RepositoryFailure } => 'error' in s)?.error;
  if (failure) throw explainFailure(failure, several);
  const results = settled.map((s) => (s as { result: RepositoryResult }).result);
  let current = plan.repositories[0];
  try {
    for (const [i, r] of plan.repositories.entries()) {
      current = r;
      const result = results[i];
      const name = quoteForeign(r.label);
      if (r.pullRequest) {
        if (!opts.openPullRequest) throw new Error('pull-request strategy without a pull-request service');
        result.pullRequest = await opts.openPullRequest(r, r.pullRequest);
        log.info(
          `${name}: ${result.pullRequest.reused ? 'updated the open' : 'opened'} pull request ${result.pullRequest.id}: ${quoteForeign(result.pullRequest.url)}`,
        );
      }
      for (const bm of r.backMerges.filter((b) => b.status === 'pull-request')) {
        if (!opts.openPullRequest) throw new Error('a back-merge pull request without a pull-request service');
        const pr = await opts.openPullRequest(r, {
          sourceRef: bm.pullRequestRef!,
          targetRef: bm.ref,
          title: `Back-merge ${r.tag.tag} into ${bm.branch}`,
          description: `Merging ${r.commit.slice(0, 12)} (${r.tag.tag}) back into '${bm.branch}' conflicts in: ${bm.conflicts!.map((c) => markdownCode(c, false)).join(', ')}. Resolve the conflicts here.\n\nOpened by Relevo PromoteBranch.`,
        });
        result.backMergePullRequests.push({ ...pr, branch: bm.branch });
        log.warn(
          `${name}: merging ${r.tag.tag} back into '${bm.branch}' conflicts (${bm.conflicts!.map(quoteForeign).join(', ')}): ${pr.reused ? 'updated the open' : 'opened'} pull request ${pr.id} to resolve it: ${quoteForeign(pr.url)}`,
        );
      }
    }
  } catch (err) {
    throw explainFailure(new RepositoryFailure(current, err), several);
  }
  const done = results.filter((r) => r.pushed.length || r.pullRequest || r.backMergePullRequests.length);
  if (done.length) {
    journal.landed(
      `the promotion (${done
        .map((r) =>
          [
            ...r.pushed.map((u) => shortRef(u.ref)),
            ...(r.pullRequest ? [`pull request ${r.pullRequest.id}`] : []),
            ...r.backMergePullRequests.map((pr) => `pull request ${pr.id}`),
          ].join(', '),
        )
        .map((what, i) => (several ? `${quoteForeign(done[i].label)}: ${what}` : what))
        .join('; ')})`,
    );
  }
  return { repositories: results };
}

async function pushRepository(r: RepositoryPlan, several: boolean, log: Log, journal: UndoJournal): Promise<RepositoryResult> {
  const result: RepositoryResult = { dir: r.dir, label: r.label, pushed: [], backMergePullRequests: [] };
  const name = quoteForeign(r.label);
  if (!r.refs.length) {
    log.info(`${name}: nothing to push.`);
    return result;
  }
  const updates: RefUpdate[] = [];
  for (const p of r.refs) {
    if (p.tag) {
      // The tag object only (an object, no ref): nothing local to put back.
      const text = `object ${p.to}\ntype commit\ntag ${p.tag.name}\ntagger ${r.tagger} ${Math.floor(Date.now() / 1000)} +0000\n\n${p.tag.message}\n`;
      const object = (await r.git.run(['mktag'], { input: text })).trim();
      updates.push({ source: object, ref: p.ref, pushed: object, previous: ZERO_SHA });
      result.createdTag = p.tag.name;
    } else if (p.ref.startsWith('refs/tags/'))
      updates.push({ source: p.ref, ref: p.ref, pushed: (await r.git.run(['rev-parse', p.ref])).trim(), previous: ZERO_SHA });
    else updates.push({ source: p.to, ref: p.ref, pushed: p.to, previous: p.previous });
  }
  // git moves the checkout's remote-tracking refs with the push (and with a put-back): they go
  // back to what they were before it. Registered first, so undone after the remote's refs.
  await registerTrackingRefs(
    r.git,
    r.remote,
    updates.map((u) => u.ref),
    several ? `${name}: ` : '',
    journal,
  );
  // Before the push, from what the plan read: each ref back to its value then, if it is at what this run pushed.
  journal.register(`${several ? `${name}: ` : ''}${updates.map((u) => u.ref).join(', ')} on '${r.remote}'`, async () => {
    // A pull request of this run that could not be abandoned (its undo runs first) may be open: the
    // repository's promotion stays whole (its branch, the tag it promotes) rather than leave it on a deleted branch.
    if (r.undoHolds.size)
      throw new Error(`kept ${updates.map((u) => shortRef(u.ref)).join(', ')}: ${[...r.undoHolds.values()].join('; ')}`);
    await putBackRemoteRefs(r.git, r.remote, updates);
  });

  try {
    await pushAll(r.git, r.remote, updates);
  } catch (err) {
    throw err instanceof GitCommandError ? explainPushFailure(err) : err;
  }
  result.pushed = updates;
  log.info(`${name}: pushed ${updates.map((u) => `${shortRef(u.ref)} → ${u.pushed.slice(0, 12)}`).join(', ')} to '${r.remote}'.`);
  return result;
}

/**
 * Turns a failure into the task's message. What was put back is not said here: the undo
 * journal unwinds after this and its report ("Put back: …", "NOT put back: …") follows.
 */
function explainFailure(failure: RepositoryFailure, several: boolean): unknown {
  const err = failure.error;
  const r = failure.plan;
  const where = several ? `${quoteForeign(r.label)}: ` : '';
  if (err instanceof UserError) return err;
  if (err instanceof PartialPushError) {
    const stayed = err.left
      .map((u) => `${u.ref} at ${u.pushed.slice(0, 12)} (was ${u.previous === ZERO_SHA ? 'absent' : u.previous.slice(0, 12)})`)
      .join(', ');
    return new UserError(
      `${where}the push was refused part-way (${quoteForeign(err.reason)}), and putting back the refs it had pushed was refused too: ${stayed}.`,
      {
        fix: `the lines after this say whether the undo put them back in the end; reset any ref it did not put back on '${r.remote}' by hand, then fix the cause above. A server that advertises atomic pushes avoids this.`,
      },
    );
  }
  if (err instanceof PushError) {
    const atomic = err.args.includes('--atomic');
    const failedRef = err.args[err.args.length - 1]?.split(':').pop() ?? '';
    const pushedBefore = r.refs
      .map((p) => p.ref)
      .slice(
        0,
        Math.max(
          0,
          r.refs.findIndex((p) => p.ref === failedRef),
        ),
      );
    // A stalled connection says nothing about what the server did before it stalled: the undo reads the remote to know.
    const state = describePushState(err.refusal, atomic, pushedBefore);
    const { what, fix } = explainPushRefusal(err, {
      remote: r.remote,
      repository: quoteForeign(r.label),
      refs: 'a branch or tag',
      branch: r.move.branch,
      permissions: ['Contribute', 'Create branch', 'Create tag'],
      rerun: 'the promotion reads the new state',
      withoutDirectPush: "use 'strategy: pull-request'",
    });
    return new UserError(`${where}${what}. ${state}`, { input: err.refusal === 'policy' ? 'strategy' : undefined, fix });
  }
  if (err instanceof GitCommandError)
    return new UserError(`${where}git ${err.args[0]} failed: ${quoteForeign(err.stderr.trim().replace(/\s+/g, ' '))}.`, {
      fix: 'see the git message above.',
    });
  return err;
}

/** What a refused push left on the remote, for the failure message. */
function describePushState(refusal: PushError['refusal'], atomic: boolean, pushedBefore: readonly string[]): string {
  if (refusal === 'timeout') return 'The push did not complete.';
  if (atomic || refusal === 'local' || !pushedBefore.length) return 'Nothing was pushed.';
  const their = pushedBefore.length > 1 ? 'their' : 'its';
  return `The server does not advertise atomic pushes, so the refs went one by one: ${pushedBefore.map(shortRef).join(', ')} went back to ${their} recorded value (lease on the value just pushed).`;
}
