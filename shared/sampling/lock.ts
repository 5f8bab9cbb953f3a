/**
 * One run per target. Before anything is staged, a run takes a lock on each target it will
 * replace; a second run on the same target fails at once, naming the run that holds it. The
 * lock says who holds it (run id, host, pid, start time), so a lock a killed run left behind
 * can be recognised: on the same host, a holder whose process is gone is stale and taken over;
 * a holder on another host cannot be checked from here, so the run is refused and the message
 * says how to clear it.
 *
 * Files (DuckDB): `<target>.relevo-lock`, created exclusively (`O_EXCL`), beside the target.
 * Tables (Databricks): see databricksEngine.ts (a lock table created with CREATE TABLE … AS,
 * which fails when the table exists).
 */
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { UserError } from '../errors';
import { quoteForeign } from '../output';

export interface LockHolder {
  runId: string;
  host: string;
  pid: number;
  startedAt: string;
}

/** This run's identity, the same for every lock it takes. */
export function newHolder(): LockHolder {
  return { runId: randomUUID(), host: hostname(), pid: process.pid, startedAt: new Date().toISOString() };
}

/** The run's tag in its staging names: the first 8 hex digits of its run id. */
export function runTag(h: LockHolder): string {
  return h.runId.replace(/-/g, '').slice(0, 8).toLowerCase();
}

export function describeHolder(h: Partial<LockHolder>): string {
  return `run ${h.runId ?? '?'} on host ${h.host ?? '?'} (pid ${h.pid ?? '?'}) since ${h.startedAt ?? '?'}`;
}

/** True when the process is known to be gone (same host, no such pid). */
export function holderIsGone(h: Partial<LockHolder>, host = hostname()): boolean {
  if (h.host !== host || typeof h.pid !== 'number' || !(h.pid > 0)) return false;
  try {
    process.kill(h.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** A lock file being written by its creator may be empty for a moment: not stale before this. */
const UNREADABLE_GRACE_MS = 60_000;

function readHolder(path: string): Partial<LockHolder> | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
  } catch {
    return undefined;
  }
}

export function lockFile(target: string): string {
  return `${target.replace(/[\\/]+$/, '')}.relevo-lock`;
}

/**
 * Takes the lock file of a target folder for `holder`, or throws a UserError naming the holder.
 * A stale lock (its process gone, on this host; or unreadable for a minute) is moved aside
 * (one rename: of two runs taking it over at once, one wins) and the lock taken again.
 * `onStale` is told about a lock taken over.
 */
export function takeFileLock(target: string, holder: LockHolder, at: string, onStale: (previous: string) => void = () => undefined): void {
  const path = lockFile(target);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, `${JSON.stringify(holder, null, 2)}\n`);
      } finally {
        closeSync(fd);
      }
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const held = readHolder(path);
    let age = 0;
    try {
      age = Date.now() - statSync(path).mtimeMs;
    } catch {
      continue; // released in between: try again
    }
    const stale = held ? holderIsGone(held) : age > UNREADABLE_GRACE_MS;
    if (stale && attempt < 3) {
      const aside = `${path}.stale-${holder.runId}`;
      try {
        renameSync(path, aside);
      } catch {
        continue; // another run took it over first
      }
      const moved = readHolder(aside);
      if (held && moved?.runId !== held.runId) {
        // Between our read and our rename another run took the lock over: it is theirs, give it back.
        try {
          renameSync(aside, path);
        } catch {
          /* their lock stays aside; they still hold the target by their own account */
        }
        continue;
      }
      rmSync(aside, { force: true });
      onStale(held ? describeHolder(held) : `an unreadable lock file (${Math.round(age / 1000)} s old)`);
      continue;
    }
    throw new UserError(
      `${at}: another run is regenerating '${quoteForeign(target)}': ${quoteForeign(describeHolder(held ?? {}))} holds its lock ${quoteForeign(path)}; nothing was staged or replaced.`,
      {
        fix: `wait for that run to end and run again. If no run is going on (its agent was stopped or lost), delete ${quoteForeign(path)} and run again.`,
      },
    );
  }
}

/** Removes the lock file if this run holds it (never another run's). */
export function releaseFileLock(target: string, holder: LockHolder): void {
  const path = lockFile(target);
  if (readHolder(path)?.runId === holder.runId) rmSync(path, { force: true });
}
