/**
 * The Azure DevOps REST API of a task, on the job token: the connection read and checked when
 * this is called (before anything is built or sent), the client loaded and made on first use
 * (the REST library is most of a bundle and of its start-up). Not re-exported from the agent's
 * index, so tasks that never call the REST API do not bundle it.
 */
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

/**
 * Repository ids by name, each looked up once; `own(dir)` answers first (the build's own
 * repository needs no lookup).
 */
export function repositoryIds(
  client: (() => Promise<AzureDevOpsClient>) | undefined,
  own: (dir: string) => string | undefined,
): (name: string, dir: string) => Promise<string> {
  const cache = new Map<string, Promise<string>>();
  return (name, dir) => {
    const id = own(dir);
    if (id) return Promise.resolve(id);
    if (!client) return Promise.reject(new Error('no REST client'));
    if (!cache.has(name))
      cache.set(
        name,
        client().then((c) => c.repository(name).then((r) => r.id)),
      );
    return cache.get(name)!;
  };
}
