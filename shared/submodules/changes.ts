/**
 * What changed in an orchestration repository's submodules between two of its commits: the
 * gitlinks each commit records (one `git diff-tree`), joined with `.gitmodules` at both ends
 * for names and URLs, and each changed component's version at the old and the new commit,
 * from its own tags (one `ls-remote` per component, in parallel).
 */
import { UserError } from '../errors';
import { mapLimit } from '../concurrency';
import { GitCommandError, GitTimeoutError, type Git } from '../git';
import type { BumpLevel } from '../versioning/conventional';
import type { ComponentTag } from '../versioning/history';
import { changeBetween } from '../versioning/semver';
import { parseTagFormat, type TagFormat } from '../versioning/tagFormat';
import { componentTags, versionAt } from './components';
import type { ComponentChange, ComponentEnd } from '../versioning/componentChange';
import { parseGitmodules } from './gitmodules';
import { displayUrl, resolveSubmoduleUrl } from './urls';

const GITLINK = '160000';
/** Component remotes listed at once. */
const CONCURRENCY = 8;

/** One gitlink that differs between two commits: `from` undefined when added, `to` undefined when removed. */
export interface GitlinkDelta {
  path: string;
  from?: string;
  to?: string;
}

/** One end of a component change: the pinned commit and the version tag it carries, if any. */
/** Parses `git diff-tree -r -z --raw` output, keeping the entries where either side is a gitlink. */
export function parseGitlinkDiff(out: string): GitlinkDelta[] {
  const fields = out.split('\0');
  const deltas: GitlinkDelta[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const meta = fields[i];
    const path = fields[i + 1];
    if (!meta.startsWith(':')) break;
    const [oldMode, newMode, oldSha, newSha] = meta.slice(1).split(' ');
    const from = oldMode === GITLINK ? oldSha : undefined;
    const to = newMode === GITLINK ? newSha : undefined;
    if (from || to) deltas.push({ path, from, to });
  }
  return deltas;
}

/** The gitlinks that differ between `base` and `head` (restricted to `paths` when given), in one process. */
export async function gitlinkChanges(git: Git, base: string, head: string, paths: string[] = []): Promise<GitlinkDelta[]> {
  // --ignore-submodules=none: `ignore = all` in .gitmodules would otherwise hide the gitlinks.
  const out = await git.run(['diff-tree', '-r', '-z', '--raw', '--no-renames', '--ignore-submodules=none', base, head, '--', ...paths]);
  return parseGitlinkDiff(out);
}

/** .gitmodules as a commit records it; empty when that commit has none. */
export async function gitmodulesAt(git: Git, commit: string): Promise<ReturnType<typeof parseGitmodules>> {
  let listing: string;
  try {
    listing = await git.run(['config', '--blob', `${commit}:.gitmodules`, '--null', '--list']);
  } catch (err) {
    if (err instanceof GitCommandError) return [];
    throw err;
  }
  return parseGitmodules(listing);
}

/**
 * What a component change asks of the orchestration. Added → minor; removed → major; moved to
 * another commit: the version change between the tags the two commits carry (a
 * pre-release-only step is a patch); an end without a version tag → patch, flagged `untagged`.
 */
export function classifyChange(
  kind: ComponentChange['kind'],
  from: ComponentTag | undefined,
  to: ComponentTag | undefined,
): { change: BumpLevel; untagged: boolean } {
  if (kind === 'added') return { change: 'minor', untagged: false };
  if (kind === 'removed') return { change: 'major', untagged: false };
  if (!from || !to) return { change: 'patch', untagged: true };
  return { change: changeBetween(from.version, to.version), untagged: false };
}

/** The highest level any component change asks for. */
export interface ComponentChangeOptions {
  base: string;
  head: string;
  /** Only gitlinks under these pathspecs count (all when empty). */
  paths: string[];
  /** The components' tag format (`v{version}`; `{component}` is the submodule's name). */
  tagFormat: string;
  /** The orchestration's remote URL, which relative submodule URLs resolve against. */
  superUrl?: string;
  /** The orchestration's top level: what git resolves relative URLs against when there is no remote. */
  top: string;
}

/**
 * The component changes between `base` and `head`, newest pins looked up on each component's
 * remote. A component whose remote cannot be read fails the run (the version would be wrong
 * otherwise); one whose old or new commit carries no version tag counts as a patch, with a
 * warning naming it and the commit. Removed components are not looked up.
 */
