/**
 * Runs a built task exactly as the Azure Pipelines agent does: `node dist/tasks/<folder>/index.js`
 * with inputs as INPUT_<NAME>, variables as upper-cased env vars, endpoints as ENDPOINT_* vars;
 * then reads back every `##vso[...]` line it printed.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { commandFromString } from 'azure-pipelines-task-lib/taskcommand';

export const ROOT = resolve(__dirname, '..', '..');
export const DIST_TASKS = join(ROOT, 'dist', 'tasks');

export interface RunOptions {
  inputs?: Record<string, string | boolean | number>;
  /** Pipeline variables by their dotted names, e.g. { 'Build.SourceBranch': 'refs/heads/main' }. */
  variables?: Record<string, string>;
  /** The job token, delivered as the agent does (SystemVssConnection endpoint). */
  accessToken?: string;
  /** Service connections by id, delivered as the agent does (ENDPOINT_URL_, ENDPOINT_AUTH_, ENDPOINT_DATA_<id>_<KEY>). */
  endpoints?: Record<string, { url?: string; scheme: string; parameters: Record<string, string>; data?: Record<string, string> }>;
  /** Extra raw environment. */
  env?: Record<string, string>;
  /** Folder holding <folder>/index.js; default dist/tasks. */
  tasksDir?: string;
  cwd?: string;
  /**
   * Cancels the run as the agent does: SIGINT to the task's process (not its group) once
   * `whenFile` exists or `afterMs` has passed, SIGTERM 7.5 s later, the tree killed 2.5 s after.
   */
  cancel?: {
    whenFile?: string;
    /** Like whenFile, for a condition a path cannot say (a folder whose name carries the run's tag). */
    when?: () => boolean;
    afterMs?: number;
    /** Send SIGINT again every this many ms (a person pressing Cancel twice). */ repeatEveryMs?: number;
  };
}

export interface VsoCommand {
  command: string;
  properties: Record<string, string>;
  message: string;
}

export interface TaskRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  commands: VsoCommand[];
  result?: string;
  resultMessage?: string;
  outputs: Record<string, string>;
  errors: string[];
  warnings: string[];
  summaries: string[];
  buildNumber?: string;
  secrets: string[];
  /** For a cancelled run: how long after SIGINT it exited, and whether it needed the SIGTERM. */
  cancelled?: { exitedAfterMs: number; neededSigterm: boolean };
}

/** The agent's grace periods after a cancel (its ProcessInvoker). */
export const AGENT_SIGINT_GRACE_MS = 7500;
export const AGENT_SIGTERM_GRACE_MS = 2500;

/** Upper-cased, `.` and space to `_`: how the agent names inputs and variables in the env. */
export function envName(name: string): string {
  return name.replace(/[. ]/g, '_').toUpperCase();
}

/** The environment the agent gives a task for these inputs, variables, token and endpoints (and `env`). */
export function agentVariables(
  options: Pick<RunOptions, 'inputs' | 'variables' | 'accessToken' | 'endpoints' | 'env'>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.variables ?? {})) env[envName(k)] = v;
  for (const [k, v] of Object.entries(options.inputs ?? {})) env[`INPUT_${envName(k)}`] = String(v);
  if (options.accessToken) {
    env.ENDPOINT_URL_SYSTEMVSSCONNECTION = 'https://dev.azure.com/relevo-test/';
    env.ENDPOINT_AUTH_SYSTEMVSSCONNECTION = JSON.stringify({ parameters: { AccessToken: options.accessToken }, scheme: 'OAuth' });
    env.ENDPOINT_AUTH_SCHEME_SYSTEMVSSCONNECTION = 'OAuth';
    env.ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN = options.accessToken;
  }
  for (const [id, e] of Object.entries(options.endpoints ?? {})) {
    const key = envName(id);
    if (e.url) env[`ENDPOINT_URL_${key}`] = e.url;
    env[`ENDPOINT_AUTH_${key}`] = JSON.stringify({ parameters: e.parameters, scheme: e.scheme });
    env[`ENDPOINT_AUTH_SCHEME_${key}`] = e.scheme;
    for (const [k, v] of Object.entries(e.parameters)) env[`ENDPOINT_AUTH_PARAMETER_${key}_${k.toUpperCase()}`] = v;
    for (const [k, v] of Object.entries(e.data ?? {})) env[`ENDPOINT_DATA_${key}_${k.toUpperCase()}`] = v;
  }
  return Object.assign(env, options.env);
}

const KEEP = ['PATH', 'HOME', 'LANG', 'TMPDIR', 'SYSTEMROOT'];

