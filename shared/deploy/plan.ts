/**
 * The deploy plan, as data: every Git folder and job found, where each is now (what it is put
 * back to if the deploy does not finish), where it goes, and whether it moves at all; the
 * identity's right to manage each checked. Reads only. Every problem found is listed in one
 * error, so that one run shows everything to fix.
 */
import { mapLimit } from '../concurrency';
import { UserError } from '../errors';
import type { Git } from '../git';
import type { Log } from '../log';
import { quoteForeign } from '../output';
import { DatabricksError } from '../clients/databricks';
import {
  gitProviderFor,
  samePath,
  type GitSource,
  type JobInfo,
  type RepoInfo,
  type WorkspaceClient,
} from '../clients/databricksWorkspace';
import { resolveExplicit, type Release, type ReleaseComponent } from './release';

export interface FolderTarget {
  kind: 'folder';
  component: string;
  path: string;
  action: 'move' | 'create' | 'unchanged';
  /** The folder as it is; undefined when it is to be created. */
  repo?: RepoInfo;
  /** Where it is: a branch, or the tag its detached HEAD is on. */
  from?: { branch: string; commit?: string } | { tag: string; commit: string };
  to: { tag: string; commit: string };
  url: string;
  provider: string;
}

export interface JobTarget {
  kind: 'job';
  component: string;
  jobId: number;
  name?: string;
  action: 'move' | 'unchanged';
  previous: GitSource;
  next: GitSource;
  /** The component's tag (whichever jobsPin says the job is pinned to). */
  tag?: string;
  commit: string;
}

export type Target = FolderTarget | JobTarget;

export interface DeployPlan {
  host: string;
  release: Release;
  folders: FolderTarget[];
  jobs: JobTarget[];
}

export interface PlanOptions {
  /** Path templates with `{component}`, e.g. `/Workspace/pro/{component}`. */
  gitFolders: string[];
  createMissing: boolean;
  /** Job ids or names, each optionally `=component`. */
  jobs: string[];
  jobsPin: 'commit' | 'tag';
  parallel: number;
}

/** The name a job line uses for the orchestration repository itself. */
export const ORCHESTRATION = 'orchestration';

export function checkTemplates(templates: string[], components: number): void {
  for (const t of templates) {
    if (!t.startsWith('/'))
      throw new UserError(`'${t}' is not a workspace path.`, {
        input: 'gitFolders',
        fix: 'start it with /, e.g. /Workspace/pro/{component}.',
      });
    if (!t.includes('{component}') && components > 1)
      throw new UserError(`'${t}' has no {component}, so every component would go to the same folder.`, {
        input: 'gitFolders',
        fix: 'put {component} where the name goes, e.g. /Workspace/pro/{component}.',
      });
    if (/[{}]/.test(t.replace(/\{component\}/g, '')))
      throw new UserError(`'${t}' has a placeholder other than {component}.`, {
        input: 'gitFolders',
        fix: 'only {component} is replaced.',
      });
  }
}

/** A URL as compared: no credentials, no trailing `.git` or slash, host in lower case. */
export function sameRepository(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  const norm = (u: string) =>
    u
      .replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1')
      .replace(/\/+$/, '')
      .replace(/\.git$/, '')
      .replace(/^([a-z][a-z0-9+.-]*:\/\/[^/]+)/i, (h) => h.toLowerCase());
  return norm(a) === norm(b);
}

