/**
 * Every process a task starts (git, python) is started here: in a process group of its own, so
 * that stopping it stops its helpers too (git-remote-http, a build backend's compilers); with a
 * bound; and known to the run, so that a cancellation stops all of them at once. Once the run
 * is cancelled, no new process starts until the undo journal takes over (`allowUndoWork`).
 *
 * Plain Node: no task-lib, no process.env reads.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** The run was cancelled (the agent sent SIGINT or SIGTERM): what was under way is abandoned. */
export class CancelledError extends Error {
  constructor(readonly doing = '') {
    super(`cancelled${doing ? ` while ${doing}` : ''}`);
    this.name = 'CancelledError';
  }
}

const live = new Set<ChildProcess>();
const controller = new AbortController();
let refusing = false;

/** Aborted when the run is cancelled: HTTP requests and waits take it. */
export const cancelSignal: AbortSignal = controller.signal;

export function isCancelled(): boolean {
  return controller.signal.aborted;
}

/** Throws CancelledError when the run was cancelled and the undo has not started: for long loops between processes. */
export function throwIfCancelled(doing?: string): void {
  if (refusing) throw new CancelledError(doing);
}

/**
 * Marks the run cancelled: no new process starts, `cancelSignal` aborts, and every running
 * process group gets SIGTERM (git and python clean up their lock files on it), then SIGKILL
 * after `graceMs`. Resolves when every process has exited (or was killed).
 */
export async function cancelRun(graceMs = 1000): Promise<void> {
  refusing = true;
  if (!controller.signal.aborted) controller.abort(new CancelledError());
  await stopAll(graceMs);
}

/** The undo journal runs processes of its own (git to put refs back) after a cancellation. */
export function allowUndoWork(): void {
  refusing = false;
}

async function stopAll(graceMs: number): Promise<void> {
  const children = [...live];
  await Promise.all(children.map((c) => stopGroup(c, graceMs)));
}

/** SIGTERM to the child's whole group, SIGKILL after `graceMs`; resolves once it has exited. */
export function stopGroup(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        try {
          child.kill(signal);
        } catch {
          // already gone
        }
      }
    };
    const timer = setTimeout(() => kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    kill('SIGTERM');
  });
}

export interface StartOptions extends Omit<SpawnOptions, 'detached'> {
  /** What the process is for, for the cancellation error. */
  doing?: string;
}

/**
 * Starts a process in its own group and keeps track of it until it exits. Throws
 * CancelledError (synchronously) when the run is being cancelled.
 */
export function startProcess(command: string, args: readonly string[], options: StartOptions): ChildProcess {
  throwIfCancelled(options.doing);
  const spawnOptions: SpawnOptions = { ...options, detached: process.platform !== 'win32' };
  delete (spawnOptions as StartOptions).doing;
  const child = spawn(command, args, spawnOptions);
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}
