/**
 * The submodules an orchestration repository pins: `.gitmodules` (name, path, url, and the
 * `relevo-version` policy kept beside them) joined with the gitlinks HEAD records.
 */
import { GitCommandError, type Git } from '../git';
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
    const twin = result.find((r) => r.path === path);
    if (twin)
      throw new UserError(
        `.gitmodules: submodules '${quoteForeign(twin.name)}' and '${quoteForeign(name)}' both have the path '${quoteForeign(path)}'.`,
        {
          fix: `keep one entry for '${quoteForeign(path)}' in .gitmodules (git config -f .gitmodules --remove-section submodule.<name>), and commit it.`,
        },
      );
    result.push({ name, path, url: fields.url, policy: fields[POLICY_KEY] });
  }
  return result;
}

/**
 * The submodules `commit` pins: its `.gitmodules` (never the work tree's: an edit not committed
 * does not decide anything) joined with its gitlinks; `undeclared` are gitlinks `.gitmodules`
 * has no entry for.
 */
export async function readSubmodules(
  git: Git,
  commit = 'HEAD',
): Promise<{ top: string; submodules: Submodule[]; undeclared: { path: string; commit: string }[] }> {
  const top = await git.topLevel();
  let listing: string;
  try {
    listing = await git.run(['-C', top, 'config', '--blob', `${commit}:.gitmodules`, '--null', '--list']);
  } catch (err) {
    const malformed = err instanceof GitCommandError && /bad config/i.test(err.stderr);
    throw new UserError(
      malformed
        ? `'${quoteForeign(top)}/.gitmodules' cannot be read: ${quoteForeign(
            (err as GitCommandError).stderr
              .split('\n')
              .filter((l) => /bad config/i.test(l))[0]
              .replace(/^(error|fatal): /, ''),
          )}.`
        : `'${quoteForeign(top)}' has no .gitmodules at ${commit === 'HEAD' ? 'HEAD' : commit.slice(0, 12)}: it pins no submodules.`,
      {
        input: 'workingDirectory',
        fix: malformed
          ? 'correct that line of .gitmodules (git config -f .gitmodules --list shows the same error) and commit it.'
          : 'point it at the orchestration repository (the one with the submodules), checked out by the pipeline.',
      },
    );
  }
  const declared = parseGitmodules(listing);
  const links = new Map<string, string>();
  const out = await git.run(['-C', top, 'ls-tree', '-r', '-z', commit]);
  for (const entry of out.split('\0').filter(Boolean)) {
    if (!entry.startsWith('160000 ')) continue;
    const tab = entry.indexOf('\t');
    links.set(entry.slice(tab + 1), entry.slice(0, tab).split(' ')[2]);
  }
  const paths = new Set(declared.map((s) => s.path));
  const undeclared = [...links].filter(([path]) => !paths.has(path)).map(([path, sha]) => ({ path, commit: sha }));
  return { top, submodules: declared.map((s) => ({ ...s, commit: links.get(s.path) })), undeclared };
}
