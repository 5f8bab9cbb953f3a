/**
 * Gates: what must have succeeded on the exact commit before it may move (`requireSucceeded`).
 * `build` (any succeeded build of the commit), `build:<pipeline id or name>`, and
 * `status:<genre>/<name>` (a commit status). Checked through the REST client before anything moves.
 */
import type { AzureDevOpsClient, BuildInfo } from '../clients/azureDevOps';
import { UserError } from '../errors';

export type Gate = { kind: 'build'; definition?: string } | { kind: 'status'; genre?: string; name: string };

export interface GateResult {
  gate: string;
  passed: boolean;
  /** What was found: the build or status that passed it, or why not. */
  detail: string;
}

/** Parses the lines of `requireSucceeded`; `none` (or nothing) is no gate. */
export function parseGates(lines: string[]): Gate[] {
  const gates: Gate[] = [];
  for (const line of lines) {
    const text = line.trim();
    if (!text || text.toLowerCase() === 'none') continue;
    if (text.toLowerCase() === 'build') {
      gates.push({ kind: 'build' });
      continue;
    }
    const m = /^(build|status):(.*)$/i.exec(text);
    const rest = m?.[2].trim() ?? '';
    if (m && m[1].toLowerCase() === 'build' && rest) {
      gates.push({ kind: 'build', definition: rest });
      continue;
    }
    if (m && m[1].toLowerCase() === 'status' && rest) {
      const slash = rest.indexOf('/');
      const genre = slash > 0 ? rest.slice(0, slash).trim() : undefined;
      const name = (slash >= 0 ? rest.slice(slash + 1) : rest).trim();
      if (name) {
        gates.push({ kind: 'status', genre, name });
        continue;
      }
    }
    throw new UserError(`'${text}' is not a gate.`, {
      input: 'requireSucceeded',
      fix: "one a line: 'none', 'build', 'build:<pipeline id or name>' or 'status:<genre>/<name>' (e.g. status:continuous-integration/unit-tests).",
    });
  }
  if (gates.length && lines.some((l) => l.trim().toLowerCase() === 'none')) {
    throw new UserError("'none' is listed together with other gates.", {
      input: 'requireSucceeded',
      fix: "remove 'none', or list only 'none'.",
    });
  }
  return gates;
}

export function describeGate(g: Gate): string {
  if (g.kind === 'build') return g.definition ? `build:${g.definition}` : 'build';
  return `status:${g.genre ? `${g.genre}/` : ''}${g.name}`;
}

export type GateClient = Pick<AzureDevOpsClient, 'buildsForCommit' | 'commitStatuses'>;

/** Checks every gate for `commit` (all of them, so the failure names each one that is missing). */
export async function checkGates(
  client: GateClient,
  gates: Gate[],
  commit: string,
  repositoryId: () => Promise<string>,
): Promise<GateResult[]> {
  let statuses: ReturnType<GateClient['commitStatuses']> | undefined;
  return Promise.all(
    gates.map(async (g): Promise<GateResult> => {
      const gate = describeGate(g);
      if (g.kind === 'build') {
        const builds = await client.buildsForCommit(commit, { definition: g.definition });
        const passed = builds.find((b) => b.status === 'completed' && b.result === 'succeeded');
        if (passed) return { gate, passed: true, detail: `${describeBuild(passed)} succeeded` };
        const others = builds.map((b) => `${describeBuild(b)} ${b.result ?? b.status}`);
        return {
          gate,
          passed: false,
          detail: others.length ? `no succeeded build of this commit (${others.join(', ')})` : 'no build of this commit',
        };
      }
      statuses ??= repositoryId().then((id) => client.commitStatuses(id, commit));
      const found = (await statuses).filter(
        (s) => s.name.toLowerCase() === g.name.toLowerCase() && (!g.genre || (s.genre ?? '').toLowerCase() === g.genre.toLowerCase()),
      );
      const ok = found.find((s) => s.state === 'succeeded');
      if (ok) return { gate, passed: true, detail: `status ${ok.genre ? `${ok.genre}/` : ''}${ok.name} succeeded` };
      return {
        gate,
        passed: false,
        detail: found.length ? `status is ${found.map((s) => s.state).join(', ')}` : 'no such status on this commit',
      };
    }),
  );
}

function describeBuild(b: BuildInfo): string {
  return `build ${b.buildNumber ?? b.id} of '${b.definitionName || b.definitionId}'`;
}
