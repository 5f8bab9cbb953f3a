/**
 * A PyPI-compatible upload endpoint on 127.0.0.1 (the contract of shared/clients/pypiUpload.ts):
 * the legacy upload form as warehouse (PyPI) and Azure Artifacts take it.
 *
 * | method | path        | answers | source |
 * |--------|-------------|---------|--------|
 * | POST   | {uploadPath} (default /org/_packaging/feed/pypi/upload/) | 200 on upload; 400 for a missing or wrong field or a sha256_digest that is not the file's; 409 (Azure Artifacts) or 400 "File already exists" (PyPI, `existsStatus: 400`) when the file is there; 401 without the Basic credentials; 403 when `denied` | warehouse `file_upload` (fields :action, protocol_version, metadata_version, name, version, filetype, pyversion, md5_digest, sha256_digest, blake2_256_digest (checked with Python's hashlib), content, and the METADATA fields twine sends, kept with every repeated value); the 409/400 texts modeled. Failure modes: `pace` (a body read slowly, or not read past some bytes and never answered), `refuse` (400 for matching file names) |
 *
 * Stops by itself after `lifetimeMs` and on `stop()`.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenLocal } from './localServer';
import { readPaced, type Pace } from './pacedBody';

export interface UploadedFile {
  fields: Record<string, string>;
  /** Every value of each field, in order (classifiers, requires_dist, project_urls repeat). */
  lists: Record<string, string[]>;
  filename: string;
  bytes: Buffer;
}

export interface PypiServer {
  url: string;
  username: string;
  password: string;
  files: Map<string, UploadedFile>;
  requests: Array<{ method: string; path: string; status: number; authorization?: string; error?: string }>;
  /** Forbid uploads (403). */
  denied: boolean;
  /** How the request bodies are read (slow, or stalled after some bytes). */
  pace: Pace;
  /** Files whose name matches are refused with 400 and this message (a feed that takes the wheel and refuses the sdist). */
  refuse?: { match: RegExp; message: string };
  seed(filename: string): void;
  /** A job token the feed accepts as a Basic password with any user name (as Azure Artifacts does). */
  acceptToken(token: string): void;
  stop(): Promise<void>;
}

/** multipart/form-data → fields and files (enough of RFC 7578 for what clients send). */
export function parseMultipart(
  body: Buffer,
  contentType: string,
): { fields: Record<string, string>; lists: Record<string, string[]>; files: Record<string, { filename: string; bytes: Buffer }> } {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!boundary) throw new Error('no multipart boundary');
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  const fields: Record<string, string> = {};
  const lists: Record<string, string[]> = {};
  const files: Record<string, { filename: string; bytes: Buffer }> = {};
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    const part = body.subarray(start + 2, next - 2); // after CRLF, before CRLF
    const headerEnd = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, headerEnd).toString('utf8');
    const content = part.subarray(headerEnd + 4);
    const name = /name="([^"]*)"/i.exec(headers)?.[1] ?? '';
    const filename = /filename="([^"]*)"/i.exec(headers)?.[1];
    if (filename !== undefined) files[name] = { filename, bytes: Buffer.from(content) };
    else {
      fields[name] = content.toString('utf8');
      (lists[name] ??= []).push(fields[name]);
    }
    at = next;
  }
  return { fields, lists, files };
}

