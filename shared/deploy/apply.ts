/**
 * The deploy plan carried out: every Git folder moved to its component's tag (and checked to be
 * on the tag's commit), every job's `git_source` pinned, at most `parallel` at a time. Each move
 * is registered with the run's undo journal before its request is sent, with a step that puts
 * the folder (or job) back where the plan found it; a step whose move never happened finds the
 * target where it was and does nothing. When a move fails no new move starts, the moves under
 * way finish, and the error goes up: the journal puts back everything (agent.runTask), in
 * parallel — one put-back starts them all, so fifty folders go back in the time of one.
 */
import { UserError } from '../errors';
import type { Log } from '../log';
import { quoteForeign } from '../output';
import { isCancelled, CancelledError } from '../processes';
import { journal as runJournal, type UndoJournal } from '../undo';
import type { DatabricksAuth } from '../clients/databricks';
import {
  gitCredentialFix,
  isGitCredentialError,
  isUncommittedChangesError,
  type GitSource,
  type WorkspaceClient,
} from '../clients/databricksWorkspace';
import { mapLimit } from '../concurrency';
import { describeFrom, describeTarget, describeTo, type DeployPlan, type FolderTarget, type JobTarget, type Target } from './plan';

export interface ApplyOptions {
  parallel: number;
  discardLocalChanges: boolean;
  gitCredentialId?: number;
  /** How the connection signs in: the Git credential advice depends on it. */
  authKind: DatabricksAuth['kind'];
  log: Log;
  journal?: UndoJournal;
}

export interface Deployed {
  component: string;
  /** The folder's path, or `job:<id>`. */
  target: string;
  from: string;
  to: string;
  commit: string;
  changed: boolean;
  /** Uncommitted changes in the folder were discarded (discardLocalChanges); Databricks' words about them. */
  discarded?: string;
  /** A link to the folder or job in the workspace. */
  link?: string;
  /** The job's name. */
  name?: string;
  /** The component's tag (for a job pinned to its commit too). */
  version?: string;
}

export interface DeployResult {
  deployed: Deployed[];
  moved: number;
}

export async function applyDeploy(client: WorkspaceClient, plan: DeployPlan, opts: ApplyOptions): Promise<DeployResult> {
  const journal = opts.journal ?? runJournal;
  const putBack = new PutBack(client, opts);
  const targets: Target[] = [...plan.folders, ...plan.jobs];
  const discarded = new Map<Target, string>();
  const created = new Map<Target, number>();
  const failures: Array<{ target: Target; error: unknown }> = [];
  await mapLimit(
    targets.filter((t) => t.action !== 'unchanged'),
    opts.parallel,
    async (t) => {
      if (failures.length || isCancelled()) return;
      journal.register(putBack.describe(t), () => putBack.run(t));
      try {
        if (t.kind === 'job') await moveJob(client, t, putBack);
        else {
          const done = await moveFolder(client, t, opts, putBack);
          if (done.discarded) discarded.set(t, done.discarded);
          if (done.createdId !== undefined) created.set(t, done.createdId);
        }
        opts.log.info(
          `${t.component} → ${describeTarget(t)}: ${t.action === 'create' ? 'created, ' : ''}${describeTo(t)}${discarded.has(t) ? ' (uncommitted changes discarded)' : ''}.`,
        );
      } catch (err) {
        failures.push({ target: t, error: err });
      }
    },
  );
  if (failures.length) throw explainFailure(failures, opts.authKind);
  if (isCancelled()) throw new CancelledError('deploying');
  const deployed = targets.map((t) => deployedEntry(plan.host, t, created.get(t), discarded.get(t)));
  const moved = deployed.filter((d) => d.changed).length;
  if (moved) journal.landed(`${moved} Git folder(s) and job(s) deployed`);
  return { deployed, moved };
}

/** What the plan would do, as the `deployed` output says it (a dry run, or a re-run that moves nothing). */
export function plannedEntries(plan: DeployPlan): Deployed[] {
  return [...plan.folders, ...plan.jobs].map((t) => deployedEntry(plan.host, t));
}