export function runTask(folder: string, options: RunOptions = {}): Promise<TaskRun> {
  const env: Record<string, string> = {};
  for (const k of KEEP) if (process.env[k]) env[k] = process.env[k]!;
  // Every run gets an agent temp folder, as on an agent (without one, task-lib writes .taskkey
  // into the current folder); it is removed once the run's output has been read.
  const agentTemp = mkdtempSync(join(tmpdir(), 'relevo-agent-temp-'));
  env.AGENT_TEMPDIRECTORY = agentTemp;
  env.SYSTEM_CULTURE = 'en-US';
  // Tests make commits without a global git identity, as agents do.
  env.GIT_CONFIG_NOSYSTEM = '1';
  env.GIT_CONFIG_GLOBAL = '/dev/null';
  Object.assign(env, agentVariables(options), { AGENT_TEMPDIRECTORY: agentTemp });
  const script = join(options.tasksDir ?? DIST_TASKS, folder, 'index.js');
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [script], { env, cwd: options.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let cancelled: TaskRun['cancelled'];
    const timers: NodeJS.Timeout[] = [];
    if (options.cancel) {
      const { whenFile, when, afterMs } = options.cancel;
      const interrupt = () => {
        const at = Date.now();
        cancelled = { exitedAfterMs: -1, neededSigterm: false };
        child.kill('SIGINT');
        child.once('exit', () => (cancelled!.exitedAfterMs = Date.now() - at));
        if (options.cancel?.repeatEveryMs) timers.push(setInterval(() => child.kill('SIGINT'), options.cancel.repeatEveryMs));
        timers.push(
          setTimeout(() => {
            cancelled!.neededSigterm = true;
            child.kill('SIGTERM');
            timers.push(setTimeout(() => child.kill('SIGKILL'), AGENT_SIGTERM_GRACE_MS));
          }, AGENT_SIGINT_GRACE_MS),
        );
      };
      if (whenFile || when) {
        const poll = setInterval(() => {
          if (whenFile ? existsSync(whenFile) : when!()) {
            clearInterval(poll);
            interrupt();
          }
        }, 10);
        timers.push(poll);
      } else timers.push(setTimeout(interrupt, afterMs ?? 0));
    }
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      rmSync(agentTemp, { recursive: true, force: true });
      reject(err);
    });
    child.on('close', (exitCode) => {
      for (const t of timers) clearTimeout(t);
      try {
        resolvePromise({ ...parseRun(exitCode, stdout, stderr), cancelled });
      } catch (err) {
        reject(err);
      } finally {
        rmSync(agentTemp, { recursive: true, force: true });
      }
    });
  });
}

export function parseRun(exitCode: number | null, stdout: string, stderr: string): TaskRun {
  const run: TaskRun = { exitCode, stdout, stderr, commands: [], outputs: {}, errors: [], warnings: [], summaries: [], secrets: [] };
  for (const line of stdout.split(/\r?\n/)) {
    const at = line.indexOf('##vso[');
    if (at < 0) continue;
    const cmd = commandFromString(line.slice(at)) as unknown as VsoCommand;
    run.commands.push(cmd);
    switch (cmd.command) {
      case 'task.complete':
        run.result = cmd.properties.result;
        run.resultMessage = cmd.message;
        break;
      case 'task.setvariable':
        run.outputs[cmd.properties.variable] = cmd.message;
        break;
      case 'task.issue':
        (cmd.properties.type === 'error' ? run.errors : run.warnings).push(cmd.message);
        break;
      case 'task.uploadsummary':
        run.summaries.push(readFileSync(cmd.message, 'utf8'));
        break;
      case 'build.updatebuildnumber':
        run.buildNumber = cmd.message;
        break;
      case 'task.setsecret':
        run.secrets.push(cmd.message);
        break;
    }
  }
  return run;
}

/** A readable dump for assertion messages. */
export function explain(run: TaskRun): string {
  return `result=${run.result} message=${run.resultMessage}\n--- stdout ---\n${run.stdout
    .split('\n')
    .filter((l) => !l.startsWith('##vso[task.debug]'))
    .join('\n')}\n--- stderr ---\n${run.stderr}`;
}

/** Asserts the run Succeeded (the log in the message otherwise). */
export function ok(run: TaskRun): TaskRun {
  assert.equal(run.result, 'Succeeded', explain(run));
  return run;
}

/** Asserts the run Failed with a message matching `pattern`. */
export function failed(run: TaskRun, pattern: RegExp): TaskRun {
  assert.equal(run.result, 'Failed', explain(run));
  assert.match(run.resultMessage ?? '', pattern, explain(run));
  return run;
}

/** The token appears in no line of the log but the one that registers it as a secret. */
export function assertNoToken(run: TaskRun, token: string): void {
  const leaks = (run.stdout + run.stderr).split('\n').filter((l) => l.includes(token) && !l.startsWith('##vso[task.setsecret]'));
  assert.deepEqual(leaks, [], 'token printed');
}

/**
 * No line of the run's stdout or stderr carries a logging command the task did not mean to
 * write: every `##vso[` starts its line, names one of the task's own commands and, for an
 * output, one of its task.json outputs; `##[` starts a line only as the task's own group markers.
 */
export function assertOnlyOwnCommands(run: TaskRun, folder: string): void {
  const outputs = new Set(
    (JSON.parse(readFileSync(join(ROOT, 'tasks', folder, 'task.json'), 'utf8')).outputVariables ?? []).map((o: { name: string }) => o.name),
  );
  const own = new Set([
    'task.setvariable',
    'task.issue',
    'task.complete',
    'task.setsecret',
    'task.uploadsummary',
    'task.debug',
    'build.updatebuildnumber',
    'artifact.upload',
  ]);
  const bad: string[] = [];
  for (const line of `${run.stdout}\n${run.stderr}`.split(/\r\n|\n|\r/)) {
    const at = line.search(/##vso\[/i);
    if (at >= 0) {
      const cmd = commandFromString(line.slice(at)) as unknown as VsoCommand;
      const second = line.slice(at + 6).search(/##vso\[/i) >= 0 && cmd.command !== 'task.setvariable';
      if (at > 0 || !own.has(cmd.command) || (cmd.command === 'task.setvariable' && !outputs.has(cmd.properties.variable)) || second)
        bad.push(line);
    }
    if (/##\[/i.test(line) && !/^##\[(group|endgroup)\]/.test(line)) bad.push(line);
  }
  assert.deepEqual(bad, [], `lines that issue commands the task did not write:\n${explain(run)}`);
}
