/**
 * Uploads a wheel or sdist to a PyPI-compatible upload endpoint with the standard legacy upload
 * form (what twine sends; warehouse's `file_upload` action): `multipart/form-data` with
 * `:action=file_upload`, `protocol_version=1`, `metadata_version`, `name`, `version`,
 * `filetype` (`bdist_wheel` | `sdist`), `pyversion`, every field of the wheel's METADATA
 * (`summary`, `description`, `requires_dist`, `classifiers`, `project_urls`, …), `md5_digest`,
 * `sha256_digest`, `blake2_256_digest` and the file as `content`. Azure Artifacts (`https://pkgs.dev.azure.com/<org>/<project>/_packaging/<feed>/pypi/upload/`)
 * takes the job token as the Basic password.
 *
 * One retry policy (./http.ts): it is a POST that creates, so only 429, 503 and errors before
 * the connection existed are repeated. An upload is bounded by its progress, not by a total:
 * it fails when no bytes moved for a minute (or no answer came a minute after the last byte),
 * saying how much was sent. An existing version (409, or 400 "File already exists"
 * as PyPI answers) is its own outcome: the caller decides whether that is an error.
 * Credentials go to the feed's host only (no redirects are followed) and are in no message.
 * A cancel of the run aborts the upload in flight (CancelledError): whether the feed kept the
 * file is then unknown (`UploadError.httpStatus` tells a refusal the feed answered apart).
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { blake2b } from '../blake2b';
import { UserError } from '../errors';
import { CancelledError } from '../processes';
import {
  classifyAttempt,
  DeadlineExceededError,
  HttpAttemptError,
  parseRetryAfter,
  progressBoundedBody,
  RetriesExhaustedError,
  UPLOAD_TOTAL_BOUND_MS,
  withRetries,
  type RetryPolicy,
} from './http';

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
  /** The wheel's METADATA (an sdist's PKG-INFO) as text: every field of it goes into the form, as twine sends it. */
  metadata?: string;
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

/**
 * METADATA fields as twine sends them (twine/package.py `metadata_dictionary`): the form field
 * for each header, and whether it may repeat. The long description is the body after the headers.
 */
const METADATA_FIELDS: Array<[header: string, field: string, many: boolean]> = [
  ['summary', 'summary', false],
  ['home-page', 'home_page', false],
  ['author', 'author', false],
  ['author-email', 'author_email', false],
  ['maintainer', 'maintainer', false],
  ['maintainer-email', 'maintainer_email', false],
  ['license', 'license', false],
  ['license-expression', 'license_expression', false],
  ['license-file', 'license_file', true],
  ['keywords', 'keywords', false],
  ['platform', 'platform', true],
  ['classifier', 'classifiers', true],
  ['download-url', 'download_url', false],
  ['supported-platform', 'supported_platform', true],
  ['provides', 'provides', true],
  ['requires', 'requires', true],
  ['obsoletes', 'obsoletes', true],
  ['project-url', 'project_urls', true],
  ['provides-dist', 'provides_dist', true],
  ['obsoletes-dist', 'obsoletes_dist', true],
  ['requires-dist', 'requires_dist', true],
  ['requires-external', 'requires_external', true],
  ['requires-python', 'requires_python', false],
  ['provides-extra', 'provides_extras', true],
  ['description-content-type', 'description_content_type', false],
  ['dynamic', 'dynamic', true],
];

