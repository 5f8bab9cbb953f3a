/**
 * What a task prints, made safe. The agent takes a logging command from anywhere in a line
 * (the first `##vso[` it finds) on stdout and stderr, and a bare carriage return starts a new
 * line. Text the task did not write (commit subjects, branch and file names, server messages,
 * a build tool's output, data) must never issue one. So every line goes through `neutralise`,
 * and the task's own commands are written past it (`writeCommandLine` in shared/agent.ts).
 */

/** `##vso[` becomes `## vso[` and `##[` becomes `## [` (any case); a bare CR is shown as `\r`. */
export function neutralise(text: string): string {
  return text.replace(/##(vso)?\[/gi, (_m, vso: string | undefined) => `## ${vso ?? ''}[`).replace(/\r(?!\n)/g, '\\r');
}

const LINE_BREAK_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\r\n': '\\r\\n' };

/** A one-line value from outside (a commit subject, a name, a server message): CR and LF shown as escapes, commands neutralised. */
export function quoteForeign(text: string): string {
  return neutralise(text.replace(/\r\n|\r|\n/g, (m) => LINE_BREAK_ESCAPES[m]));
}

type Write = (
  chunk: string | Uint8Array,
  encodingOrCallback?: BufferEncoding | ((err?: Error | null) => void),
  callback?: (err?: Error | null) => void,
) => boolean;

/**
 * Routes everything written to `stream` through `neutralise` and returns the raw writer, for
 * the task's own commands only. Installed once per stream by the agent adapter.
 */
export function guardStream(stream: NodeJS.WriteStream): (line: string) => void {
  const raw = stream.write.bind(stream) as Write;
  const guarded: Write = (chunk, encodingOrCallback, callback) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return raw(neutralise(text), typeof encodingOrCallback === 'function' ? encodingOrCallback : undefined, callback);
  };
  stream.write = guarded as typeof stream.write;
  return (line) => {
    raw(line);
  };
}
