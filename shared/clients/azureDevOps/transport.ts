/**
 * How the client reaches Azure DevOps through azure-devops-node-api (v17): the job token handler,
 * a WebApi whose discovery has no retries of its own, and one logical call run under our retry
 * policy with its failure classified and translated.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { RequestOptions } from 'node:http';
import { WebApi, getBearerHandler } from 'azure-devops-node-api';
import { LocationsApi, type ILocationsApi } from 'azure-devops-node-api/LocationsApi';
import type { IRequestHandler, IRequestOptions, IHttpClientResponse } from 'azure-devops-node-api/interfaces/common/VsoBaseInterfaces';
import { UserError } from '../../errors';
import { classifyHttpFailure, parseRetryAfter, withRetries, type RetryPolicy, type RetryVerdict } from '../http';
import { tokenGoesTo } from '../organization';
import { AzureDevOpsError, REQUEST_TIMEOUT, type ErrorTranslator, type LibraryError, type Operation, type RequestTrace } from './errors';
import type { AzureDevOpsConnectionOptions } from './types';

/** The request a call is making right now (method and URL), for error messages. */
const currentCall = new AsyncLocalStorage<RequestTrace>();

/**
 * Puts the job token on requests to the collection's host (and Azure DevOps Services hosts
 * that resource areas point to), never on a redirect elsewhere; records each request's method
 * and URL in the current call's trace.
 */
class JobTokenHandler implements IRequestHandler {
  private readonly bearer: IRequestHandler;

  constructor(
    token: string,
    private readonly protocol: string,
    private readonly collectionHost: string,
    private readonly organization: string,
  ) {
    this.bearer = getBearerHandler(token, true);
  }

  prepareRequest(options: RequestOptions): void {
    const host = String(options.hostname ?? options.host ?? '').toLowerCase();
    if (this.sendsTokenTo(host, String(options.path ?? ''))) this.bearer.prepareRequest(options);
    else if (options.headers) (options.headers as Record<string, string>)['X-TFS-FedAuthRedirect'] = 'Suppress';
    const trace = currentCall.getStore();
    if (trace) {
      const defaultPort = this.protocol === 'https:' ? 443 : 80;
      const port = options.port !== undefined && Number(options.port) !== defaultPort ? `:${options.port}` : '';
      trace.method = options.method ?? 'GET';
      trace.url = `${this.protocol}//${host}${port}${options.path ?? ''}`;
    }
  }

  private sendsTokenTo(host: string, path: string): boolean {
    return tokenGoesTo(host, path, this.collectionHost, this.organization);
  }

  canHandleAuthentication(): boolean {
    return false;
  }

  handleAuthentication(): Promise<IHttpClientResponse> {
    return Promise.reject(new Error('the job token handler does not negotiate authentication'));
  }
}

/** WebApi whose resource-area lookup uses our request options (no library retries). */
class RelevoWebApi extends WebApi {
  override async getLocationsApi(serverUrl?: string, handlers?: IRequestHandler[]): Promise<ILocationsApi> {
    return new LocationsApi(serverUrl || this.serverUrl, handlers || [this.authHandler], this.options, this.userAgent);
  }
}

/** A WebApi on the collection `uri` (normalised), with the job token and our timeout, library retries off. */
export function createWebApi(uri: URL, organization: string, token: string, policy: RetryPolicy, userAgent?: string): WebApi {
  const requestOptions: IRequestOptions = {
    socketTimeout: policy.timeoutMs,
    // The agent's sockets get the same timeout (typed-rest-client's default agent has 30 s).
    globalAgentOptions: { keepAlive: false, timeout: policy.timeoutMs },
    allowRetries: false,
    maxRetries: 0,
  };
  const handler = new JobTokenHandler(token, uri.protocol, uri.hostname.toLowerCase(), organization);
  return new RelevoWebApi(uri.toString(), handler, requestOptions, {
    productName: 'Relevo',
    productVersion: '1',
    userAgent: userAgent ?? 'Relevo (azure-devops-node-api)',
  });
}

/** One logical call: retried per the policy, its failure turned into an AzureDevOpsError. */
export async function call<T>(
  op: Operation,
  run: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  errors: ErrorTranslator,
  onRetry?: AzureDevOpsConnectionOptions['onRetry'],
): Promise<T> {
  const trace: RequestTrace = {};
  try {
    return await withRetries(
      (attempt) => {
        trace.attempt = attempt;
        return currentCall.run(trace, () => run(attempt));
      },
      (err) => classify(err, op.idempotent, policy),
      policy,
      (event) => onRetry?.({ method: trace.method, url: trace.url, attempt: event.attempt, delayMs: event.delayMs, reason: event.reason }),
    );
  } catch (err) {
    throw errors.toError(err, op, trace);
  }
}

function classify(err: unknown, idempotent: boolean, policy: RetryPolicy): RetryVerdict {
  if (err instanceof AzureDevOpsError || err instanceof UserError) return { retry: false };
  const e = (err ?? {}) as LibraryError;
  return classifyHttpFailure(
    {
      status: typeof e.statusCode === 'number' ? e.statusCode : undefined,
      code: typeof e.code === 'string' ? e.code : undefined,
      timedOut: typeof e.message === 'string' && REQUEST_TIMEOUT.test(e.message),
      retryAfterMs: retryAfterOf(e, policy.now()),
    },
    idempotent,
  );
}

function retryAfterOf(e: LibraryError, now: number): number | undefined {
  const header = e.responseHeaders?.['retry-after'];
  const fromHeader = parseRetryAfter(header, now);
  if (fromHeader !== undefined) return fromHeader;
  // v17 keeps the header's number on err.rateLimit even when the body was not JSON (and
  // responseHeaders is empty); an HTTP date there is lost (the library parses it with parseInt).
  return parseRetryAfter(e.rateLimit?.retryAfter, now);
}

/** The library resolves a 404 with null: turn it back into a 404 failure. */
export function orNotFound<T>(value: T | null | undefined): T {
  if (value === null || value === undefined) throw Object.assign(new Error('Not Found'), { statusCode: 404 });
  return value;
}

export function isPullRequestExists(err: unknown): boolean {
  const e = (err ?? {}) as LibraryError;
  const body = (e.result ?? {}) as { typeKey?: unknown; message?: unknown };
  return (
    e.statusCode === 409 && (body.typeKey === 'GitPullRequestExistsException' || /TF401179/.test(String(body.message ?? e.message ?? '')))
  );
}
