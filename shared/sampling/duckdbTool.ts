/**
 * DuckDB on an agent, without putting its ~30 MB native library into the VSIX: the task takes
 * `@duckdb/node-api` from the agent's tool cache (`Agent.ToolsDirectory`), and the first time
 * on an agent downloads it there from the npm registry (the tarballs npm itself would fetch,
 * checked against the sha512 integrity pinned below, which a unit test keeps equal to
 * package-lock.json). Layout, as the agent's tool-lib lays tools out:
 *
 *   <tools>/relevo-duckdb/<version>/<platform>-<arch>/node_modules/@duckdb/{node-api,node-bindings,node-bindings-<platform>-<arch>}
 *   <tools>/relevo-duckdb/<version>/<platform>-<arch>.complete
 *
 * Only the registry is contacted (`Relevo.NpmRegistry`, default https://registry.npmjs.org);
 * a folder that already has the packages can be named instead (`Relevo.DuckDbModulePath`).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { UserError } from '../errors';
import type { Log } from '../log';
import { classifyHttpFailure, parseRetryAfter, requestSignal, seconds, withRetries, type RetryPolicy } from '../clients/http';
import { CancelledError, isCancelled } from '../processes';

export const DUCKDB_VERSION = '1.5.6-r.1';

/** The packages and their integrity, as in package-lock.json (test/unit/sampling-duckdb-tool.test.ts keeps them equal). */
export const DUCKDB_PACKAGES: Record<string, { version: string; integrity: string }> = {
  '@duckdb/node-api': {
    version: DUCKDB_VERSION,
    integrity: 'sha512-yIPol6P4EQmsAUsb27donJf7iADrM31Ei/WkvhkZpSscjhEErYsuF19lsJ/qz5mUWxsKFQpLdjvrlhPQnMTBqw==',
  },
  '@duckdb/node-bindings': {
    version: DUCKDB_VERSION,
    integrity: 'sha512-/pWlTyvKC1d16iSMJCBAPwlmzoeXRs5Y9cqG+TpKd/YAW6Ke05FJg099v/Im2bkS9BgznNyNcAK1NxA1eQhSUw==',
  },
  '@duckdb/node-bindings-darwin-arm64': {
    version: DUCKDB_VERSION,
    integrity: 'sha512-KFT/J/pyouuAD1jftAIfcWVRdorg+c/yVR/BJL8LJKrST+mYC4d7QSuQ+iXSYbFpHENUAeZUagXrMPtZT8Xzsg==',
  },
  '@duckdb/node-bindings-darwin-x64': {
    version: DUCKDB_VERSION,
    integrity: 'sha512-tVwUZNvdQoaPJhrh3q2e6jxm1MhahNHJQK/pvCyco46NX0mEuGzlw9i0n2MArgsyzccdCwScOK9ctbyr+3oMbQ==',
  },
  '@duckdb/node-bindings-linux-arm64': {
    version: DUCKDB_VERSION,
    integrity: 'sha512-3jnUaDil1BrF/6vAZwVaInJ1xoBaWGHB4PDiUnzJWKCo8a8TLx9j7/gPyPl/UGRBftrYIuTihRZSfF4mWMgtWA==',
  },
  '@duckdb/node-bindings-linux-arm64-musl': {
    version: DUCKDB_VERSION,
    integrity: 'sha512-j6dcNLWnFvlQyKMtl36HyeDsOaetXFoj0dH21Q9MbLjABNuJs5ekDV6zMSEda/g5+z1Tm6r2KFOS8j3tGUCRiw==',
  },
  '@duckdb/node-bindings-linux-x64': {
    version: DUCKDB_VERSION,
    integrity: 'sha512-IXcrZJE6kEqM0Z4wwdVnGBHX/frOS33VPNAwDXQ/Q+Fs84b058Qe94chrCCIcNJlG8Y3UHIUU4eBeCQxW5mN1Q==',
  },
  '@duckdb/node-bindings-linux-x64-musl': {
    version: DUCKDB_VERSION,
    integrity: 'sha512-PVzIEZqp7QN07WBgjmIH0cK2GKXR735KmL6wnghTzRnhHWrePxx3MjZB9zZHI8tB73wdF8luarBm4EgqSjGyVA==',
  },
  '@duckdb/node-bindings-win32-arm64': {
    version: DUCKDB_VERSION,
    integrity: 'sha512-nzNTZx9rus5QpuX+KH6UOPNeZp8yF25TxV6DiUly4RKgR5mu6xo8c7a7lS80AqxTJfJ9BwUIiqlCuYKWztRM5A==',
  },
  '@duckdb/node-bindings-win32-x64': {
    version: DUCKDB_VERSION,
    integrity: 'sha512-5Rpn5WXEG5gY/u7Keh+c4kuwG/LiE31pCP9CoCohv+u0aFensk/yRIQVW/CXuIoITky9xFhdRzaWUtAnGTYxJQ==',
  },
  'detect-libc': {
    version: '2.1.2',
    integrity: 'sha512-Btj2BOOO83o3WyH59e8MgXsxEQVcarkUOpEYrubB0urwnN10yQ364rsiByU11nZlqWYZm05i/of7io4mzihBtQ==',
  },
};

