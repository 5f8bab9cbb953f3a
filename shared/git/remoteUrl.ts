/** What a remote URL says about the repository behind it. */

/** The repository's name: the last part of its remote URL (Azure Repos: after `_git/`), else the folder's. */
export function repositoryName(url: string | undefined, dir: string): string {
  const from = (url ?? dir)
    .replace(/[?#].*$/, '')
    .replace(/\/+$/, '')
    .replace(/\.git$/, '');
  return decodeURIComponent(from.slice(Math.max(from.lastIndexOf('/'), from.lastIndexOf(':')) + 1)) || dir;
}

/**
 * The project an Azure Repos URL names (`https://dev.azure.com/<org>/<project>/_git/<repo>`,
 * `https://<org>.visualstudio.com/<project>/_git/<repo>`, `<org>@vs-ssh.visualstudio.com:v3/<org>/<project>/<repo>`,
 * `git@ssh.dev.azure.com:v3/<org>/<project>/<repo>`); undefined for another URL, or one without
 * a project (`…/<org>/_git/<repo>`: the repository has the project's name).
 */
export function azureReposProject(url: string | undefined): string | undefined {
  if (!url) return undefined;
  const clean = url.replace(/[?#].*$/, '');
  const ssh = /:v3\/[^/]+\/([^/]+)\/[^/]+\/?$/.exec(clean);
  if (ssh) return decodeURIComponent(ssh[1]);
  const http = /\/([^/]+)\/_git\/[^/]+\/?$/.exec(clean.replace(/^[a-z]+:\/\/[^/]+/i, ''));
  if (!http) return undefined;
  // dev.azure.com/<org>/_git/<repo>: the path's first segment is the organization, not a project.
  const path = clean
    .replace(/^[a-z]+:\/\/[^/]+/i, '')
    .split('/')
    .filter(Boolean);
  const isDevAzure = /^[a-z]+:\/\/([^/@]*@)?dev\.azure\.com\//i.test(clean);
  if (isDevAzure && path.length === 3) return undefined;
  if (!isDevAzure && path.length === 2) return undefined;
  return decodeURIComponent(http[1]);
}
