/**
 * The only module that talks to the Azure Pipelines agent (through azure-pipelines-task-lib):
 * typed, validated inputs; output variables; secrets; the Summary tab; the build number; the
 * task result. Everything else in shared/ is plain functions on plain data.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import * as tl from 'azure-pipelines-task-lib/task';
import { describeFailure, isUserError, UserError } from './errors';
import type { GitOptions } from './git';
import type { Log } from './log';

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

/** A string input, trimmed; the task.json default when empty; undefined when still empty. */
export function input(name: string): string | undefined {
  const raw = tl.getInput(name, false);
  const value = raw && raw.trim() ? raw.trim() : inputDef(name)?.defaultValue;
  return value ? expandMacros(value) : undefined;
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

export function setSecret(value: string): void {
  if (value) tl.setSecret(value);
}

/**
 * A service connection's authorization parameters, each registered as a secret. Read through
 * getEndpointAuthorization, which logs only whether the endpoint exists:
 * getEndpointAuthorizationParameter writes the value itself to the debug log.
 */
export function endpointCredentials(id: string): Record<string, string> {
  const auth = tl.getEndpointAuthorization(id, true);
  const parameters = auth?.parameters ?? {};
  for (const value of Object.values(parameters)) setSecret(value);
  return parameters;
}

/** The job's own token (System.AccessToken); undefined outside an agent. */
export function jobToken(): string | undefined {
  const parameters = endpointCredentials('SystemVssConnection');
  return parameters.AccessToken || parameters.accessToken || undefined;
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

export const agentLog: Log = {
  info: (message) => console.log(message),
  warn: (message) => tl.warning(message),
};

/** Runs a task body and turns its outcome into the task result the agent reads. */
export async function runTask(body: () => Promise<void>): Promise<void> {
  tl.setResourcePath(join(__dirname, 'task.json'), true);
  try {
    await body();
    tl.setResult(tl.TaskResult.Succeeded, 'Done.');
  } catch (err) {
    if (!isUserError(err)) console.error(err);
    tl.setResult(tl.TaskResult.Failed, describeFailure(err));
  }
}
