/**
 * `npm run demo`: builds a sample workspace in a temp folder and runs each task that exists,
 * exactly as the agent runs it (node dist/tasks/<folder>/index.js with INPUT_* and BUILD_*
 * variables). Before each run it prints the YAML step the run stands for; after it, the
 * result, every output variable, the files the run changed and the Summary tab's text.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { runTask, type TaskRun } from '../test/support/agentRunner';
import { makeComponent, makeOrchestration } from '../test/support/orchestration';
import { envRepo } from '../test/support/promotion';
import { runFlowBuild, startFlowServices } from '../test/support/wholeFlow';
import { cleanTempDirs, git, Repo, tempDir } from '../test/support/repo';
import { makeSalesData, SALES_CONFIG, seededToolCache } from '../test/support/sampleData';
import { startDatabricksServer } from '../test/support/databricksServer';
import { remoteOf } from '../test/support/deploy';
import { parseHeaders, readZip } from '../shared/python/wheel';

const tty = process.stdout.isTTY;
const bold = (s: string) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (tty ? `\x1b[2m${s}\x1b[0m` : s);

type Inputs = Record<string, string | boolean>;

/** The YAML a pipeline author would write for this run (workingDirectory is the checkout). */
function yamlStep(task: string, name: string, inputs: Inputs, variables: Record<string, string>): string {
  const lines = [`- task: ${task}`, `  name: ${name}`, '  inputs:'];
  for (const [k, v] of Object.entries(inputs)) {
    const text = String(v);
    if (text.includes('\n')) lines.push(`    ${k}: |`, ...text.split('\n').map((l) => `      ${l}`));
    else lines.push(`    ${k}: ${text}`);
  }
  const vars = Object.entries(variables).map(([k, v]) => `${k}=${v}`);
  return [...lines, `  # the run: ${vars.join(', ')}`].join('\n');
}

/** What the run changed in the repository: files in the work tree, and the commit it made. */
function changes(repo: Repo, headBefore: string): string[] {
  const out: string[] = [];
  const files = repo.git('ls-files', '--modified', '--others', '--exclude-standard');
  if (files) out.push(`work tree: ${files.split('\n').join(', ')} (not committed)`);
  const head = repo.head();
  if (head !== headBefore)
    out.push(
      `commit ${head.slice(0, 12)} "${repo.git('log', '-1', '--format=%s')}" with ${repo.git('show', '--name-only', '--format=', 'HEAD').split('\n').join(', ')}`,
    );
  return out;
}

const TASKS: Record<string, { folder: string; step: string }> = {
  'VersionBump@1': { folder: 'version-bump', step: 'version' },
  'UpdateSubmodules@1': { folder: 'update-submodules', step: 'pins' },
  'PromoteBranch@1': { folder: 'promote-branch', step: 'promote' },
  'BuildWheel@1': { folder: 'build-wheel', step: 'wheel' },
};

