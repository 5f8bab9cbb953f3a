/**
 * The Azure DevOps REST API of a task, on the job token: the connection read and checked when
 * this is called (before anything is built or sent), the client loaded and made on first use
 * (the REST library is most of a bundle and of its start-up). Not re-exported from the agent's
 * index, so tasks that never call the REST API do not bundle it.
 */
import { azureReposProject } from '../git/remoteUrl';
import type { AzureDevOpsClient } from '../clients/azureDevOps';
import { UserError } from '../errors';
import { isBuildRepository } from '../git/buildRepository';
import { restConnection } from './connections';
import { variable } from './inputs';

export interface JobTokenNeed {
  /** The input whose value needs the REST API (named in the error). */
  input: string;
  /** What needs it, for the error: "pull-request mode" needs …; empty: the input does. */
  neededBy?: string;
  /** The other way, for the fix: "use mode 'push'". */
  otherwise?: string;
}

/** "This mode needs the job token": the REST client on it, or a UserError naming the input when the job has no token or project. */
export function azureDevOpsConnection(need: JobTokenNeed): () => Promise<AzureDevOpsClient> {
  const client = optionalAzureDevOpsConnection();
  if (client) return client;
  throw new UserError(
    `${need.neededBy ? `${need.neededBy} ` : ''}needs the Azure DevOps REST API with the job token and the project (System.AccessToken, System.TeamFoundationCollectionUri, System.TeamProject).`,
    {
      input: need.input,
      fix: `run in an Azure Pipelines job whose token is available to tasks (classic: 'Allow scripts to access the OAuth token')${need.otherwise ? `, or ${need.otherwise}` : ''}.`,
    },
  );
}

/** The REST client on the job token; undefined when the job has no token or project. */
export function optionalAzureDevOpsConnection(): (() => Promise<AzureDevOpsClient>) | undefined {
  const connection = restConnection();
  if (!connection) return undefined;
  let client: Promise<AzureDevOpsClient> | undefined;
  return () => (client ??= import('../clients/azureDevOps').then(({ connectAzureDevOps }) => connectAzureDevOps(connection)));
}

/** Build.Repository.ID when `dir` is the build's own repository (shared/git/buildRepository.ts); else undefined. */
export function buildRepositoryId(dir: string): string | undefined {
  return isBuildRepository(dir, variable('Build.Repository.LocalPath')) ? variable('Build.Repository.ID') : undefined;
}

/** A repository as the REST API finds it: its name, checkout and remote URL (whose project may differ from the build's). */
export interface RepositoryLookup {
  name: string;
  dir: string;
  remoteUrl?: string;
}

/**
 * Repository ids, each looked up once by name in the project its remote URL names (two
 * repositories of a run may share a name in two projects); `own(dir)` answers first (the build's
 * own repository needs no lookup).
 */
export function repositoryIds(
  client: (() => Promise<AzureDevOpsClient>) | undefined,
  own: (dir: string) => string | undefined,
): (repo: RepositoryLookup) => Promise<string> {
  const cache = new Map<string, Promise<string>>();
  return (repo) => {
    const id = own(repo.dir);
    if (id) return Promise.resolve(id);
    if (!client) return Promise.reject(new Error('no REST client'));
    const key = repo.remoteUrl ?? repo.dir;
    if (!cache.has(key))
      cache.set(
        key,
        client().then((c) => c.repository(repo.name, azureReposProject(repo.remoteUrl)).then((r) => r.id)),
      );
    return cache.get(key)!;
  };
}
