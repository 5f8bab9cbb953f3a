/**
 * The only module that talks to the Azure Pipelines agent (through azure-pipelines-task-lib):
 * typed, validated inputs; output variables; secrets; the Summary tab; the build number; the
 * task result. Everything else in shared/ is plain functions on plain data.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { EOL, tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { TaskCommand } from 'azure-pipelines-task-lib/taskcommand';
import { describeFailure, isUserError, UserError } from './errors';
import { guardStream, neutralise } from './output';
import { allowUndoWork, cancelRun, CancelledError } from './processes';
import { describeUnwind, journal } from './undo';
import type { AutoCompleteOptions, MergeStrategy } from './clients/azureDevOps';
import type { GitOptions } from './git';
import type { Log } from './log';

/**
 * The part of azure-pipelines-task-lib's `task` module these tasks use, without loading it:
 * that module is ~150 KB of bundle with shelljs, q and minimatch, and its start-up (a vault
 * key file written to the agent's temp folder, per-input encryption, proxy and certificate
 * probes) took ~40 ms of every run. What stays as task-lib does it:
 * - every `##vso[...]` line is formatted by task-lib's own `TaskCommand` (same escaping);
 * - at start-up, inputs, endpoint authorizations, secure-file tickets and secret variables are
 *   moved out of `process.env` (task-lib's `_loadData`), so no child process (git, its hooks)
 *   ever sees them; they are kept in this module's memory (not encrypted in it: there is no
 *   `.taskkey` file);
 * - variable and input names map to environment names alike (`Build.SourceBranch` →
 *   `BUILD_SOURCEBRANCH`), secret variables are read from the secrets, public ones from the
 *   environment; outputs are also set in `process.env`;
 * - issues carry `source=TaskInternal` and the agent's correlation id; debug lines follow
 *   `System.Debug` and `DistributedTask.Tasks.Node.SkipDebugLogsWhenDebugModeOff`;
 * - an exception nothing caught fails the task with `Unhandled: <message>`.
 */
/**
 * The one writer: from here on, whatever is written to stdout or stderr (console.log, a child's
 * output passed on, a stack trace) is neutralised (shared/output.ts); only the task's own
 * commands, formatted by TaskCommand below, are written past it.
 */
const writeCommandLine = guardStream(process.stdout);
guardStream(process.stderr);

