/**
 * BuildWheel's inputs, read and checked into what the build and the publishing take: every
 * input is refused here, naming it, before anything is built or sent.
 */
import * as agent from '../../shared/agent';
import { databricksConnection } from '../../shared/agent/databricks';
import type { DatabricksClient } from '../../shared/clients/databricks';
import { organizationOf, tokenGoesTo } from '../../shared/clients/organization';
import { UserError } from '../../shared/errors';
import { readProject, type PythonProject } from '../../shared/python/project';
import type { PublishPlan } from '../../shared/python/publish';
import { canonicalPep440 } from '../../shared/python/wheel';
import { toPep440, unpublishablePep440 } from '../../shared/versioning/pep440';
import { parseVersion } from '../../shared/versioning/semver';

export interface BuildWheelSettings {
  project: PythonProject;
  version?: { semver: string; pep440: string };
  interpreter: string;
  isolation: boolean;
  /** `python -m build -x`: the build requirements are not checked (non-isolated builds only). */
  skipDependencyCheck: boolean;
  sdist: boolean;
  outputDirectory: string;
  timeoutMs: number;
  plan: PublishPlan;
  databricks?: () => Promise<DatabricksClient>;
}

export function readSettings(): BuildWheelSettings {
  const project = readProject(agent.pathInput('projectDirectory') ?? process.cwd());
  const version = requestedVersion();
  const isolation = agent.boolInput('isolation');
  const skipDependencyCheck = agent.boolInput('skipDependencyCheck');
  if (skipDependencyCheck && isolation)
    throw new UserError('an isolated build installs its requirements itself: there is no dependency check to skip.', {
      input: 'skipDependencyCheck',
      fix: 'set isolation: false with it, or leave skipDependencyCheck false.',
    });
  const sdist = agent.boolInput('sdist');
  const outputDirectory = outputFolder();
  const timeoutMs = buildTimeoutMs();
  // The no-progress bound of network work (git's too): how long an upload may move no bytes, and
  // a Databricks request may go unanswered. Defaults otherwise: 60 s for the feed, 30 s for Databricks.
  const stallSeconds = agent.positiveNumberVariable('Relevo.NetworkTimeoutSeconds');
  const stallMs = stallSeconds ? Math.round(stallSeconds * 1000) : undefined;
  const plan = publishPlan(stallMs);
  const databricks = plan.databricks
    ? databricksConnection({
        connection: 'databricksConnection',
        azureSubscription: 'databricksAzureSubscription',
        workspaceUrl: 'databricksWorkspaceUrl',
        neededBy: 'volumePath',
        timeoutMs: stallMs,
      })
    : undefined;
  return {
    project,
    version,
    interpreter: agent.input('pythonInterpreter') ?? 'python3',
    isolation,
    skipDependencyCheck,
    sdist,
    outputDirectory,
    timeoutMs,
    plan,
    databricks,
  };
}

/**
 * `buildTimeoutMinutes`: minutes, a decimal number above 0 (0.5 is 30 s), at most a day. Read
 * here rather than with agent.intInput, which takes whole numbers only.
 */
function buildTimeoutMs(): number {
  const text = agent.input('buildTimeoutMinutes') ?? '';
  const minutes = Number(text);
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(text) || !(minutes > 0) || minutes > 1440) {
    throw new UserError(`'${text}' is not a number of minutes above 0 and at most 1440.`, {
      input: 'buildTimeoutMinutes',
      fix: 'set it to how long the build may run, in minutes, e.g. 30 (decimals are allowed: 0.5 is 30 seconds).',
    });
  }
  return Math.max(1, Math.round(minutes * 60_000));
}

/** The `version` input as SemVer + PEP 440 (a PEP 440 version is taken as it is). */
function requestedVersion(): { semver: string; pep440: string } | undefined {
  const text = agent.input('version');
  if (!text) return undefined;
  const clean = text.replace(/^v(?=\d)/, '');
  if (parseVersion(clean)) {
    const refusal = unpublishablePep440(clean);
    if (refusal)
      throw new UserError(`'${text}' cannot be published as a Python version: ${refusal}.`, {
        input: 'version',
        fix: 'pass a version with at most one number after the pre-release label and no +build part (1.3.0, 1.3.0-rc.2, 1.3.0-dev.7), or a PEP 440 version as it is.',
      });
    const buildId = agent.buildId();
    return { semver: clean, pep440: toPep440(clean, buildId ? { devNumber: buildId } : {}) };
  }
  const pep = canonicalPep440(clean);
  if (pep && !/[+]/.test(clean)) return { semver: clean, pep440: clean };
  throw new UserError(`'${text}' is not a semantic version (or a PEP 440 version).`, {
    input: 'version',
    fix: 'pass a version like 1.3.0, 1.3.0-rc.2 or 1.3.0-dev.7, e.g. $(version.version) from VersionBump; or leave it empty to build the version the project says.',
  });
}

