/**
 * The house's shape, kept: no module in shared/ imports a module that imports it back, and the
 * folders of shared/ depend on each other one way (no folder reaches another that reaches it
 * back). A plain import graph read from the sources, so it runs with the tests.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT } from './support/agentRunner';

const SHARED = join(ROOT, 'shared');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : name.endsWith('.ts') ? [path] : [];
  });
}

/** Each shared/ module and the shared/ modules it imports (type-only imports included: they are arrows too). */
export function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(SHARED)) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(/^(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'/gm)].map((m) => {
      const base = resolve(dirname(file), m[1]);
      for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) {
        try {
          if (statSync(candidate).isFile()) return relative(SHARED, candidate);
        } catch {
          // not this one
        }
      }
      return relative(SHARED, base);
    });
    graph.set(relative(SHARED, file), targets);
  }
  return graph;
}

/** A cycle in a graph, as the path that closes it; undefined when there is none. */
export function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node];
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

/** shared/<folder>/… → <folder>; shared/<file>.ts → <file>. */
function folderOf(module: string): string {
  return module.split('/')[0].replace(/\.ts$/, '');
}

describe('architecture', () => {
  it('finds a cycle when there is one (the check itself)', () => {
    assert.deepEqual(
      findCycle(
        new Map([
          ['a', ['b']],
          ['b', ['c']],
          ['c', ['a']],
        ]),
      ),
      ['a', 'b', 'c', 'a'],
    );
    assert.equal(
      findCycle(
        new Map([
          ['a', ['b']],
          ['b', []],
        ]),
      ),
      undefined,
    );
  });

  it('no module in shared/ imports a module that imports it back', () => {
    assert.equal(findCycle(importGraph())?.join(' → '), undefined);
  });

  it('the folders of shared/ depend on each other one way', () => {
    const folders = new Map<string, string[]>();
    for (const [module, targets] of importGraph()) {
      const from = folderOf(module);
      const to = targets.map(folderOf).filter((t) => t !== from);
      folders.set(from, [...new Set([...(folders.get(from) ?? []), ...to])]);
    }
    assert.equal(findCycle(folders)?.join(' → '), undefined);
  });
});
