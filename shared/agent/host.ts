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
 */
import { guardStream } from '../output';
import { CommandWriter } from './commands';

const writeCommandLine = guardStream(process.stdout);
guardStream(process.stderr);

const variableKey = (name: string) => name.replace(/\./g, '_').replace(/ /g, '_').toUpperCase();

export const host = (() => {
  // Read before the secrets are moved, as task-lib reads them.
  const debugMode = process.env.SYSTEM_DEBUG?.toLowerCase() === 'true';
  const skipDebug = process.env.DISTRIBUTEDTASK_TASKS_NODE_SKIPDEBUGLOGSWHENDEBUGMODEOFF?.toLowerCase() === 'true';
  /** Secrets by lower-cased environment name, as task-lib's vault keys them. */
  const secrets = new Map<string, string>();
  const known = new Map<string, { name: string; secret: boolean }>();
  for (const name of Object.keys(process.env)) {
    if (!/^(INPUT_|ENDPOINT_AUTH_|SECUREFILE_TICKET_|SECRET_|VSTS_TASKVARIABLE_)/.test(name)) continue;
    if (name.startsWith('SECRET_') && name.length > 'SECRET_'.length)
      known.set(variableKey(name.slice(7)), { name: name.slice(7), secret: true });
    const value = process.env[name];
    if (value) {
      secrets.set(name.toLowerCase(), value);
      delete process.env[name];
    }
  }
  // A job token mapped into the step (env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)) is kept
  // here too: no child process (git, its helpers, python) ever sees it.
  if (process.env.SYSTEM_ACCESSTOKEN) secrets.set('system_accesstoken', process.env.SYSTEM_ACCESSTOKEN);
  delete process.env.SYSTEM_ACCESSTOKEN;
  const correlationId = process.env.COMMAND_CORRELATION_ID ?? '';
  delete process.env.COMMAND_CORRELATION_ID;
  for (const [list, secret] of [
    ['VSTS_PUBLIC_VARIABLES', false],
    ['VSTS_SECRET_VARIABLES', true],
  ] as const) {
    let names: unknown = [];
    try {
      names = JSON.parse(process.env[list] || '[]');
    } catch {
      // Only interactive runs set these by hand.
    }
    if (Array.isArray(names)) for (const name of names) if (typeof name === 'string') known.set(variableKey(name), { name, secret });
    delete process.env[list];
  }
  const writer = new CommandWriter(writeCommandLine, { correlationId, debug: !skipDebug || debugMode });
  const debug = (message: string) => writer.debug(message);
  const noMultiline = (value: string) => {
    if (/\r|\n/.test(value) && `${process.env.SYSTEM_UNSAFEALLOWMULTILINESECRET}`.toUpperCase() !== 'TRUE')
      throw new Error('Secrets cannot contain multiple lines');
  };
  process.on('uncaughtException', (err: NodeJS.ErrnoException) => {
    if (err?.code === 'EPIPE' && err.syscall?.toUpperCase() === 'WRITE') return;
    writer.complete('Failed', `Unhandled: ${err?.message}`);
    writer.issue('error', String(err?.stack));
  });
  process.on('unhandledRejection', (reason) => {
    throw reason instanceof Error ? reason : new Error(String(reason));
  });
  return {
    writer,
    getVariable(name: string): string | undefined {
      const key = variableKey(name);
      const value = known.get(key)?.secret ? secrets.get(`secret_${key}`.toLowerCase()) : process.env[key];
      debug(`${name}=${value}`);
      return value;
    },
    getInput(name: string, required: boolean): string | undefined {
      const value = secrets.get(`input_${variableKey(name)}`.toLowerCase());
      if (required && !value) throw new Error(`Input required: ${name}`);
      debug(`${name}=${value}`);
      return value;
    },
    /** An input that holds a secret: read without the debug line that prints its value. */
    getSecretInput(name: string): string | undefined {
      const value = secrets.get(`input_${variableKey(name)}`.toLowerCase());
      debug(`${name} is ${value ? 'set' : 'empty'} (secret)`);
      return value;
    },
    setVariable(name: string, val: string, secret = false, isOutput = false): void {
      const key = variableKey(name);
      secret ||= !!known.get(key)?.secret;
      const value = val || '';
      debug(`set ${name}=${secret && value ? '********' : value}`);
      if (secret) {
        noMultiline(value);
        secrets.set(`secret_${key}`.toLowerCase(), value);
        delete process.env[key];
      } else process.env[key] = value;
      known.set(key, { name, secret });
      writer.setVariable(name, value, { secret, isOutput });
    },
    setSecret(value: string): void {
      if (!value) return;
      noMultiline(value);
      writer.setSecret(value);
      // A variable mapped into the step that holds it goes too: children get no secret.
      for (const name of Object.keys(process.env)) if (process.env[name] === value) delete process.env[name];
    },
    /** The job token mapped into the step as SYSTEM_ACCESSTOKEN, if it was. */
    mappedAccessToken: () => secrets.get('system_accesstoken'),
    getEndpointAuthorization(id: string, optional: boolean): { parameters: Record<string, string>; scheme: string } | undefined {
      const value = secrets.get(`endpoint_auth_${id}`.toLowerCase());
      if (!optional && !value) writer.complete('Failed', `Endpoint auth data not present: ${id}`);
      debug(`${id} exists ${!!value}`);
      try {
        return value ? JSON.parse(value) : undefined;
      } catch {
        // task-lib puts the value in the message; it is a secret, so it stays out.
        throw new Error(`Invalid endpoint auth: ${id}`);
      }
    },
  };
})();
