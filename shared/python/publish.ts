/**
 * Where a built wheel goes, as a plan (data) and its execution: a pipeline artifact, a
 * PyPI-compatible feed, a Databricks volume (then cluster libraries, polled until INSTALLED or
 * FAILED), and a cluster init script that installs exactly this version. Each step says what it
 * did; a failure names what was already done before it, so nothing half-done is reported as
 * done.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { isUserError, UserError } from '../errors';
import type { Log } from '../log';
import type { DatabricksClient, LibraryStatus } from '../clients/databricks';
import type { Distribution, UploadOutcome, UploadTarget } from '../clients/pypiUpload';
import type { BuildResult } from './build';

export interface PublishPlan {
  artifactName?: string;
  feed?: { url: string; username: string; password: string; skipExisting: boolean; via: string };
  databricks?: {
    volumePath: string;
    clusterIds: string[];
    restartClusters: boolean;
    timeoutMs: number;
    pollMs: number;
  };
  initScript: boolean;
}

export interface PublishDeps {
  uploadArtifact(name: string, folder: string): void;
  upload(target: UploadTarget, d: Distribution): Promise<UploadOutcome>;
  databricks?: () => Promise<DatabricksClient>;
  log: Log;
  sleep?: (ms: number) => Promise<void>;
  /** Told about each place a file went, as soon as it is there (so a later failure can still report it). */
  onUploaded?: (to: string) => void;
}

export type ClusterOutcome =
  | 'installed'
  | 'failed'
  /** the same wheel was already installed on the running cluster: it keeps what it loaded */
  | 'already-installed'
  /** restarted, then installed */
  | 'restarted'
  /** the cluster is not running: installs when it starts */
  | 'on-start'
  | 'timeout';

export interface ClusterReport {
  clusterId: string;
  name?: string;
  outcome: ClusterOutcome;
  messages: string[];
}

export interface PublishResult {
  /** Every place the files went, in order: `artifact:<name>`, feed URLs, volume paths. */
  uploadedTo: string[];
  feed: Array<{ file: string; status: 'uploaded' | 'skipped' }>;
  clusters: ClusterReport[];
  initScriptPath?: string;
  initScriptRemote?: string;
}

/** The index pip reads for a feed's upload URL, when it can be told. */
export function indexUrlFor(feedUrl: string): string | undefined {
  if (/\/pypi\/upload\/?$/i.test(feedUrl)) return feedUrl.replace(/\/pypi\/upload\/?$/i, '/pypi/simple/');
  const u = new URL(feedUrl);
  if (u.host === 'upload.pypi.org') return 'https://pypi.org/simple/';
  if (u.host === 'test.pypi.org' && u.pathname.startsWith('/legacy')) return 'https://test.pypi.org/simple/';
  return undefined;
}

/**
 * A cluster init script that installs exactly `name==version` from the feed's index (or the
 * wheel at its volume path when there is no index). The index can be overridden on the
 * cluster with RELEVO_INDEX_URL (e.g. from a secret: `{{secrets/libs/feed-url}}`): no
 * credential is ever written into the script.
 */
export function initScriptText(o: { name: string; version: string; indexUrl?: string; wheelRemotePath?: string; buildNumber?: string }): string {
  const lines = ['#!/bin/bash', `# Installs ${o.name}==${o.version} at cluster start. Written by Relevo BuildWheel${o.buildNumber ? ` (build ${o.buildNumber})` : ''}.`, 'set -euo pipefail'];
  if (o.indexUrl) {
    lines.push(`# The index may need credentials: set RELEVO_INDEX_URL on the cluster from a secret, e.g. RELEVO_INDEX_URL={{secrets/libs/feed-url}}.`);
    lines.push(`INDEX_URL="\${RELEVO_INDEX_URL:-${o.indexUrl}}"`);
    lines.push(`/databricks/python/bin/pip install --quiet --disable-pip-version-check --index-url "$INDEX_URL" '${o.name}==${o.version}'`);
  } else if (o.wheelRemotePath) {
    lines.push(`/databricks/python/bin/pip install --quiet --disable-pip-version-check '${o.wheelRemotePath}'`);
  }
  return lines.join('\n') + '\n';
}

