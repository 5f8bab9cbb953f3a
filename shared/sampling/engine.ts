/**
 * What the sampler needs from an engine: run one SQL statement, read a small result, and put
 * staged environments in place. The DuckDB engine works on files; the Databricks engine on
 * Unity Catalog tables through the Statement Execution API. Neither is in the core's import
 * graph: the task loads the one it uses.
 *
 * Every change an engine makes to a target (the staging it builds, each swap) is registered
 * with the run's undo journal (shared/undo.ts) before it is made; a failure or a cancellation
 * unwinds it there, so neither the engine nor the sampler rolls back by itself.
 */
import type { EnvironmentPlan } from './plan';
import type { Dialect } from './sql';

export type Row = Record<string, string | null>;

export interface SqlEngine {
  readonly dialect: Dialect;
  /** This run's tag (8 hex digits of its lock's run id): its staging folders and tables carry it, so no two runs share one. */
  readonly runTag: string;
  /** Runs one statement and returns its rows (values as text, NULL as null). Refuses (CancelledError) once the run is cancelled. */
  query(sql: string): Promise<Row[]>;
  /**
   * Makes the environments' targets ready for staging: puts back what a run stopped beyond the
   * agent's grace left, refuses targets it must not replace, and registers the removal of the
   * staging it is about to build.
   */
  prepare(envs: EnvironmentPlan[]): Promise<void>;
  /** The schema fingerprints recorded by the previous run of an environment (table → fingerprint). */
  previousFingerprints(env: EnvironmentPlan): Promise<Record<string, string>>;
  /**
   * Swaps every staged environment in, recording fingerprints: each swap registered before it
   * is made; once every one is in, the new data is marked landed and the previous data removed.
   */
  commit(envs: EnvironmentPlan[], record: (env: EnvironmentPlan) => Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}
