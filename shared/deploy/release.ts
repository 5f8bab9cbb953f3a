/**
 * What to deploy: the bill of materials. From an orchestration checkout at the version to
 * deploy (its `.gitmodules`, the gitlinks HEAD records, and the lock file UpdateSubmodules
 * writes, which must agree with them), or from an explicit list (`ingest=v1.1.0`). Each
 * component's tag is resolved to its commit on the component's own remote (one `git ls-remote`
 * each, in parallel): a tag that moved since the lock file was written is refused here, before
 * anything in the workspace is read or moved.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mapLimit } from '../concurrency';
import { UserError } from '../errors';
import { GitCommandError, type Git, type TagRef } from '../git';
import type { Log } from '../log';
import { quoteForeign } from '../output';
import { versionTags } from '../submodules/components';
import { readSubmodules, type Submodule } from '../submodules/gitmodules';
import { displayUrl, resolveSubmoduleUrl } from '../submodules/urls';
import { parseTagFormat } from '../versioning/tagFormat';

export interface ReleaseComponent {
  name: string;
  /** The URL Databricks pulls from (absolute, no credentials); undefined until a Git folder names it (explicit list without a URL). */
  url?: string;
  /** The tag the component is deployed at; undefined for an untagged pin (jobs can take its commit, folders cannot). */
  tag?: string;
  version?: string;
  /** The commit the tag (or the pin) stands for; undefined until the tag is resolved. */
  commit?: string;
  /** The submodule's path in the orchestration. */
  path?: string;
  /** Every tag of the component's remote, name → commit (to name where a detached folder is). */
  tags?: Map<string, string>;
}

export interface Release {
  /** Where the versions come from, for the log and the Summary. */
  source: string;
  orchestration?: { url?: string; commit: string; tag?: string };
  components: ReleaseComponent[];
}

export interface ReleaseOptions {
  /** The `components` input: names of the orchestration's submodules, or `name=tag [url]`. Empty: every submodule. */
  components: string[];
  /** The lock file from the orchestration's top level; empty for none. */
  lockFile: string;
  tagFormat: string;
  parallel: number;
  /** The orchestration's own tag is needed (jobs may point at the orchestration repository). */
  orchestrationTag: boolean;
}

interface Requested {
  name: string;
  tag?: string;
  url?: string;
}

/** `ingest`, `ingest=v1.1.0`, `ingest=v1.1.0 https://dev.azure.com/…/_git/ingest` */
export function parseComponents(lines: string[]): Requested[] {
  return lines.map((line) => {
    const m = /^([A-Za-z0-9][\w.-]*)(?:\s*=\s*(\S+)(?:\s+(\S+))?)?$/.exec(line.trim());
    if (!m)
      throw new UserError(`'${line}' is not a component.`, {
        input: 'components',
        fix: 'write one a line: a submodule name (ingest), or a name and a tag (ingest=v1.1.0), optionally followed by the repository URL.',
      });
    return { name: m[1], tag: m[2], url: m[3] && displayUrl(m[3]) };
  });
}

interface LockEntry {
  name: string;
  path?: string;
  url?: string;
  version?: string | null;
  tag?: string | null;
  commit: string;
}

/** The lock file UpdateSubmodules writes: `{lockfileVersion: 1, components: [{name, path, url, version, tag, commit}]}`. */
export function parseLockFile(text: string, file: string): LockEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UserError(`the lock file ${file} is not JSON (${(err as Error).message}).`, {
      input: 'lockFile',
      fix: 'point lockFile at the components.lock.json UpdateSubmodules writes, or leave it empty.',
    });
  }
  const components = (json as { components?: unknown })?.components;
  if (!Array.isArray(components) || !components.every((c) => c && typeof c.name === 'string' && typeof c.commit === 'string')) {
    throw new UserError(`the lock file ${file} has no components list of {name, commit}.`, {
      input: 'lockFile',
      fix: 'point lockFile at the components.lock.json UpdateSubmodules writes, or leave it empty.',
    });
  }
  return components as LockEntry[];
}