/** The run's log (less the agent's commands), result, outputs, warnings and Summary text. */
function printRun(run: TaskRun): void {
  // Folded groups (##[group] … ##[endgroup], e.g. a build's own output) stay folded here too.
  const log = run.stdout
    .replace(/^##\[group\](.*)\n[\s\S]*?^##\[endgroup\]$/gm, '($1: folded)')
    .split('\n')
    .filter((l) => l.trim() && !l.includes('##vso['));
  if (log.length) console.log(`  log: ${log.join('\n       ')}`);
  console.log(`  result: ${run.result}${run.result === 'Succeeded' ? '' : ` — ${run.resultMessage}`}`);
  console.log(
    `  outputs: ${Object.entries(run.outputs)
      .map(([k, v]) => `${k}=${v === '' ? "''" : v}`)
      .join('  ')}`,
  );
  for (const w of run.warnings) console.log(`  warning: ${w}`);
  // The Summary tab's Markdown, less its heading, table rulers and folding tags.
  const summary = run.summaries[0]
    ?.split('\n')
    .filter((l) => l && !/^\|[-|]+\|$/.test(l) && !l.startsWith('###') && !/^<\/?details>|^<details>/.test(l));
  if (summary?.length) console.log(`  summary: ${summary.join('\n           ')}`);
  if (run.result !== 'Succeeded') process.exitCode = 1;
}

async function step(
  title: string,
  repo: Repo,
  inputs: Inputs,
  branch: string,
  extra: Record<string, string> = {},
  task = 'VersionBump@1',
): Promise<TaskRun> {
  console.log(`\n${bold(`▶ ${title}`)}`);
  const variables = { 'Build.SourceBranch': `refs/heads/${branch}`, ...extra };
  console.log(dim(yamlStep(task, TASKS[task].step, inputs, variables)));
  repo.detach();
  const before = repo.head();
  const run = await runTask(TASKS[task].folder, {
    inputs: { workingDirectory: repo.dir, ...inputs },
    variables: { ...variables, 'Build.SourcesDirectory': repo.dir },
  });
  printRun(run);
  for (const c of changes(repo, before)) console.log(`  changed: ${c}`);
  return run;
}

async function main(): Promise<void> {
  const workspace = tempDir('relevo-demo-');
  console.log(`Sample workspace: ${workspace}`);

  // A component (the in-house library "ingest") with a bare remote standing in for Azure Repos.
  const ingest = Repo.init('main', join(workspace, 'ingest'));
  ingest.write('pyproject.toml', '[project]\nname = "ingest"\nversion = "1.0.0"\n');
  ingest.write('src/ingest/__init__.py', '__version__ = "1.0.0"\n');
  ingest.commitAll('feat: read CSV drops into bronze tables');
  ingest.tag('v1.0.0');
  const remote = ingest.addBareRemote(join(workspace, 'remotes', 'ingest.git'));
  ingest.git('checkout', '-q', '-b', 'develop');
  ingest.commit('feat(reader): parquet support', 'src/ingest/reader.py');
  ingest.commit('fix: keep null ids out of the silver table', 'src/ingest/clean.py');
  ingest.commit('chore: bump linters', 'tox.ini');
  ingest.git('push', '-q', 'origin', 'develop');

  const release = { component: 'ingest', createTag: true, pushTag: true };
  console.log(`\n== VersionBump: one component moving dev → pre → pro ==`);
  await step('develop: every CI run gets a dev pre-release, tagged', ingest, release, 'develop');

  ingest.git('checkout', '-q', '-b', 'release/1.1', 'develop');
  ingest.git('push', '-q', 'origin', 'release/1.1');
  const candidate = await step(
    'release/1.1: a release candidate for the tests to judge; the wheel gets the PEP 440 version',
    ingest,
    { ...release, versionFiles: 'pyproject.toml\nsrc/ingest/__init__.py' },
    'release/1.1',
  );
  console.log(
    `  pyproject.toml now says: ${/version = "(.*)"/.exec(readFileSync(join(ingest.dir, 'pyproject.toml'), 'utf8'))![1]} (PEP 440, for the wheel built next)`,
  );
  git(ingest.dir, 'checkout', '-q', '--', '.');

  console.log(`\n== BuildWheel: the candidate becomes a wheel with the version VersionBump gave it ==`);
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const wheelRun = await step(
    'release/1.1: build ingest as a wheel (the version stamped for the build, the checkout left as it was)',
    ingest,
    {
      version: candidate.outputs.version,
      pythonInterpreter: python,
      isolation: false,
      outputDirectory: join(workspace, 'staging', 'wheels'),
    },
    'release/1.1',
    {},
    'BuildWheel@1',
  );
  if (wheelRun.outputs.wheelPath) {
    const metadata = readZip(readFileSync(wheelRun.outputs.wheelPath)).find((e) => e.name.endsWith('.dist-info/METADATA'))!;
    console.log(
      `  wheel: ${basename(wheelRun.outputs.wheelPath)}; METADATA Version: ${parseHeaders(metadata.data.toString('utf8')).get('version')?.[0]} (VersionBump said ${candidate.outputs.version})`,
    );
  }

  ingest.git('checkout', '-q', 'main');
  ingest.git('merge', '-q', '--ff-only', 'release/1.1');
  ingest.git('push', '-q', 'origin', 'main');
  await step(
    'main: the tested candidate v1.1.0-rc.1 becomes v1.1.0 as it is, with a changelog commit',
    ingest,
    { ...release, changelogFile: 'CHANGELOG.md', commitVersionFiles: true },
    'main',
  );
  // A re-run checks out the commit the first run built, not the version commit it pushed.
  ingest.git('checkout', '-q', 'main');
  await step(
    'main again (a re-run of the same build): finds its version commit, changes nothing',
    ingest,
    { ...release, changelogFile: 'CHANGELOG.md', commitVersionFiles: true },
    'main',
  );

  ingest.git('fetch', '-q', 'origin');
  ingest.git('checkout', '-q', '-b', 'feature/new-schema', 'origin/main');
  ingest.commit('feat!: bronze tables keyed by ingestion date', 'src/ingest/schema.py');
  await step(
    'feature branch, dry run: a breaking change, and a feed-safe Python version from the build id',
    ingest,
    { ...release, dryRun: true },
    'feature/new-schema',
    { 'Build.BuildId': '4711' },
  );

  console.log(`\nTags on the remote: ${git(remote, 'tag', '--list').split('\n').join(', ')}`);

  console.log(`\n== UpdateSubmodules: the orchestration pins components at exact versions ==`);
  // Two more components, released by their own teams; the orchestration pins all three at old versions.
  const picker = makeComponent(join(workspace, 'remotes'), 'table-picker', ['v1.2.0', 'v1.3.0', 'v1.3.1', 'v2.0.0'], {
    subjects: { 'v1.3.1': ['fix: keep the picker stable under reorder'] },
  });
  const history = makeComponent(join(workspace, 'remotes'), 'history', ['v1.2.0', 'v1.2.1-rc.1']);
  const orchestration = makeOrchestration(join(workspace, 'remotes'), [
    {
      name: 'ingest',
      path: 'components/ingest',
      url: '../ingest.git',
      commit: git(remote, 'rev-parse', 'v1.0.0^{commit}'),
      policy: 'latest',
    },
    { name: 'table-picker', path: 'components/table-picker', url: '../table-picker.git', commit: picker.commits['v1.2.0'] },
    { name: 'history', path: 'components/history', url: '../history.git', commit: history.commits['v1.2.0'], policy: 'pin' },
  ]);
  // The orchestration was released as v1.0.0 with these pins.
  git(orchestration.bare, 'tag', 'v1.0.0', 'main');
  orchestration.work.git('fetch', '-q', '--tags', 'origin');
  console.log(`  .gitmodules:\n${readFileSync(join(orchestration.work.dir, '.gitmodules'), 'utf8').replace(/^/gm, '    ')}`);
  await step('main, dry run: the plan for every submodule', orchestration.work, { dryRun: true }, 'main', {}, 'UpdateSubmodules@1');
  await step(
    'main: move the pins and push them (ingest latest, table-picker within its major, history pinned)',
    orchestration.work,
    { mode: 'push' },
    'main',
    {},
    'UpdateSubmodules@1',
  );
  console.log(
    `  components.lock.json:\n${readFileSync(join(orchestration.work.dir, 'components.lock.json'), 'utf8').replace(/^/gm, '    ')}`,
  );
  await step('main again: every pin is current, nothing to commit', orchestration.work, { mode: 'push' }, 'main', {}, 'UpdateSubmodules@1');
  await step(
    "the orchestration's own version, computed from the component changes since v1.0.0",
    orchestration.work,
    { component: 'orchestration', submodules: true, createTag: true, pushTag: true },
    'main',
  );
  console.log(`  orchestration ${git(orchestration.bare, 'describe', '--tags', 'main')} = ${readLock(orchestration.work.dir)}`);

  console.log(`\n== The whole flow: a library through examples/whole-flow/library.yml, dev → pre → pro, build by build ==`);
  await wholeFlow(join(workspace, 'remotes'));

  await sampleData();
  await deployToWorkspace(orchestration.work, join(workspace, 'remotes'), {
    ingest: git(remote, 'rev-parse', 'v1.0.0^{commit}'),
    'table-picker': picker.commits['v1.2.0'],
    history: history.commits['v1.2.0'],
  });
}

/**
 * The library "loader" through the template examples/whole-flow/library.yml, as its pipeline
 * runs it: a build of dev, then of pre (started by the promotion's push), then of pro. Each step
 * the template runs is printed as the agent expands it; the feed, the Databricks workspace and
 * Azure DevOps (statuses, gates) are contract servers.
 */
async function wholeFlow(remotes: string): Promise<void> {
  const services = await startFlowServices();
  try {
    const loader = envRepo('loader', ['dev', 'pre', 'pro'], { base: remotes });
    loader.author.git('checkout', '-q', 'dev');
    loader.author.write(
      'pyproject.toml',
      '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "loader"\nversion = "1.0.0"\n',
    );
    loader.author.write('src/loader/__init__.py', '__version__ = "1.0.0"\n');
    loader.author.write('.gitignore', 'dist/\nbuild/\n*.egg-info/\n');
    loader.author.commitAll('feat(loader): incremental loads');
    loader.author.git('push', '-q', 'origin', 'HEAD:refs/heads/dev');
    const repositoryId = services.ado.addRepository('loader').id;
    const parameters = {
      component: 'loader',
      feedUrl: services.feed.url,
      databricksPre: 'databricks-pre',
      databricksPro: 'databricks-pro',
    };
    const builds: Array<[string, string]> = [
      ['dev', 'dev: unit tests, a dev pre-release (not a release: no wheel), the tested commit promoted into pre'],
      ['pre', 'pre (started by that push): HEAD carries the candidate, so release=true: the rc wheel to the feed and pre; then into pro'],
      ['pro', "pro: the final on the candidate's commit: the final wheel to the feed and pro, with an init script"],
    ];
    for (const [branch, title] of builds) {
      console.log(`\n${bold(`▶ ${title}`)}`);
      await runFlowBuild('library.yml', loader, branch, services, {
        parameters,
        repositoryId,
        check: (run) => run,
        onStep: (step, inputs, run) => {
          if (!run) return console.log(dim(`  [stage ${step.stage}] a script posts the commit status ${inputs.genre}/${inputs.name}`));
          console.log(
            dim(
              `  [stage ${step.stage}]\n${yamlStep(step.task, step.name ?? '', inputs, { 'Build.SourceBranch': `refs/heads/${branch}` })}`,
            ),
          );
          printRun(run);
        },
      });
    }
    for (const b of ['dev', 'pre', 'pro'])
      console.log(
        `  ${b.padEnd(3)} ${git(loader.bare, 'log', '-1', '--format=%h %s', b)} ${git(loader.bare, 'tag', '--points-at', b).split('\n').filter(Boolean).join(' ')}`,
      );
    console.log(`  feed: ${[...services.feed.files.keys()].join(', ')}`);
    console.log(`  volumes: ${[...services.db.state.files.keys()].join(', ')}`);
  } finally {
    await services.stop();
  }
}

/**
 * DeployToDatabricks: the orchestration release above (its gitlinks and lock file) deployed to a
 * stand-in pro workspace (the Repos/Jobs contract server), whose Git folders and nightly jobs are
 * where the previous release left them; the bill of materials printed.
 */
async function deployToWorkspace(orchestration: Repo, remotes: string, previous: Record<string, string>): Promise<void> {
  const ws = await startDatabricksServer();
  try {
    ws.addDirectory('/Workspace/pro');
    for (const [name, commit] of Object.entries(previous)) {
      const url = join(remotes, `${name}.git`);
      const remote = remoteOf(url);
      ws.addRemote(url, remote);
      const tag = Object.entries(remote.tags).find(([, sha]) => sha === commit)![0];
      ws.addRepo(`/Workspace/pro/${name}`, url, { tag });
      ws.addJob(`${name} nightly`, { git_url: url, git_provider: 'azureDevOpsServices', git_commit: commit });
    }
    const inputs = {
      databricksConnection: 'databricks-pro',
      gitFolders: '/Workspace/pro/{component}',
      jobs: Object.keys(previous)
        .map((n) => `${n} nightly`)
        .join('\n'),
    };
    console.log(
      `\n${bold(`▶ DeployToDatabricks: the orchestration release (${readLock(orchestration.dir)}) into a stand-in pro workspace`)}`,
    );
    console.log(dim(yamlStep('DeployToDatabricks@1', 'deploy', inputs, { workspace: ws.url })));
    const run = await runTask('deploy-to-databricks', {
      inputs: { workingDirectory: orchestration.dir, ...inputs },
      endpoints: { 'databricks-pro': { url: ws.url, scheme: 'Token', parameters: { apitoken: ws.token } } },
      variables: { 'Build.SourcesDirectory': orchestration.dir },
    });
    const log = run.stdout.split('\n').filter((l) => l.trim() && !l.includes('##vso[') && !l.startsWith('##['));
    console.log(`  log: ${log.join('\n       ')}`);
    console.log(`  result: ${run.result}${run.result === 'Succeeded' ? '' : ` — ${run.resultMessage}`}`);
    const summary = run.summaries[0]?.split('\n').filter((l) => l && !/^\|[-|:]+\|$/.test(l) && !l.startsWith('### '));
    if (summary?.length) console.log(`  bill of materials (Summary):\n           ${summary.join('\n           ')}`);
    const again = await runTask('deploy-to-databricks', {
      inputs: { workingDirectory: orchestration.dir, ...inputs },
      endpoints: { 'databricks-pro': { url: ws.url, scheme: 'Token', parameters: { apitoken: ws.token } } },
    });
    console.log(
      `  the same deploy again: ${again.result}, ${(JSON.parse(again.outputs.deployed ?? '[]') as { changed: boolean }[]).filter((d) => d.changed).length} target(s) moved`,
    );
    if (run.result !== 'Succeeded') process.exitCode = 1;
  } finally {
    await ws.stop();
  }
}

/** RegenerateSampleData: a PRO folder of 1M orders regenerated into PRE (10%) and DEV (1,000 customers), masked; the report printed. */
async function sampleData(): Promise<void> {
  const dir = tempDir('relevo-demo-sample-');
  const started = Date.now();
  await makeSalesData(join(dir, 'data', 'pro'), { customers: 50_000, orders: 1_000_000, lines: 1, duplicates: 500 });
  const config = join(dir, 'sample-data.yml');
  writeFileSync(config, SALES_CONFIG('data/pro', 'parquet').replace(/out\//g, 'data/').replace('rows: 100', 'rows: 1000'));
  console.log(
    `\n${bold('▶ RegenerateSampleData: PRO (50,000 customers, 1,000,000 orders, 1,000,000 order lines, Parquet) → PRE 10% → DEV 1,000 customers, masked')}`,
  );
  console.log(
    dim(
      `  (PRO generated in ${Date.now() - started} ms) sample-data.yml:\n${readFileSync(config, 'utf8')
        .trim()
        .split('\n')
        .map((l) => `    ${l}`)
        .join('\n')}`,
    ),
  );
  const inputs = { configFile: config, maskingSalt: '$(SampleMaskingSalt)', reportFile: join(dir, 'report.json') };
  console.log(dim(yamlStep('RegenerateSampleData@1', 'sample', inputs, { SampleMaskingSalt: '(a secret variable)' })));
  const run = await runTask('regenerate-sample-data', {
    inputs: { ...inputs, maskingSalt: 'demo-salt-kept-secret' },
    variables: { 'Agent.ToolsDirectory': seededToolCache() },
  });
  const log = run.stdout.split('\n').filter((l) => l.trim() && !l.includes('##vso['));
  console.log(`  log: ${log.join('\n       ')}`);
  console.log(`  result: ${run.result}${run.result === 'Succeeded' ? '' : ` — ${run.resultMessage}`}`);
  console.log(
    `  outputs: ${Object.entries(run.outputs)
      .map(([k, v]) => `${k}=${v}`)
      .join('  ')}`,
  );
  const summary = run.summaries[0]?.split('\n').filter((l) => l && !/^\|[-|:]+\|$/.test(l) && !l.startsWith('### '));
  if (summary?.length) console.log(`  summary: ${summary.join('\n           ')}`);
  if (existsSync(join(dir, 'report.json')))
    console.log(
      `  report (${join(dir, 'report.json')}):\n${readFileSync(join(dir, 'report.json'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => `    ${l}`)
        .join('\n')}`,
    );
  if (run.result !== 'Succeeded') process.exitCode = 1;
}

/** "ingest v1.1.0 + table-picker v1.3.1 + …" from the lock file. */
function readLock(dir: string): string {
  const lock = JSON.parse(readFileSync(join(dir, 'components.lock.json'), 'utf8')) as {
    components: { name: string; tag: string | null }[];
  };
  return lock.components.map((c) => `${c.name} ${c.tag ?? '(untagged)'}`).join(' + ');
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    if (!process.env.RELEVO_KEEP_TEMP) cleanTempDirs();
  });
