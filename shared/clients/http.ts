/**
 * One HTTP retry policy for every client in shared/clients.
 *
 * `withRetries` runs an attempt, asks `classify` whether its failure is worth another try, and
 * waits between tries: the server's `Retry-After` when it sent one (seconds or an HTTP date),
 * otherwise exponential backoff with jitter. It is bounded twice: in attempts (`maxAttempts`) and
 * in wall-clock time (`maxTotalMs`, which also cuts an attempt that is still running when the
 * time is up). Each request's own timeout (`timeoutMs`) is the client's business (the HTTP
 * library's socket timeout); it is carried here so one policy object describes both.
 *
 * A cancel of the run (shared/processes.ts `cancelSignal`) abandons the attempt in flight and the
 * wait between attempts at once (CancelledError), and no new call starts until the undo journal
 * takes over; the undo's own calls (made once the run's signal has fired) are bounded by their
 * timeouts only. Each attempt is given the signal, to hand to `fetch` so the request itself is
 * aborted.
 *
 * Plain functions on plain data: no process.env, no task-lib; clocks and sleep are injectable.
 */
import { cancelSignal, CancelledError, throwIfCancelled } from '../processes';

export interface RetryPolicy {
  /** Attempts in all, the first included (default 4). */
  maxAttempts: number;
  /** Wall-clock bound for all attempts and waits together (default 60 s). */
  maxTotalMs: number;
  /** First backoff step when the server gives no Retry-After (default 500 ms; doubles each retry). */
  baseDelayMs: number;
  /** Longest backoff step (default 10 s). A longer Retry-After is honoured if it fits in maxTotalMs. */
  maxDelayMs: number;
  /** Timeout of one request without an answer (default 30 s). */
  timeoutMs: number;
  sleep: (ms: number) => Promise<void>;
  /** [0, 1): the jitter source. */
  random: () => number;
  now: () => number;
  /**
   * Abandons the attempt in flight and the wait between attempts. Default: the run's
   * `cancelSignal`, while it has not fired (once it has, the calls are the undo's own).
   */
  signal?: AbortSignal;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 4,
  maxTotalMs: 60_000,
  baseDelayMs: 500,
  maxDelayMs: 10_000,
  timeoutMs: 30_000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
  now: Date.now,
};

export function retryPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  const policy = { ...DEFAULT_RETRY_POLICY };
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) (policy as Record<string, unknown>)[key] = value;
  }
  if (!(policy.maxAttempts >= 1)) throw new RangeError(`retry policy: maxAttempts must be at least 1, not ${policy.maxAttempts}`);
  if (!(policy.timeoutMs > 0)) throw new RangeError(`retry policy: timeoutMs must be positive, not ${policy.timeoutMs}`);
  if (!(policy.maxTotalMs > 0)) throw new RangeError(`retry policy: maxTotalMs must be positive, not ${policy.maxTotalMs}`);
  return policy;
}

/** What `classify` says about a failed attempt. */
export type RetryVerdict = { retry: false } | { retry: true; /** the server's Retry-After, in ms */ retryAfterMs?: number; reason: string };

export interface RetryEvent {
  attempt: number;
  delayMs: number;
  reason: string;
  error: unknown;
}

/** The attempts ran out (in number or in time); `lastError` is the last attempt's failure. */
export class RetriesExhaustedError extends Error {
  constructor(
    readonly lastError: unknown,
    readonly attempts: number,
    readonly elapsedMs: number,
    /** Why it stopped, as a phrase: "after 4 attempts in 3.2 s", "… asked to wait 120 s …". */
    readonly reason: string,
  ) {
    super(`${lastError instanceof Error ? lastError.message : String(lastError)} (${reason})`, { cause: lastError });
    this.name = 'RetriesExhaustedError';
  }
}

/** An attempt was still running when the policy's total time ran out. */
export class DeadlineExceededError extends Error {
  constructor(
    readonly elapsedMs: number,
    readonly maxTotalMs: number,
  ) {
    super(`no answer within the ${seconds(maxTotalMs)} bound (${seconds(elapsedMs)} spent)`);
    this.name = 'DeadlineExceededError';
  }
}

