/**
 * Gates: what must have succeeded on the exact commit before it may move (`requireSucceeded`).
 * `build` (any succeeded build of the commit), `build:<pipeline id or name>`, and
 * `status:<genre>/<name>` (a commit status). Checked through the REST client before anything moves.
 *
 * Every kind is one row of GATE_KINDS: how its line parses, how it is named, how it is checked.
 * The table's type maps every key of GateSpecs, so a new kind cannot be left out of any of them.
 */
import type { AzureDevOpsClient, BuildInfo, CommitStatusInfo } from '../clients/azureDevOps';
import { UserError } from '../errors';

/** What each kind of gate holds. */
interface GateSpecs {
  build: { definition?: string };
  status: { genre?: string; name: string };
}
export type GateKindName = keyof GateSpecs;
export type Gate = { [K in GateKindName]: { kind: K } & GateSpecs[K] }[GateKindName];

export interface GateResult {
  gate: string;
  passed: boolean;
  /** What was found: the build or status that passed it, or why not. */
  detail: string;
}

export type GateClient = Pick<AzureDevOpsClient, 'buildsForCommit' | 'commitStatuses'>;

/** What a check knows of the commit, and the lookups it may need (each done once for all gates). */
export interface GateContext {
  client: GateClient;
  commit: string;
  /** The branch the commit was built on (the promotion's source), to narrow the builds asked for. */
  branch?: string;
  /** The commit's date: no build of it was queued before (bounds the walk through the builds). */
  committed?: Date;
  repositoryId: () => Promise<string>;
  statuses: () => Promise<CommitStatusInfo[]>;
}

const CLOCK_SKEW_MS = 24 * 60 * 60 * 1000;

interface GateKind<K extends GateKindName> {
  /** `rest`: the text after `<kind>:`, undefined for the bare keyword; undefined back: not a gate of this kind. */
  parse(rest: string | undefined): GateSpecs[K] | undefined;
  describe(g: GateSpecs[K]): string;
  check(g: GateSpecs[K], ctx: GateContext): Promise<Omit<GateResult, 'gate'>>;
}

const GATE_KINDS: { [K in GateKindName]: GateKind<K> } = {
  build: {
    parse(rest) {
      if (rest === undefined) return {};
      return rest ? { definition: rest } : undefined;
    },
    describe: (g) => (g.definition ? `build:${g.definition}` : 'build'),
    async check(g, ctx) {
      const builds = await ctx.client.buildsForCommit(ctx.commit, {
        definition: g.definition,
        repositoryId: await ctx.repositoryId(),
        branch: ctx.branch,
        // A day before the commit's date: a committer's clock ahead of the service's does not hide its build.
        minTime: ctx.committed && new Date(ctx.committed.getTime() - CLOCK_SKEW_MS),
      });
      // `succeeded` only: a partially succeeded build had a failing step.
      const passed = builds.find((b) => b.status === 'completed' && b.result === 'succeeded');
      if (passed) return { passed: true, detail: `${describeBuild(passed)} succeeded` };
      const others = builds.map((b) => `${describeBuild(b)} ${b.result ?? b.status}`);
      return {
        passed: false,
        detail: others.length ? `no succeeded build of this commit (${others.join(', ')})` : 'no build of this commit',
      };
    },
  },
  status: {
    parse(rest) {
      if (!rest) return undefined;
      const slash = rest.indexOf('/');
      const genre = slash > 0 ? rest.slice(0, slash).trim() : undefined;
      const name = (slash >= 0 ? rest.slice(slash + 1) : rest).trim();
      return name ? { genre, name } : undefined;
    },
    describe: (g) => `status:${g.genre ? `${g.genre}/` : ''}${g.name}`,
    async check(g, ctx) {
      const found = (await ctx.statuses()).filter(
        (s) => s.name.toLowerCase() === g.name.toLowerCase() && (!g.genre || (s.genre ?? '').toLowerCase() === g.genre.toLowerCase()),
      );
      const newest = newestPerContext(found);
      if (!newest.length) return { passed: false, detail: 'no such status on this commit' };
      // Every context the gate names must stand at succeeded now: a failed after a succeeded fails it.
      if (newest.every((s) => s.state === 'succeeded'))
        return { passed: true, detail: newest.map((s) => `status ${s.genre ? `${s.genre}/` : ''}${s.name} succeeded`).join(', ') };
      return { passed: false, detail: `status is ${newest.map((s) => s.state).join(', ')}` };
    },
  },
};

