/**
 * Which organization a collection URI names, and where its job token may go: small on purpose,
 * so tasks that only need this do not bundle the REST library.
 */

/**
 * Whether a request to `host` + `path` gets the job token: on the shared Azure DevOps Services
 * hosts (`dev.azure.com`, `*.dev.azure.com`) only under this organization's path; on
 * `*.visualstudio.com` only this organization's hosts; otherwise only the collection's own host.
 */
export function tokenGoesTo(host: string, path: string, collectionHost: string, organization: string): boolean {
  const org = organization.toLowerCase();
  const h = host.toLowerCase();
  if (h === 'dev.azure.com' || h.endsWith('.dev.azure.com')) return path.toLowerCase().startsWith(`/${org}/`);
  if (h === collectionHost.toLowerCase()) return true;
  return (
    h.endsWith('.visualstudio.com') &&
    (h === `${org}.visualstudio.com` || h.startsWith(`${org}.`) || h.endsWith(`.${org}.visualstudio.com`))
  );
}

export function organizationOf(uri: URL): string {
  const segments = uri.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const host = uri.hostname.toLowerCase();
  if (host.endsWith('.visualstudio.com')) return host.slice(0, -'.visualstudio.com'.length);
  if (segments.length > 0) return host === 'dev.azure.com' ? segments[0] : segments[segments.length - 1];
  return host;
}
