/**
 * What the sampler needs from an engine: run one SQL statement, read a small result, and put
 * staged environments in place (or throw them away). The DuckDB engine works on files; the
 * Databricks engine on Unity Catalog tables through the Statement Execution API. Neither is in
 * the core's import graph: the task loads the one it uses.
 */
import type { EnvironmentPlan } from './plan';
import type { Dialect } from './sql';

export type Row = Record<string, string | null>;

export interface SqlEngine {
  readonly dialect: Dialect;
  /** Runs one statement and returns its rows (values as text, NULL as null). */
  query(sql: string): Promise<Row[]>;
  /** Makes the environments' targets ready for staging (e.g. a clean staging folder); refuses targets it must not replace. */
  prepare(envs: EnvironmentPlan[]): Promise<void>;
  /** The schema fingerprints recorded by the previous run of an environment (table → fingerprint). */
  previousFingerprints(env: EnvironmentPlan): Promise<Record<string, string>>;
  /** Swaps every staged environment in, recording fingerprints; all or nothing as far as the store allows. */
  commit(envs: EnvironmentPlan[], record: (env: EnvironmentPlan) => Record<string, unknown>): Promise<void>;
  /** Removes whatever was staged; the targets stay as they were. */
  discard(envs: EnvironmentPlan[]): Promise<void>;
  close(): Promise<void>;
}
