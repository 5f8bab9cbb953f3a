/**
 * Submodule URLs as git resolves them: `./x` and `../x` are relative to the superproject's
 * remote URL (git-submodule(1): "relative to the superproject's default remote repository").
 */

/** Resolves a submodule URL against the superproject's remote URL; absolute URLs are returned as they are. */
export function resolveSubmoduleUrl(url: string, superUrl: string | undefined): string {
  if (!url.startsWith('./') && !url.startsWith('../')) return url;
  if (!superUrl) throw new Error(`relative submodule URL '${url}' needs the superproject's remote URL`);
  // scp-like `host:path` keeps its `host:` part; a URL keeps scheme and host.
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(superUrl) ?? /^[^/:]+:(?!\/)/.exec(superUrl);
  const prefix = scheme ? scheme[0] : '';
  let path = superUrl.slice(prefix.length).replace(/\/+$/, '');
  let rest = url;
  for (;;) {
    if (rest.startsWith('./')) rest = rest.slice(2);
    else if (rest.startsWith('../')) {
      rest = rest.slice(3);
      path = parentOf(path);
    } else break;
  }
  return prefix + joinPath(path, rest);
}

/** The path without its last segment; the root ('/' or '') once one segment is left. */
function parentOf(path: string): string {
  const cut = path.lastIndexOf('/');
  if (cut > 0) return path.slice(0, cut);
  return path.startsWith('/') ? '/' : '';
}

function joinPath(path: string, rest: string): string {
  if (path === '') return rest;
  return path.endsWith('/') ? path + rest : `${path}/${rest}`;
}

/** A URL with any `user:password@` removed, for messages and lock files. */
export function displayUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}

export { repositoryName } from '../git/remoteUrl';
