/**
 * Where a built wheel goes, as a plan (data) and its execution: a pipeline artifact, a
 * PyPI-compatible feed, a Databricks volume (then cluster libraries, polled until INSTALLED or
 * FAILED), and a cluster init script that installs exactly this version.
 *
 * Every change is registered with the run's undo journal before it is made. What cannot be
 * taken back once it is there lands for good, and is marked so (`journal.landed`): the artifact
 * (the agent uploads the folder), each file the feed accepted (a feed does not give a version
 * back). What can be taken back is put back by the journal on a failure or a cancel: a folder
 * this run made on the volume (deleted), each file it wrote there (deleted, or its previous bytes
 * written back), each cluster library it installed (uninstalled: a running cluster drops it at
 * its next restart). Once the volume and every cluster are done, that lands too. So a failed or
 * cancelled run leaves the workspace as it was, or finished, and its last lines say which.
 */
import { chmodSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../errors';
import { FileChanges } from '../files';
import { quoteForeign } from '../output';
import { journal } from '../undo';
import type { Log } from '../log';
import { DatabricksError, stateName, type ClusterInfo, type DatabricksClient, type LibraryStatus } from '../clients/databricks';
import { waitUnlessCancelled } from '../clients/http';
import { UploadError, type Distribution, type UploadOutcome, type UploadTarget } from '../clients/pypiUpload';
import type { BuildResult } from './build';
import { readZip } from './wheel';
import { clusterRule, libraryRule, OUTCOMES, type ClusterOutcome } from './clusterStates';

export interface PublishPlan {
  artifactName?: string;
  feed?: {
    url: string;
    username: string;
    password: string;
    skipExisting: boolean;
    via: string;
    /** No bytes moved for this long: the upload is stalled (default 60 s). */
    stallMs?: number;
  };
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
}

export type { ClusterOutcome };

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
export function initScriptText(o: {
  name: string;
  version: string;
  indexUrl?: string;
  wheelRemotePath?: string;
  buildNumber?: string;
}): string {
  const lines = [
    '#!/bin/bash',
    `# Installs ${o.name}==${o.version} at cluster start. Written by Relevo BuildWheel${o.buildNumber ? ` (build ${o.buildNumber})` : ''}.`,
    'set -euo pipefail',
  ];
  if (o.indexUrl) {
    lines.push(
      `# The index may need credentials: set RELEVO_INDEX_URL on the cluster from a secret, e.g. RELEVO_INDEX_URL={{secrets/libs/feed-url}}.`,
    );
    lines.push(`INDEX_URL="\${RELEVO_INDEX_URL:-${o.indexUrl}}"`);
    lines.push(`/databricks/python/bin/pip install --quiet --disable-pip-version-check --index-url "$INDEX_URL" '${o.name}==${o.version}'`);
  } else if (o.wheelRemotePath) {
    lines.push(`/databricks/python/bin/pip install --quiet --disable-pip-version-check '${o.wheelRemotePath}'`);
  }
  return lines.join('\n') + '\n';
}

function distributions(build: BuildResult): Distribution[] {
  const w = build.wheel;
  // The wheel's METADATA goes into the form of both files (an sdist's PKG-INFO holds the same fields).
  const metadata = readZip(readFileSync(build.wheelPath))
    .find((e) => /^[^/]+\.dist-info\/METADATA$/.test(e.name))
    ?.data.toString('utf8');
  const out: Distribution[] = [
    {
      path: build.wheelPath,
      bytes: readFileSync(build.wheelPath),
      name: w.name,
      version: w.version,
      filetype: 'bdist_wheel',
      pyversion: w.fileName.python,
      metadataVersion: w.metadataVersion,
      metadata,
    },
  ];
  if (build.sdistPath)
    out.push({
      path: build.sdistPath,
      bytes: readFileSync(build.sdistPath),
      name: w.name,
      version: w.version,
      filetype: 'sdist',
      pyversion: 'source',
      metadataVersion: w.metadataVersion,
      metadata,
    });
  return out;
}

export async function publish(
  build: BuildResult,
  plan: PublishPlan,
  deps: PublishDeps,
  context: { outputDirectory: string; buildNumber?: string },
  /** Filled as things happen, so a failure can still report what was done (the Summary). */
  result: PublishResult = { uploadedTo: [], feed: [], clusters: [] },
): Promise<PublishResult> {
  const done = (to: string) => {
    result.uploadedTo.push(to);
  };
  const log = deps.log;
  const wheelName = basename(build.wheelPath);
  const remoteWheel = plan.databricks ? `${plan.databricks.volumePath.replace(/\/+$/, '')}/${wheelName}` : undefined;
  // Every cluster is read and judged before anything goes anywhere: an unknown id or a cluster
  // nothing can be installed on fails the run before the artifact, the feed or the volume.
  const client = plan.databricks && deps.databricks ? await deps.databricks() : undefined;
  const planned =
    client && plan.databricks?.clusterIds.length ? await planClusters(client, plan.databricks.clusterIds, remoteWheel!, result) : [];
  if (plan.initScript) {
    const name = `install-${build.wheel.name}-${build.wheel.version}.sh`;
    result.initScriptPath = join(context.outputDirectory, name);
    new FileChanges().write(
      result.initScriptPath,
      Buffer.from(
        initScriptText({
          name: build.wheel.name,
          version: build.wheel.version,
          indexUrl: plan.feed ? indexUrlFor(plan.feed.url) : undefined,
          wheelRemotePath: remoteWheel,
          buildNumber: context.buildNumber,
        }),
      ),
    );
    chmodSync(result.initScriptPath, 0o755);
    log.info(`Init script written: ${result.initScriptPath}`);
  }
  if (plan.artifactName) {
    deps.uploadArtifact(plan.artifactName, context.outputDirectory);
    // The agent uploads the folder as it reads the command: from here on it is the artifact's.
    journal.landed(`the artifact '${plan.artifactName}' (${context.outputDirectory})`);
    done(`artifact:${plan.artifactName}`);
    log.info(`Artifact '${plan.artifactName}': ${context.outputDirectory}`);
  }
  if (plan.feed) {
    const feed = plan.feed;
    let inFeed = false;
    for (const d of distributions(build)) {
      const file = basename(d.path);
      // A feed does not give a version back: what it accepted lands. An upload cut off before
      // the feed answered may have landed too: the journal says so rather than guess.
      let answered = false;
      const forget = journal.register(`${file} in the feed ${feed.url}`, () => {
        if (!answered)
          throw new Error(
            'the upload was under way when the run stopped: the feed may have kept it, and a feed does not give a version back',
          );
      });
      let outcome: UploadOutcome;
      try {
        outcome = await deps.upload({ url: feed.url, username: feed.username, password: feed.password, timeoutMs: feed.stallMs }, d);
      } catch (err) {
        // Refused with a 4xx: the feed kept nothing, so there is nothing to put back or report.
        if (err instanceof UploadError && err.httpStatus !== undefined && err.httpStatus < 500) forget();
        throw err;
      }
      answered = true;
      if (outcome.status === 'exists') {
        forget();
        if (!feed.skipExisting) {
          throw new UserError(
            `${file} is already in the feed (HTTP ${outcome.httpStatus}: ${quoteForeign(outcome.message)}); a published version cannot be replaced.`,
            {
              input: 'skipExisting',
              fix: 'build a new version (VersionBump), or set skipExisting: true to go on when the file is there already.',
            },
          );
        }
        log.info(`Feed: ${file} is already there (HTTP ${outcome.httpStatus}), skipped (skipExisting).`);
        result.feed.push({ file, status: 'skipped' });
      } else {
        journal.landed(`${file} in the feed ${feed.url}`);
        log.info(`Feed: ${file} uploaded to ${feed.url} (${feed.via}).`);
        result.feed.push({ file, status: 'uploaded' });
        if (!inFeed) done(feed.url);
        inFeed = true;
      }
    }
  }
  if (plan.databricks && client) {
    const db = plan.databricks;
    const onVolume: string[] = [];
    await makeDirectory(client, db.volumePath);
    await putFile(client, remoteWheel!, readFileSync(build.wheelPath));
    onVolume.push(remoteWheel!);
    log.info(`Databricks: ${wheelName} uploaded to ${remoteWheel} (${client.host}).`);
    if (result.initScriptPath) {
      result.initScriptRemote = `${db.volumePath.replace(/\/+$/, '')}/${basename(result.initScriptPath)}`;
      await putFile(client, result.initScriptRemote, readFileSync(result.initScriptPath));
      onVolume.push(result.initScriptRemote);
      log.info(`Databricks: init script uploaded to ${result.initScriptRemote} (cluster → Advanced options → Init scripts → Volumes).`);
    }
    if (planned.length) {
      // Every cluster to its end (a failure of one does not leave another's install running on
      // alone); a call that fails for one is that cluster's outcome.
      result.clusters = await Promise.all(
        planned.map((p) =>
          installOnCluster(client, p, remoteWheel!, db, deps).catch((err: unknown): ClusterReport => {
            if (!(err instanceof DatabricksError)) throw err;
            return { clusterId: p.cluster.clusterId, name: p.cluster.name, outcome: 'error', messages: [err.message] };
          }),
        ),
      );
      for (const c of result.clusters) log.info(clusterLine(c));
      const bad = result.clusters.filter((c) => !OUTCOMES[c.outcome].ok);
      if (bad.length) {
        throw new UserError(
          `the library did not install on ${bad.map((c) => `cluster ${c.clusterId} (${c.outcome === 'timeout' ? `not done after ${Math.round(db.timeoutMs / 1000)} s` : `${OUTCOMES[c.outcome].log}: ${c.messages.map(quoteForeign).join(' | ') || 'no message'}`})`).join(', ')}.`,
          {
            input: 'clusterIds',
            fix: installFix(bad),
          },
        );
      }
      for (const c of result.clusters.filter((x) => x.outcome === 'already-installed')) {
        log.warn(
          `Cluster ${c.clusterId} already had ${wheelName} installed: installing the same version again does nothing on a running cluster (it keeps the files it loaded). Set restartClusters: true to restart it and load the new file, or build a new version.`,
        );
      }
    }
    journal.landed(
      `${onVolume.join(', ')} on the volume${db.clusterIds.length ? `, the library on cluster ${db.clusterIds.join(', ')}` : ''}`,
    );
    for (const path of onVolume) done(path);
  }
  return result;
}

/** What to do about the clusters the library did not install on, the most telling outcome first. */
function installFix(bad: readonly ClusterReport[]): string {
  const any = (...outcomes: ClusterOutcome[]) => bad.some((c) => outcomes.includes(c.outcome));
  if (any('failed', 'skipped'))
    return "read Databricks' message above (often a dependency pip cannot resolve on the cluster, a conflicting library, or a Python version the wheel does not support); fix it and build again.";
  if (any('removed'))
    return 'someone uninstalled the library while Relevo waited: check the cluster in the Databricks UI (Libraries tab) and run again.';
  if (any('error')) return 'see the failed call above, fix it and run again.';
  return 'raise installTimeoutMinutes, or check the cluster in the Databricks UI (Libraries tab).';
}

function clusterLine(c: ClusterReport): string {
  return `Cluster ${c.clusterId}${c.name ? ` (${quoteForeign(c.name)})` : ''}: ${OUTCOMES[c.outcome].log}${c.messages.length ? ` — ${c.messages.map(quoteForeign).join(' | ')}` : ''}`;
}

interface PlannedCluster {
  cluster: ClusterInfo;
  /** This wheel's library status before the install, when the cluster listed it. */
  before?: LibraryStatus;
}

/**
 * Reads every cluster and its libraries before anything is installed. An id Databricks does not
 * know, or a cluster in a state nothing can be installed in (ERROR, UNKNOWN, one the SDK does not
 * define), fails the run naming clusterIds and each such id; the Summary lists every cluster.
 */
async function planClusters(client: DatabricksClient, ids: string[], whl: string, result: PublishResult): Promise<PlannedCluster[]> {
  const read = await Promise.all(
    ids.map(async (id): Promise<PlannedCluster | ClusterReport> => {
      let cluster: ClusterInfo;
      try {
        cluster = await client.cluster(id);
      } catch (err) {
        // clusters/get answers 400 INVALID_PARAMETER_VALUE (or 404) for an id it does not know.
        if (err instanceof DatabricksError && (err.kind === 'notFound' || err.errorCode === 'INVALID_PARAMETER_VALUE'))
          return {
            clusterId: id,
            outcome: 'refused',
            messages: [`no such cluster (${err.serverMessage ?? err.errorCode ?? `HTTP ${err.status}`})`],
          };
        throw err;
      }
      const rule = clusterRule(cluster.state);
      if (rule.plan === 'refuse')
        return {
          clusterId: id,
          name: cluster.name,
          outcome: 'refused',
          messages: [`the cluster is ${rule.meaning}${cluster.stateMessage ? `: ${cluster.stateMessage}` : ''}`],
        };
      return { cluster, before: statusOf(await client.libraryStatuses(id), whl) };
    }),
  );
  const refused = read.filter((r): r is ClusterReport => 'outcome' in r);
  if (!refused.length) return read as PlannedCluster[];
  result.clusters = read.map((r) =>
    'outcome' in r ? r : { clusterId: r.cluster.clusterId, name: r.cluster.name, outcome: 'not-installed', messages: [] },
  );
  throw new UserError(
    `nothing was installed or uploaded: ${refused.map((c) => `cluster ${c.clusterId}: ${c.messages.map(quoteForeign).join(' | ')}`).join('; ')}.`,
    {
      input: 'clusterIds',
      fix: refused.some((c) => /no such cluster/.test(c.messages[0] ?? ''))
        ? 'check clusterIds (Compute → the cluster → More → View JSON: cluster_id) and that the connection may see the cluster.'
        : 'fix or restart the cluster in the Databricks UI, or take it out of clusterIds.',
    },
  );
}

/**
 * Creates the volume folder, registering first, when it is not there yet, the removal of the
 * folders this run makes (deepest first; each only while it is empty). The volume itself
 * (`/Volumes/<catalog>/<schema>/<volume>`) is never made here.
 */
async function makeDirectory(client: DatabricksClient, path: string): Promise<void> {
  const folder = path.replace(/\/+$/, '');
  const volume = /^\/Volumes\/[^/]+\/[^/]+\/[^/]+/.exec(folder)?.[0];
  const missing: string[] = [];
  if (volume) {
    for (let dir = folder; dir.length > volume.length; dir = dirname(dir)) {
      if (await client.directoryExists(dir)) break;
      missing.push(dir);
    }
  }
  if (missing.length) {
    journal.register(`the folder ${missing[missing.length - 1]} this run made on the volume (deleted)`, async () => {
      for (const dir of missing) await client.deleteDirectory(dir);
    });
  }
  await client.createDirectory(folder);
}

/** Uploads a file to the volume, registering first how to put back what was there: nothing (delete) or its bytes. */
async function putFile(client: DatabricksClient, path: string, bytes: Buffer): Promise<void> {
  const previous = (await client.fileExists(path)) ? await client.downloadFile(path) : undefined;
  journal.register(`the file ${path} on the volume (${previous ? 'its previous bytes written back' : 'deleted'})`, () =>
    previous ? client.uploadFile(path, previous, { overwrite: true }) : client.deleteFile(path),
  );
  await client.uploadFile(path, bytes, { overwrite: true });
}

function statusOf(statuses: LibraryStatus[], whl: string): LibraryStatus | undefined {
  return statuses.find((s) => 'whl' in s.library && s.library.whl === whl);
}

async function installOnCluster(
  client: DatabricksClient,
  { cluster, before }: PlannedCluster,
  whl: string,
  db: NonNullable<PublishPlan['databricks']>,
  deps: PublishDeps,
): Promise<ClusterReport> {
  const clusterId = cluster.clusterId;
  const sleep = deps.sleep ?? ((ms: number) => waitUnlessCancelled(ms));
  const started = Date.now();
  const beforeRule = before ? libraryRule(before.status) : undefined;
  // Loaded already (INSTALLED, RESTORED, or marked for uninstall but still loaded): the cluster keeps what it loaded.
  const already = !!beforeRule?.loaded;
  const waits = clusterRule(cluster.state).plan === 'install-and-wait';
  // A library the cluster listed before is not this run's to take off (one marked for
  // uninstall is: uninstalling again puts that mark back).
  if (!beforeRule || beforeRule.ours) {
    journal.register(
      `the library ${whl} on cluster ${clusterId} (uninstalled${waits ? '; a running cluster drops it at its next restart' : ''})`,
      () => client.uninstallLibraries(clusterId, [{ whl }]),
    );
  }
  await client.installLibraries(clusterId, [{ whl }]);
  const report = (outcome: ClusterOutcome, messages: string[] = []): ClusterReport => ({
    clusterId,
    name: cluster.name,
    outcome,
    messages,
  });
  const stateText = (c: ClusterInfo) => `${stateName(c.state)}${c.stateMessage ? `: ${c.stateMessage}` : ''}`;
  if (!waits) return report('on-start', [stateText(cluster)]);
  let restarted = false;
  if (already && cluster.state === 'RUNNING') {
    if (!db.restartClusters) return report('already-installed');
    deps.log.info(`Cluster ${clusterId}: restarting to load the new file of the same version (restartClusters).`);
    let restartSent = true;
    journal.register(`the restart of cluster ${clusterId}`, () => {
      if (restartSent) throw new Error('a restart cannot be undone: the cluster loaded the file this run uploaded');
    });
    try {
      await client.restartCluster(clusterId);
    } catch (err) {
      // Databricks answered with a refusal: the cluster was not restarted.
      if (err instanceof DatabricksError && err.status !== undefined && err.status < 500) restartSent = false;
      throw err;
    }
    restarted = true;
    for (;;) {
      await sleep(db.pollMs);
      const c = await client.cluster(clusterId);
      if (c.state === 'RUNNING') break;
      if (clusterRule(c.state).plan !== 'install-and-wait') return report('failed', [`the cluster went ${stateText(c)} while restarting`]);
      if (Date.now() - started > db.timeoutMs) return report('timeout', [`the cluster was still ${stateName(c.state)}`]);
    }
  }
  let running = cluster.state === 'RUNNING' || cluster.state === 'RESIZING';
  for (;;) {
    const s = statusOf(await client.libraryStatuses(clusterId), whl);
    const rule = s ? libraryRule(s.status) : undefined;
    if (rule && rule.then !== 'wait') {
      const quoted = s!.status === 'RESTORED' ? ['RESTORED', ...s!.messages] : s!.messages;
      return report(rule.then === 'installed' && restarted ? 'restarted' : rule.then, quoted);
    }
    if (Date.now() - started > db.timeoutMs)
      return report('timeout', [
        `last status ${s ? `${stateName(s.status)} (${rule!.meaning})` : 'none'}${running ? '' : `; cluster ${stateName(cluster.state)}`}`,
      ]);
    // A cluster that was starting or restarting: it may stop instead (then the library installs at its next start).
    if (!running) {
      const c = await client.cluster(clusterId);
      const plan = clusterRule(c.state).plan;
      if (plan === 'install-on-start') return report('on-start', [`${stateName(cluster.state)} → ${stateText(c)}`]);
      if (plan === 'refuse') return report('failed', [`the cluster went ${stateText(c)}`]);
      running = c.state === 'RUNNING' || c.state === 'RESIZING';
    }
    await sleep(db.pollMs);
  }
}
