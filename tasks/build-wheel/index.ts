import * as agent from '../../shared/agent';
import { uploadDistribution } from '../../shared/clients/pypiUpload';
import { buildProject, type BuildResult } from '../../shared/python/build';
import { checkInterpreter } from '../../shared/python/interpreter';
import { publish, type PublishResult } from '../../shared/python/publish';
import { buildWheelSummary } from '../../shared/python/summary';
import { UserError } from '../../shared/errors';
import { readSettings, type BuildWheelSettings } from './settings';

void agent.runTask(async () => {
  const s = readSettings();
  const { project } = s;
  // The Summary is written on every outcome: a failed install is when people open it.
  let build: BuildResult | undefined;
  const published: PublishResult = { uploadedTo: [], feed: [], clusters: [] };
  try {
    // With the dependency check skipped, what is installed is taken as it is.
    const interpreter = await checkInterpreter(s.interpreter, {
      isolation: s.isolation,
      requires: s.skipDependencyCheck ? [] : project.buildRequires,
    });
    console.log(
      `Python ${interpreter.version} at ${interpreter.executable}; project ${project.name ?? '(name computed by setup.py)'} in ${project.dir} (${project.files.join(', ')}).`,
    );
    build = await buildProject({
      project,
      interpreter,
      version: s.version,
      isolation: s.isolation,
      skipDependencyCheck: s.skipDependencyCheck,
      sdist: s.sdist,
      outputDirectory: s.outputDirectory,
      tempDirectory: agent.tempDirectory(),
      log: agent.agentLog,
      onOutput: (line) => console.log(`  ${line}`),
      timeoutMs: s.timeoutMs,
    });
    console.log(
      `Built ${build.wheelPath}${build.sdistPath ? ` and ${build.sdistPath}` : ''}: ${build.wheel.name} ${build.wheel.version}, ${build.wheel.files} files checked against RECORD${build.twine === 'passed' ? ', twine check passed' : ''}.`,
    );
    refuseLocalVersion(build.wheel.version, s);
    await publish(
      build,
      s.plan,
      {
        uploadArtifact: agent.uploadArtifact,
        upload: uploadDistribution,
        databricks: s.databricks,
        log: agent.agentLog,
      },
      { outputDirectory: s.outputDirectory, buildNumber: agent.variable('Build.BuildNumber') },
      published,
    );
    agent.setOutput('packageName', build.wheel.name);
    agent.setOutput('pep440Version', build.wheel.version);
    agent.setOutput('wheelPath', build.wheelPath);
    agent.setOutput('sdistPath', build.sdistPath ?? '');
    agent.uploadSummary('build-wheel', buildWheelSummary(build, published, s.version?.semver));
  } catch (err) {
    agent.uploadSummary('build-wheel', buildWheelSummary(build, published, s.version?.semver, (err as Error).message));
    throw err;
  } finally {
    // What landed, as it landed: a failure after the artifact or the feed still reports them.
    if (build) agent.setOutput('uploadedTo', JSON.stringify(published.uploadedTo)); // a failed build sets no output
  }
});

/**
 * A version with a local part (`0.1.dev1+g1a2b3c4`) is what setuptools-scm and hatch-vcs build
 * from a checkout without tags (Azure Pipelines' default is shallow): no feed takes it, and the
 * pipeline should not publish it anywhere. Refused when something would be published, a warning
 * otherwise.
 */
function refuseLocalVersion(version: string, s: BuildWheelSettings): void {
  if (s.version || !version.includes('+')) return;
  const why = `the project built version ${version}, a local version (the part after '+') that package feeds refuse: its version comes from git tags, and this checkout has none (a shallow or tag-less checkout, Azure Pipelines' default)`;
  const fix =
    "set 'version' (e.g. $(version.version) from VersionBump), or fetch the tags (steps: - checkout: self, fetchDepth: 0, fetchTags: true).";
  const publishing = s.plan.artifactName || s.plan.feed || s.plan.databricks;
  if (publishing) throw new UserError(`${why}; nothing was published.`, { input: 'version', fix });
  agent.agentLog.warn(`${why}. Nothing is published by this step; whatever publishes it later will be refused. Fix: ${fix}`);
}
