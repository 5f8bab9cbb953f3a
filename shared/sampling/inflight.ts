/**
 * The engines' one operation under way (a statement, a rename), known to the undo: a
 * cancellation stops the run between operations, but the one already started may still land
 * (a rename the file system has not finished, a statement the warehouse still runs). An undo
 * step waits for it (bounded) before it looks at what is there, so it never reads a state that
 * changes under it.
 */
import { CancelledError, isCancelled } from '../processes';

export class InFlight {
  private current: Promise<unknown> = Promise.resolve();

  /** Runs `work` as the operation under way; refused once the run is cancelled. */
  async run<T>(doing: string, work: () => Promise<T>): Promise<T> {
    if (isCancelled()) throw new CancelledError(doing);
    return this.track(work());
  }

  /** Tracks an operation of the undo itself (not refused after a cancellation). */
  track<T>(promise: Promise<T>): Promise<T> {
    this.current = promise.then(
      () => undefined,
      () => undefined,
    );
    return promise;
  }

  /** Resolves when the operation under way has ended, or after `ms`, whichever comes first. */
  settled(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([this.current.then(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, ms)))]).finally(() =>
      clearTimeout(timer),
    );
  }
}

/** Throws CancelledError once the run is cancelled: between the steps of a swap. */
export function refuseIfCancelled(doing: string): void {
  if (isCancelled()) throw new CancelledError(doing);
}