export async function startPypiServer(
  options: { uploadPath?: string; existsStatus?: 409 | 400; lifetimeMs?: number } = {},
): Promise<PypiServer> {
  const uploadPath = options.uploadPath ?? '/org/_packaging/feed/pypi/upload/';
  const username = 'uploader';
  const password = `pypi-secret-${randomUUID()}`;
  const files = new Map<string, UploadedFile>();
  const requests: PypiServer['requests'] = [];
  const state: { denied: boolean; pace: Pace; refuse?: PypiServer['refuse'] } = { denied: false, pace: {} };
  const accepted = new Set([`Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`]);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = readPaced(req, state.pace);
    void body.then((received) => {
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      const reply = (status: number, text: string, error?: string) => {
        requests.push({ method: req.method ?? '', path, status, authorization: req.headers.authorization, ...(error ? { error } : {}) });
        res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(text);
      };
      if (req.method !== 'POST' || path !== uploadPath) return reply(404, 'Not Found');
      const auth = req.headers.authorization ?? '';
      const basic = /^Basic (.+)$/.exec(auth);
      const [user, pass] = basic ? Buffer.from(basic[1], 'base64').toString('utf8').split(':') : [];
      const ok = accepted.has(auth) || (user !== undefined && pass !== undefined && extraTokens.has(pass));
      if (!ok) return reply(401, 'Invalid or non-existent authentication information.');
      if (state.denied) return reply(403, "User 'build' lacks permission to complete this action. You need to have 'AddPackage'."); // modeled on Azure Artifacts
      let form: ReturnType<typeof parseMultipart>;
      try {
        form = parseMultipart(received, String(req.headers['content-type'] ?? ''));
      } catch (err) {
        return reply(400, `Bad multipart body: ${(err as Error).message}`);
      }
      const f = form.fields;
      const content = form.files.content;
      const need: Array<[string, boolean]> = [
        [':action', f[':action'] === 'file_upload'],
        ['protocol_version', f.protocol_version === '1'],
        ['metadata_version', !!f.metadata_version],
        ['name', !!f.name],
        ['version', !!f.version],
        ['filetype', f.filetype === 'bdist_wheel' || f.filetype === 'sdist'],
        ['pyversion', !!f.pyversion],
        ['content', !!content],
      ];
      const bad = need.find(([, good]) => !good);
      if (bad) return reply(400, `Invalid value for ${bad[0]}.`, bad[0]);
      if (f.sha256_digest !== createHash('sha256').update(content.bytes).digest('hex'))
        return reply(400, 'The digest supplied does not match a digest calculated from the uploaded file.', 'sha256_digest');
      if (f.md5_digest && f.md5_digest !== createHash('md5').update(content.bytes).digest('hex'))
        return reply(400, 'The digest supplied does not match a digest calculated from the uploaded file.', 'md5_digest');
      if (f.blake2_256_digest && f.blake2_256_digest !== blake2b256(content.bytes))
        return reply(400, 'The digest supplied does not match a digest calculated from the uploaded file.', 'blake2_256_digest');
      if (state.refuse?.match.test(content.filename)) return reply(400, state.refuse.message);
      if (files.has(content.filename)) {
        return options.existsStatus === 400
          ? reply(400, 'File already exists. See https://pypi.org/help/#file-name-reuse for more information.')
          : reply(409, `The feed already contains the file '${content.filename}' in package '${f.name} ${f.version}'.`); // modeled on Azure Artifacts
      }
      files.set(content.filename, { fields: f, lists: form.lists, filename: content.filename, bytes: content.bytes });
      return reply(200, 'OK');
    });
  };
  const extraTokens = new Set<string>();
  const { port, stop } = await listenLocal(handle, options.lifetimeMs);
  return {
    url: `http://127.0.0.1:${port}${uploadPath}`,
    username,
    password,
    files,
    requests,
    get denied() {
      return state.denied;
    },
    set denied(v: boolean) {
      state.denied = v;
    },
    get pace() {
      return state.pace;
    },
    set pace(v: Pace) {
      state.pace = v;
    },
    get refuse() {
      return state.refuse;
    },
    set refuse(v: PypiServer['refuse']) {
      state.refuse = v;
    },
    seed: (filename) => void files.set(filename, { fields: {}, lists: {}, filename, bytes: Buffer.alloc(0) }),
    acceptToken: (token: string) => void extraTokens.add(token),
    stop,
  };
}

/** BLAKE2b-256 as Python computes it (hashlib, digest_size=32): checked independently of the client's own implementation. */
function blake2b256(bytes: Buffer): string {
  return execFileSync(
    '/usr/bin/python3',
    ['-c', 'import sys, hashlib; print(hashlib.blake2b(sys.stdin.buffer.read(), digest_size=32).hexdigest())'],
    {
      input: bytes,
      maxBuffer: 1 << 20,
    },
  )
    .toString()
    .trim();
}