/** Reads the workspace and says what would move. Throws one UserError listing every problem. */
export async function planDeploy(client: WorkspaceClient, git: Git, release: Release, opts: PlanOptions, log: Log): Promise<DeployPlan> {
  const problems: string[] = [];
  const components = release.components;
  checkTemplates(opts.gitFolders, components.length);

  // Git folders: one listing per template (only folders the identity can MANAGE are listed).
  const listings = await mapLimit(opts.gitFolders, opts.parallel, async (t) => client.listRepos(listPrefix(t)));
  const pairs = opts.gitFolders.flatMap((t, i) => components.map((c) => ({ template: t, listed: listings[i], component: c })));
  const found = await mapLimit(pairs, opts.parallel, async (p) =>
    findFolder(client, p.template.replace(/\{component\}/g, p.component.name), p.listed),
  );
  // A component listed without a URL takes its folder's (an explicit `name=tag`).
  for (const c of components) {
    if (c.url) continue;
    const repo = found.flatMap((f, i) => (pairs[i].component === c && 'repo' in f && f.repo ? [f.repo] : []))[0];
    if (repo?.url) Object.assign(c, await resolveExplicit(git, { name: c.name, url: repo.url, path: c.path }, c.tag!));
  }
  const folders: FolderTarget[] = [];
  pairs.forEach((p, i) => {
    const f = found[i];
    const path = p.template.replace(/\{component\}/g, p.component.name);
    if ('problem' in f) return void problems.push(f.problem);
    const target = folderTarget(p.component, path, f.repo, opts.createMissing, f.parentMissing);
    if (typeof target === 'string') problems.push(target);
    else folders.push(target);
  });

  // Jobs: by id or by exact name; each must take its code from git and be manageable.
  const jobs: JobTarget[] = [];
  for (const j of await mapLimit(opts.jobs, opts.parallel, (line) => jobTarget(client, line, release, opts.jobsPin))) {
    if (typeof j === 'string') problems.push(j);
    else {
      // The same job named twice (by id and by name) is one target; pinned two ways, a problem.
      const twin = jobs.find((x) => x.jobId === j.jobId);
      if (!twin) jobs.push(j);
      else if (twin.commit !== j.commit)
        problems.push(
          `job ${j.jobId} is named twice in jobs, for ${twin.component} and for ${j.component}: a job takes its code from one repository.`,
        );
    }
  }

  if (problems.length) {
    throw new UserError(
      `the plan found ${problems.length} problem${problems.length === 1 ? '' : 's'}, so nothing was moved:\n${problems.map((p, i) => `  ${i + 1}. ${p}`).join('\n')}`,
      {
        fix: 'each line says what to change; run with dryRun: true to check the plan again without moving anything.',
      },
    );
  }
  const plan: DeployPlan = { host: client.host, release, folders, jobs };
  for (const line of planLines(plan)) log.info(line);
  return plan;
}

/** The fixed part of a template before the folder named after the component: `/Workspace/pro/`. */
function listPrefix(template: string): string {
  const at = template.indexOf('{component}');
  const fixed = at < 0 ? template : template.slice(0, at);
  return fixed.slice(0, fixed.lastIndexOf('/') + 1) || '/';
}

type Found = { repo?: RepoInfo; parentMissing?: boolean } | { problem: string };

async function findFolder(client: WorkspaceClient, path: string, listed: RepoInfo[]): Promise<Found> {
  const repo = listed.find((r) => samePath(r.path, path));
  if (repo) return { repo };
  // Not listed: missing, or there but not manageable by this identity (or a Git-CLI folder, which the listing leaves out).
  const object = await client.objectStatus(path);
  if (!object) {
    const parent = path.replace(/\/+$/, '').replace(/\/[^/]+$/, '') || '/';
    const p = await client.objectStatus(parent);
    return { parentMissing: !p || (p.objectType !== 'DIRECTORY' && p.objectType !== 'REPO') };
  }
  if (object.objectType !== 'REPO')
    return {
      problem: `${quoteForeign(path)} is a ${object.objectType.toLowerCase() || 'workspace object'}, not a Git folder: remove it or choose another gitFolders path.`,
    };
  try {
    return { repo: { ...(await client.getRepo(object.objectId!)), path } };
  } catch (err) {
    if (err instanceof DatabricksError && err.kind === 'forbidden')
      return {
        problem: `the connection's identity may not manage the Git folder ${quoteForeign(path)}: give it CAN MANAGE on the folder (folder → Share).`,
      };
    throw err;
  }
}