export function seconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(s < 10 ? 1 : 0)} s`;
}

/**
 * `Retry-After` as milliseconds from now: delta-seconds (`120`) or an HTTP date
 * (`Wed, 21 Oct 2026 07:28:00 GMT`, RFC 9110 §10.2.3). Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: unknown, now: number = Date.now()): number | undefined {
  if (Array.isArray(value)) value = value[0];
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Exponential backoff with jitter: step n waits between half and all of base·2^(n-1), capped. */
export function backoffMs(retry: number, policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs' | 'random'>): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.round(cap * (0.5 + policy.random() / 2));
}

/**
 * Runs `attempt(n)` (n from 1) until it succeeds, `classify` says a failure is final, or the
 * policy's bounds are reached. A final failure is rethrown as it is; running out of attempts or
 * time throws RetriesExhaustedError around the last failure.
 */
export async function withRetries<T>(
  attempt: (n: number, signal: AbortSignal | undefined) => Promise<T>,
  classify: (error: unknown) => RetryVerdict,
  policyOverrides: Partial<RetryPolicy> = {},
  onRetry?: (event: RetryEvent) => void,
): Promise<T> {
  const policy = retryPolicy(policyOverrides);
  throwIfCancelled('sending a request');
  const signal = policy.signal ?? liveCancelSignal();
  const started = policy.now();
  const elapsed = () => policy.now() - started;
  for (let n = 1; ; n++) {
    let error: unknown;
    try {
      return await untilAborted(
        boundedByDeadline(attempt(n, signal), policy.maxTotalMs - elapsed(), () => new DeadlineExceededError(elapsed(), policy.maxTotalMs)),
        signal,
      );
    } catch (err) {
      error = err;
    }
    if (error instanceof CancelledError) throw error;
    if (error instanceof DeadlineExceededError)
      throw new RetriesExhaustedError(
        error,
        n,
        elapsed(),
        `stopped at the ${seconds(policy.maxTotalMs)} bound after ${n} attempt${n === 1 ? '' : 's'}`,
      );
    const verdict = classify(error);
    if (!verdict.retry) throw error;
    if (n >= policy.maxAttempts)
      throw new RetriesExhaustedError(error, n, elapsed(), `gave up after ${n} attempts in ${seconds(elapsed())}`);
    const delayMs = verdict.retryAfterMs ?? backoffMs(n, policy);
    const remaining = policy.maxTotalMs - elapsed();
    if (delayMs >= remaining) {
      const why =
        verdict.retryAfterMs !== undefined
          ? `the server asked to wait ${seconds(delayMs)} (Retry-After)`
          : `the next try would start after ${seconds(delayMs)}`;
      throw new RetriesExhaustedError(
        error,
        n,
        elapsed(),
        `gave up after ${n} attempt${n === 1 ? '' : 's'}: ${why}, beyond the ${seconds(policy.maxTotalMs)} bound`,
      );
    }
    onRetry?.({ attempt: n, delayMs, reason: verdict.reason, error });
    await untilAborted(policy.sleep(delayMs), signal);
  }
}

/** The run's cancel signal while it has not fired; undefined once it has (the undo's own calls run then). */
export function liveCancelSignal(): AbortSignal | undefined {
  return cancelSignal.aborted ? undefined : cancelSignal;
}

/** The promise, or CancelledError as soon as `signal` fires (the promise is abandoned). */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  promise.catch(() => undefined); // a late failure of an abandoned attempt is not an unhandled rejection
  if (signal.aborted) return Promise.reject(cancelledBy(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelledBy(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function cancelledBy(signal: AbortSignal): CancelledError {
  return signal.reason instanceof CancelledError ? signal.reason : new CancelledError('waiting for an answer');
}

/** A wait between calls (polling) that a cancel of the run cuts short with CancelledError. */
export function waitUnlessCancelled(ms: number, signal: AbortSignal | undefined = liveCancelSignal()): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const wait = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return untilAborted(wait, signal).finally(() => clearTimeout(timer));
}

/** The signal for one request: its own timeout, and the cancel signal when there is one. */
export function requestSignal(timeoutMs: number, signal: AbortSignal | undefined): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([timeout, signal]) : timeout;
}

/** The promise, or the deadline's error if it is still pending after `ms`. */
function boundedByDeadline<T>(promise: Promise<T>, ms: number, onDeadline: () => Error): Promise<T> {
  if (ms <= 0) {
    promise.catch(() => undefined);
    return Promise.reject(onDeadline());
  }
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onDeadline()), ms);
  });
  promise.catch(() => undefined); // a late failure after the deadline is not an unhandled rejection
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Node's network error codes worth another try for a request that may be repeated. */
export const TRANSIENT_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
]);

/** Codes that mean the request never reached the server: safe to repeat even a write. */
export const NOT_SENT_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
]);

/**
 * The usual verdict for an HTTP failure. `idempotent` requests (reads, PUT of one reviewer)
 * are retried on 429, every 5xx, timeouts and transient network errors. Writes that create
 * something (POST) are retried only where the server cannot have acted: 429 (throttled before
 * processing), 503 (service unavailable) and errors before the connection existed; a 500, a
 * 502/504 or a timeout may hide a write that happened, so it is reported, not repeated.
 */
export function classifyHttpFailure(
  failure: { status?: number; code?: string; timedOut?: boolean; retryAfterMs?: number },
  idempotent: boolean,
): RetryVerdict {
  const { status, code } = failure;
  if (status === 429) return { retry: true, retryAfterMs: failure.retryAfterMs, reason: 'HTTP 429 (throttled)' };
  if (status !== undefined && status >= 500 && status <= 599) {
    if (idempotent || status === 503) return { retry: true, retryAfterMs: failure.retryAfterMs, reason: `HTTP ${status}` };
    return { retry: false };
  }
  if (status !== undefined) return { retry: false };
  if (failure.timedOut) return idempotent ? { retry: true, reason: 'no answer (timeout)' } : { retry: false };
  if (code && (idempotent ? TRANSIENT_NETWORK_CODES : NOT_SENT_NETWORK_CODES).has(code)) return { retry: true, reason: code };
  return { retry: false };
}

/** Why one attempt failed, as `classifyHttpFailure` reads it. */
export interface HttpFailure {
  status?: number;
  code?: string;
  timedOut?: boolean;
  retryAfterMs?: number;
}

/**
 * One attempt's failure, for every client: what `classifyHttpFailure` needs, the server's
 * parsed error body when it sent one (Databricks' `{error_code, message}`), and its text.
 */
export class HttpAttemptError extends Error {
  constructor(
    message: string,
    readonly failure: HttpFailure,
    readonly body?: { error_code?: string; message?: string; [k: string]: unknown },
    readonly text = '',
  ) {
    super(message);
    this.name = 'HttpAttemptError';
  }
}

/** The verdict for an HttpAttemptError; anything else is final. */
export function classifyAttempt(error: unknown, idempotent: boolean): RetryVerdict {
  return error instanceof HttpAttemptError ? classifyHttpFailure(error.failure, idempotent) : { retry: false };
}

/** Uploads are bounded by progress, not time: the attempt itself may run this long (a day). */
export const UPLOAD_TOTAL_BOUND_MS = 24 * 60 * 60_000;

/** Bytes the network may still hold once the last one was handed over (socket buffers), at most. */
const IN_FLIGHT_BYTES = 16 * 1024 * 1024;
/** The slowest link an upload's last bytes are given time for. */
const SLOWEST_BYTES_PER_S = 100 * 1024;

/**
 * A request body sent in chunks, bounded by progress rather than by a fixed total: the request
 * is aborted when no bytes moved for `stallMs`. Once every byte is handed to the connection,
 * the socket buffers may still hold megabytes the server has not read: the answer is then
 * awaited for `stallMs` plus the time those bytes need at 100 KB/s (at most 16 MB: 160 s). A
 * 40 MB wheel on a slow link takes as long as it takes; a stalled one fails saying how much was
 * sent. Pass `body`, `signal` and `duplex: 'half'` to fetch, and the Content-Length header
 * (fetch would send a stream chunked otherwise).
 */
export function progressBoundedBody(
  bytes: Uint8Array,
  stallMs: number,
  cancel?: AbortSignal,
  chunkBytes = 64 * 1024,
): {
  body: ReadableStream<Uint8Array>;
  signal: AbortSignal;
  /** Bytes handed to the connection so far. */
  sent(): number;
  /** Whether the stall bound aborted the request. */
  stalled(): boolean;
  /** Stops the watch (call when the answer came, or the attempt ended). */
  done(): void;
  /** "no bytes moved for 30 s after 1.2 MB of 4.0 MB were sent" */
  describeStall(): string;
} {
  const stall = new AbortController();
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  let allSent = false;
  const answerMs = stallMs + Math.round((Math.min(bytes.length, IN_FLIGHT_BYTES) / SLOWEST_BYTES_PER_S) * 1000);
  const arm = (ms = stallMs) => {
    clearTimeout(timer);
    timer = setTimeout(() => stall.abort(), ms);
  };
  arm();
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= bytes.length) {
        allSent = true;
        arm(answerMs); // the bytes still in the network, then the answer
        controller.close();
        return;
      }
      const chunk = bytes.subarray(sent, sent + chunkBytes);
      sent += chunk.length;
      arm();
      controller.enqueue(chunk);
    },
  });
  return {
    body,
    signal: cancel ? AbortSignal.any([stall.signal, cancel]) : stall.signal,
    sent: () => sent,
    stalled: () => stall.signal.aborted,
    done: () => clearTimeout(timer),
    describeStall: () =>
      allSent
        ? `all ${size(bytes.length)} were handed to the network, and no answer came within ${seconds(answerMs)}`
        : `no bytes moved for ${seconds(stallMs)} after ${size(sent)} of ${size(bytes.length)} were sent`,
  };
}

/** "4.0 MB", "812 KB", "120 bytes". */
export function size(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} bytes`;
}