function distributions(build: BuildResult): Distribution[] {
  const w = build.wheel;
  const out: Distribution[] = [{ path: build.wheelPath, bytes: readFileSync(build.wheelPath), name: w.name, version: w.version, filetype: 'bdist_wheel', pyversion: w.fileName.python, metadataVersion: w.metadataVersion }];
  if (build.sdistPath) out.push({ path: build.sdistPath, bytes: readFileSync(build.sdistPath), name: w.name, version: w.version, filetype: 'sdist', pyversion: 'source', metadataVersion: w.metadataVersion });
  return out;
}

export async function publish(build: BuildResult, plan: PublishPlan, deps: PublishDeps, context: { outputDirectory: string; buildNumber?: string }): Promise<PublishResult> {
  const result: PublishResult = { uploadedTo: [], feed: [], clusters: [] };
  const done = (to: string) => {
    result.uploadedTo.push(to);
    deps.onUploaded?.(to);
  };
  const log = deps.log;
  const wheelName = basename(build.wheelPath);
  const remoteWheel = plan.databricks ? `${plan.databricks.volumePath.replace(/\/+$/, '')}/${wheelName}` : undefined;
  try {
    if (plan.initScript) {
      const name = `install-${build.wheel.name}-${build.wheel.version}.sh`;
      result.initScriptPath = join(context.outputDirectory, name);
      writeFileSync(result.initScriptPath, initScriptText({ name: build.wheel.name, version: build.wheel.version, indexUrl: plan.feed ? indexUrlFor(plan.feed.url) : undefined, wheelRemotePath: remoteWheel, buildNumber: context.buildNumber }), { mode: 0o755 });
      log.info(`Init script written: ${result.initScriptPath}`);
    }
    if (plan.artifactName) {
      deps.uploadArtifact(plan.artifactName, context.outputDirectory);
      done(`artifact:${plan.artifactName}`);
      log.info(`Artifact '${plan.artifactName}': ${context.outputDirectory}`);
    }
    if (plan.feed) {
      for (const d of distributions(build)) {
        const outcome = await deps.upload({ url: plan.feed.url, username: plan.feed.username, password: plan.feed.password }, d);
        if (outcome.status === 'exists') {
          if (!plan.feed.skipExisting) {
            throw new UserError(`${basename(d.path)} is already in the feed (HTTP ${outcome.httpStatus}: ${outcome.message}); a published version cannot be replaced.`, {
              input: 'skipExisting',
              fix: 'build a new version (VersionBump), or set skipExisting: true to go on when the file is there already.',
            });
          }
          log.info(`Feed: ${basename(d.path)} is already there (HTTP ${outcome.httpStatus}), skipped (skipExisting).`);
          result.feed.push({ file: basename(d.path), status: 'skipped' });
        } else {
          log.info(`Feed: ${basename(d.path)} uploaded to ${plan.feed.url} (${plan.feed.via}).`);
          result.feed.push({ file: basename(d.path), status: 'uploaded' });
        }
      }
      done(plan.feed.url);
    }
    if (plan.databricks && deps.databricks) {
      const db = plan.databricks;
      const client = await deps.databricks();
      await client.createDirectory(db.volumePath);
      await client.uploadFile(remoteWheel!, readFileSync(build.wheelPath), { overwrite: true });
      done(remoteWheel!);
      log.info(`Databricks: ${wheelName} uploaded to ${remoteWheel} (${client.host}).`);
      if (result.initScriptPath) {
        result.initScriptRemote = `${db.volumePath.replace(/\/+$/, '')}/${basename(result.initScriptPath)}`;
        await client.uploadFile(result.initScriptRemote, readFileSync(result.initScriptPath), { overwrite: true });
        done(result.initScriptRemote);
        log.info(`Databricks: init script uploaded to ${result.initScriptRemote} (cluster → Advanced options → Init scripts → Volumes).`);
      }
      if (db.clusterIds.length) {
        result.clusters = await Promise.all(db.clusterIds.map((id) => installOnCluster(client, id, remoteWheel!, db, deps)));
        for (const c of result.clusters) log.info(`Cluster ${c.clusterId}${c.name ? ` (${c.name})` : ''}: ${describeOutcome(c.outcome)}${c.messages.length ? ` — ${c.messages.join(' | ')}` : ''}`);
        const bad = result.clusters.filter((c) => c.outcome === 'failed' || c.outcome === 'timeout');
        if (bad.length) {
          throw new UserError(`the library did not install on ${bad.map((c) => `cluster ${c.clusterId} (${c.outcome === 'failed' ? `FAILED: ${c.messages.join(' | ') || 'no message'}` : `not done after ${Math.round(db.timeoutMs / 1000)} s`})`).join(', ')}.`, {
            input: 'clusterIds',
            fix: bad.some((c) => c.outcome === 'failed')
              ? "read Databricks' message above (often a dependency pip cannot resolve on the cluster, or a Python version the wheel does not support); fix it and build again."
              : 'raise installTimeoutMinutes, or check the cluster in the Databricks UI (Libraries tab).',
          });
        }
        for (const c of result.clusters.filter((x) => x.outcome === 'already-installed')) {
          log.warn(`Cluster ${c.clusterId} already had ${wheelName} installed: installing the same version again does nothing on a running cluster (it keeps the files it loaded). Set restartClusters: true to restart it and load the new file, or build a new version.`);
        }
      }
    }
    return result;
  } catch (err) {
    if (!result.uploadedTo.length) throw err;
    const already = `Already done before this failure: ${result.uploadedTo.join(', ')}.`;
    if (isUserError(err)) throw new UserError(`${err.message} ${already}`, { cause: err });
    throw err;
  }
}