const tl = (() => {
  const variableKey = (name: string) => name.replace(/\./g, '_').replace(/ /g, '_').toUpperCase();
  const command = (name: string, properties: Record<string, string | undefined> | null, message: string) =>
    writeCommandLine(new TaskCommand(name, properties as Record<string, string>, message).toString() + EOL);
  // Read before the secrets are moved, as task-lib reads them.
  const debugMode = process.env.SYSTEM_DEBUG?.toLowerCase() === 'true';
  const skipDebug = process.env.DISTRIBUTEDTASK_TASKS_NODE_SKIPDEBUGLOGSWHENDEBUGMODEOFF?.toLowerCase() === 'true';
  const debug = (message: string) => {
    if (!skipDebug || debugMode) command('task.debug', null, message);
  };
  /** Secrets by lower-cased environment name, as task-lib's vault keys them. */
  const secrets = new Map<string, string>();
  const known = new Map<string, { name: string; secret: boolean }>();
  for (const name of Object.keys(process.env)) {
    if (!/^(INPUT_|ENDPOINT_AUTH_|SECUREFILE_TICKET_|SECRET_|VSTS_TASKVARIABLE_)/.test(name)) continue;
    if (name.startsWith('SECRET_') && name.length > 'SECRET_'.length) known.set(variableKey(name.slice(7)), { name: name.slice(7), secret: true });
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
  for (const [list, secret] of [['VSTS_PUBLIC_VARIABLES', false], ['VSTS_SECRET_VARIABLES', true]] as const) {
    let names: unknown = [];
    try {
      names = JSON.parse(process.env[list] || '[]');
    } catch {
      // Only interactive runs set these by hand.
    }
    if (Array.isArray(names)) for (const name of names) if (typeof name === 'string') known.set(variableKey(name), { name, secret });
    delete process.env[list];
  }
  const issue = (type: 'warning' | 'error', message: string) => command('task.issue', { type, source: 'TaskInternal', correlationId }, neutralise(message));
  const noMultiline = (value: string) => {
    if (/\r|\n/.test(value) && `${process.env.SYSTEM_UNSAFEALLOWMULTILINESECRET}`.toUpperCase() !== 'TRUE') throw new Error('Secrets cannot contain multiple lines');
  };
  const TaskResult = { Succeeded: 0, Failed: 2 } as const;
  const setResult = (result: (typeof TaskResult)[keyof typeof TaskResult], message: string) => {
    const name = result === TaskResult.Failed ? 'Failed' : 'Succeeded';
    debug(`task result: ${name}`);
    if (result === TaskResult.Failed && message) issue('error', message);
    command('task.complete', { result: name }, neutralise(message));
  };
  process.on('uncaughtException', (err: NodeJS.ErrnoException) => {
    if (err?.code === 'EPIPE' && err.syscall?.toUpperCase() === 'WRITE') return;
    setResult(TaskResult.Failed, `Unhandled: ${err?.message}`);
    issue('error', String(err?.stack));
  });
  process.on('unhandledRejection', (reason) => {
    throw reason instanceof Error ? reason : new Error(String(reason));
  });
  return {
    TaskResult,
    setResult,
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
      command('task.setvariable', { variable: name || '', isOutput: String(isOutput), issecret: String(secret) }, value);
    },
    setSecret(value: string): void {
      if (!value) return;
      noMultiline(value);
      command('task.setsecret', {}, value);
      // A variable mapped into the step that holds it goes too: children get no secret.
      for (const name of Object.keys(process.env)) if (process.env[name] === value) delete process.env[name];
    },
    /** The job token mapped into the step as SYSTEM_ACCESSTOKEN, if it was. */
    mappedAccessToken: () => secrets.get('system_accesstoken'),
    getEndpointAuthorization(id: string, optional: boolean): { parameters: Record<string, string>; scheme: string } | undefined {
      const value = secrets.get(`endpoint_auth_${id}`.toLowerCase());
      if (!optional && !value) setResult(TaskResult.Failed, `Endpoint auth data not present: ${id}`);
      debug(`${id} exists ${!!value}`);
      try {
        return value ? JSON.parse(value) : undefined;
      } catch {
        // task-lib puts the value in the message; it is a secret, so it stays out.
        throw new Error(`Invalid endpoint auth: ${id}`);
      }
    },
    updateBuildNumber: (value: string) => command('build.updatebuildnumber', null, value),
    uploadSummary: (path: string) => command('task.uploadsummary', null, path),
    uploadArtifact: (containerFolder: string, name: string, path: string) => command('artifact.upload', { containerfolder: containerFolder, artifactname: name }, path),
    warning: (message: string) => issue('warning', message),
    /** The agent's log folding; the title is neutralised like any other text. */
    group: (title: string) => writeCommandLine(`##[group]${neutralise(title)}${EOL}`),
    endGroup: () => writeCommandLine(`##[endgroup]${EOL}`),
  };
})();

interface TaskInputDef {
  name: string;
  type: string;
  defaultValue?: string;
  options?: Record<string, string>;
}

let inputDefs: Map<string, TaskInputDef> | undefined;

/** task.json sits beside the bundle; its defaults apply when the agent did not pass an input. */
function inputDef(name: string): TaskInputDef | undefined {
  if (!inputDefs) {
    inputDefs = new Map();
    try {
      const json = JSON.parse(readFileSync(join(__dirname, 'task.json'), 'utf8')) as { inputs?: TaskInputDef[] };
      for (const def of json.inputs ?? []) inputDefs.set(def.name, def);
    } catch {
      // Running from source in a unit test: no task.json, no defaults.
    }
  }
  return inputDefs.get(name);
}

/** Expands `$(Variable.Name)` the way the agent expands input defaults. */
function expandMacros(value: string): string {
  return value.replace(/\$\(([\w.]+)\)/g, (whole, name: string) => tl.getVariable(name) ?? whole);
}

export function variable(name: string): string | undefined {
  const value = tl.getVariable(name);
  return value === undefined || value === '' ? undefined : value;
}

/**
 * A string input, trimmed; the task.json default when empty; undefined when still empty. Only
 * the default's `$(…)` are expanded (the agent does not expand defaults it did not pass): a
 * value the agent passed is already expanded, and expanding again could turn text from a
 * variable (a branch name) into a secret's value.
 */
export function input(name: string): string | undefined {
  const raw = tl.getInput(name, false);
  if (raw && raw.trim()) return raw.trim();
  const fallback = inputDef(name)?.defaultValue;
  return fallback ? expandMacros(fallback) : undefined;
}

export function boolInput(name: string): boolean {
  const value = (input(name) ?? 'false').toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new UserError(`'${value}' is not a boolean.`, { input: name, fix: 'use true or false.' });
}

/** One of the values task.json lists for a pickList input. */
export function choiceInput<T extends string>(name: string, allowed: readonly T[]): T {
  const value = input(name) ?? '';
  const match = allowed.find((a) => a.toLowerCase() === value.toLowerCase());
  if (!match) throw new UserError(`'${value}' is not one of ${allowed.join(', ')}.`, { input: name, fix: `set it to one of: ${allowed.join(', ')}.` });
  return match;
}

