/**
 * Running git: one spawn for every command, every exit status checked, every network call
 * bounded. Local commands get a fixed locale and no prompt; remote ones also get the job token
 * (for the organization only) and a no-progress bound.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CancelledError, isCancelled, startProcess, stopGroup } from '../processes';

/** Abort a network command that shows no progress for this long (git's own bound, plus ours). */
export const DEFAULT_NO_PROGRESS_SECONDS = 60;

/** A local command (commit, log, tag) that runs this long is stopped: nothing the tasks ask of git takes it. */
export const LOCAL_COMMAND_BOUND_MS = 10 * 60_000;

export interface ExecOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Written to stdin, then closed. */
  input?: string;
  /** Kill the command (and its helpers) when it prints nothing for this long. */
  noProgressMs?: number;
  /** Called with each stdout chunk instead of collecting it (stdout is then returned empty). */
  onStdout?: (chunk: string) => void;
  /** How stdout is decoded (default utf8; latin1 keeps one character per byte). */
  encoding?: 'utf8' | 'latin1';
  /** Secret text to hide from error messages. */
  secret?: string;
  /** Stops the command (an AbortError rejects the promise). */
  signal?: AbortSignal;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
}

export class GitCommandError extends Error {
  constructor(
    readonly args: string[],
    readonly stderr: string,
    readonly stdout = '',
    message = `git ${args[0]} failed: ${stderr.trim() || `exit status without a message`}`,
  ) {
    super(message);
    this.name = 'GitCommandError';
  }
}

/** A network command that made no progress within the bound and was stopped. */
export class GitTimeoutError extends GitCommandError {
  constructor(
    args: string[],
    stderr: string,
    readonly seconds: number,
  ) {
    super(args, stderr, '', `git ${args[0]} made no progress for ${seconds} s and was stopped`);
    this.name = 'GitTimeoutError';
  }
}

/**
 * Runs git; resolves with its output when it exits 0, rejects with a GitCommandError otherwise
 * (a CancelledError when the run was cancelled meanwhile).
 */
export function execGit(args: string[], opts: ExecOptions): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    // Its own process group (startProcess), so that a stalled remote helper (git-remote-http)
    // stops with it. stdin is a pipe only when there is input: one pipe and one write fewer per command.
    const child = startProcess('git', args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      signal: opts.signal,
      doing: `running git ${args[0]}`,
    });
    const out: string[] = [];
    let stderr = '';
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    // Network commands: no progress for noProgressMs; local ones: LOCAL_COMMAND_BOUND_MS in all.
    const boundMs = opts.noProgressMs ?? LOCAL_COMMAND_BOUND_MS;
    const stop = () => {
      timedOut = true;
      void stopGroup(child, 1000);
    };
    const progress = () => {
      if (opts.noProgressMs === undefined) return;
      clearTimeout(timer);
      timer = setTimeout(stop, opts.noProgressMs);
    };
    timer = setTimeout(stop, boundMs);
    // Both are pipes (stdio above); only stdin may be absent.
    child.stdout!.setEncoding(opts.encoding ?? 'utf8');
    child.stdout!.on('data', (chunk: string) => {
      progress();
      if (opts.onStdout) opts.onStdout(chunk);
      else out.push(chunk);
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      progress();
      stderr += chunk;
    });
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // git may exit before reading all of stdin
      child.stdin.end(opts.input);
    }
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // The secret, and any user:password a URL carries (a .gitmodules URL may), stay out of messages.
      const hide = (s: string) => withoutCredentials(opts.secret ? s.split(opts.secret).join('***') : s);
      const stdout = out.join('');
      if (isCancelled() && code !== 0) reject(new CancelledError(`running git ${args[0]}`));
      else if (timedOut) reject(new GitTimeoutError(args, hide(stderr), Math.round(boundMs / 1000)));
      else if (code !== 0)
        reject(new GitCommandError(args, hide(stderr || (signal ? `killed by ${signal}` : `exit status ${code}`)), hide(stdout)));
      else resolve({ stdout, stderr });
    });
  });
}

/**
 * Configuration for one process through GIT_CONFIG_* variables (never a file or argv): git's
 * own low-speed abort for HTTP, and the job token as an extra header for the organization's URL
 * only. An empty header value first resets any header for that scope the checkout step left.
 */
export function remoteEnv(base: NodeJS.ProcessEnv, noProgressSeconds: number, token?: string, tokenScope?: string): NodeJS.ProcessEnv {
  const config: [string, string][] = [
    ['http.lowSpeedLimit', '1'],
    ['http.lowSpeedTime', String(noProgressSeconds)],
  ];
  const scope = tokenScope?.replace(/\/?$/, '/');
  if (token && scope) config.push([`http.${scope}.extraheader`, ''], [`http.${scope}.extraheader`, `AUTHORIZATION: bearer ${token}`]);
  return withGitConfig(base, config);
}

let emptyHooksFolder: string | undefined;

/**
 * The environment for every git command a task runs: no repository hook runs (core.hooksPath
 * is an empty folder of the task's own), since a hook would see what the task's git sees (the
 * job token while pushing) and a hook the user wants belongs in a pipeline step of its own.
 */
export function taskGitEnv(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (!emptyHooksFolder) {
    const folder = mkdtempSync(join(tmpdir(), 'relevo-no-hooks-'));
    process.once('exit', () => rmSync(folder, { recursive: true, force: true }));
    emptyHooksFolder = folder;
  }
  return withGitConfig(base, [['core.hooksPath', emptyHooksFolder]]);
}

/** Configuration for the processes that get this environment, after any GIT_CONFIG_* entries already there. */
function withGitConfig(base: NodeJS.ProcessEnv, config: [string, string][]): NodeJS.ProcessEnv {
  const first = Number(base.GIT_CONFIG_COUNT) || 0;
  const env: NodeJS.ProcessEnv = { ...base, GIT_CONFIG_COUNT: String(first + config.length) };
  config.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${first + i}`] = key;
    env[`GIT_CONFIG_VALUE_${first + i}`] = value;
  });
  return env;
}

/** Text with any `user:password@` that URLs in it carry removed (a .gitmodules URL may carry one). */
export function withoutCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1');
}
