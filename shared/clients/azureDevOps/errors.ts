/**
 * Failures of Azure DevOps calls turned into AzureDevOpsError: Azure DevOps' own message quoted,
 * the request (method and URL, never the token) and a fix naming the permission and the identity.
 */
import { STATUS_CODES } from 'node:http';
import { UserError } from '../../errors';
import { DeadlineExceededError, RetriesExhaustedError, seconds } from '../http';

export type AzureDevOpsErrorKind =
  | 'unauthorized'
  | 'forbidden'
  | 'notFound'
  | 'conflict'
  | 'pullRequestExists'
  | 'policy'
  | 'badRequest'
  | 'throttled'
  | 'unavailable'
  | 'timeout'
  | 'network'
  | 'unsupported'
  | 'other';

/** A call to Azure DevOps that failed; its message quotes Azure DevOps and says what to do. */
export class AzureDevOpsError extends UserError {
  readonly kind: AzureDevOpsErrorKind;
  /** HTTP status, when Azure DevOps answered. */
  readonly status?: number;
  /** Azure DevOps' own message, verbatim. */
  readonly serverMessage?: string;
  readonly typeKey?: string;
  readonly errorCode?: number;
  readonly method?: string;
  /** The request's URL (no credentials are ever in it). */
  readonly url?: string;
  readonly fix: string;
  readonly attempts?: number;

  constructor(
    message: string,
    details: {
      kind: AzureDevOpsErrorKind;
      fix: string;
      status?: number;
      serverMessage?: string;
      typeKey?: string;
      errorCode?: number;
      method?: string;
      url?: string;
      attempts?: number;
      cause?: unknown;
    },
  ) {
    super(message, { fix: details.fix, cause: details.cause });
    this.name = 'AzureDevOpsError';
    this.kind = details.kind;
    this.fix = details.fix;
    this.status = details.status;
    this.serverMessage = details.serverMessage;
    this.typeKey = details.typeKey;
    this.errorCode = details.errorCode;
    this.method = details.method;
    this.url = details.url;
    this.attempts = details.attempts;
  }
}

/** What the library attaches to a failed request (typed-rest-client + v17's rate-limit fields). */
export interface LibraryError {
  message?: string;
  statusCode?: number;
  result?: unknown;
  responseHeaders?: Record<string, string | string[] | undefined>;
  rateLimit?: { retryAfter?: number };
  code?: string;
}

export const REQUEST_TIMEOUT = /^Request timeout: /;

/** The request a call was making when it failed (method and URL), and its attempt. */
export interface RequestTrace {
  method?: string;
  url?: string;
  attempt?: number;
}

export type Permission = 'read' | 'pullRequestContribute' | 'viewBuilds';

/** One logical call, described for its error message. */
export interface Operation {
  /** "Could not create the pull request from … into …" */
  what: string;
  idempotent: boolean;
  permission?: Permission;
  repository?: string;
  notFoundFix?: string;
  source?: string;
  target?: string;
}

export const TOKEN_FIX =
  "Azure DevOps did not accept the job token: it is missing, expired or revoked. In classic pipelines turn on 'Allow scripts to access the OAuth token' on the agent job; " +
  'if the token is passed in explicitly, map System.AccessToken (env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)); a token also expires when a job outlives it, so re-run the job.';

/**
 * Explains failures of one connection: knows its collection, project, organization and token
 * (to redact it), and what the client learnt on the way (the project's id, repository names).
 */
export class ErrorTranslator {
  /** Learnt from repository lookups: tells the project's build identity from the collection's. */
  projectId?: string;
  private readonly repositoryNames = new Map<string, string>();

  constructor(
    private readonly collectionUri: string,
    private readonly project: string,
    private readonly organization: string,
    private readonly token: string,
    private readonly timeoutMs: number,
  ) {}

  /** Remembers a repository's name, to name it in later messages. */
  learnRepository(id: string, name: string): void {
    this.repositoryNames.set(id.toLowerCase(), name);
  }