function outputFolder(): string {
  const dir = agent.pathInput('outputDirectory');
  if (!dir || dir.includes('$(')) {
    throw new UserError(`'${dir ?? ''}' is not a folder (a variable in it is not set).`, {
      input: 'outputDirectory',
      fix: 'set outputDirectory to a folder, e.g. $(Build.ArtifactStagingDirectory)/wheels.',
    });
  }
  return dir;
}

function publishPlan(stallMs: number | undefined): PublishPlan {
  const plan: PublishPlan = { initScript: agent.boolInput('initScript') };
  const artifactName = agent.input('artifactName');
  if (artifactName) {
    if (!/^[\w.-]+$/.test(artifactName))
      throw new UserError(`'${artifactName}' is not an artifact name.`, {
        input: 'artifactName',
        fix: 'use letters, digits, ., - and _ (e.g. wheels).',
      });
    plan.artifactName = artifactName;
  }
  const feedUrl = agent.input('feedUrl');
  if (feedUrl) {
    let url: URL;
    try {
      url = new URL(feedUrl);
    } catch {
      throw new UserError(`'${feedUrl}' is not a URL.`, {
        input: 'feedUrl',
        fix: "use the feed's upload URL, e.g. https://pkgs.dev.azure.com/<org>/<project>/_packaging/<feed>/pypi/upload/.",
      });
    }
    if (url.username || url.password)
      throw new UserError('the URL carries credentials.', {
        input: 'feedUrl',
        fix: 'remove them from the URL and use feedConnection (or the job token for Azure Artifacts).',
      });
    if (url.protocol !== 'https:' && !/^(127\.0\.0\.1|localhost)$/.test(url.hostname))
      throw new UserError(`'${feedUrl}' is not https.`, { input: 'feedUrl', fix: 'use the https:// upload URL.' });
    plan.feed = { url: feedUrl, skipExisting: agent.boolInput('skipExisting'), stallMs, ...feedCredentials(url) };
  }
  const volumePath = agent.input('volumePath');
  const clusterIds = agent.listInput('clusterIds');
  if (clusterIds.length && !volumePath)
    throw new UserError('clusters install the wheel from a volume, and volumePath is empty.', {
      input: 'volumePath',
      fix: 'set volumePath, e.g. /Volumes/main/libs/wheels.',
    });
  if (volumePath) {
    if (!/^\/(Volumes\/[^/]+\/[^/]+\/[^/]+|Workspace\/.+)/.test(volumePath)) {
      throw new UserError(`'${volumePath}' is not a Unity Catalog volume path (DBFS root libraries are disabled from DBR 15.1).`, {
        input: 'volumePath',
        fix: 'use /Volumes/<catalog>/<schema>/<volume>[/folder], e.g. /Volumes/main/libs/wheels.',
      });
    }
    plan.databricks = {
      volumePath,
      clusterIds,
      restartClusters: agent.boolInput('restartClusters'),
      timeoutMs: agent.intInput('installTimeoutMinutes', 1, 180) * 60_000,
      pollMs: agent.positiveNumberVariable('Relevo.DatabricksPollMs') ?? 5000,
    };
  }
  return plan;
}

function feedCredentials(feed: URL): { username: string; password: string; via: string } {
  const id = agent.input('feedConnection');
  if (id) {
    const e = agent.endpoint(id);
    const p = Object.fromEntries(Object.entries(e?.parameters ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    if (p.username && p.password) return { username: p.username, password: p.password, via: 'service connection' };
    if (p.apitoken) return { username: '__token__', password: p.apitoken, via: 'service connection token' };
    throw new UserError('the service connection has no username/password or token.', {
      input: 'feedConnection',
      fix: 'edit it (Python package upload: username and password, or a token), or leave feedConnection empty to use the job token for an Azure Artifacts feed.',
    });
  }
  const token = agent.jobToken();
  if (!token)
    throw new UserError('there is neither a service connection nor the job token to authenticate to the feed.', {
      input: 'feedConnection',
      fix: 'set feedConnection, or run in a job whose token is available to tasks (Azure Artifacts feeds of this organization).',
    });
  // The job token is this organization's: it goes to its own feeds, never to another host.
  const collection = agent.variable('System.TeamFoundationCollectionUri') ?? agent.variable('System.CollectionUri');
  const home = collection ? new URL(collection) : undefined;
  if (!home || !tokenGoesTo(feed.hostname, feed.pathname, home.hostname, organizationOf(home))) {
    throw new UserError(`the job token is sent only to this organization's Azure Artifacts feeds, and '${feed.host}' is not one.`, {
      input: 'feedConnection',
      fix: "create a 'Python package upload' service connection for that feed and set feedConnection.",
    });
  }
  return { username: 'build', password: token, via: 'job token' };
}