/** A whole-number input within [min, max]. */
export function intInput(name: string, min: number, max: number): number {
  const text = input(name) ?? '';
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new UserError(`'${text}' is not a whole number from ${min} to ${max}.`, { input: name, fix: `set it to a number from ${min} to ${max}.` });
  }
  return value;
}

/** Non-empty lines (or comma-separated items) of an input. */
export function listInput(name: string): string[] {
  return (input(name) ?? '').split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
}

/** A path input resolved against `base` (default Build.SourcesDirectory, else the current folder). */
export function pathInput(name: string, base?: string): string | undefined {
  const value = input(name);
  if (!value) return undefined;
  return isAbsolute(value) ? value : resolve(base ?? variable('Build.SourcesDirectory') ?? process.cwd(), value);
}

export function setOutput(name: string, value: string | number | boolean): void {
  tl.setVariable(name, String(value), false, true);
}

const registeredSecrets = new Set<string>();

/** Tells the agent to mask `value` in the log (once per value). */
export function setSecret(value: string): void {
  if (!value || registeredSecrets.has(value)) return;
  registeredSecrets.add(value);
  tl.setSecret(value);
}

/**
 * An input that carries a secret (e.g. `$(SampleMaskingSalt)`, a secret variable): registered
 * as a secret before anything could print it, and never written to the debug log. Trimmed;
 * undefined when empty.
 */
export function secretInput(name: string): string | undefined {
  const value = tl.getSecretInput(name)?.trim();
  if (!value) return undefined;
  if (/\r|\n/.test(value)) throw new UserError('the value has more than one line, and the agent masks only one-line secrets.', { input: name, fix: 'use a one-line secret variable.' });
  setSecret(value);
  return value;
}

/**
 * A service connection's authorization parameters, each registered as a secret. Read through
 * getEndpointAuthorization, which logs only whether the endpoint exists:
 * getEndpointAuthorizationParameter writes the value itself to the debug log.
 */
export function endpointCredentials(id: string): Record<string, string> {
  const auth = tl.getEndpointAuthorization(id, true);
  const parameters = auth?.parameters ?? {};
  registerEndpointSecrets(parameters);
  return parameters;
}

/**
 * Endpoint parameters as secrets, besides the agent's own masking of them. A multi-line value
 * (a PEM certificate) cannot be registered and is left to the agent.
 */
function registerEndpointSecrets(parameters: Record<string, string>): void {
  for (const value of Object.values(parameters)) if (!/\r|\n/.test(value)) setSecret(value);
}

let jobTokenRead: { value: string | undefined } | undefined;

/** The job's own token (System.AccessToken); undefined outside an agent. Read (and registered) once. */
export function jobToken(): string | undefined {
  if (!jobTokenRead) {
    const parameters = endpointCredentials('SystemVssConnection');
    const value = parameters.AccessToken || parameters.accessToken || tl.mappedAccessToken() || undefined;
    if (value) setSecret(value);
    jobTokenRead = { value };
  }
  return jobTokenRead.value;
}

/**
 * How git talks to remotes in this job: the job token for the organization's URL, the identity
 * of whoever queued the run, and the no-progress bound for network commands (the pipeline
 * variable `Relevo.NetworkTimeoutSeconds`, default 60).
 */
export function gitOptions(): GitOptions {
  const seconds = Number(variable('Relevo.NetworkTimeoutSeconds'));
  return {
    token: jobToken(),
    tokenScope: variable('System.TeamFoundationCollectionUri') ?? variable('System.CollectionUri'),
    identity: { name: variable('Build.RequestedFor') ?? 'Relevo', email: variable('Build.RequestedForEmail') ?? 'relevo@users.noreply.dev.azure.com' },
    noProgressSeconds: Number.isFinite(seconds) && seconds > 0 ? seconds : undefined,
  };
}

/** Where the Azure DevOps REST API is and the job token for it; undefined when the job has no token or project. */
export function restConnection(): { collectionUri: string; token: string; project: string } | undefined {
  const collectionUri = variable('System.TeamFoundationCollectionUri') ?? variable('System.CollectionUri');
  const token = jobToken();
  const project = variable('System.TeamProject');
  return collectionUri && token && project ? { collectionUri, token, project } : undefined;
}

/** The pull-request inputs the tasks share: reviewers, work items, auto-complete and its merge strategy. */
export function pullRequestInputs(): { reviewerIds: string[]; workItemIds: number[]; autoComplete?: AutoCompleteOptions } {
  const workItemIds = listInput('workItems').map((w) => {
    if (!/^\d+$/.test(w)) throw new UserError(`'${w}' is not a work item id.`, { input: 'workItems', fix: 'list work item numbers, comma-separated, e.g. 123, 456.' });
    return Number(w);
  });
  const mergeStrategy = choiceInput('mergeStrategy', ['noFastForward', 'squash', 'rebase', 'rebaseMerge'] as const satisfies readonly MergeStrategy[]);
  return { reviewerIds: listInput('reviewers'), workItemIds, autoComplete: boolInput('autoComplete') ? { mergeStrategy, deleteSourceBranch: true } : undefined };
}