function folderTarget(
  c: ReleaseComponent,
  path: string,
  repo: RepoInfo | undefined,
  createMissing: boolean,
  parentMissing?: boolean,
): FolderTarget | string {
  if (!c.tag || !c.commit) {
    if (!c.tag)
      return `${c.name} is pinned at ${c.commit?.slice(0, 12)}, which no tag names: a Git folder can only be moved to a branch or a tag. Release it with a tag (VersionBump), or deploy it to jobs only (jobsPin: commit).`;
    return `${c.name}=${c.tag}: its repository URL is not known (no Git folder at ${quoteForeign(path)} names it): give it after the tag (${c.name}=${c.tag} https://…/_git/${c.name}).`;
  }
  const to = { tag: c.tag, commit: c.commit };
  if (!repo) {
    if (!createMissing)
      return `the Git folder ${quoteForeign(path)} for ${c.name} does not exist: create it, or set createMissing: true to have it created (from ${quoteForeign(c.url ?? '')}).`;
    if (parentMissing)
      return `the Git folder ${quoteForeign(path)} for ${c.name} would be created, but its parent folder does not exist: create it (databricks workspace mkdirs).`;
    return { kind: 'folder', component: c.name, path, action: 'create', to, url: c.url!, provider: gitProviderFor(c.url!) };
  }
  if (repo.url && c.url && !sameRepository(repo.url, c.url))
    return `the Git folder ${quoteForeign(path)} is linked to ${quoteForeign(repo.url)}, not to ${c.name}'s repository ${quoteForeign(c.url)}: fix gitFolders, or relink the folder.`;
  let from: FolderTarget['from'];
  if (repo.branch) from = { branch: repo.branch, commit: repo.headCommitId };
  else {
    const tag = repo.headCommitId
      ? [...(c.tags ?? new Map<string, string>())]
          .filter(([, sha]) => sha === repo.headCommitId)
          .map(([name]) => name)
          .sort()
          .pop()
      : undefined;
    if (!tag)
      return `the Git folder ${quoteForeign(path)} is on a detached HEAD at ${repo.headCommitId?.slice(0, 12) ?? 'an unknown commit'}, which no tag of ${c.name} names, so it could not be put back if the deploy failed: put it on a branch or a tag first (folder → Git…).`;
    from = { tag, commit: repo.headCommitId! };
  }
  const unchanged = !repo.branch && repo.headCommitId === c.commit;
  return {
    kind: 'folder',
    component: c.name,
    path,
    action: unchanged ? 'unchanged' : 'move',
    repo,
    from,
    to,
    url: repo.url ?? c.url!,
    provider: repo.provider ?? gitProviderFor(c.url!),
  };
}

