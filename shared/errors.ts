/**
 * A UserError is something the pipeline author can fix: a bad input or a repository in a
 * state the task cannot work with. Its message says what is wrong and how to fix it, and the
 * task fails without a stack trace. Anything else that escapes is a bug and is reported with
 * its stack so it can be filed.
 */
export class UserError extends Error {
  /** The task input this error is about, when there is one (its name as in task.json). */
  readonly input?: string;

  constructor(message: string, options: { input?: string; fix?: string; cause?: unknown } = {}) {
    const parts = [options.input ? `Input '${options.input}': ${message}` : message];
    if (options.fix) parts.push(`Fix: ${options.fix}`);
    super(parts.join(' '), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UserError';
    this.input = options.input;
  }
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}

/** The task's failure message: the user error's text, or a bug's message with a request to report it. */
export function describeFailure(err: unknown): string {
  if (isUserError(err)) return err.message;
  const message = err instanceof Error ? err.message : String(err);
  return `Unexpected error (a bug in Relevo; please report it with this log): ${message}`;
}
