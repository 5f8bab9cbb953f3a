import * as agent from '../../shared/agent';
import { uploadDistribution } from '../../shared/clients/pypiUpload';
import { buildProject } from '../../shared/python/build';
import { checkInterpreter } from '../../shared/python/interpreter';
import { publish } from '../../shared/python/publish';
import { buildWheelSummary } from '../../shared/python/summary';
import { readSettings } from './settings';

void agent.runTask(async () => {
  const s = readSettings();
  const { project } = s;
  const interpreter = await checkInterpreter(s.interpreter, { isolation: s.isolation, requires: project.buildRequires });
  console.log(
    `Python ${interpreter.version} at ${interpreter.executable}; project ${project.name ?? '(name computed by setup.py)'} in ${project.dir} (${project.files.join(', ')}).`,
  );
  const build = await buildProject({
    project,
    interpreter,
    version: s.version,
    isolation: s.isolation,
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

  // What landed, as it lands: a failure after the artifact or the feed still reports them.
  const uploadedTo: string[] = [];
  try {
    const result = await publish(
      build,
      s.plan,
      {
        uploadArtifact: agent.uploadArtifact,
        upload: uploadDistribution,
        databricks: s.databricks,
        log: agent.agentLog,
        onUploaded: (to) => uploadedTo.push(to),
      },
      { outputDirectory: s.outputDirectory, buildNumber: agent.variable('Build.BuildNumber') },
    );
    agent.setOutput('packageName', build.wheel.name);
    agent.setOutput('pep440Version', build.wheel.version);
    agent.setOutput('wheelPath', build.wheelPath);
    agent.setOutput('sdistPath', build.sdistPath ?? '');
    agent.uploadSummary('build-wheel', buildWheelSummary(build, result, s.version?.semver));
  } finally {
    agent.setOutput('uploadedTo', JSON.stringify(uploadedTo));
  }
});
