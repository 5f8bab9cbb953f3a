/**
 * The DuckDB engine: one in-memory DuckDB (spilling to a temp folder) reads the source files,
 * stages each environment as files in `<target>.relevo-next-<run tag>`, and swaps folders only after
 * every gate of every environment passed. DuckDB itself is not in the bundle: `moduleDir` is
 * a folder whose node_modules holds `@duckdb/node-api` (the tool cache on an agent, see
 * duckdbTool.ts; the repository's node_modules in tests).
 *
 * Undo (shared/undo.ts): each staging folder is registered before it is made, each folder
 * swap before its first rename; the put-back looks at what is there once the operation under
 * way has ended. DuckDB runs in this process on its own threads: a cancellation interrupts the
 * statement under way (`DuckDBConnection.interrupt`) and no statement starts after it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../errors';
import { quoteForeign } from '../output';
import { cancelSignal } from '../processes';
import { journal as runJournal, type UndoJournal } from '../undo';
import type { SqlEngine, Row } from './engine';
import { InFlight, refuseIfCancelled } from './inflight';
import { lockFile, newHolder, releaseFileLock, runTag, takeFileLock } from './lock';
import { duckdb, STAGING_NAME, stagingFolder } from './sql';

/** The manifest a file target carries: it marks the folder as ours and records the last run. */
export const MANIFEST = '.relevo-sample.json';

interface DuckDbApi {
  DuckDBInstance: { create(path: string, options?: Record<string, string>): Promise<DuckDbInstance> };
}
interface DuckDbInstance {
  connect(): Promise<DuckDbConnection>;
  closeSync?(): void;
}
interface DuckDbConnection {
  run(sql: string, values?: Record<string, unknown>): Promise<unknown>;
  runAndReadAll(sql: string): Promise<{ getRowObjectsJson(): Record<string, unknown>[] }>;
  /** Stops the statement under way (it then fails with "INTERRUPT Error"). */
  interrupt?(): void;
  closeSync?(): void;
}

/** How long an undo step waits for the statement or rename under way before it looks (the agent's grace is 7.5 s). */
const SETTLE_MS = 3000;

/** Loads `@duckdb/node-api` from a folder's node_modules (never from the bundle). */
export function loadDuckDb(moduleDir: string): DuckDbApi {
  const req = createRequire(join(moduleDir, 'relevo-duckdb-loader.js'));
  return req('@duckdb/node-api') as DuckDbApi;
}