/** The release an orchestration checkout (or an explicit list) stands for. Reads only. */
export async function readRelease(git: Git, orchestration: boolean, opts: ReleaseOptions, log: Log): Promise<Release> {
  const requested = parseComponents(opts.components);
  const format = (name: string) => parseTagFormat(opts.tagFormat, opts.tagFormat.includes('{component}') ? name : '');
  if (!orchestration) {
    const untagged = requested.filter((r) => !r.tag);
    if (!requested.length || untagged.length) {
      throw new UserError(
        `'${git.dir}' is not an orchestration checkout, so every component needs its tag${untagged.length ? ` (${untagged.map((r) => r.name).join(', ')} has none)` : ''}.`,
        {
          input: 'components',
          fix: 'check the orchestration repository out at the version to deploy (workingDirectory), or list name=tag for each component, e.g. ingest=v1.1.0.',
        },
      );
    }
    const components = await mapLimit(requested, opts.parallel, async (r) =>
      r.url ? resolveExplicit(git, { name: r.name, url: r.url }, r.tag!) : { name: r.name, tag: r.tag },
    );
    return { source: 'the components listed', components };
  }

  const [{ top, submodules }, head, remotes] = await Promise.all([readSubmodules(git), git.head(), git.remotes()]);
  const remote = remotes.includes('origin') ? 'origin' : remotes[0];
  const superUrl = remote ? await git.configValue(`remote.${remote}.url`) : undefined;
  const byName = new Map(submodules.map((s) => [s.name, s]));
  const unknown = requested.filter((r) => !byName.has(r.name) && !(r.tag && r.url));
  if (unknown.length) {
    throw new UserError(
      `${unknown.map((r) => `'${r.name}'`).join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not a submodule of the orchestration (${submodules.map((s) => s.name).join(', ') || 'none'}).`,
      {
        input: 'components',
        fix: 'name submodules as .gitmodules does, or give the repository URL after the tag (ingest=v1.1.0 https://…).',
      },
    );
  }
  const chosen: Array<{ sub?: Submodule; req?: Requested; name: string }> = requested.length
    ? requested.map((r) => ({ sub: byName.get(r.name), req: r, name: r.name }))
    : submodules.map((s) => ({ sub: s, name: s.name }));
  if (!chosen.length)
    throw new UserError(`'${top}/.gitmodules' declares no submodules: there is nothing to deploy.`, {
      input: 'workingDirectory',
      fix: 'point it at the orchestration repository, checked out at the version to deploy.',
    });

  // The lock file speaks for the pins: a list of name=tag only does not depend on it.
  const lock = opts.lockFile && chosen.some((c) => !c.req?.tag) ? readLock(join(top, opts.lockFile), opts.lockFile) : undefined;
  if (lock) checkLockAgrees(lock, submodules, opts.lockFile);
  else if (opts.lockFile && chosen.some((c) => !c.req?.tag))
    log.warn(`There is no lock file ${opts.lockFile} in the orchestration: the versions come from the gitlinks and the components' tags.`);

  const urlOf = (s: Submodule): string => {
    try {
      return displayUrl(resolveSubmoduleUrl(s.url, superUrl));
    } catch {
      throw new UserError(
        `submodule '${s.name}' has the relative URL '${s.url}', but the orchestration checkout has no remote to resolve it against.`,
        {
          input: 'workingDirectory',
          fix: "check the orchestration out from its remote (the pipeline's checkout step does), or give the submodule an absolute URL.",
        },
      );
    }
  };
  const lockByName = new Map((lock ?? []).map((e) => [e.name, e]));
  const [components, orchestrationTag] = await Promise.all([
    mapLimit(chosen, opts.parallel, async (c): Promise<ReleaseComponent> => {
      const url = c.req?.url ?? (c.sub && urlOf(c.sub));
      if (c.req?.tag) return resolveExplicit(git, { name: c.name, url, path: c.sub?.path }, c.req.tag);
      const sub = c.sub!;
      if (!sub.commit)
        throw new UserError(`.gitmodules names '${sub.path}' for '${sub.name}', but HEAD pins no commit there.`, {
          input: 'workingDirectory',
          fix: 'pin the submodule (UpdateSubmodules), or leave it out with components.',
        });
      const refs = await tagsOf(git, url!, sub.name);
      const locked = lockByName.get(sub.name)?.tag ?? undefined;
      const tags = new Map(refs.map((r) => [r.name, r.commit]));
      let tag: string | undefined;
      let version: string | undefined;
      if (locked) {
        const at = tags.get(locked);
        if (!at)
          throw new UserError(`the lock file pins ${sub.name} at ${locked}, but ${displayUrl(url!)} has no tag ${locked}.`, {
            input: 'lockFile',
            fix: 'push the tag, or run UpdateSubmodules again to write a lock file for tags that exist.',
          });
        if (at !== sub.commit)
          throw new UserError(
            `${sub.name}'s tag ${locked} points at ${at.slice(0, 12)} on ${displayUrl(url!)}, but the orchestration pins ${sub.commit.slice(0, 12)}: the tag was moved after the release was pinned.`,
            {
              input: 'lockFile',
              fix: 'put the tag back where it was released, or pin the new commit (UpdateSubmodules) and promote that.',
            },
          );
        tag = locked;
        version = lockByName.get(sub.name)?.version ?? format(sub.name).versionOf(locked)?.version;
      } else {
        const best = versionTags(refs, format(sub.name)).find((t) => t.commit === sub.commit);
        tag = best?.name;
        version = best?.version.version;
      }
      return { name: sub.name, url, path: sub.path, tag, version, commit: sub.commit, tags };
    }),
    opts.orchestrationTag && remote
      ? tagsOf(git, remote, 'the orchestration').then((refs) =>
          refs
            .filter((r) => r.commit === head)
            .map((r) => r.name)
            .sort()
            .pop(),
        )
      : Promise.resolve(undefined),
  ]);
  for (const c of components)
    log.info(
      `  ${c.name}: ${c.tag ?? `untagged ${c.commit?.slice(0, 12)}`}${c.commit ? ` (${c.commit.slice(0, 12)})` : ''}${c.url ? ` from ${quoteForeign(c.url)}` : ''}`,
    );
  return {
    source: `the orchestration at ${head.slice(0, 12)}${lock ? ` (gitlinks and ${opts.lockFile} agree)` : ''}`,
    orchestration: { url: superUrl && displayUrl(superUrl), commit: head, tag: orchestrationTag },
    components,
  };
}

