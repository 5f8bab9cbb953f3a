/**
 * Every Databricks cluster and library state, and what BuildWheel does with it: one table per
 * enum, typed over the SDK's members (shared/clients/databricks.ts LIBRARY_STATES,
 * CLUSTER_STATES), so a member added there does not compile until it is decided here. The
 * outcomes of an install are one table too: the log line, the Summary cell, whether it fails
 * the run. States Databricks sends that the SDK does not define are refused (clusters) or
 * waited on and quoted (libraries), never guessed.
 */
import type { ClusterState, LibraryState, UnknownState } from '../clients/databricks';

export type ClusterOutcome =
  | 'installed'
  /** restarted (restartClusters), then installed */
  | 'restarted'
  | 'failed'
  /** Databricks will not install it (SKIPPED) */
  | 'skipped'
  /** marked for removal (UNINSTALL_ON_RESTART) while this run waited */
  | 'removed'
  /** the same wheel was already installed on the running cluster: it keeps what it loaded */
  | 'already-installed'
  /** the cluster is not running: installs when it starts */
  | 'on-start'
  | 'timeout'
  /** a call to Databricks for this cluster failed */
  | 'error'
  /** refused while planning (unknown id, a state nothing can be installed in) */
  | 'refused'
  /** planned, but nothing was installed: another cluster was refused */
  | 'not-installed';

export const OUTCOMES: Record<ClusterOutcome, { ok: boolean; log: string; summary: string }> = {
  installed: { ok: true, log: 'INSTALLED', summary: '✅ INSTALLED' },
  restarted: { ok: true, log: 'restarted, INSTALLED', summary: '✅ restarted, INSTALLED' },
  failed: { ok: false, log: 'FAILED', summary: '❌ FAILED' },
  skipped: { ok: false, log: 'SKIPPED (Databricks will not install it)', summary: '❌ SKIPPED: Databricks will not install it' },
  removed: {
    ok: false,
    log: 'UNINSTALL_ON_RESTART (marked for removal while Relevo waited)',
    summary: '❌ UNINSTALL_ON_RESTART: marked for removal while Relevo waited',
  },
  'already-installed': {
    ok: true,
    log: 'already installed (same version; nothing changes on a running cluster)',
    summary: '⚠️ already installed (same version: a running cluster keeps what it loaded; restartClusters: true reloads it)',
  },
  'on-start': {
    ok: true,
    log: 'not running: the library installs when the cluster starts',
    summary: '⏸ not running: installs when it starts',
  },
  timeout: { ok: false, log: 'still installing at the timeout', summary: '❌ still installing at the timeout' },
  error: { ok: false, log: 'a call to Databricks failed', summary: '❌ a call to Databricks failed' },
  refused: { ok: false, log: 'refused before anything was installed', summary: '❌ refused before anything was installed' },
  'not-installed': {
    ok: true,
    log: 'nothing installed (another cluster was refused)',
    summary: '⏹ nothing installed (another cluster was refused)',
  },
};

/**
 * A library state as read while waiting after this run's install (`then`), and what a state
 * listed before the install means (`loaded`: the cluster runs that file already; `ours`: undoing
 * this run uninstalls it, since it was not the cluster's before or was marked for removal).
 */
export const LIBRARY_STATE: Record<
  LibraryState,
  {
    then: 'wait' | Extract<ClusterOutcome, 'installed' | 'failed' | 'skipped' | 'removed'>;
    loaded: boolean;
    ours: boolean;
    meaning: string;
  }
> = {
  PENDING: { then: 'wait', loaded: false, ours: false, meaning: 'nothing done yet' },
  RESOLVING: { then: 'wait', loaded: false, ours: false, meaning: 'what the install needs is being fetched' },
  INSTALLING: { then: 'wait', loaded: false, ours: false, meaning: 'being installed' },
  INSTALLED: { then: 'installed', loaded: true, ours: false, meaning: 'installed' },
  RESTORED: { then: 'installed', loaded: true, ours: false, meaning: 'installed again when the cluster restarted' },
  FAILED: { then: 'failed', loaded: false, ours: false, meaning: "the install failed (Databricks' message is quoted)" },
  SKIPPED: {
    then: 'skipped',
    loaded: false,
    ours: false,
    meaning: 'Databricks will not install it, e.g. a conflicting library (its message is quoted)',
  },
  UNINSTALL_ON_RESTART: {
    then: 'removed',
    loaded: true,
    ours: true,
    meaning: 'marked for removal: the cluster drops it at its next restart',
  },
};

/** What a cluster in this state gets: the install and a wait, the install for its next start, or a refusal before anything is installed. */
export const CLUSTER_STATE: Record<ClusterState, { plan: 'install-and-wait' | 'install-on-start' | 'refuse'; meaning: string }> = {
  RUNNING: { plan: 'install-and-wait', meaning: 'running' },
  RESIZING: { plan: 'install-and-wait', meaning: 'running, adding or removing workers' },
  RESTARTING: { plan: 'install-and-wait', meaning: 'restarting: libraries install when it runs again' },
  PENDING: { plan: 'install-and-wait', meaning: 'starting: libraries install as it starts' },
  TERMINATED: { plan: 'install-on-start', meaning: 'stopped: libraries install when it next starts' },
  TERMINATING: { plan: 'install-on-start', meaning: 'stopping: libraries install when it next starts' },
  ERROR: { plan: 'refuse', meaning: 'in ERROR: nothing can be installed until it is fixed' },
  UNKNOWN: { plan: 'refuse', meaning: 'in a state Databricks reports as UNKNOWN' },
};

export function libraryRule(state: LibraryState | UnknownState): (typeof LIBRARY_STATE)[LibraryState] {
  return typeof state === 'string'
    ? LIBRARY_STATE[state]
    : { then: 'wait', loaded: false, ours: false, meaning: `${state.unknown}, a state the Databricks SDK does not define` };
}

export function clusterRule(state: ClusterState | UnknownState): (typeof CLUSTER_STATE)[ClusterState] {
  return typeof state === 'string'
    ? CLUSTER_STATE[state]
    : { plan: 'refuse', meaning: `in ${state.unknown}, a state the Databricks SDK does not define` };
}