export function updateBuildNumber(value: string): void {
  tl.updateBuildNumber(value);
}

/** The agent's temp folder (cleaned after every job), or the system's outside an agent. */
export function tempDirectory(): string {
  return variable('Agent.TempDirectory') ?? tmpdir();
}

/** Shows Markdown on the run's Summary tab. */
export function uploadSummary(taskName: string, markdown: string): void {
  const dir = join(tempDirectory(), 'relevo');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${taskName}-${process.pid}-${Date.now()}.md`);
  writeFileSync(file, markdown);
  tl.uploadSummary(file);
}

/**
 * A service connection by id (the value of a `connectedService:*` input): its URL, auth scheme,
 * authorization parameters (each registered as a secret, as endpointCredentials does) and data
 * (`ENDPOINT_DATA_<id>_<KEY>`, keys as the agent gives them, upper-cased). Undefined when the
 * job has no such connection.
 */
export function endpoint(id: string): { id: string; url?: string; scheme?: string; parameters: Record<string, string>; data: Record<string, string> } | undefined {
  const auth = tl.getEndpointAuthorization(id, true);
  const key = id.replace(/\./g, '_').toUpperCase();
  const env = (name: string) => Object.keys(process.env).find((k) => k.toUpperCase() === name);
  const urlName = env(`ENDPOINT_URL_${key}`);
  if (!auth && !urlName) return undefined;
  const parameters = auth?.parameters ?? {};
  registerEndpointSecrets(parameters);
  const data: Record<string, string> = {};
  const prefix = `ENDPOINT_DATA_${key}_`;
  for (const name of Object.keys(process.env)) if (name.toUpperCase().startsWith(prefix) && process.env[name]) data[name.slice(prefix.length)] = process.env[name]!;
  return { id, url: urlName ? process.env[urlName] : undefined, scheme: auth?.scheme, parameters, data };
}

/** Uploads a file or folder as an artifact of the run (`##vso[artifact.upload]`; a container artifact). */
export function uploadArtifact(name: string, path: string): void {
  tl.uploadArtifact(name, name, path);
}

export const agentLog: Log = {
  info: (message) => console.log(message),
  warn: (message) => tl.warning(message),
  group: (title) => tl.group(title),
  endGroup: () => tl.endGroup(),
};

/** How long after SIGINT the agent sends SIGTERM; the undo must be done by then. */
const AGENT_GRACE_MS = 7500;

/**
 * Runs a task body and turns its outcome into the task result the agent reads. A failure
 * unwinds the run's undo journal (shared/undo.ts) and says what was put back. A cancellation
 * (SIGINT, then SIGTERM from the agent) stops every process the run started, lets the body
 * settle, unwinds the same journal within the agent's grace period and fails the step; a
 * second signal does not interrupt it.
 */
export async function runTask(body: () => Promise<void>): Promise<void> {
  let cancelling: Promise<void> | undefined;
  const work = body();
  const settled = work.then(
    () => undefined,
    () => undefined,
  );
  const cancel = async (signal: NodeJS.Signals) => {
    const started = Date.now();
    console.log(`Cancel requested (${signal}): stopping what runs and putting back what this run changed.`);
    await cancelRun(1000);
    await Promise.race([settled, new Promise((r) => setTimeout(r, 1500))]);
    allowUndoWork();
    const report = await journal.unwind(AGENT_GRACE_MS - 700 - (Date.now() - started));
    // An undo step abandoned at the deadline may have left a process running: it stops too.
    await cancelRun(200);
    const lines = describeUnwind(report);
    for (const line of lines) console.log(line);
    if (!lines.length) console.log('Nothing had been changed yet.');
    tl.setResult(tl.TaskResult.Failed, `Cancelled (${signal}). ${lines.join(' ') || 'Nothing had been changed yet.'}`);
    process.exit(1);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    cancelling ??= cancel(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await work;
    if (cancelling) return await cancelling;
    tl.setResult(tl.TaskResult.Succeeded, 'Done.');
  } catch (err) {
    if (cancelling) return await cancelling;
    if (!isUserError(err) && !(err instanceof CancelledError)) console.error(err);
    const lines = describeUnwind(await journal.unwind());
    for (const line of lines) console.log(line);
    tl.setResult(tl.TaskResult.Failed, [describeFailure(err), ...lines].join(' '));
  }
}
