/**
 * The submodules an orchestration repository pins: `.gitmodules` (name, path, url, and the
 * `relevo-version` policy kept beside them) joined with the gitlinks HEAD records.
 */
import type { Git } from '../git';
import { UserError } from '../errors';
import { withoutCredentials } from '../git/exec';
import { quoteForeign } from '../output';

export const POLICY_KEY = 'relevo-version';

export interface Submodule {
  /** The name in `[submodule "<name>"]`. */
  name: string;
  /** Path from the repository's top level. */
  path: string;
  /** As written in .gitmodules (may be relative, `../ingest.git`). */
  url: string;
  /** `relevo-version` as written, if any. */
  policy?: string;
  /** The commit HEAD pins (its gitlink); undefined when .gitmodules names a path HEAD has no gitlink for. */
  commit?: string;
}

/** Parses `git config --null --list` output of a .gitmodules file. */
export function parseGitmodules(listing: string): Omit<Submodule, 'commit'>[] {
  const byName = new Map<string, Record<string, string>>();
  for (const entry of listing.split('\0').filter(Boolean)) {
    const eol = entry.indexOf('\n');
    const key = eol < 0 ? entry : entry.slice(0, eol);
    const value = eol < 0 ? '' : entry.slice(eol + 1);
    if (!key.startsWith('submodule.')) continue;
    const dot = key.lastIndexOf('.');
    const name = key.slice('submodule.'.length, dot);
    const field = key.slice(dot + 1).toLowerCase();
    if (!byName.has(name)) byName.set(name, {});
    byName.get(name)![field] = value;
  }
  const result: Omit<Submodule, 'commit'>[] = [];
  for (const [name, fields] of byName) {
    if (!fields.path || !fields.url) {
      throw new UserError(`.gitmodules: submodule '${name}' has no ${fields.path ? 'url' : 'path'}.`, {
        input: 'workingDirectory',
        fix: `give it both, e.g. git config -f .gitmodules submodule.${name}.${fields.path ? 'url ../<repo>.git' : 'path <folder>'}.`,
      });
    }
    // git reads a value starting with '-' as an option: `url = --upload-pack=<command>` would run it.
    for (const [what, value] of [
      ['name', name],
      ['path', fields.path],
      ['url', fields.url],
      ['branch', fields.branch ?? ''],
    ] as const) {
      if (value.startsWith('-'))
        throw new UserError(
          `.gitmodules: submodule '${quoteForeign(name)}' has the ${what} '${quoteForeign(withoutCredentials(value))}', which starts with '-': git would read it as an option. Refused.`,
          {
            fix: `correct the ${what} under [submodule "${quoteForeign(name)}"] in .gitmodules and commit it (git submodule refuses such entries too).`,
          },
        );
    }
    const path = fields.path.replace(/\/+$/, '');
    if (
      path.startsWith('/') ||
      /^[a-z]:/i.test(path) ||
      path.split(/[/\\]/).some((part) => part === '..' || part === '.' || part === '' || part.toLowerCase() === '.git')
    )
      throw new UserError(
        `.gitmodules: submodule '${quoteForeign(name)}' has the path '${quoteForeign(path)}', which is not a folder inside the repository.`,
        {
          fix: `give it a relative path inside the repository (e.g. components/${quoteForeign(name)}) under [submodule "${quoteForeign(name)}"] in .gitmodules, and commit it.`,
        },
      );
    result.push({ name, path, url: fields.url, policy: fields[POLICY_KEY] });
  }
  return result;
}

/** The submodules of the repository `git` works in, with the commits HEAD pins. */
export async function readSubmodules(git: Git): Promise<{ top: string; submodules: Submodule[] }> {
  const top = await git.topLevel();
  let listing: string;
  try {
    listing = await git.run(['-C', top, 'config', '--file', '.gitmodules', '--null', '--list']);
  } catch {
    throw new UserError(`'${top}' has no readable .gitmodules: it pins no submodules.`, {
      input: 'workingDirectory',
      fix: 'point it at the orchestration repository (the one with the submodules), checked out by the pipeline.',
    });
  }
  const declared = parseGitmodules(listing);
  const links = new Map<string, string>();
  if (declared.length) {
    const out = await git.run(['-C', top, 'ls-tree', '-z', 'HEAD', '--', ...declared.map((s) => s.path)]);
    for (const entry of out.split('\0').filter(Boolean)) {
      const [meta, path] = entry.split('\t');
      const [mode, type, sha] = meta.split(' ');
      if (mode === '160000' && type === 'commit') links.set(path, sha);
    }
  }
  return { top, submodules: declared.map((s) => ({ ...s, commit: links.get(s.path) })) };
}
