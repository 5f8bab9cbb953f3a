/**
 * Carrying a promotion plan out, all or nothing. Per repository, the branch update, the
 * back-merges and the tag go in one push: `--atomic` where the server advertises it, else ref
 * by ref with the pushed refs put back on a refusal (shared/git/push.ts). Across repositories:
 * when one is refused, the ones already promoted are put back too (a lease on the value this run
 * pushed, so nobody else's push is overwritten). Pull requests are opened only once every push
 * landed; if one cannot be opened, every push is put back.
 */
import { mapLimit } from '../concurrency';
import { UserError } from '../errors';
import { GitCommandError, ZERO_SHA, type Git } from '../git';
import { explainPushFailure, PartialPushError, PushError, pushAll, type RefUpdate } from '../git/push';
import type { Log } from '../log';
import type { RepositoryPlan, PromotionPlan } from './plan';

export interface OpenedPullRequest {
  id: number;
  url: string;
  reused: boolean;
}

/** Opens a pull request in a repository, or updates the open one for the same branches. */
export type OpenPullRequest = (repo: RepositoryPlan, req: { sourceRef: string; targetRef: string; title: string; description: string }) => Promise<OpenedPullRequest>;

export interface RepositoryResult {
  name: string;
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

export async function applyPromotion(plan: PromotionPlan, opts: { openPullRequest?: OpenPullRequest; parallel: number; log: Log }): Promise<PromotionResult> {
  const log = opts.log;
  const settled = await mapLimit(plan.repositories, opts.parallel, (r) => pushRepository(r, log).then((result) => ({ result }), (error: unknown) => ({ error: new RepositoryFailure(r, error) })));
  const results = settled.filter((s): s is { result: RepositoryResult } => 'result' in s).map((s) => s.result);
  const failure = settled.find((s): s is { error: RepositoryFailure } => 'error' in s)?.error;
  if (failure) throw await undoAll(plan, results, failure, log);
  let current = plan.repositories[0];
  try {
    for (const [i, r] of plan.repositories.entries()) {
      current = r;
      const result = results[i];
      if (r.pullRequest) {
        if (!opts.openPullRequest) throw new Error('pull-request strategy without a pull-request service');
        result.pullRequest = await opts.openPullRequest(r, r.pullRequest);
        log.info(`${r.name}: ${result.pullRequest.reused ? 'updated the open' : 'opened'} pull request ${result.pullRequest.id}: ${result.pullRequest.url}`);
      }
      for (const bm of r.backMerges.filter((b) => b.status === 'pull-request')) {
        if (!opts.openPullRequest) throw new Error('a back-merge pull request without a pull-request service');
        const pr = await opts.openPullRequest(r, {
          sourceRef: bm.pullRequestRef!,
          targetRef: bm.ref,
          title: `Back-merge ${r.tag.tag} into ${bm.branch}`,
          description: `Merging ${r.commit.slice(0, 12)} (${r.tag.tag}) back into '${bm.branch}' conflicts in: ${bm.conflicts!.join(', ')}. Resolve the conflicts here.\n\nOpened by Relevo PromoteBranch.`,
        });
        result.backMergePullRequests.push({ ...pr, branch: bm.branch });
        log.warn(`${r.name}: merging ${r.tag.tag} back into '${bm.branch}' conflicts (${bm.conflicts!.join(', ')}): ${pr.reused ? 'updated the open' : 'opened'} pull request ${pr.id} to resolve it: ${pr.url}`);
      }
    }
  } catch (err) {
    throw await undoAll(plan, results, new RepositoryFailure(current, err), log);
  }
  return { repositories: results };
}

async function pushRepository(r: RepositoryPlan, log: Log): Promise<RepositoryResult> {
  const result: RepositoryResult = { name: r.name, pushed: [], backMergePullRequests: [] };
  if (!r.refs.length) {
    log.info(`${r.name}: nothing to push.`);
    return result;
  }
  const updates: RefUpdate[] = [];
  try {
    for (const p of r.refs) {
      if (p.tag) {
        // The tag object only: no local ref to clean up if the push is refused.
        const text = `object ${p.to}\ntype commit\ntag ${p.tag.name}\ntagger ${r.tagger} ${Math.floor(Date.now() / 1000)} +0000\n\n${p.tag.message}\n`;
        const object = (await r.git.run(['mktag'], { input: text })).trim();
        updates.push({ source: object, ref: p.ref, pushed: object, previous: ZERO_SHA });
        result.createdTag = p.tag.name;
      } else if (p.ref.startsWith('refs/tags/')) updates.push({ source: p.ref, ref: p.ref, pushed: (await r.git.run(['rev-parse', p.ref])).trim(), previous: ZERO_SHA });
      else updates.push({ source: p.to, ref: p.ref, pushed: p.to, previous: p.previous });
    }
    await pushAll(r.git, r.remote, updates);
    result.pushed = updates;
    log.info(`${r.name}: pushed ${updates.map((u) => `${u.ref.replace(/^refs\/(heads|tags)\//, '')} → ${u.pushed.slice(0, 12)}`).join(', ')} to '${r.remote}'.`);
    return result;
  } catch (err) {
    throw err instanceof GitCommandError ? explainPushFailure(err) : err;
  }
}

/** Puts back what other repositories pushed and turns the failure into the task's message. */
async function undoAll(plan: PromotionPlan, results: RepositoryResult[], failure: RepositoryFailure, log: Log): Promise<unknown> {
  const putBack: string[] = [];
  const left: string[] = [];
  for (const result of results) {
    const r = plan.repositories.find((p) => p.name === result.name)!;
    if (result.pushed.length) {
      const stayed = await undoPushes(r.git, r.remote, result.pushed);
      if (stayed.length) left.push(...stayed.map((u) => `${r.name} ${u.ref} (now ${u.pushed.slice(0, 12)}, was ${u.previous === ZERO_SHA ? 'absent' : u.previous.slice(0, 12)})`));
      else putBack.push(r.name);
      log.warn(`${r.name}: ${stayed.length ? 'could not put back every ref' : 'put back'} after the failure of ${failure.plan.name}.`);
    }
  }
  // Opened by this run before the failure: their source branches were just deleted (a reused one's went back to its old value).
  const opened = results.flatMap((result) => [...(result.pullRequest ? [result.pullRequest] : []), ...result.backMergePullRequests].filter((pr) => !pr.reused).map((pr) => `pull request ${pr.id} (${result.name}): ${pr.url}`));
  const others = putBack.length ? ` The repositories already promoted were put back (branches to their recorded values, tags deleted): ${putBack.join(', ')}.` : '';
  const stuck = left.length ? ` Putting back was refused for: ${left.join('; ')}; reset them by hand.` : '';
  const dangling = opened.length ? ` Opened before the failure, now without its source branch: ${opened.join('; ')}; abandon ${opened.length > 1 ? 'them' : 'it'}.` : '';
  return explainFailure(failure, plan.repositories.length > 1, others + stuck + dangling);
}

/** Undoes pushed refs, newest first, each with a lease on the value this run pushed; returns those that stayed. */
async function undoPushes(git: Git, remote: string, updates: RefUpdate[]): Promise<RefUpdate[]> {
  const left: RefUpdate[] = [];
  for (const u of [...updates].reverse()) {
    const target = u.previous === ZERO_SHA ? `:${u.ref}` : `+${u.previous}:${u.ref}`;
    await git.remote(['push', '--porcelain', `--force-with-lease=${u.ref}:${u.pushed}`, remote, target], remote, `putting back ${u.ref}`).catch(() => left.push(u));
  }
  return left;
}

function explainFailure(failure: RepositoryFailure, several: boolean, after: string): unknown {
  const err = failure.error;
  const r = failure.plan;
  const where = several ? `${r.name}: ` : '';
  if (err instanceof UserError) return after ? new UserError(`${err.message}${after}`) : err;
  if (err instanceof PartialPushError) {
    const stayed = err.left.map((u) => `${u.ref} is at ${u.pushed.slice(0, 12)} (was ${u.previous === ZERO_SHA ? 'absent' : u.previous.slice(0, 12)})`).join(', ');
    return new UserError(`${where}the push was refused part-way (${err.reason}) and putting the pushed refs back was refused too: ${stayed}.${after}`, {
      fix: `reset those refs on '${r.remote}' by hand, then fix the cause above; a server that advertises atomic pushes avoids this.`,
    });
  }
  if (err instanceof PushError) {
    const atomic = err.args.includes('--atomic');
    const failedRef = err.args[err.args.length - 1]?.split(':').pop() ?? '';
    const pushedBefore = r.refs.map((p) => p.ref).slice(0, Math.max(0, r.refs.findIndex((p) => p.ref === failedRef)));
    const refs = r.refs.map((p) => p.ref.replace(/^refs\/(heads|tags)\//, '')).join(', ');
    // A stalled connection says nothing about what the server did before it stalled.
    const state = err.refusal === 'timeout'
      ? `The push did not complete, so ${refs} may or may not have reached '${r.remote}': look there before re-running.`
      : atomic || err.refusal === 'local' || !pushedBefore.length
      ? 'Nothing was pushed.'
      : `The server does not advertise atomic pushes, so the refs went one by one: ${pushedBefore.map((ref) => ref.replace(/^refs\/(heads|tags)\//, '')).join(', ')} went back to ${pushedBefore.length > 1 ? 'their' : 'its'} recorded value (lease on the value just pushed).`;
    const fixes: Record<string, string> = {
      local: "a local hook (pre-push, or core.hooksPath) said no: see its message; fix what it reports or remove the hook from the agent's checkout.",
      race: 'another run pushed first: re-run the promotion; it reads the new state.',
      policy: `use 'strategy: pull-request', or give the build service identity ("<project> Build Service (<organization>)") 'Contribute', 'Create tag' and 'Bypass policies when pushing' on ${r.name}.`,
      auth: `give the build service identity ("<project> Build Service (<organization>)") 'Contribute', 'Create branch' and 'Create tag' on ${r.name} (Project settings → Repositories → Security).`,
      timeout: 'check that the agent can reach the remote, then re-run (check first whether the refs arrived).',
      server: 'the server (a hook or a permission) refused a ref: see its message above; fix that, then re-run.',
    };
    const what = err.refusal === 'policy' ? `a branch policy on '${r.move.branch}' refused the direct push (TF402455)` : `the push to '${r.remote}' was refused (${err.refusal}): ${err.reason}`;
    return new UserError(`${where}${what}. ${state}${after}`, { input: err.refusal === 'policy' ? 'strategy' : undefined, fix: fixes[err.refusal] });
  }
  if (err instanceof GitCommandError) return new UserError(`${where}git ${err.args[0]} failed: ${err.stderr.trim().replace(/\s+/g, ' ')}.${after}`, { fix: 'see the git message above.' });
  return err;
}
