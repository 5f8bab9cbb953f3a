/**
 * Typed, validated task inputs: each reading names the input in its error and says how to fix
 * it. task.json sits beside the bundle, and its defaults apply when the agent passed nothing.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { UserError } from '../errors';
import { branchContext, type BranchContext } from '../git/branch';
import { host } from './host';
import { setSecret } from './secrets';

interface TaskInputDef {
  name: string;
  type: string;
  defaultValue?: string;
  options?: Record<string, string>;
}

/** task.json sits beside the bundle; its defaults apply when the agent did not pass an input. */
function inputDef(name: string): TaskInputDef | undefined {
  const defs = host.once('inputDefs', () => {
    const map = new Map<string, TaskInputDef>();
    try {
      const json = JSON.parse(readFileSync(host.taskJsonPath(), 'utf8')) as { inputs?: TaskInputDef[] };
      for (const def of json.inputs ?? []) map.set(def.name, def);
    } catch {
      // Running from source without a task.json: no defaults.
    }
    return map;
  });
  return defs.get(name);
}

/** Expands `$(Variable.Name)` the way the agent expands input defaults. */
function expandMacros(value: string): string {
  return value.replace(/\$\(([\w.]+)\)/g, (whole, name: string) => host.getVariable(name) ?? whole);
}

/** A pipeline variable; undefined when unset or empty. */
export function variable(name: string): string | undefined {
  const value = host.getVariable(name);
  return value === undefined || value === '' ? undefined : value;
}

/**
 * A string input, trimmed; the task.json default when empty; undefined when still empty. Only
 * the default's `$(…)` are expanded (the agent does not expand defaults it did not pass): a
 * value the agent passed is already expanded, and expanding again could turn text from a
 * variable (a branch name) into a secret's value.
 */
export function input(name: string): string | undefined {
  const raw = host.getInput(name, false);
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
  if (!match)
    throw new UserError(`'${value}' is not one of ${allowed.join(', ')}.`, {
      input: name,
      fix: `set it to one of: ${allowed.join(', ')}.`,
    });
  return match;
}

/** A whole-number input within [min, max]. */
export function intInput(name: string, min: number, max: number): number {
  const text = input(name) ?? '';
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new UserError(`'${text}' is not a whole number from ${min} to ${max}.`, {
      input: name,
      fix: `set it to a number from ${min} to ${max}.`,
    });
  }
  return value;
}

/** Non-empty lines (or comma-separated items) of an input. */
export function listInput(name: string): string[] {
  return (input(name) ?? '')
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A path input resolved against `base` (default Build.SourcesDirectory, else the current folder). */
export function pathInput(name: string, base?: string): string | undefined {
  const value = input(name);
  if (!value) return undefined;
  return isAbsolute(value) ? value : resolve(base ?? variable('Build.SourcesDirectory') ?? process.cwd(), value);
}

/**
 * An input that carries a secret (e.g. `$(SampleMaskingSalt)`, a secret variable): registered
 * as a secret before anything could print it, and never written to the debug log. Trimmed;
 * undefined when empty.
 */
export function secretInput(name: string): string | undefined {
  const value = host.getSecretInput(name)?.trim();
  if (!value) return undefined;
  if (/\r|\n/.test(value))
    throw new UserError('the value has more than one line, and the agent masks only one-line secrets.', {
      input: name,
      fix: 'use a one-line secret variable.',
    });
  setSecret(value);
  return value;
}

/** A pipeline variable holding a positive number (a tuning knob such as `Relevo.NetworkTimeoutSeconds`); undefined when unset or not positive. */
export function positiveNumberVariable(name: string): number | undefined {
  const value = Number(variable(name));
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

/** Build.BuildId, unique in the organization; undefined outside a pipeline. */
export function buildId(): number | undefined {
  const id = positiveNumberVariable('Build.BuildId');
  return id !== undefined && Number.isSafeInteger(id) ? id : undefined;
}

/** What the build builds (branch, tag or pull request), from Build.SourceBranch; undefined when unset. */
export function buildBranch(): BranchContext | undefined {
  return branchContext({
    sourceBranch: variable('Build.SourceBranch'),
    pullRequestSourceBranch: variable('System.PullRequest.SourceBranch'),
  });
}
