/**
 * Pushing several refs so that all land or none do, and telling why a push was refused: a
 * local hook, a race with another run, the server's permissions or policies.
 */
import { GitCommandError, GitTimeoutError } from './exec';
import { ZERO_SHA, type Git } from './index';

export interface RefUpdate {
  /** What to push: a commit sha or a local ref name. */
  source: string;
  /** The full remote ref, e.g. refs/heads/main or refs/tags/v1.0.0. */
  ref: string;
  /** The object id the remote ref will have after the push (the lease for rollback). */
  pushed: string;
  /** The remote ref's value when the run read it; ZERO_SHA when it did not exist. */
  previous: string;
}

/**
 * Why a push was refused:
 * - `local`: nothing reached the remote (a pre-push hook or another local check said no);
 * - `race`: a ref moved on the remote since this run read it (another run pushed first);
 * - `auth`: the server refused the credentials or a permission;
 * - `policy`: Azure Repos branch policies block direct pushes (TF402455);
 * - `timeout`: the remote stopped answering;
 * - `server`: the server refused for another reason (its hooks, its rules).
 */
export type PushRefusal = 'local' | 'race' | 'auth' | 'policy' | 'timeout' | 'server';

export class PushError extends GitCommandError {
  constructor(
    cause: GitCommandError,
    readonly refusal: PushRefusal,
    readonly reason: string,
  ) {
    super(cause.args, cause.stderr, cause.stdout, `git push failed (${refusal}): ${reason}`);
    this.name = 'PushError';
  }
}

/** A push refused part-way whose rollback was refused too: `left` are the refs that stayed. */
export class PartialPushError extends PushError {
  constructor(
    cause: PushError,
    readonly left: RefUpdate[],
  ) {
    super(cause, cause.refusal, cause.reason);
    this.name = 'PartialPushError';
  }
}

/** The server's own check that a ref still has the value the push expected (git; Azure Repos TF401028). */
const RACE = /cannot lock ref '[^']+': is at [0-9a-f]+ but expected|TF401028/;
const AUTH = /\b40[13]\b|Authentication failed|could not read Username|TF401027|TF401019|permission/i;

/** Reads git's porcelain output and stderr to tell who refused the push and why, in git's words. */
export function explainPushFailure(err: GitCommandError): PushError {
  if (err instanceof PushError) return err;
  const refused = err.stdout.split('\n').filter((l) => l.startsWith('!\t') && !/\(atomic push failed\)/.test(l));
  const messages = err.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(
      (l) => l && !/^remote:\s*$/.test(l) && !/^hint:|failed to push some refs|^To |atomic push failed for ref|remote end hung up/.test(l),
    );
  const reason = [...refused.map((l) => l.split('\t').slice(1).join(' ')), ...messages].join('; ').replace(/\s+/g, ' ') || err.message;
  let refusal: PushRefusal;
  if (err instanceof GitTimeoutError) refusal = 'timeout';
  else if (/TF402455/.test(err.stderr)) refusal = 'policy';
  else if (
    refused.some((l) => /\[rejected\] \((stale info|fetch first|non-fast-forward|already exists)\)/.test(l)) ||
    RACE.test(err.stderr)
  )
    refusal = 'race';
  else if (AUTH.test(err.stderr)) refusal = 'auth';
  else if (refused.length || /^To /m.test(err.stdout)) refusal = 'server';
  else refusal = 'local';
  return new PushError(err, refusal, reason);
}

/**
 * Pushes refs so that either all land or none do, each with a lease on the value this run read
 * (so another run's push is never overwritten). Uses `--atomic` where the server advertises
 * it; otherwise pushes ref by ref in the given order and, if one fails, puts back the refs
 * already pushed. If a rollback itself is refused, throws a PartialPushError naming what was left.
 */
export async function pushAll(git: Git, remote: string, updates: RefUpdate[]): Promise<void> {
  if (!updates.length) return;
  const lease = (u: RefUpdate) => `--force-with-lease=${u.ref}:${u.previous === ZERO_SHA ? '' : u.previous}`;
  const push = (us: RefUpdate[], extra: string[] = []) =>
    git.remote(
      ['push', '--porcelain', ...extra, ...us.map(lease), '--', remote, ...us.map((u) => `${u.source}:${u.ref}`)],
      remote,
      `pushing ${us.map((u) => u.ref).join(', ')}`,
    );
  try {
    await push(updates, ['--atomic']);
    return;
  } catch (err) {
    if (!(err instanceof GitCommandError)) throw err;
    if (!/does not support --atomic/i.test(err.stderr)) throw explainPushFailure(err);
  }
  const done: RefUpdate[] = [];
  try {
    for (const u of updates) {
      await push([u]);
      done.push(u);
    }
  } catch (err) {
    if (!(err instanceof GitCommandError)) throw err;
    const failure = explainPushFailure(err);
    const left: RefUpdate[] = [];
    for (const u of done.reverse()) {
      const target = u.previous === ZERO_SHA ? `:${u.ref}` : `+${u.previous}:${u.ref}`;
      await git
        .remote(
          ['push', '--porcelain', `--force-with-lease=${u.ref}:${u.pushed}`, '--', remote, target],
          remote,
          `undoing the push of ${u.ref}`,
        )
        .catch(() => left.push(u));
    }
    throw left.length ? new PartialPushError(failure, left) : failure;
  }
}

/**
 * Puts pushed refs back to the values they had before the push, each with a lease on the value
 * pushed (another run's later push is never overwritten). Reads the remote first, so it is right
 * whether the push landed, landed in part or never happened: a ref that is not at the value
 * this run pushed is left alone. Throws naming the refs it could not put back.
 */
export async function putBackRemoteRefs(git: Git, remote: string, updates: RefUpdate[]): Promise<void> {
  // Object ids as they are (a tag's own object, not the commit it peels to).
  const listed = await git.remote(['ls-remote', '--', remote, ...updates.map((u) => u.ref)], remote, 'reading the refs to put back');
  const current = new Map(
    listed
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split('\t'))
      .map(([sha, ref]) => [ref, sha]),
  );
  const left: string[] = [];
  for (const u of [...updates].reverse()) {
    // Not at what this run pushed: the push did not land there (or another run moved it since); not ours to touch.
    if ((current.get(u.ref) ?? ZERO_SHA) !== u.pushed) continue;
    const target = u.previous === ZERO_SHA ? `:${u.ref}` : `+${u.previous}:${u.ref}`;
    await git
      .remote(['push', '--porcelain', `--force-with-lease=${u.ref}:${u.pushed}`, '--', remote, target], remote, `putting back ${u.ref}`)
      .catch((err: Error) => left.push(`${u.ref} (${err.message.split('\n')[0]})`));
  }
  if (left.length) throw new Error(`could not put back ${left.join(', ')}`);
}