export async function openDuckDbEngine(options: {
  moduleDir: string;
  tempDir: string;
  salt?: string;
  threads?: number;
  memoryLimit?: string;
  journal?: UndoJournal;
  /** Told about a stale lock this run took over. */
  warn?: (message: string) => void;
}): Promise<SqlEngine> {
  const journal = options.journal ?? runJournal;
  const api = loadDuckDb(options.moduleDir);
  mkdirSync(options.tempDir, { recursive: true });
  const instance = await api.DuckDBInstance.create(':memory:', {
    threads: String(options.threads ?? 2),
    temp_directory: options.tempDir,
    ...(options.memoryLimit ? { memory_limit: options.memoryLimit } : {}),
  });
  const connection = await instance.connect();
  // A cancel stops the statement under way at once: the undo does not wait for a long COPY.
  const interrupt = () => connection.interrupt?.();
  cancelSignal.addEventListener('abort', interrupt, { once: true });
  const inFlight = new InFlight();
  // The salt goes in through a bound parameter, never into SQL text.
  await connection.run('SET VARIABLE relevo_salt = $salt', { salt: options.salt ?? '' });
  const query = async (sql: string): Promise<Row[]> => {
    const reader = await inFlight.run('running SQL', () => connection.runAndReadAll(sql));
    return reader
      .getRowObjectsJson()
      .map((r) =>
        Object.fromEntries(
          Object.entries(r).map(([k, v]) => [
            k,
            v === null || v === undefined ? null : typeof v === 'object' ? JSON.stringify(v) : String(v),
          ]),
        ),
      );
  };
  const holder = newHolder();
  const tag = runTag(holder);
  const folders = (path: string) => {
    const target = path.replace(/[\\/]+$/, '');
    return { target, next: stagingFolder(target, tag), old: `${target}.relevo-old` };
  };
  const locked: string[] = [];
  const releaseLocks = () => {
    for (const target of locked.splice(0)) releaseFileLock(target, holder);
  };
  return {
    dialect: duckdb,
    runTag: tag,
    query,
    async prepare(envs) {
      // One run per target: every lock is taken before anything is looked at, repaired or staged.
      for (const env of envs) {
        if (env.target.kind !== 'files') throw new Error('duckdb writes files');
        const { target } = folders(env.target.path);
        mkdirSync(dirname(target), { recursive: true });
        // Registered first, so it unwinds last: the lock is held until everything else is put back.
        journal.register(`the lock ${quoteForeign(lockFile(target))} (released)`, () => releaseFileLock(target, holder));
        takeFileLock(target, holder, `environments.${env.name}.target`, (previous) =>
          options.warn?.(`took over the stale lock on ${quoteForeign(target)} (${quoteForeign(previous)}: its process is gone).`),
        );
        locked.push(target);
      }
      for (const env of envs) {
        if (env.target.kind !== 'files') throw new Error('duckdb writes files');
        const { target, next, old } = folders(env.target.path);
        // A run killed between the two renames of a swap (beyond the agent's grace): the
        // previous target is only under .relevo-old. Putting it back is a repair, kept.
        if (!existsSync(target) && existsSync(old)) renameSync(old, target);
        // With the target in place, a .relevo-old is the previous data a finished swap did not get to remove.
        rmSync(old, { recursive: true, force: true });
        // Staging folders of earlier runs (killed beyond the grace): with the lock ours, none is in use.
        for (const name of readdirSync(dirname(target))) {
          if (STAGING_NAME.exec(name)?.[1] === basename(target) && name !== basename(next))
            rmSync(join(dirname(target), name), { recursive: true, force: true });
        }
        if (existsSync(target)) {
          const entries = readdirSync(target);
          if (entries.length && !entries.includes(MANIFEST)) {
            const shown = entries.slice(0, 3).map(quoteForeign).join(', ');
            throw new UserError(
              `environments.${env.name}.target: '${quoteForeign(target)}' holds files (${shown}${entries.length > 3 ? ', …' : ''}) that RegenerateSampleData did not write (it has no ${MANIFEST}); the whole folder is replaced on every run.`,
              {
                input: 'configFile',
                fix: 'point the target at an empty folder of its own (or empty this one).',
              },
            );
          }
        }
        journal.register(`the staging folder ${quoteForeign(next)} (removed)`, async () => {
          // A COPY still writing into it ends first (interrupted), so nothing lands after the removal.
          await inFlight.settled(SETTLE_MS);
          rmSync(next, { recursive: true, force: true });
        });
        rmSync(next, { recursive: true, force: true });
        mkdirSync(next, { recursive: true });
      }
    },
    async previousFingerprints(env) {
      if (env.target.kind !== 'files') return {};
      try {
        const manifest = JSON.parse(readFileSync(join(env.target.path, MANIFEST), 'utf8')) as {
          tables?: Record<string, { fingerprint?: string }>;
        };
        return Object.fromEntries(Object.entries(manifest.tables ?? {}).flatMap(([t, v]) => (v.fingerprint ? [[t, v.fingerprint]] : [])));
      } catch {
        return {};
      }
    },
    async commit(envs, record) {
      const swapped: { target: string; old: string }[] = [];
      for (const env of envs) {
        if (env.target.kind !== 'files') continue;
        const { target, next, old } = folders(env.target.path);
        await inFlight.run('swapping in the environments', () =>
          writeFile(join(next, MANIFEST), `${JSON.stringify(record(env), null, 2)}\n`),
        );
        // Known before the swap: whether there was a previous folder to put back.
        const hadTarget = existsSync(target);
        journal.register(`the folder ${quoteForeign(target)}`, async () => {
          await inFlight.settled(SETTLE_MS);
          putBack({ target, next, old }, hadTarget);
        });
        if (hadTarget) await inFlight.run('swapping in the environments', () => rename(target, old));
        await inFlight.run('swapping in the environments', () => rename(next, target));
        swapped.push({ target, old });
      }
      // A cancel that came during the last rename still puts everything back.
      refuseIfCancelled('swapping in the environments');
      journal.landed(`the new sample data in ${swapped.map((s) => quoteForeign(s.target)).join(', ')}`);
      // The previous data is no longer needed; what is not removed now, the next run removes.
      for (const s of swapped) await rm(s.old, { recursive: true, force: true }).catch(() => undefined);
      releaseLocks();
    },
    async close() {
      cancelSignal.removeEventListener('abort', interrupt);
      connection.closeSync?.();
      instance.closeSync?.();
    },
  };
}

/**
 * Puts a target folder back from what is there now, knowing only whether it existed before the
 * swap: the previous folder under .relevo-old takes its name again, and a new folder in its
 * place goes back to staging (removed with it). A swap that never started changes nothing.
 */
function putBack(f: { target: string; next: string; old: string }, hadTarget: boolean): void {
  const moveAside = () => (existsSync(f.next) ? rmSync(f.target, { recursive: true, force: true }) : renameSync(f.target, f.next));
  if (hadTarget) {
    if (!existsSync(f.old)) return;
    if (existsSync(f.target)) moveAside();
    renameSync(f.old, f.target);
  } else if (existsSync(f.target) && !existsSync(f.next)) moveAside();
}
