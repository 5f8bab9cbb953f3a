/**
 * The task process as the agent made it: what azure-pipelines-task-lib's `task` module does at
 * start-up and for reading and writing, without loading that module (~150 KB of bundle with
 * shelljs, q and minimatch; its start-up — a vault key file written to the agent's temp
 * folder, per-input encryption, proxy and certificate probes — took ~40 ms of every run).
 * What stays as task-lib does it:
 * - every `##vso[...]` line is formatted by task-lib's own `TaskCommand` (./commands.ts);
 * - at start-up, inputs, endpoint authorizations, secure-file tickets, secret variables and a
 *   mapped SYSTEM_ACCESSTOKEN are moved out of `process.env` (task-lib's `_loadData`), so no
 *   child process (git, python) ever sees them; they are kept in this module's memory (not
 *   encrypted in it: there is no `.taskkey` file);
 * - variable and input names map to environment names alike (`Build.SourceBranch` →
 *   `BUILD_SOURCEBRANCH`), secret variables are read from the secrets, public ones from the
 *   environment; outputs are also set in `process.env`;
 * - issues carry `source=TaskInternal` and the agent's correlation id; debug lines follow
 *   `System.Debug` and `DistributedTask.Tasks.Node.SkipDebugLogsWhenDebugModeOff`;
 * - an exception nothing caught fails the task with `Unhandled: <message>`.
 *
 * And the one writer: from the moment this module loads, whatever is written to stdout or
 * stderr (console.log, a child's output passed on, a stack trace) is neutralised
 * (shared/output.ts); only the commands of `writer` are written past it.
 *
 * What the agent handed the process is one `AgentEnvironment`, read from `process.env` at
 * load. A unit test swaps in its own (`useAgentEnvironment`): settings are read from the
 * variables it gives, and the commands go to its writer, without a bundle or a child process.
 */
import { join } from 'node:path';
import { guardStream } from '../output';
import { CommandWriter } from './commands';

const writeCommandLine = guardStream(process.stdout);
guardStream(process.stderr);

const variableKey = (name: string) => name.replace(/\./g, '_').replace(/ /g, '_').toUpperCase();

type Env = Record<string, string | undefined>;

/** What the agent handed this process, and what the task registered since. */
interface AgentEnvironment {
  /** The environment children inherit (process.env on an agent), without the secrets. */
  env: Env;
  /** Secrets by lower-cased environment name, as task-lib's vault keys them. */
  secrets: Map<string, string>;
  known: Map<string, { name: string; secret: boolean }>;
  writer: CommandWriter;
  /** The folder whose task.json gives the inputs' defaults. */
  taskDirectory: string;
  /** Values read once per run (the job token, task.json's inputs), by key. */
  once: Map<string, unknown>;
}

/** task-lib's `_loadData`: inputs, endpoint authorizations and secrets are moved out of `env`. */
function loadEnvironment(env: Env, write: (line: string) => void, taskDirectory: string): AgentEnvironment {
  // Read before the secrets are moved, as task-lib reads them.
  const debugMode = env.SYSTEM_DEBUG?.toLowerCase() === 'true';
  const skipDebug = env.DISTRIBUTEDTASK_TASKS_NODE_SKIPDEBUGLOGSWHENDEBUGMODEOFF?.toLowerCase() === 'true';
  const secrets = new Map<string, string>();
  const known = new Map<string, { name: string; secret: boolean }>();
  for (const name of Object.keys(env)) {
    if (!/^(INPUT_|ENDPOINT_AUTH_|SECUREFILE_TICKET_|SECRET_|VSTS_TASKVARIABLE_)/.test(name)) continue;
    if (name.startsWith('SECRET_') && name.length > 'SECRET_'.length)
      known.set(variableKey(name.slice(7)), { name: name.slice(7), secret: true });
    const value = env[name];
    if (value) {
      secrets.set(name.toLowerCase(), value);
      delete env[name];
    }
  }
  // A job token mapped into the step (env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)) is kept
  // here too: no child process (git, its helpers, python) ever sees it.
  if (env.SYSTEM_ACCESSTOKEN) secrets.set('system_accesstoken', env.SYSTEM_ACCESSTOKEN);
  delete env.SYSTEM_ACCESSTOKEN;
  const correlationId = env.COMMAND_CORRELATION_ID ?? '';
  delete env.COMMAND_CORRELATION_ID;
  for (const [list, secret] of [
    ['VSTS_PUBLIC_VARIABLES', false],
    ['VSTS_SECRET_VARIABLES', true],
  ] as const) {
    let names: unknown = [];
    try {
      names = JSON.parse(env[list] || '[]');
    } catch {
      // Only interactive runs set these by hand.
    }
    if (Array.isArray(names)) for (const name of names) if (typeof name === 'string') known.set(variableKey(name), { name, secret });
    delete env[list];
  }
  const writer = new CommandWriter(write, { correlationId, debug: !skipDebug || debugMode });
  return { env, secrets, known, writer, taskDirectory, once: new Map() };
}

// task.json sits beside the bundle.
let current = loadEnvironment(process.env, writeCommandLine, __dirname);

