/**
 * Uploads a wheel or sdist to a PyPI-compatible upload endpoint with the standard legacy upload
 * form (what twine sends; warehouse's `file_upload` action): `multipart/form-data` with
 * `:action=file_upload`, `protocol_version=1`, `metadata_version`, `name`, `version`,
 * `filetype` (`bdist_wheel` | `sdist`), `pyversion`, `md5_digest`, `sha256_digest` and the file
 * as `content`. Azure Artifacts (`https://pkgs.dev.azure.com/<org>/<project>/_packaging/<feed>/pypi/upload/`)
 * takes the job token as the Basic password.
 *
 * One retry policy (./http.ts): it is a POST that creates, so only 429, 503 and errors before
 * the connection existed are repeated. An existing version (409, or 400 "File already exists"
 * as PyPI answers) is its own outcome: the caller decides whether that is an error.
 * Credentials go to the feed's host only (no redirects are followed) and are in no message.
 * A cancel of the run aborts the upload in flight (CancelledError): whether the feed kept the
 * file is then unknown (`UploadError.httpStatus` tells a refusal the feed answered apart).
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { UserError } from '../errors';
import { CancelledError } from '../processes';
import { classifyHttpFailure, parseRetryAfter, requestSignal, RetriesExhaustedError, seconds, withRetries, type RetryPolicy } from './http';

export interface UploadTarget {
  url: string;
  username: string;
  password: string;
  retry?: Partial<RetryPolicy>;
  timeoutMs?: number;
}

export interface Distribution {
  path: string;
  bytes: Buffer;
  name: string;
  version: string;
  filetype: 'bdist_wheel' | 'sdist';
  /** `py3` (from the wheel's tag) or `source` for an sdist. */
  pyversion: string;
  metadataVersion?: string;
}

export type UploadOutcome = { status: 'uploaded'; httpStatus: number } | { status: 'exists'; httpStatus: number; message: string };

export class UploadError extends UserError {
  constructor(
    message: string,
    readonly httpStatus: number | undefined,
    fix: string,
  ) {
    super(message, { input: 'feedUrl', fix });
    this.name = 'UploadError';
  }
}

/** The form fields, in the order twine sends them (the file last). */
export function uploadForm(d: Distribution): FormData {
  const form = new FormData();
  const fields: Array<[string, string]> = [
    [':action', 'file_upload'],
    ['protocol_version', '1'],
    ['metadata_version', d.metadataVersion ?? '2.1'],
    ['name', d.name],
    ['version', d.version],
    ['filetype', d.filetype],
    ['pyversion', d.pyversion],
    ['md5_digest', createHash('md5').update(d.bytes).digest('hex')],
    ['sha256_digest', createHash('sha256').update(d.bytes).digest('hex')],
  ];
  for (const [k, v] of fields) form.append(k, v);
  form.append(
    'content',
    new Blob([new Uint8Array(d.bytes.buffer, d.bytes.byteOffset, d.bytes.byteLength)], { type: 'application/octet-stream' }),
    basename(d.path),
  );
  return form;
}

class AttemptError extends Error {
  constructor(
    message: string,
    readonly failure: { status?: number; code?: string; timedOut?: boolean; retryAfterMs?: number },
    readonly text = '',
  ) {
    super(message);
  }
}

export async function uploadDistribution(target: UploadTarget, d: Distribution): Promise<UploadOutcome> {
  const url = new URL(target.url);
  const shown = `${url.protocol}//${url.host}${url.pathname}`;
  const auth = `Basic ${Buffer.from(`${target.username}:${target.password}`).toString('base64')}`;
  const timeoutMs = target.timeoutMs ?? target.retry?.timeoutMs ?? 120_000;
  try {
    return await withRetries(
      async (_n, cancel) => {
        let res: Response;
        try {
          res = await fetch(url, {
            method: 'POST',
            headers: { authorization: auth, 'user-agent': 'relevo' },
            body: uploadForm(d),
            redirect: 'manual',
            signal: requestSignal(timeoutMs, cancel),
          });
        } catch (err) {
          if (cancel?.aborted) throw new CancelledError(`uploading ${basename(d.path)}`);
          const e = err as { name?: string; cause?: { code?: string } };
          if (e.name === 'TimeoutError' || e.name === 'AbortError')
            throw new AttemptError(`no answer within ${seconds(timeoutMs)}`, { timedOut: true });
          throw new AttemptError(`network error ${e.cause?.code ?? (err as Error).message}`, { code: e.cause?.code });
        }
        const text = (await res.text()).trim();
        if (res.ok) return { status: 'uploaded', httpStatus: res.status } as const;
        const message = serverMessage(text, res.statusText);
        if (res.status === 409 || (res.status === 400 && /already exist/i.test(text)))
          return { status: 'exists', httpStatus: res.status, message } as const;
        throw new AttemptError(
          `HTTP ${res.status}${message ? `: ${message}` : ''}`,
          { status: res.status, retryAfterMs: parseRetryAfter(res.headers.get('retry-after') ?? undefined) },
          text,
        );
      },
      (err) => (err instanceof AttemptError ? classifyHttpFailure(err.failure, false) : { retry: false }),
      { ...target.retry, timeoutMs },
    );
  } catch (err) {
    const last = err instanceof RetriesExhaustedError ? err.lastError : err;
    if (!(last instanceof AttemptError)) throw err;
    const status = last.failure.status;
    const fix =
      status === 401
        ? 'the credentials were refused: with the job token, check that the feed is in this organization; with a service connection, renew its password or token.'
        : status === 403
          ? "the identity may not publish to this feed: in the feed's settings → Permissions, give '<Project> Build Service (<Organization>)' (or the connection's user) the Feed Publisher (Contributor) role."
          : status === 404
            ? 'check feedUrl: an Azure Artifacts feed uploads at https://pkgs.dev.azure.com/<org>/<project>/_packaging/<feed>/pypi/upload/.'
            : status !== undefined && status >= 300 && status < 400
              ? 'the feed answered with a redirect, which is not followed (credentials stay on the feed host): use the final upload URL.'
              : status === 400
                ? 'the feed refused the upload form (its message above says why).'
                : "try again later; if it persists, check the feed URL and the agent's network.";
    throw new UploadError(`Could not upload ${basename(d.path)} to ${shown}: ${(err as Error).message}.`, status, fix);
  }
}

function serverMessage(text: string, statusText: string): string {
  if (!text) return statusText;
  try {
    const j = JSON.parse(text) as { message?: string; detail?: string };
    if (j.message || j.detail) return String(j.message ?? j.detail);
  } catch {
    // not JSON
  }
  // warehouse answers a short HTML page: its title or first text line
  const stripped = text
    .replace(/<title>([^<]*)<\/title>/i, '$1\n')
    .replace(/<[^>]+>/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  return (stripped[0] ?? statusText).slice(0, 300);
}