function deployedEntry(host: string, t: Target, createdId?: number, discarded?: string): Deployed {
  const changed = t.action !== 'unchanged';
  if (t.kind === 'job') {
    const p = t.previous;
    return {
      component: t.component,
      target: `job:${t.jobId}`,
      name: t.name,
      from: p.git_commit ?? p.git_tag ?? p.git_branch ?? '',
      to: t.next.git_commit ?? t.next.git_tag ?? '',
      commit: t.commit,
      changed,
      link: `${host}/jobs/${t.jobId}`,
      version: t.tag,
    };
  }
  const id = t.repo?.id ?? createdId;
  return {
    component: t.component,
    target: t.path,
    from: fromRef(t.from),
    to: t.to.tag,
    commit: t.to.commit,
    changed,
    version: t.to.tag,
    ...(discarded ? { discarded } : {}),
    ...(id !== undefined ? { link: `${host}/browse/folders/${id}` } : {}),
  };
}

async function moveFolder(
  client: WorkspaceClient,
  t: FolderTarget,
  opts: ApplyOptions,
  putBack: PutBack,
): Promise<{ discarded?: string; createdId?: number }> {
  let id = t.repo?.id;
  let createdId: number | undefined;
  if (t.action === 'create') {
    const repo = await putBack.track(
      t,
      client.createRepo({ url: t.url, provider: t.provider, path: t.path, gitCredentialId: opts.gitCredentialId }),
    );
    id = createdId = repo.id;
  }
  const move = (discard: boolean) =>
    putBack.track(
      t,
      client.updateRepo(id!, { tag: t.to.tag }, { gitCredentialId: opts.gitCredentialId, discardLocalChanges: discard, path: t.path }),
    );
  let discarded: string | undefined;
  try {
    await move(false);
  } catch (err) {
    if (!isUncommittedChangesError(err)) throw err;
    if (!opts.discardLocalChanges) {
      throw new UserError(
        `the Git folder ${quoteForeign(t.path)} has uncommitted changes (someone edited it in the workspace), and Databricks refused to move it: ${quoteForeign(err.serverMessage ?? '')}`,
        {
          input: 'discardLocalChanges',
          fix: `commit or discard those changes in the folder (folder → Git…), or, if ${t.path} is a read-only mirror nobody edits, set discardLocalChanges: true (the changes are destroyed).`,
        },
      );
    }
    if (isCancelled()) throw new CancelledError(`moving ${t.path}`);
    discarded = err.serverMessage || 'uncommitted changes';
    opts.log.warn(`${quoteForeign(t.path)}: uncommitted changes discarded (discardLocalChanges): ${quoteForeign(discarded)}`);
    await move(true);
  }
  if (isCancelled()) return { discarded, createdId };
  const now = await client.getRepo(id!);
  if (now.headCommitId !== t.to.commit) {
    throw new UserError(
      `the Git folder ${quoteForeign(t.path)} accepted the move to ${t.to.tag}, but its head is ${now.headCommitId?.slice(0, 12) ?? 'unknown'}, not ${t.to.commit.slice(0, 12)} (the commit ${t.to.tag} stands for).`,
      {
        fix: `check that ${t.to.tag} on ${t.url} is the tag Databricks pulls (the folder's remote), and that the folder is not in a sparse or broken checkout; then re-run.`,
      },
    );
  }
  return { discarded, createdId };
}

async function moveJob(client: WorkspaceClient, t: JobTarget, putBack: PutBack): Promise<void> {
  await putBack.track(t, client.setJobGitSource(t.jobId, t.next));
  if (isCancelled()) return;
  const now = await client.getJob(t.jobId);
  if (!sameSource(now.gitSource, t.next)) {
    throw new UserError(
      `job ${t.jobId} accepted the new git_source, but reads back ${quoteForeign(JSON.stringify(now.gitSource ?? null))}.`,
      { fix: 'someone else is editing the job: re-run once they are done.' },
    );
  }
}

/** The branch or tag a folder was at before, '' when it is new. */
function fromRef(from: FolderTarget['from']): string {
  if (!from) return '';
  return 'branch' in from ? from.branch : from.tag;
}

function sameSource(a: GitSource | undefined, b: GitSource | undefined): boolean {
  const pick = (s: GitSource | undefined) =>
    JSON.stringify([s?.git_url, s?.git_provider?.toLowerCase(), s?.git_branch, s?.git_tag, s?.git_commit]);
  return pick(a) === pick(b);
}

