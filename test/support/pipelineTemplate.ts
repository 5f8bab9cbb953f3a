/**
 * Reads the pipeline templates of examples/whole-flow/ as the agent would expand them, for the
 * tests that run a template build by build: a step's inputs with `${{ parameters.x }}` and
 * `$(variable)` filled in, and its `condition` evaluated (the subset of Azure Pipelines'
 * expressions the templates use: and, or, not, eq, ne, startsWith, succeeded, variables['x']).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './agentRunner';

type Values = Record<string, string>;

export interface TemplateStep {
  task: string;
  name?: string;
  inputs: Values;
  /** The step's condition, template parameters filled in. */
  condition?: string;
  /** The stage it is in, and that stage's condition. */
  stage?: string;
  stageCondition?: string;
}

const templateDir = join(ROOT, 'examples', 'whole-flow');

/** `${{ parameters.x }}` in `text` (expanded when the pipeline is compiled); a name without a value is an error. */
function fillParameters(text: string, values: Values): string {
  return text.replace(/\$\{\{\s*parameters\.(\w+)\s*\}\}/g, (whole, name: string) => {
    if (!(name in values)) throw new Error(`${whole} has no value in the test`);
    return values[name];
  });
}

/** `$(x)` in `text` (macro syntax, filled when the step runs) from `variables`; a name without a value is an error. */
export function fillVariables(text: string, variables: Values): string {
  return text.replace(/\$\(([\w.]+)\)/g, (whole, name: string) => {
    if (!(name in variables)) throw new Error(`${whole} has no value in the test`);
    return variables[name];
  });
}

/** A step's inputs as the agent gives them to the task: `$(x)` filled from `variables`. */
export function inputsOf(step: TemplateStep, variables: Values): Values {
  return Object.fromEntries(Object.entries(step.inputs).map(([k, v]) => [k, fillVariables(v, variables)]));
}

/**
 * Every task step of the template `file` (relative to examples/whole-flow/), in order, with the
 * templates it references expanded: the template's parameter defaults, then `parameters`, then
 * `parameters` fill `${{ parameters.x }}`; `$(x)` is left for inputsOf.
 */
export function templateSteps(file: string, parameters: Values): TemplateStep[] {
  const doc = parse(readFileSync(join(templateDir, file), 'utf8')) as { parameters?: Array<{ name: string; default?: unknown }> };
  const values: Values = {};
  for (const p of doc.parameters ?? []) if (p.default !== undefined) values[p.name] = String(p.default);
  Object.assign(values, parameters);
  const steps: TemplateStep[] = [];
  const strings = (m: unknown): Values =>
    Object.fromEntries(Object.entries((m ?? {}) as Record<string, unknown>).map(([k, v]) => [k, fillParameters(String(v), values)]));
  const walk = (node: unknown, stage?: { name: string; condition?: string }): void => {
    if (Array.isArray(node)) return node.forEach((n) => walk(n, stage));
    if (!node || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    if (typeof o.stage === 'string')
      stage = { name: o.stage, condition: typeof o.condition === 'string' ? fillParameters(o.condition, values) : undefined };
    if (typeof o.template === 'string') {
      for (const step of templateSteps(o.template, strings(o.parameters)))
        steps.push(stage && !step.stage ? { ...step, stage: stage.name, stageCondition: stage.condition } : step);
      return;
    }
    if (typeof o.task === 'string') {
      steps.push({
        task: o.task,
        name: o.name as string | undefined,
        inputs: strings(o.inputs),
        condition: typeof o.condition === 'string' ? fillParameters(o.condition, values) : undefined,
        stage: stage?.name,
        stageCondition: stage?.condition,
      });
      return;
    }
    if (typeof o.script === 'string') {
      // A script step that posts a commit status: recorded as a pseudo-task the test plays.
      const posted = /"genre": "(\w+)", "name": "([^"]+)"/.exec(fillParameters(o.script, values));
      if (posted)
        steps.push({
          task: 'PostStatus',
          inputs: { genre: posted[1], name: posted[2] },
          condition: typeof o.condition === 'string' ? fillParameters(o.condition, values) : undefined,
          stage: stage?.name,
          stageCondition: stage?.condition,
        });
      return;
    }
    for (const [k, v] of Object.entries(o)) if (k !== 'parameters') walk(v, stage);
  };
  walk(doc, undefined);
  return steps;
}

/** Evaluates a condition with `variables` (Azure Pipelines compares strings case-insensitively). */
export function evaluate(condition: string | undefined, variables: Values, succeeded = true): boolean {
  if (!condition) return succeeded;
  let at = 0;
  const text = condition.trim();
  const skip = () => {
    while (/\s/.test(text[at] ?? '')) at++;
  };
  const expect = (c: string) => {
    skip();
    if (text[at] !== c) throw new Error(`'${c}' expected at ${at} in: ${condition}`);
    at++;
  };
  const value = (): string | boolean => {
    skip();
    if (text[at] === "'") {
      const end = text.indexOf("'", at + 1);
      const s = text.slice(at + 1, end);
      at = end + 1;
      return s;
    }
    const m = /^[A-Za-z][\w.]*/.exec(text.slice(at));
    if (!m) throw new Error(`a value expected at ${at} in: ${condition}`);
    at += m[0].length;
    if (m[0] === 'variables') {
      expect('[');
      const name = value() as string;
      expect(']');
      return variables[name] ?? '';
    }
    if (m[0].startsWith('variables.')) return variables[m[0].slice('variables.'.length)] ?? '';
    if (m[0] === 'true' || m[0] === 'false') return m[0] === 'true';
    expect('(');
    const args: Array<string | boolean> = [];
    skip();
    while (text[at] !== ')') {
      args.push(value());
      skip();
      if (text[at] === ',') at++;
      skip();
    }
    at++;
    const str = (v: string | boolean) => String(v).toLowerCase();
    switch (m[0]) {
      case 'and':
        return args.every((a) => a === true || str(a) === 'true');
      case 'or':
        return args.some((a) => a === true || str(a) === 'true');
      case 'not':
        return !(args[0] === true || str(args[0]) === 'true');
      case 'eq':
        return str(args[0]) === str(args[1]);
      case 'ne':
        return str(args[0]) !== str(args[1]);
      case 'startsWith':
        return str(args[0]).startsWith(str(args[1]));
      case 'succeeded':
        return succeeded;
      default:
        throw new Error(`${m[0]}() is not known to the test's evaluator: ${condition}`);
    }
  };
  const result = value();
  return result === true || String(result).toLowerCase() === 'true';
}