function describeOutcome(o: ClusterOutcome): string {
  switch (o) {
    case 'installed':
      return 'INSTALLED';
    case 'restarted':
      return 'restarted, INSTALLED';
    case 'failed':
      return 'FAILED';
    case 'already-installed':
      return 'already installed (same version; nothing changes on a running cluster)';
    case 'on-start':
      return 'not running: the library installs when the cluster starts';
    case 'timeout':
      return 'still installing at the timeout';
  }
}

function statusOf(statuses: LibraryStatus[], whl: string): LibraryStatus | undefined {
  return statuses.find((s) => 'whl' in s.library && s.library.whl === whl);
}

async function installOnCluster(client: DatabricksClient, clusterId: string, whl: string, db: NonNullable<PublishPlan['databricks']>, deps: PublishDeps): Promise<ClusterReport> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const started = Date.now();
  const cluster = await client.cluster(clusterId);
  const already = statusOf(await client.libraryStatuses(clusterId), whl)?.status === 'INSTALLED';
  await client.installLibraries(clusterId, [{ whl }]);
  const report = (outcome: ClusterOutcome, messages: string[] = []): ClusterReport => ({ clusterId, name: cluster.name, outcome, messages });
  if (cluster.state !== 'RUNNING' && cluster.state !== 'RESTARTING' && cluster.state !== 'RESIZING') return report('on-start', cluster.stateMessage ? [`${cluster.state}: ${cluster.stateMessage}`] : [cluster.state]);
  let restarted = false;
  if (already) {
    if (!db.restartClusters) return report('already-installed');
    deps.log.info(`Cluster ${clusterId}: restarting to load the new file of the same version (restartClusters).`);
    await client.restartCluster(clusterId);
    restarted = true;
    for (;;) {
      await sleep(db.pollMs);
      const c = await client.cluster(clusterId);
      if (c.state === 'RUNNING') break;
      if (c.state === 'TERMINATED' || c.state === 'ERROR') return report('failed', [`the cluster went ${c.state} while restarting${c.stateMessage ? `: ${c.stateMessage}` : ''}`]);
      if (Date.now() - started > db.timeoutMs) return report('timeout', [`the cluster was still ${c.state}`]);
    }
  }
  for (;;) {
    const s = statusOf(await client.libraryStatuses(clusterId), whl);
    if (s?.status === 'INSTALLED') return report(restarted ? 'restarted' : 'installed');
    if (s?.status === 'FAILED') return report('failed', s.messages);
    if (Date.now() - started > db.timeoutMs) return report('timeout', [`last status ${s?.status ?? 'none'}`]);
    await sleep(db.pollMs);
  }
}