function readLock(file: string, name: string): LockEntry[] | undefined {
  if (!existsSync(file)) return undefined;
  return parseLockFile(readFileSync(file, 'utf8'), name);
}

/** The lock file and the gitlinks must name the same commits: a disagreement is listed whole. */
function checkLockAgrees(lock: LockEntry[], submodules: Submodule[], file: string): void {
  const problems: string[] = [];
  const locked = new Map(lock.map((e) => [e.name, e]));
  for (const s of submodules) {
    const e = locked.get(s.name);
    if (!s.commit) continue;
    if (!e) problems.push(`${s.name}: pinned at ${s.commit.slice(0, 12)}, not in the lock file`);
    else if (e.commit !== s.commit)
      problems.push(
        `${s.name}: the gitlink pins ${s.commit.slice(0, 12)}, the lock file says ${e.commit.slice(0, 12)}${e.tag ? ` (${e.tag})` : ''}`,
      );
  }
  for (const e of lock)
    if (!submodules.some((s) => s.name === e.name && s.commit))
      problems.push(`${e.name}: in the lock file, but the orchestration pins no such submodule`);
  if (problems.length) {
    throw new UserError(
      `the lock file ${file} disagrees with the gitlinks the orchestration pins, so the release is not known: ${problems.join('; ')}. Nothing was deployed.`,
      {
        input: 'lockFile',
        fix: 'the lock file was edited or merged by hand: run UpdateSubmodules (it writes both in one commit), or check out the commit that was promoted.',
      },
    );
  }
}

/** Every tag of a remote, peeled to its commit. */
export async function tagsOf(git: Git, url: string, name: string): Promise<TagRef[]> {
  try {
    return await git.remoteRefs(url, ['refs/tags/*'], `listing the tags of ${name}`);
  } catch (err) {
    const detail = (err instanceof GitCommandError ? err.stderr.trim() || err.message : String(err)).replace(/\s+/g, ' ');
    throw new UserError(`cannot read the tags of ${name} (${displayUrl(url)}): ${quoteForeign(detail)}. Nothing was deployed.`, {
      fix: "let the job read that repository: grant the build service 'Read' on it, and list it under resources.repositories when the job token is limited to referenced repositories.",
    });
  }
}

/** A `name=tag` component: the tag's commit on its remote. */
export async function resolveExplicit(git: Git, c: { name: string; url?: string; path?: string }, tag: string): Promise<ReleaseComponent> {
  if (!c.url) return { name: c.name, tag, path: c.path };
  const refs = await tagsOf(git, c.url, c.name);
  const commit = refs.find((r) => r.name === tag)?.commit;
  if (!commit)
    throw new UserError(`${c.name} has no tag ${tag} on ${displayUrl(c.url)}.`, {
      input: 'components',
      fix: `name a tag that exists (git ls-remote --tags ${displayUrl(c.url)}).`,
    });
  return { name: c.name, url: c.url, path: c.path, tag, commit, tags: new Map(refs.map((r) => [r.name, r.commit])) };
}