/** A METADATA (or PKG-INFO) file: its headers (names lower-case, in order) and its body. */
export function parseMetadata(text: string): { headers: Array<[string, string]>; body: string } {
  const headers: Array<[string, string]> = [];
  const lines = text.split(/\r?\n/);
  let i = 0;
  for (; i < lines.length && lines[i] !== ''; i++) {
    const line = lines[i];
    if (/^[ \t]/.test(line) && headers.length) {
      // A folded continuation (an old-style multi-line Description or License).
      headers[headers.length - 1][1] += `\n${line.replace(/^ {7}\|?|^[ \t]+/, '')}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon > 0) headers.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return { headers, body: lines.slice(i + 1).join('\n') };
}

/** The form fields, in the order twine sends them (the file last). */
export function uploadForm(d: Distribution): FormData {
  const form = new FormData();
  const meta = d.metadata ? parseMetadata(d.metadata) : undefined;
  const one = (h: string) => meta?.headers.find(([k]) => k === h)?.[1];
  const fields: Array<[string, string]> = [
    [':action', 'file_upload'],
    ['protocol_version', '1'],
    ['metadata_version', one('metadata-version') ?? d.metadataVersion ?? '2.1'],
    // The name as METADATA writes it (twine sends it so; the index normalises it).
    ['name', one('name') ?? d.name],
    ['version', one('version') ?? d.version],
    ['filetype', d.filetype],
    ['pyversion', d.pyversion],
  ];
  if (meta) {
    for (const [header, field, many] of METADATA_FIELDS) {
      const values = meta.headers.filter(([k]) => k === header).map(([, v]) => v);
      for (const v of many ? values : values.slice(0, 1)) fields.push([field, v]);
    }
    const description = one('description') ?? meta.body;
    if (description.trim()) fields.push(['description', description]);
  }
  fields.push(
    ['md5_digest', createHash('md5').update(d.bytes).digest('hex')],
    ['sha256_digest', createHash('sha256').update(d.bytes).digest('hex')],
    ['blake2_256_digest', blake2b(d.bytes, 32).toString('hex')],
  );
  for (const [k, v] of fields) form.append(k, v);
  form.append(
    'content',
    new Blob([new Uint8Array(d.bytes.buffer, d.bytes.byteOffset, d.bytes.byteLength)], { type: 'application/octet-stream' }),
    basename(d.path),
  );
  return form;
}

/** No bytes moved for this long (or no answer this long after the last byte): the upload is stalled. */
export const DEFAULT_UPLOAD_STALL_MS = 60_000;

export async function uploadDistribution(target: UploadTarget, d: Distribution): Promise<UploadOutcome> {
  const url = new URL(target.url);
  const shown = `${url.protocol}//${url.host}${url.pathname}`;
  const auth = `Basic ${Buffer.from(`${target.username}:${target.password}`).toString('base64')}`;
  const stallMs = target.timeoutMs ?? target.retry?.timeoutMs ?? DEFAULT_UPLOAD_STALL_MS;
  // The form as bytes once: each attempt streams them, bounded by progress rather than by a total.
  const encoded = new Response(uploadForm(d));
  const contentType = encoded.headers.get('content-type') ?? 'multipart/form-data';
  const bytes = new Uint8Array(await encoded.arrayBuffer());
  try {
    return await withRetries(
      async (_n, cancel) => {
        const progress = progressBoundedBody(bytes, stallMs, cancel);
        try {
          let res: Response;
          try {
            res = await fetch(url, {
              method: 'POST',
              headers: { authorization: auth, 'user-agent': 'relevo', 'content-type': contentType, 'content-length': String(bytes.length) },
              body: progress.body,
              duplex: 'half',
              redirect: 'manual',
              signal: progress.signal,
            } as RequestInit);
          } catch (err) {
            if (cancel?.aborted) throw new CancelledError(`uploading ${basename(d.path)}`);
            if (progress.stalled()) throw new HttpAttemptError(progress.describeStall(), { timedOut: true });
            const e = err as { cause?: { code?: string } };
            throw new HttpAttemptError(`network error ${e.cause?.code ?? (err as Error).message}`, { code: e.cause?.code });
          }
          let text: string;
          try {
            text = (await res.text()).trim();
          } catch (err) {
            if (cancel?.aborted) throw new CancelledError(`uploading ${basename(d.path)}`);
            if (progress.stalled()) throw new HttpAttemptError(progress.describeStall(), { timedOut: true });
            throw err;
          }
          if (res.ok) return { status: 'uploaded', httpStatus: res.status } as const;
          const message = serverMessage(text, res.statusText);
          if (res.status === 409 || (res.status === 400 && /already exist/i.test(text)))
            return { status: 'exists', httpStatus: res.status, message } as const;
          throw new HttpAttemptError(
            `HTTP ${res.status}${message ? `: ${message}` : ''}`,
            { status: res.status, retryAfterMs: parseRetryAfter(res.headers.get('retry-after') ?? undefined) },
            undefined,
            text,
          );
        } finally {
          progress.done();
        }
      },
      (err) => classifyAttempt(err, false),
      { ...target.retry, timeoutMs: stallMs, maxTotalMs: target.retry?.maxTotalMs ?? UPLOAD_TOTAL_BOUND_MS },
    );
  } catch (err) {
    const last = err instanceof RetriesExhaustedError ? err.lastError : err;
    if (!(last instanceof HttpAttemptError) && !(last instanceof DeadlineExceededError)) throw err;
    const status = last instanceof HttpAttemptError ? last.failure.status : undefined;
    const timedOut = last instanceof DeadlineExceededError || (last instanceof HttpAttemptError && last.failure.timedOut);
    const fix = uploadFix(status, timedOut);
    throw new UploadError(`Could not upload ${basename(d.path)} to ${shown}: ${(err as Error).message}.`, status, fix);
  }
}

/** What the user can do about a failed upload, by the feed's HTTP status (or a stall). */
function uploadFix(status: number | undefined, timedOut: boolean | undefined): string {
  if (status === 401)
    return 'the credentials were refused: with the job token, check that the feed is in this organization; with a service connection, renew its password or token.';
  if (status === 403)
    return "the identity may not publish to this feed: in the feed's settings → Permissions, give '<Project> Build Service (<Organization>)' (or the connection's user) the Feed Publisher (Contributor) role.";
  if (status === 404)
    return 'check feedUrl: an Azure Artifacts feed uploads at https://pkgs.dev.azure.com/<org>/<project>/_packaging/<feed>/pypi/upload/.';
  if (status !== undefined && status >= 300 && status < 400)
    return 'the feed answered with a redirect, which is not followed (credentials stay on the feed host): use the final upload URL.';
  if (status === 400) return 'the feed refused the upload form (its message above says why).';
  if (timedOut)
    return "the upload stopped moving (an upload may take as long as it needs while bytes move); the feed may or may not have kept it: check the feed, then run again (skipExisting: true if it is there), and check the agent's network and proxy.";
  return "try again later; if it persists, check the feed URL and the agent's network.";
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