export const DEFAULT_NPM_REGISTRY = 'https://registry.npmjs.org';

/** The native package for this machine (`musl` on Alpine-like Linux). */
export function nativePackage(platform: string = process.platform, arch: string = process.arch, musl = isMusl()): string {
  const name = `@duckdb/node-bindings-${platform}-${arch}${platform === 'linux' && musl ? '-musl' : ''}`;
  if (!DUCKDB_PACKAGES[name])
    throw new UserError(`DuckDB has no build for ${platform}-${arch}${musl ? ' (musl)' : ''}.`, {
      input: 'engine',
      fix: 'run on a Linux, macOS or Windows agent on x64 or arm64, or use the databricks engine.',
    });
  return name;
}

function isMusl(): boolean {
  if (process.platform !== 'linux') return false;
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return !report?.header?.glibcVersionRuntime;
}

export function duckDbToolFolder(toolsDirectory: string): { dir: string; marker: string } {
  const base = join(toolsDirectory, 'relevo-duckdb', DUCKDB_VERSION);
  const platform = `${process.platform}-${process.arch}`;
  return { dir: join(base, platform), marker: join(base, `${platform}.complete`) };
}

export interface AcquireOptions {
  /** `Agent.ToolsDirectory`. */
  toolsDirectory?: string;
  /** A folder whose node_modules already holds @duckdb/node-api (`Relevo.DuckDbModulePath`). */
  modulePath?: string;
  registry?: string;
  fetchImpl?: typeof fetch;
  /** The retry policy's settings for the downloads (tests shorten the waits). */
  retry?: Partial<RetryPolicy>;
  log: Log;
}

/** The folder to load DuckDB from: the named one, the tool cache, or a fresh download into it. */
export async function acquireDuckDb(options: AcquireOptions): Promise<string> {
  if (options.modulePath) {
    if (!existsSync(join(options.modulePath, 'node_modules', '@duckdb', 'node-api'))) {
      throw new UserError(`'${options.modulePath}' has no node_modules/@duckdb/node-api.`, {
        input: 'engine',
        fix: 'point the variable Relevo.DuckDbModulePath at a folder where `npm install @duckdb/node-api` ran, or unset it to use the tool cache.',
      });
    }
    options.log.info(`DuckDB from ${options.modulePath} (Relevo.DuckDbModulePath).`);
    return options.modulePath;
  }
  if (!options.toolsDirectory)
    throw new UserError('the agent did not say where its tool cache is (Agent.ToolsDirectory).', {
      input: 'engine',
      fix: 'run on an Azure Pipelines agent, or set the variable Relevo.DuckDbModulePath.',
    });
  const { dir, marker } = duckDbToolFolder(options.toolsDirectory);
  if (existsSync(marker)) {
    options.log.info(`DuckDB ${DUCKDB_VERSION} from the tool cache (${dir}).`);
    return dir;
  }
  const registry = (options.registry ?? DEFAULT_NPM_REGISTRY).replace(/\/+$/, '');
  const names = ['@duckdb/node-api', '@duckdb/node-bindings', nativePackage(), 'detect-libc'];
  const started = Date.now();
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  try {
    for (const name of names) {
      const { version, integrity } = DUCKDB_PACKAGES[name];
      const url = `${registry}/${name}/-/${name.split('/').pop()}-${version}.tgz`;
      const bytes = await download(url, options.fetchImpl ?? fetch, options.retry);
      const [algorithm, expected] = [integrity.slice(0, integrity.indexOf('-')), integrity.slice(integrity.indexOf('-') + 1)];
      const actual = createHash(algorithm).update(bytes).digest('base64');
      if (actual !== expected) {
        throw new UserError(
          `the download of ${name}@${version} from ${registry} does not match its pinned integrity (${algorithm}-${actual.slice(0, 16)}…, expected ${integrity.slice(0, 23)}…); nothing was installed.`,
          {
            input: 'engine',
            fix: 'check that Relevo.NpmRegistry is the npm registry (or a faithful mirror) and that no proxy rewrites downloads.',
          },
        );
      }
      extractTarball(gunzipSync(bytes), join(partial, 'node_modules', ...name.split('/')));
    }
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dirname(dir), { recursive: true });
    renameSync(partial, dir);
    writeFileSync(marker, '');
  } catch (err) {
    rmSync(partial, { recursive: true, force: true });
    throw err;
  }
  options.log.info(`DuckDB ${DUCKDB_VERSION} downloaded from ${registry} into the tool cache (${dir}) in ${Date.now() - started} ms.`);
  return dir;
}

