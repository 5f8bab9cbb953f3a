/**
 * `npm run demo`: builds a sample workspace in a temp folder and runs each task that exists,
 * exactly as the agent runs it (node dist/tasks/<folder>/index.js with INPUT_* and BUILD_*
 * variables), printing what a pipeline author would see: result, outputs, summary.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTask, type TaskRun } from '../test/support/agentRunner';
import { cleanTempDirs, git, Repo, tempDir } from '../test/support/repo';

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

function show(step: string, run: TaskRun): void {
  console.log(`\n${bold(step)}`);
  console.log(`  result: ${run.result}${run.result === 'Succeeded' ? '' : ` — ${run.resultMessage}`}`);
  const o = run.outputs;
  if (o.version) console.log(`  version=${o.version}  tag=${o.tag}  pep440Version=${o.pep440Version}  bump=${o.bump}  previousVersion=${o.previousVersion || '(none)'}  changed=${o.changed}  commitCount=${o.commitCount}`);
  for (const w of run.warnings) console.log(`  warning: ${w}`);
  // The Summary tab's text without its table: why, the commits that drove it, what was done.
  const summary = run.summaries[0]?.split('\n').filter((l) => l && !l.startsWith('|') && !l.startsWith('###'));
  if (summary?.length) console.log(`  summary: ${summary.join('\n           ')}`);
  if (run.result !== 'Succeeded') process.exitCode = 1;
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

  const versionBump = (branch: string, inputs: Record<string, string | boolean> = {}) => {
    ingest.detach();
    return runTask('version-bump', {
      inputs: { workingDirectory: ingest.dir, component: 'ingest', createTag: true, pushTag: true, ...inputs },
      variables: { 'Build.SourceBranch': `refs/heads/${branch}`, 'Build.SourcesDirectory': ingest.dir },
    });
  };

  console.log(`\n== VersionBump: one component moving dev → pre → pro ==`);
  show('develop: every CI run gets a dev pre-release', await versionBump('develop'));

  ingest.git('checkout', '-q', '-b', 'release/1.1', 'develop');
  ingest.git('push', '-q', 'origin', 'release/1.1');
  show('release/1.1: a release candidate for the tests to judge', await versionBump('release/1.1', { versionFiles: 'pyproject.toml\nsrc/ingest/__init__.py' }));
  console.log(`  pyproject.toml now says: ${/version = "(.*)"/.exec(readFileSync(join(ingest.dir, 'pyproject.toml'), 'utf8'))![1]} (PEP 440, for the wheel)`);
  git(ingest.dir, 'checkout', '-q', '--', '.');

  ingest.git('checkout', '-q', 'main');
  ingest.git('merge', '-q', '--ff-only', 'release/1.1');
  ingest.git('push', '-q', 'origin', 'main');
  show('main: the tested candidate v1.1.0-rc.1 becomes v1.1.0 as it is', await versionBump('main'));
  show('main again: re-running changes nothing', await versionBump('main'));
  show('dry run of a breaking change on a feature branch', await (async () => {
    ingest.git('checkout', '-q', '-b', 'feature/new-schema', 'main');
    ingest.commit('feat!: bronze tables keyed by ingestion date', 'src/ingest/schema.py');
    return versionBump('feature/new-schema', { dryRun: true });
  })());

  console.log(`\nTags on the remote: ${git(remote, 'tag', '--list').split('\n').join(', ')}`);
  console.log('\nThe other tasks (BuildWheel, PromoteBranch, UpdateSubmodules, RegenerateSampleData) join this demo as they land.');
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    if (!process.env.RELEVO_KEEP_TEMP) cleanTempDirs();
  });