/** The newest status of each context (genre/name): by creation date, the service's newest-first order breaking ties. */
export function newestPerContext(statuses: CommitStatusInfo[]): CommitStatusInfo[] {
  const newest = new Map<string, { s: CommitStatusInfo; at: number }>();
  statuses.forEach((s, at) => {
    const key = `${(s.genre ?? '').toLowerCase()}/${s.name.toLowerCase()}`;
    const had = newest.get(key);
    const newer = !had || (s.createdAt ?? '') > (had.s.createdAt ?? '') || ((s.createdAt ?? '') === (had.s.createdAt ?? '') && at < had.at);
    if (newer) newest.set(key, { s, at });
  });
  return [...newest.values()].map((v) => v.s);
}

const gateKind = <K extends GateKindName>(kind: K): GateKind<K> => GATE_KINDS[kind];

/** Parses the lines of `requireSucceeded`; `none` (or nothing) is no gate. */
export function parseGates(lines: string[]): Gate[] {
  const gates: Gate[] = [];
  for (const line of lines) {
    const text = line.trim();
    if (!text || text.toLowerCase() === 'none') continue;
    const m = /^([a-z]+)(?::(.*))?$/i.exec(text);
    const kind = m?.[1].toLowerCase();
    const parsed = kind && kind in GATE_KINDS ? gateKind(kind as GateKindName).parse(m![2]?.trim()) : undefined;
    if (!parsed) {
      throw new UserError(`'${text}' is not a gate.`, {
        input: 'requireSucceeded',
        fix: "one a line: 'none', 'build', 'build:<pipeline id or name>' or 'status:<genre>/<name>' (e.g. status:continuous-integration/unit-tests).",
      });
    }
    gates.push({ kind, ...parsed } as Gate);
  }
  if (gates.length && lines.some((l) => l.trim().toLowerCase() === 'none')) {
    throw new UserError("'none' is listed together with other gates.", {
      input: 'requireSucceeded',
      fix: "remove 'none', or list only 'none'.",
    });
  }
  return gates;
}

/** Calls `f` with the gate's row of the table and the gate, typed together. */
function withKind<T>(g: Gate, f: <K extends GateKindName>(kind: GateKind<K>, spec: GateSpecs[K]) => T): T {
  return f(gateKind(g.kind) as GateKind<typeof g.kind>, g as never);
}

export function describeGate(g: Gate): string {
  return withKind(g, (kind, spec) => kind.describe(spec));
}

/** Checks every gate for `commit` (all of them, so the failure names each one that is missing). */
export async function checkGates(
  client: GateClient,
  gates: Gate[],
  commit: string,
  repositoryId: () => Promise<string>,
  where: { branch?: string; committed?: Date } = {},
): Promise<GateResult[]> {
  let id: Promise<string> | undefined;
  let statuses: Promise<CommitStatusInfo[]> | undefined;
  const ctx: GateContext = {
    client,
    commit,
    ...where,
    repositoryId: () => (id ??= repositoryId()),
    statuses: () => (statuses ??= ctx.repositoryId().then((repo) => client.commitStatuses(repo, commit))),
  };
  return Promise.all(gates.map(async (g) => ({ gate: describeGate(g), ...(await withKind(g, (kind, spec) => kind.check(spec, ctx))) })));
}

function describeBuild(b: BuildInfo): string {
  return `build ${b.buildNumber ?? b.id} of '${b.definitionName || b.definitionId}'`;
}