/**
 * For a unit test: the agent environment is `env` (as the agent would set it: INPUT_<NAME>,
 * upper-cased variables, ENDPOINT_*), the inputs' defaults are those of `taskDirectory`'s
 * task.json, and every command goes to `write`. Secrets are moved out of `env` as on an agent.
 */
export function useAgentEnvironment(env: Record<string, string>, options: { taskDirectory: string; write: (line: string) => void }): void {
  current = loadEnvironment({ ...env }, options.write, options.taskDirectory);
}

process.on('uncaughtException', (err: NodeJS.ErrnoException) => {
  if (err?.code === 'EPIPE' && err.syscall?.toUpperCase() === 'WRITE') return;
  current.writer.complete('Failed', `Unhandled: ${err?.message}`);
  current.writer.issue('error', String(err?.stack));
});
process.on('unhandledRejection', (reason) => {
  throw reason instanceof Error ? reason : new Error(String(reason));
});

const debug = (message: string) => current.writer.debug(message);
const noMultiline = (value: string) => {
  if (/\r|\n/.test(value) && `${current.env.SYSTEM_UNSAFEALLOWMULTILINESECRET}`.toUpperCase() !== 'TRUE')
    throw new Error('Secrets cannot contain multiple lines');
};
/** The value of an environment name matched without regard to case (the agent upper-cases ids, a test may not). */
const envIgnoringCase = (name: string) => {
  const key = Object.keys(current.env).find((k) => k.toUpperCase() === name);
  return key ? current.env[key] : undefined;
};

export const host = {
  get writer(): CommandWriter {
    return current.writer;
  },
  /** task.json of the running task (beside the bundle), for the inputs' defaults. */
  taskJsonPath: () => join(current.taskDirectory, 'task.json'),
  /** A value computed once per run (per agent environment). */
  once<T>(key: string, compute: () => T): T {
    if (!current.once.has(key)) current.once.set(key, compute());
    return current.once.get(key) as T;
  },
  getVariable(name: string): string | undefined {
    const key = variableKey(name);
    const value = current.known.get(key)?.secret ? current.secrets.get(`secret_${key}`.toLowerCase()) : current.env[key];
    debug(`${name}=${value}`);
    return value;
  },
  getInput(name: string, required: boolean): string | undefined {
    const value = current.secrets.get(`input_${variableKey(name)}`.toLowerCase());
    if (required && !value) throw new Error(`Input required: ${name}`);
    debug(`${name}=${value}`);
    return value;
  },
  /** An input that holds a secret: read without the debug line that prints its value. */
  getSecretInput(name: string): string | undefined {
    const value = current.secrets.get(`input_${variableKey(name)}`.toLowerCase());
    debug(`${name} is ${value ? 'set' : 'empty'} (secret)`);
    return value;
  },
  setVariable(name: string, val: string, secret = false, isOutput = false): void {
    const key = variableKey(name);
    secret ||= !!current.known.get(key)?.secret;
    const value = val || '';
    debug(`set ${name}=${secret && value ? '********' : value}`);
    if (secret) {
      noMultiline(value);
      current.secrets.set(`secret_${key}`.toLowerCase(), value);
      delete current.env[key];
    } else current.env[key] = value;
    current.known.set(key, { name, secret });
    current.writer.setVariable(name, value, { secret, isOutput });
  },
  setSecret(value: string): void {
    if (!value) return;
    noMultiline(value);
    current.writer.setSecret(value);
    // A variable mapped into the step that holds it goes too: children get no secret.
    for (const name of Object.keys(current.env)) if (current.env[name] === value) delete current.env[name];
  },
  /** The job token mapped into the step as SYSTEM_ACCESSTOKEN, if it was. */
  mappedAccessToken: () => current.secrets.get('system_accesstoken'),
  getEndpointAuthorization(id: string, optional: boolean): { parameters: Record<string, string>; scheme: string } | undefined {
    const value = current.secrets.get(`endpoint_auth_${id}`.toLowerCase());
    if (!optional && !value) current.writer.complete('Failed', `Endpoint auth data not present: ${id}`);
    debug(`${id} exists ${!!value}`);
    try {
      return value ? JSON.parse(value) : undefined;
    } catch {
      // task-lib puts the value in the message; it is a secret, so it stays out.
      throw new Error(`Invalid endpoint auth: ${id}`);
    }
  },
  /** A service connection's URL (ENDPOINT_URL_<ID>). */
  getEndpointUrl: (id: string): string | undefined => envIgnoringCase(`ENDPOINT_URL_${variableKey(id)}`),
  /** A service connection's data (ENDPOINT_DATA_<ID>_<KEY>), keys as the agent gives them, upper-cased. */
  getEndpointData(id: string): Record<string, string> {
    const prefix = `ENDPOINT_DATA_${variableKey(id)}_`;
    const data: Record<string, string> = {};
    for (const name of Object.keys(current.env))
      if (name.toUpperCase().startsWith(prefix) && current.env[name]) data[name.slice(prefix.length)] = current.env[name]!;
    return data;
  },
};