/** One failed download attempt, as the retry policy reads it. */
class DownloadAttemptError extends Error {
  constructor(
    message: string,
    readonly failure: { status?: number; code?: string; timedOut?: boolean; retryAfterMs?: number },
  ) {
    super(message);
    this.name = 'DownloadAttemptError';
  }
}

/** A tarball takes a while on a slow agent: one attempt may take 5 minutes. */
const DOWNLOAD_TIMEOUT_MS = 300_000;

/**
 * One tarball, through the one retry policy (shared/clients/http.ts): a GET is repeated on a
 * 429, a 5xx, a timeout or a transient network error, after the registry's Retry-After when it
 * sends one; a cancel abandons the attempt and the wait at once.
 */
export async function download(url: string, fetchImpl: typeof fetch, retry: Partial<RetryPolicy> = {}): Promise<Buffer> {
  try {
    return await withRetries(
      async (_n, cancel) => {
        let res: Response;
        try {
          res = await fetchImpl(url, { signal: requestSignal(DOWNLOAD_TIMEOUT_MS, cancel) });
        } catch (err) {
          if (cancel?.aborted) throw new CancelledError(`downloading ${url}`);
          const e = err as { name?: string; cause?: { code?: string } };
          if (e.name === 'TimeoutError' || e.name === 'AbortError')
            throw new DownloadAttemptError(`no answer within ${seconds(DOWNLOAD_TIMEOUT_MS)}`, { timedOut: true });
          throw new DownloadAttemptError(`network error ${e.cause?.code ?? (err as Error).message}`, { code: e.cause?.code });
        }
        if (res.ok) return Buffer.from(await res.arrayBuffer());
        await res.body?.cancel().catch(() => undefined);
        throw new DownloadAttemptError(`HTTP ${res.status}`, {
          status: res.status,
          retryAfterMs: parseRetryAfter(res.headers.get('retry-after') ?? undefined),
        });
      },
      (err) => (err instanceof DownloadAttemptError ? classifyHttpFailure(err.failure, true) : { retry: false }),
      { maxAttempts: 3, maxTotalMs: 15 * 60_000, timeoutMs: DOWNLOAD_TIMEOUT_MS, ...retry },
    );
  } catch (err) {
    if (err instanceof CancelledError || isCancelled())
      throw err instanceof CancelledError ? err : new CancelledError(`downloading ${url}`);
    // RetriesExhaustedError says what each attempt got.
    const reason = err instanceof Error ? err.message : String(err);
    throw new UserError(`cannot download ${url}: ${reason}.`, {
      input: 'engine',
      fix: 'let the agent reach the npm registry (or set Relevo.NpmRegistry to a mirror), or install @duckdb/node-api on the agent and set Relevo.DuckDbModulePath.',
    });
  }
}

/** Extracts an npm tarball (ustar; entries under `package/`) into `dest`. */
export function extractTarball(tar: Buffer, dest: string): void {
  let offset = 0;
  let longName: string | undefined;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const text = (start: number, length: number) =>
      header
        .subarray(start, start + length)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const size = parseInt(text(124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] || 48);
    const prefix = text(345, 155);
    let name = longName ?? (prefix ? `${prefix}/${text(0, 100)}` : text(0, 100));
    longName = undefined;
    const body = tar.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      const path = /\d+ path=([^\n]*)\n/.exec(body.toString('utf8'));
      if (path) longName = path[1];
      continue;
    }
    if (type === 'L') {
      longName = body.toString('utf8').replace(/\0.*$/s, '');
      continue;
    }
    if (type !== '0' && type !== '\0' && type !== '5') continue;
    name = name.replace(/^[^/]+\//, '');
    const target = normalize(join(dest, name));
    if (!target.startsWith(normalize(dest) + sep)) throw new Error(`tarball entry '${name}' leaves its folder`);
    if (type === '5') mkdirSync(target, { recursive: true });
    else {
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, body, { mode: parseInt(text(100, 8).trim() || '644', 8) & 0o777 });
    }
  }
}