export async function readComponentChanges(git: Git, o: ComponentChangeOptions, warn: (m: string) => void): Promise<ComponentChange[]> {
  checkComponentTagFormat(o.tagFormat);
  const deltas = await gitlinkChanges(git, o.base, o.head, o.paths);
  if (!deltas.length) return [];
  const [atHead, atBase] = await Promise.all([gitmodulesAt(git, o.head), gitmodulesAt(git, o.base)]);
  const headByPath = new Map(atHead.map((s) => [s.path, s]));
  const baseByPath = new Map(atBase.map((s) => [s.path, s]));

  // A submodule moved to another path (same name at both ends) is one update, not a removal and an addition.
  const removed = deltas.filter((d) => !d.to);
  const pending: { name: string; path: string; url?: string; from?: string; to?: string }[] = [];
  const consumed = new Set<GitlinkDelta>();
  for (const d of deltas) {
    if (!d.to) continue;
    const declared = headByPath.get(d.path) ?? (d.from ? baseByPath.get(d.path) : undefined);
    const name = declared?.name ?? d.path;
    let from = d.from;
    if (!from) {
      const moved = removed.find((r) => !consumed.has(r) && baseByPath.get(r.path)?.name === name);
      if (moved) {
        consumed.add(moved);
        from = moved.from;
      }
    }
    if (!declared) {
      throw new UserError(`the gitlink '${d.path}' has no entry in .gitmodules, so its component's tags cannot be read.`, {
        input: 'submodules',
        fix: `declare it: git config -f .gitmodules submodule.${d.path}.path ${d.path} && git config -f .gitmodules submodule.${d.path}.url <url>, and commit .gitmodules.`,
      });
    }
    if (from === d.to) continue;
    pending.push({ name, path: d.path, url: declared.url, from, to: d.to });
  }
  for (const r of removed) {
    if (consumed.has(r)) continue;
    pending.push({ name: baseByPath.get(r.path)?.name ?? r.path, path: r.path, from: r.from });
  }

  const changes = await mapLimit(pending, CONCURRENCY, async (p): Promise<ComponentChange> => {
    if (!p.to) return { name: p.name, path: p.path, kind: 'removed', from: { commit: p.from! }, change: 'major' };
    const url = resolveUrl(p.url!, o);
    const format = componentFormat(o.tagFormat, p.name);
    let tags: ComponentTag[];
    try {
      tags = await componentTags(git, url, format);
    } catch (err) {
      throw unreadable(p.name, url, err);
    }
    const kind = p.from ? 'updated' : 'added';
    const from = versionAt(tags, p.from);
    const to = versionAt(tags, p.to);
    const { change, untagged } = classifyChange(kind, from, to);
    const end = (commit: string, tag: ComponentTag | undefined): ComponentEnd => ({
      commit,
      tag: tag?.name,
      version: tag?.version.version,
    });
    return {
      name: p.name,
      path: p.path,
      kind,
      url: displayUrl(url),
      from: p.from ? end(p.from, from) : undefined,
      to: end(p.to, to),
      change,
      untagged: untagged || undefined,
    };
  });
  for (const c of changes) {
    if (!c.untagged) continue;
    const bare = [c.from, c.to].filter((e): e is ComponentEnd => !!e && !e.tag).map((e) => e.commit.slice(0, 12));
    warn(
      `Submodule '${c.name}': commit ${bare.join(' and ')} carries no version tag (format '${o.tagFormat}'), so the change cannot be read from versions; counted as a patch.`,
    );
  }
  return changes;
}

function resolveUrl(url: string, o: ComponentChangeOptions): string {
  // Without a remote, git resolves relative URLs against the superproject's own folder.
  return resolveSubmoduleUrl(url, o.superUrl ?? o.top);
}

/** Checks the components' tag format; its errors name `submoduleTagFormat`, not the orchestration's own input. */
export function checkComponentTagFormat(format: string): void {
  try {
    parseTagFormat(format, format.includes('{component}') ? 'component' : '');
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    throw new UserError(err.message.replace(/^Input '[^']*': /, '').replace(/\binput 'tagFormat'|'tagFormat'/g, "'submoduleTagFormat'"), {
      input: 'submoduleTagFormat',
    });
  }
}

function componentFormat(format: string, name: string): TagFormat {
  if (!format.includes('{component}')) return parseTagFormat(format, '');
  try {
    return parseTagFormat(format, name);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    throw new UserError(`submodule '${name}': its name cannot stand for '{component}' in a tag name ('${format}').`, {
      input: 'submoduleTagFormat',
      fix: "use a format without '{component}' (e.g. 'v{version}'), or rename the submodule in .gitmodules to letters, digits, dots, hyphens and underscores.",
    });
  }
}

function unreadable(name: string, url: string, err: unknown): unknown {
  if (!(err instanceof GitCommandError)) return err;
  const detail = err instanceof GitTimeoutError ? err.stderr.trim() || err.message : err.stderr.trim().replace(/\s+/g, ' ') || err.message;
  return new UserError(
    `cannot read the tags of submodule '${name}' (${displayUrl(url)}): ${detail}. Its versions decide the orchestration's bump, so nothing was changed.`,
    {
      input: 'submodules',
      fix: unreadableFix(err),
    },
  );
}

function unreadableFix(err: GitCommandError): string {
  if (err instanceof GitTimeoutError)
    return 'it timed out: check that the agent can reach that remote (proxy, firewall, service health) and re-run.';
  if (/\b401\b|Authentication failed|could not read (Username|Password)/i.test(err.stderr))
    return "the remote did not accept the credentials (401): the job token goes only to this organization's URLs; check that the URL in .gitmodules is this organization's repository, and that the job can use its token.";
  return "let the job read that repository (grant the build service 'Read' on it; if the job token is limited to referenced repositories, list it under resources.repositories or check out with 'submodules: true'), or correct its url in .gitmodules.";
}
