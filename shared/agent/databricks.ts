/**
 * The Databricks connection of a task, from its inputs: a Databricks (Relevo) service
 * connection, or an Azure Resource Manager one (workload identity federation) with the
 * workspace URL. Credentials are read and checked when this is called (before anything is
 * built or sent); the client is made on first use. Not re-exported from the agent's index, so
 * tasks that never talk to Databricks do not bundle its client.
 */
import { connectDatabricks, databricksAuthFromEndpoint, type DatabricksAuth, type DatabricksClient } from '../clients/databricks';
import { UserError } from '../errors';
import { agentLog } from './index';
import { endpoint, jobToken } from './connections';
import { input, variable } from './inputs';

export interface DatabricksInputs {
  /** The Databricks (Relevo) service connection input. */
  connection: string;
  /** An Azure Resource Manager service connection input, with `workspaceUrl`. */
  azureSubscription?: string;
  workspaceUrl?: string;
  /** What needs the connection, for the error when none is set ("volumePath needs …"). */
  neededBy: string;
  /** A request's timeout, and an upload's stall bound (default: the client's, 30 s). */
  timeoutMs?: number;
}

/** The client, made on first use; and how it signs in (known now, from the connection). */
export type DatabricksConnection = (() => Promise<DatabricksClient>) & { authKind: DatabricksAuth['kind'] };

export function databricksConnection(inputs: DatabricksInputs): DatabricksConnection {
  const connection = input(inputs.connection);
  const arm = inputs.azureSubscription ? input(inputs.azureSubscription) : undefined;
  const either = inputs.azureSubscription
    ? `set ${inputs.connection} (a Databricks (Relevo) service connection), or ${inputs.azureSubscription} with ${inputs.workspaceUrl}.`
    : `set ${inputs.connection} to a Databricks (Relevo) service connection.`;
  if (!connection && !arm)
    throw new UserError(`${inputs.neededBy} needs a Databricks connection.`, { input: inputs.connection, fix: either });
  const name = connection ? inputs.connection : inputs.azureSubscription!;
  const e = endpoint((connection ?? arm)!);
  if (!e) {
    throw new UserError(`the service connection '${connection ?? arm}' is not available to this job.`, {
      input: name,
      fix: 'check its name, and that this pipeline is allowed to use it (service connection → Security → Pipeline permissions).',
    });
  }
  const workspaceUrl = inputs.workspaceUrl ? input(inputs.workspaceUrl) : undefined;
  const token = e.scheme?.toLowerCase() === 'workloadidentityfederation' ? jobToken() : undefined;
  const { host, auth } = databricksAuthFromEndpoint(e, {
    input: name,
    workspaceUrl,
    oidcRequestUri: variable('System.OidcRequestUri'),
    jobToken: token,
  });
  let client: DatabricksClient | undefined;
  const connect = async () =>
    (client ??= connectDatabricks({
      host,
      auth,
      ...(inputs.timeoutMs ? { timeoutMs: inputs.timeoutMs } : {}),
      onRetry: (r) => agentLog.info(`Databricks: ${r.method} ${r.path} — ${r.reason}, retry ${r.attempt} in ${Math.round(r.delayMs)} ms.`),
    }));
  return Object.assign(connect, { authKind: auth.kind });
}