async function jobTarget(client: WorkspaceClient, line: string, release: Release, pin: 'commit' | 'tag'): Promise<JobTarget | string> {
  const eq = line.lastIndexOf('=');
  const named = eq > 0 ? line.slice(eq + 1).trim() : undefined;
  const knows = (n: string) => n === ORCHESTRATION || release.components.some((c) => c.name === n);
  const [ref, component] = named && knows(named) ? [line.slice(0, eq).trim(), named] : [line.trim(), undefined];
  let job: JobInfo;
  try {
    if (/^\d+$/.test(ref)) job = await client.getJob(Number(ref));
    else {
      const matches = await client.jobsNamed(ref);
      if (!matches.length)
        return `there is no job named '${quoteForeign(ref)}' that the connection's identity can see: check the name, or give its id.`;
      if (matches.length > 1)
        return `${matches.length} jobs are named '${quoteForeign(ref)}' (ids ${matches.map((m) => m.jobId).join(', ')}): give the id instead.`;
      job = await client.getJob(matches[0].jobId);
    }
  } catch (err) {
    if (
      err instanceof DatabricksError &&
      (err.kind === 'notFound' || (err.kind === 'badRequest' && /does not exist/i.test(err.serverMessage ?? '')))
    )
      return `job ${quoteForeign(ref)} does not exist in this workspace: check jobs.`;
    if (err instanceof DatabricksError && err.kind === 'forbidden')
      return `the connection's identity may not see job ${quoteForeign(ref)}: give it CAN MANAGE on the job.`;
    throw err;
  }
  const label = `job ${job.jobId}${job.name ? ` (${quoteForeign(job.name)})` : ''}`;
  const previous = job.gitSource;
  if (!previous?.git_url)
    return `${label} has no git_source: its tasks run from workspace files, not from a repository. Give it a git_source (job → Edit → Git), or leave it out of jobs.`;
  let c: { name: string; tag?: string; commit?: string } | undefined;
  if (component === ORCHESTRATION || (!component && sameRepository(previous.git_url, release.orchestration?.url))) {
    c = release.orchestration && { name: ORCHESTRATION, tag: release.orchestration.tag, commit: release.orchestration.commit };
  } else {
    c = component
      ? release.components.find((x) => x.name === component)
      : release.components.find((x) => sameRepository(x.url, previous.git_url));
  }
  if (!c)
    return `${label} takes its code from ${quoteForeign(previous.git_url)}, which is none of the components deployed: name the component (${ref}=<component>), or leave the job out.`;
  if (!(await client.canManageJob(job.jobId)))
    return `the connection's identity may not manage ${label}: give it CAN MANAGE on the job (job → Permissions).`;
  if (!c.commit)
    return `${c.name}'s tag ${c.tag} could not be resolved to a commit: give its repository URL (${c.name}=${c.tag} https://…).`;
  if (pin === 'tag' && !c.tag) return `${label}: ${c.name} is pinned at ${c.commit.slice(0, 12)}, which no tag names; use jobsPin: commit.`;
  const base = Object.fromEntries(
    Object.entries(previous).filter(([k]) => !['git_branch', 'git_tag', 'git_commit', 'git_snapshot'].includes(k)),
  ) as GitSource;
  const next: GitSource = pin === 'commit' ? { ...base, git_commit: c.commit } : { ...base, git_tag: c.tag };
  const unchanged =
    pin === 'commit'
      ? previous.git_commit === c.commit && !previous.git_branch && !previous.git_tag
      : previous.git_tag === c.tag && !previous.git_branch && !previous.git_commit;
  return {
    kind: 'job',
    component: c.name,
    jobId: job.jobId,
    name: job.name,
    action: unchanged ? 'unchanged' : 'move',
    previous,
    next,
    tag: c.tag,
    commit: c.commit,
  };
}

export function describeFrom(t: Target): string {
  if (t.kind === 'job') {
    const p = t.previous;
    if (p.git_commit) return `commit ${p.git_commit.slice(0, 12)}`;
    if (p.git_tag) return `tag ${p.git_tag}`;
    if (p.git_branch) return `branch ${p.git_branch}`;
    return 'its default branch';
  }
  if (!t.from) return 'nothing (new)';
  return 'branch' in t.from ? `branch ${t.from.branch}` : `tag ${t.from.tag}`;
}

export function describeTo(t: Target): string {
  if (t.kind === 'job') return t.next.git_commit ? `commit ${t.next.git_commit.slice(0, 12)}` : `tag ${t.next.git_tag}`;
  return `tag ${t.to.tag} (${t.to.commit.slice(0, 12)})`;
}

export function describeTarget(t: Target): string {
  return t.kind === 'job' ? `job ${t.jobId}${t.name ? ` (${quoteForeign(t.name)})` : ''}` : `the Git folder ${quoteForeign(t.path)}`;
}

/** The plan, one line per target (the log, and what a dry run shows). */
export function planLines(plan: DeployPlan): string[] {
  const targets: Target[] = [...plan.folders, ...plan.jobs];
  const moving = targets.filter((t) => t.action !== 'unchanged').length;
  const lines = [
    `Plan: ${plan.release.components.length} component(s) from ${plan.release.source}; ${plan.folders.length} Git folder(s), ${plan.jobs.length} job(s); ${moving} to move.`,
  ];
  for (const t of targets) {
    const head = `  ${t.component} → ${describeTarget(t)}: `;
    if (t.action === 'unchanged') lines.push(`${head}at ${describeTo(t)} already`);
    else if (t.action === 'create') lines.push(`${head}create from ${quoteForeign(t.url)} (${t.provider}), then ${describeTo(t)}`);
    else lines.push(`${head}${describeFrom(t)} → ${describeTo(t)}`);
  }
  return lines;
}