function explainFailure(failures: Array<{ target: Target; error: unknown }>, authKind: DatabricksAuth['kind']): unknown {
  const [first] = failures;
  const others =
    failures.length > 1
      ? ` (${failures.length - 1} other move(s) failed too: ${failures
          .slice(1)
          .map((f) => describeTarget(f.target))
          .join(', ')})`
      : '';
  const err = first.error;
  const what = `${first.target.component} → ${describeTarget(first.target)}`;
  if (isGitCredentialError(err)) {
    return new UserError(
      `${what}: Databricks could not pull ${first.target.kind === 'folder' ? quoteForeign(first.target.url) : 'the repository'}: the identity has no usable Git credential (${err.errorCode ?? `HTTP ${err.status}`}: ${quoteForeign(err.serverMessage ?? '')})${others}.`,
      {
        input: 'gitCredentialId',
        fix: gitCredentialFix(authKind, { chooseCredential: err.errorCode === 'GIT_CLI_CANNOT_CHOOSE_CREDENTIAL' }),
      },
    );
  }
  if (err instanceof CancelledError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const fixAt = message.indexOf(' Fix: ');
  if (err instanceof UserError)
    return new UserError(`${what}: ${fixAt >= 0 ? message.slice(0, fixAt) : message}${others}`, {
      fix: fixAt >= 0 ? message.slice(fixAt + 6) : undefined,
      cause: err,
    });
  return err;
}

// ---------------------------------------------------------------------------------------------
// Putting back
// ---------------------------------------------------------------------------------------------

/**
 * Puts moved targets back where the plan found them. Each target's request is tracked while it
 * is under way: a put-back waits for it (a PATCH still running when a cancel comes could land
 * after the put-back otherwise), then reads the target and moves it back only if it is not where
 * it was. The first put-back the journal runs starts all of them (bounded by `parallel`); the
 * others wait for their own.
 */
class PutBack {
  private readonly inFlight = new Map<Target, Promise<unknown>>();
  private batch?: Map<Target, Promise<void>>;

  constructor(
    private readonly client: WorkspaceClient,
    private readonly opts: ApplyOptions,
  ) {}

  /** The request under way for `t`; the put-back waits for it to end. */
  track<T>(t: Target, request: Promise<T>): Promise<T> {
    const previous = this.inFlight.get(t) ?? Promise.resolve();
    this.inFlight.set(
      t,
      Promise.all([
        previous,
        request.then(
          () => undefined,
          () => undefined,
        ),
      ]),
    );
    return request;
  }

  describe(t: Target): string {
    if (t.kind === 'job') return `job ${t.jobId}${t.name ? ` (${quoteForeign(t.name)})` : ''} back to ${describeFrom(t)}`;
    if (t.action === 'create') return `the Git folder ${quoteForeign(t.path)} (created by this run) removed`;
    return `the Git folder ${quoteForeign(t.path)} back on ${describeFrom(t)}`;
  }

  run(t: Target): Promise<void> {
    if (!this.batch) {
      const started = [...this.inFlight.keys()];
      const done = new Map(started.map((target) => [target, deferred()]));
      this.batch = new Map(started.map((target) => [target, done.get(target)!.promise]));
      // Bounded: at most `parallel` put-backs at once; each settles its own promise.
      void mapLimit(started, this.opts.parallel, async (target) => {
        try {
          await this.putBack(target);
          done.get(target)!.resolve();
        } catch (err) {
          done.get(target)!.reject(err);
        }
      });
    }
    return this.batch.get(t) ?? this.putBack(t);
  }

  private async putBack(t: Target): Promise<void> {
    await this.inFlight.get(t);
    if (t.kind === 'job') return this.putBackJob(t);
    if (t.action === 'create') {
      const object = await this.client.objectStatus(t.path);
      if (object?.objectType === 'REPO' && object.objectId !== undefined) await this.client.deleteRepo(object.objectId);
      return;
    }
    const from = t.from!;
    const at = (r: { branch?: string; headCommitId?: string }) =>
      'branch' in from ? r.branch === from.branch : !r.branch && r.headCommitId === from.commit;
    if (at(await this.client.getRepo(t.repo!.id))) return;
    await this.client.updateRepo(t.repo!.id, 'branch' in from ? { branch: from.branch } : { tag: from.tag }, {
      gitCredentialId: this.opts.gitCredentialId,
      path: t.path,
    });
    const now = await this.client.getRepo(t.repo!.id);
    if (!at(now))
      throw new Error(`it is on ${now.branch ? `branch ${now.branch}` : `commit ${now.headCommitId?.slice(0, 12)}`} after the move back`);
  }

  private async putBackJob(t: JobTarget): Promise<void> {
    const now = await this.client.getJob(t.jobId);
    if (sameSource(now.gitSource, t.previous)) return;
    await this.client.setJobGitSource(t.jobId, t.previous);
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A put-back the journal no longer waits for (out of time) is not an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