  toError(err: unknown, op: Operation, trace: RequestTrace): Error {
    if (err instanceof AzureDevOpsError) return err;
    if (err instanceof UserError) return err;
    let inner = err;
    let note: string | undefined;
    if (err instanceof RetriesExhaustedError) {
      inner = err.lastError;
      note = err.reason;
    }
    const e = (inner ?? {}) as LibraryError;
    const method = trace.method;
    const url = trace.url ? stripCredentials(trace.url) : undefined;
    const request = method && url ? `${method} ${url}` : 'the request';
    const redact = (text: string) => (this.token.length >= 8 ? text.split(this.token).join('***') : text);
    const withNote = (text: string) => (note ? `${text} (${note})` : text);
    const attempts = trace.attempt;
    const common = { method, url, attempts, cause: inner };

    if (inner instanceof DeadlineExceededError) {
      return new AzureDevOpsError(
        redact(`${op.what}: ${request} was still unanswered when the ${seconds(inner.maxTotalMs)} bound for this call ran out (${note}).`),
        {
          ...common,
          kind: 'timeout',
          fix: this.networkFix(),
        },
      );
    }

    const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
    if (status === undefined) {
      const message = typeof e.message === 'string' ? e.message : String(inner);
      if (REQUEST_TIMEOUT.test(message)) {
        return new AzureDevOpsError(redact(withNote(`${op.what}: ${request} did not answer within ${seconds(this.timeoutMs)}`)) + '.', {
          ...common,
          kind: 'timeout',
          fix: this.networkFix(),
        });
      }
      if (typeof e.code === 'string') {
        return new AzureDevOpsError(redact(withNote(`${op.what}: ${request} failed: ${message}`)) + '.', {
          ...common,
          kind: 'network',
          fix: this.networkFix(),
        });
      }
      if (/Failed to find api location|Could not find information for resource area/.test(message)) {
        return new AzureDevOpsError(redact(`${op.what}: this Azure DevOps does not offer the API the call needs (${message}).`), {
          ...common,
          kind: 'unsupported',
          fix: 'use Azure DevOps Services or Azure DevOps Server 2022 or newer.',
        });
      }
      return new AzureDevOpsError(redact(withNote(`${op.what}: ${message}`)), {
        ...common,
        kind: 'other',
        fix: 'see the message above; re-run if it was a passing failure.',
      });
    }

    const body = e.result && typeof e.result === 'object' ? (e.result as Record<string, unknown>) : undefined;
    const serverMessage = typeof body?.message === 'string' ? body.message : ownMessage(e.message);
    const typeKey = typeof body?.typeKey === 'string' ? body.typeKey : undefined;
    const errorCode = typeof body?.errorCode === 'number' ? body.errorCode : undefined;
    const { kind, fix } = this.explain(status, op, serverMessage, typeKey);
    const answered = `${request} answered ${status} ${STATUS_CODES[status] ?? ''}`.trimEnd() + (typeKey ? ` (${typeKey})` : '');
    const quoted = serverMessage ? `: "${serverMessage.trim()}"` : '';
    const text = withNote(`${op.what}: ${answered}${quoted}`);
    return new AzureDevOpsError(redact(/["')]$/.test(text) ? text : `${text}.`), {
      ...common,
      kind,
      fix: redact(fix),
      status,
      serverMessage: serverMessage === undefined ? undefined : redact(serverMessage),
      typeKey,
      errorCode,
    });
  }

  private explain(status: number, op: Operation, serverMessage = '', typeKey = ''): { kind: AzureDevOpsErrorKind; fix: string } {
    if (status === 401) return { kind: 'unauthorized', fix: TOKEN_FIX };
    if (/TF40245\d|TF402460|PolicyViolation|rejected by (a )?polic/i.test(`${serverMessage} ${typeKey}`)) {
      return {
        kind: 'policy',
        fix: `a branch policy refused it (quoted above). Grant ${this.identityNames()} 'Bypass policies when completing pull requests' / 'Bypass policies when pushing' on the repository only if the policy should not apply to the pipeline; otherwise go through a pull request that satisfies the policy.`,
      };
    }
    if (status === 403) return { kind: 'forbidden', fix: this.permissionFix(op, serverMessage) };
    if (status === 404) return { kind: 'notFound', fix: op.notFoundFix ?? 'check the names and ids passed to the task.' };
    if (status === 409 && (/TF401179/.test(serverMessage) || /PullRequestExists/i.test(typeKey))) {
      return {
        kind: 'pullRequestExists',
        fix: `an active pull request from ${op.source ?? 'the source branch'} into ${op.target ?? 'the target branch'} already exists; Azure DevOps allows one at a time. Reuse it (findActivePullRequest) or complete or abandon it first.`,
      };
    }
    if (status === 409)
      return {
        kind: 'conflict',
        fix: 'the object already exists or was changed meanwhile; re-run to start from the current state.',
      };
    if (status === 429)
      return {
        kind: 'throttled',
        fix: 'Azure DevOps throttled this identity and the retry bound was reached: re-run later, or spread out pipelines that call Azure DevOps at the same time.',
      };
    if (status >= 500)
      return { kind: 'unavailable', fix: 'Azure DevOps failed or is unavailable (see https://status.dev.azure.com); re-run the job.' };
    if (status === 400)
      return { kind: 'badRequest', fix: 'Azure DevOps refused the request as quoted above; correct the inputs it names.' };
    return { kind: 'other', fix: "see Azure DevOps' message above." };
  }

  private permissionFix(op: Operation, serverMessage: string): string {
    const who = this.identityFromMessage(serverMessage) ?? this.identityNames();
    const repo = op.repository ? this.repoLabel(op.repository) : 'the repository';
    const where = `Project settings → Repositories → ${op.repository ? (this.repositoryNames.get(op.repository.toLowerCase()) ?? op.repository) : '(repository)'} → Security`;
    switch (op.permission) {
      case 'pullRequestContribute':
        return `give ${who} 'Contribute to pull requests' on ${repo} (${where}).`;
      case 'viewBuilds':
        return `give ${who} 'View builds' on the pipeline (Pipelines → the pipeline → ⋯ → Manage security), or project-wide under Project settings → Pipelines → Security.`;
      case 'read':
        return `give ${who} 'Read' on ${repo} (${where}).`;
      default:
        return `give ${who} the permission Azure DevOps names above.`;
    }
  }

  /** Both build identities, quoted: which one the job token is depends on the job's authorization scope. */
  identityNames(): string {
    return `"${this.project} Build Service (${this.organization})" or, when 'Limit job authorization scope to current project' is off, "Project Collection Build Service (${this.organization})"`;
  }

  /** TF401027 names the identity as `Build\<guid>`: the project's id means the project's build identity. */
  private identityFromMessage(serverMessage: string): string | undefined {
    const match = /identity '(?:[^'\\]*\\)?([0-9a-f-]{36})'/i.exec(serverMessage);
    if (!match || !this.projectId) return undefined;
    return match[1].toLowerCase() === this.projectId.toLowerCase()
      ? `"${this.project} Build Service (${this.organization})" (the job token's identity, Build\\${match[1]})`
      : `"Project Collection Build Service (${this.organization})" (the job token's identity, Build\\${match[1]})`;
  }

  repositoryNotFoundFix(nameOrId: string): string {
    return (
      `check the name. If '${nameOrId}' exists, the job token cannot see it: new organizations turn on 'Limit job authorization scope to referenced repositories', ` +
      `so declare it under resources.repositories (or check it out) in the pipeline; if it is in another project, turn off 'Limit job authorization scope to current project' ` +
      `or give "Project Collection Build Service (${this.organization})" Read on it.`
    );
  }

  private networkFix(): string {
    return `the agent could not reach ${new URL(this.collectionUri).host} in time: check the agent's network and proxy, and https://status.dev.azure.com; re-run the job.`;
  }

  repoLabel(repositoryId: string): string {
    const name = this.repositoryNames.get(repositoryId.toLowerCase());
    return name ? `repository '${name}'` : `repository '${repositoryId}'`;
  }
}

function stripCredentials(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url;
  }
}

/** The client's own message, unless it only restates the status ("Failed request: (404)", "Not Found"). */
function ownMessage(message: unknown): string | undefined {
  if (typeof message !== 'string') return undefined;
  if (/^Failed request: \(\d+\)$/.test(message) || message === 'Not Found') return undefined;
  return message;
}
