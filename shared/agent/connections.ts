/**
 * Connections: service connections (each authorization parameter registered as a secret), the
 * job token (read and registered once), how git and the REST client reach Azure DevOps, and
 * the pull-request inputs the tasks share.
 */
import { UserError } from '../errors';
import type { AutoCompleteOptions, MergeStrategy } from '../clients/azureDevOps';
import type { GitOptions } from '../git';
import { host } from './host';
import { boolInput, choiceInput, listInput, positiveNumberVariable, variable } from './inputs';
import { setSecret } from './secrets';

/**
 * A service connection's authorization parameters, each registered as a secret. Read through
 * getEndpointAuthorization, which logs only whether the endpoint exists:
 * getEndpointAuthorizationParameter writes the value itself to the debug log.
 */
export function endpointCredentials(id: string): Record<string, string> {
  const auth = host.getEndpointAuthorization(id, true);
  const parameters = auth?.parameters ?? {};
  registerEndpointSecrets(parameters);
  return parameters;
}

/**
 * Endpoint parameters as secrets, besides the agent's own masking of them. A multi-line value
 * (a PEM certificate) cannot be registered and is left to the agent.
 */
function registerEndpointSecrets(parameters: Record<string, string>): void {
  for (const value of Object.values(parameters)) if (!/\r|\n/.test(value)) setSecret(value);
}

/** The job's own token (System.AccessToken); undefined outside an agent. Read (and registered) once. */
export function jobToken(): string | undefined {
  return host.once('jobToken', () => {
    const parameters = endpointCredentials('SystemVssConnection');
    const value = parameters.AccessToken || parameters.accessToken || host.mappedAccessToken() || undefined;
    if (value) setSecret(value);
    return value;
  });
}

/**
 * How git talks to remotes in this job: the job token for the organization's URL, the identity
 * of whoever queued the run, and the no-progress bound for network commands (the pipeline
 * variable `Relevo.NetworkTimeoutSeconds`, default 60).
 */
export function gitOptions(): GitOptions {
  const seconds = positiveNumberVariable('Relevo.NetworkTimeoutSeconds');
  return {
    token: jobToken(),
    tokenScope: variable('System.TeamFoundationCollectionUri') ?? variable('System.CollectionUri'),
    identity: {
      name: variable('Build.RequestedFor') ?? 'Relevo',
      email: variable('Build.RequestedForEmail') ?? 'relevo@users.noreply.dev.azure.com',
    },
    noProgressSeconds: seconds,
  };
}

/** Where the Azure DevOps REST API is and the job token for it; undefined when the job has no token or project. */
export function restConnection(): { collectionUri: string; token: string; project: string } | undefined {
  const collectionUri = variable('System.TeamFoundationCollectionUri') ?? variable('System.CollectionUri');
  const token = jobToken();
  const project = variable('System.TeamProject');
  return collectionUri && token && project ? { collectionUri, token, project } : undefined;
}

/** The pull-request inputs the tasks share: reviewers, work items, auto-complete and its merge strategy. */
export function pullRequestInputs(): { reviewerIds: string[]; workItemIds: number[]; autoComplete?: AutoCompleteOptions } {
  const workItemIds = listInput('workItems').map((w) => {
    if (!/^\d+$/.test(w))
      throw new UserError(`'${w}' is not a work item id.`, {
        input: 'workItems',
        fix: 'list work item numbers, comma-separated, e.g. 123, 456.',
      });
    return Number(w);
  });
  const mergeStrategy = choiceInput('mergeStrategy', [
    'noFastForward',
    'squash',
    'rebase',
    'rebaseMerge',
  ] as const satisfies readonly MergeStrategy[]);
  return {
    reviewerIds: listInput('reviewers'),
    workItemIds,
    autoComplete: boolInput('autoComplete') ? { mergeStrategy, deleteSourceBranch: true } : undefined,
  };
}

/**
 * A service connection by id (the value of a `connectedService:*` input): its URL, auth scheme,
 * authorization parameters (each registered as a secret, as endpointCredentials does) and data
 * (`ENDPOINT_DATA_<id>_<KEY>`, keys as the agent gives them, upper-cased). Undefined when the
 * job has no such connection.
 */
export function endpoint(
  id: string,
): { id: string; url?: string; scheme?: string; parameters: Record<string, string>; data: Record<string, string> } | undefined {
  const auth = host.getEndpointAuthorization(id, true);
  const url = host.getEndpointUrl(id);
  if (!auth && url === undefined) return undefined;
  const parameters = auth?.parameters ?? {};
  registerEndpointSecrets(parameters);
  return { id, url, scheme: auth?.scheme, parameters, data: host.getEndpointData(id) };
}
