/**
 * One undo journal for the run. Every change a task makes (a file, the index, a local or
 * remote ref, a table, a cluster library, a pull request) is registered here BEFORE it is made,
 * with a step that puts it back from what was known before the change: so the undo never
 * depends on a later call having told what an earlier one did, and a step whose change never
 * happened is a no-op. A failure and a cancellation unwind the same journal, newest first, each
 * step on its own (one that fails does not stop the rest), once.
 *
 * When a change has landed for good (a push that completed), `landed` keeps everything
 * registered so far: the run ends as finished, reported as landed, not undone.
 */

export interface UndoStep {
  /** What the step puts back, as the log says it: "the local tag v1.2.0". */
  what: string;
  undo: () => unknown;
}

export interface UnwindReport {
  /** Put back, in the order it was done. */
  undone: string[];
  /** Could not be put back, with why. */
  left: { what: string; reason: string }[];
  /** Landed for good before the failure; not undone. */
  landed: string[];
}

export class UndoJournal {
  private steps: UndoStep[] = [];
  private readonly landedNotes: string[] = [];
  private unwinding?: Promise<UnwindReport>;

  /**
   * Registers how to put back a change about to be made. Returns a function that drops the
   * step again (the change was put back by the code that made it, or is part of what stays).
   */
  register(what: string, undo: () => unknown): () => void {
    if (this.unwinding) throw new Error(`'${what}' registered while the run is being undone`);
    const step = { what, undo };
    this.steps.push(step);
    return () => {
      this.steps = this.steps.filter((s) => s !== step);
    };
  }

  /** The changes so far have landed for good: they are kept whatever happens next. */
  landed(what: string): void {
    this.landedNotes.push(what);
    this.steps = [];
  }

  /** Steps still to undo, newest last. */
  get pending(): readonly string[] {
    return this.steps.map((s) => s.what);
  }

  /**
   * Runs every step, newest first, all of them within `totalMs` (a step still running then is
   * abandoned, and the steps after it are reported as not put back); once (a second call gets
   * the first call's report).
   */
  unwind(totalMs = 60_000, now: () => number = Date.now): Promise<UnwindReport> {
    this.unwinding ??= (async () => {
      const report: UnwindReport = { undone: [], left: [], landed: [...this.landedNotes] };
      const deadline = now() + totalMs;
      for (const step of [...this.steps].reverse()) {
        try {
          const left = deadline - now();
          if (left <= 0) throw new Error('no time left before the agent stops the task');
          await withTimeout(Promise.resolve().then(step.undo), left);
          report.undone.push(step.what);
        } catch (err) {
          report.left.push({ what: step.what, reason: err instanceof Error ? err.message : String(err) });
        }
      }
      this.steps = [];
      return report;
    })();
    return this.unwinding;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** What the log says after an unwind; empty when there was nothing to say. */
export function describeUnwind(report: UnwindReport): string[] {
  const lines: string[] = [];
  if (report.landed.length) lines.push(`Landed before the failure, and kept: ${report.landed.join('; ')}.`);
  if (report.undone.length) lines.push(`Put back: ${report.undone.join('; ')}.`);
  for (const l of report.left) lines.push(`NOT put back: ${l.what} (${l.reason}).`);
  return lines;
}

/** The run's journal: the task entry's runner unwinds it on a failure or a cancellation. */
export const journal = new UndoJournal();
