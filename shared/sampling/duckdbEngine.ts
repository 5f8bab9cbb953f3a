/**
 * The DuckDB engine: one in-memory DuckDB (spilling to a temp folder) reads the source files,
 * stages each environment as files in `<target>.relevo-next`, and swaps folders only after
 * every gate of every environment passed. DuckDB itself is not in the bundle: `moduleDir` is
 * a folder whose node_modules holds `@duckdb/node-api` (the tool cache on an agent, see
 * duckdbTool.ts; the repository's node_modules in tests).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { UserError } from '../errors';
import type { SqlEngine, Row } from './engine';
import { duckdb, stagingFolder } from './sql';

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
  closeSync?(): void;
}

/** Loads `@duckdb/node-api` from a folder's node_modules (never from the bundle). */
export function loadDuckDb(moduleDir: string): DuckDbApi {
  const req = createRequire(join(moduleDir, 'relevo-duckdb-loader.js'));
  return req('@duckdb/node-api') as DuckDbApi;
}

export async function openDuckDbEngine(options: { moduleDir: string; tempDir: string; salt?: string; threads?: number; memoryLimit?: string }): Promise<SqlEngine> {
  const api = loadDuckDb(options.moduleDir);
  mkdirSync(options.tempDir, { recursive: true });
  const instance = await api.DuckDBInstance.create(':memory:', {
    threads: String(options.threads ?? 2),
    temp_directory: options.tempDir,
    ...(options.memoryLimit ? { memory_limit: options.memoryLimit } : {}),
  });
  const connection = await instance.connect();
  // The salt goes in through a bound parameter, never into SQL text.
  await connection.run('SET VARIABLE relevo_salt = $salt', { salt: options.salt ?? '' });
  const query = async (sql: string): Promise<Row[]> => {
    const reader = await connection.runAndReadAll(sql);
    return reader.getRowObjectsJson().map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null || v === undefined ? null : typeof v === 'object' ? JSON.stringify(v) : String(v)])));
  };
  return {
    dialect: duckdb,
    query,
    async prepare(envs) {
      for (const env of envs) {
        if (env.target.kind !== 'files') throw new Error('duckdb writes files');
        const target = env.target.path;
        const next = stagingFolder(target);
        const old = `${target.replace(/[\\/]+$/, '')}.relevo-old`;
        // A run that stopped between the two renames of a swap: put the old target back.
        if (!existsSync(target) && existsSync(old)) renameSync(old, target);
        rmSync(old, { recursive: true, force: true });
        if (existsSync(target)) {
          const entries = readdirSync(target);
          if (entries.length && !entries.includes(MANIFEST)) {
            throw new UserError(`environments.${env.name}.target: '${target}' holds files (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}) that RegenerateSampleData did not write (it has no ${MANIFEST}); the whole folder is replaced on every run.`, {
              input: 'configFile',
              fix: 'point the target at an empty folder of its own (or empty this one).',
            });
          }
        }
        rmSync(next, { recursive: true, force: true });
        mkdirSync(next, { recursive: true });
      }
    },
    async previousFingerprints(env) {
      if (env.target.kind !== 'files') return {};
      try {
        const manifest = JSON.parse(readFileSync(join(env.target.path, MANIFEST), 'utf8')) as { tables?: Record<string, { fingerprint?: string }> };
        return Object.fromEntries(Object.entries(manifest.tables ?? {}).flatMap(([t, v]) => (v.fingerprint ? [[t, v.fingerprint]] : [])));
      } catch {
        return {};
      }
    },
    async commit(envs, record) {
      const swapped: { target: string; old: string; hadTarget: boolean }[] = [];
      try {
        for (const env of envs) {
          if (env.target.kind !== 'files') continue;
          const target = env.target.path.replace(/[\\/]+$/, '');
          const next = stagingFolder(target);
          writeFileSync(join(next, MANIFEST), `${JSON.stringify(record(env), null, 2)}\n`);
          const old = `${target}.relevo-old`;
          const hadTarget = existsSync(target);
          if (hadTarget) renameSync(target, old);
          swapped.push({ target, old, hadTarget });
          renameSync(next, target);
        }
      } catch (err) {
        // Put back every target already swapped (newest first): the run changes nothing.
        for (const s of swapped.reverse()) {
          if (existsSync(s.target) && (s.hadTarget ? existsSync(s.old) : true)) rmSync(s.target, { recursive: true, force: true });
          if (s.hadTarget && existsSync(s.old)) renameSync(s.old, s.target);
        }
        throw err;
      }
      for (const s of swapped) rmSync(s.old, { recursive: true, force: true });
    },
    async discard(envs) {
      for (const env of envs) if (env.target.kind === 'files') rmSync(stagingFolder(env.target.path), { recursive: true, force: true });
    },
    async close() {
      connection.closeSync?.();
      instance.closeSync?.();
    },
  };
}
