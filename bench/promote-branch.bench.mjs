// Benchmarks the built PromoteBranch task (dist/tasks/promote-branch/index.js) promoting dev → pre
// across 20 component repositories plus the orchestration that pins them (21 local bare remotes,
// 21 agent checkouts), against the floor: the same moves done repo by repo with plain git (an
// annotated tag and one push of the branch and the tag per repository), in one shell script. The
// task does every check on top (remote refs read, ancestry, candidate numbering from the history,
// tag collisions, the orchestration's pins against its components' plans). Every timed run starts
// from a fresh copy of the workspace and is checked: pre of every remote at the dev commit, the tag on it.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedDir, git, goal, snapshotTask, timeInterleaved } from './lib.mjs';

// Bump when the workspace below changes: the cached copy under .bench/ is keyed by it.
const REPO_VERSION = 'v1';
const RUNS = 5;
const WARMUP = 1;
const COMPONENTS = 20;
const GOAL = 1.2;
const TAG = 'v1.1.0-rc.1';

const names = [...Array.from({ length: COMPONENTS }, (_, i) => `c${String(i).padStart(2, '0')}`), 'orchestration'];
const ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Bench',
  GIT_AUTHOR_EMAIL: 'bench@example.com',
  GIT_COMMITTER_NAME: 'Bench',
  GIT_COMMITTER_EMAIL: 'bench@example.com',
  LC_ALL: 'C',
};
const g = (cwd, ...args) => {
  const saved = process.env;
  process.env = ENV;
  try {
    return git(cwd, args).trim();
  } finally {
    process.env = saved;
  }
};

/** remotes/<name>.git with dev, pre, pro; dev one feat commit ahead; agent/<name> a clone detached at dev. */
function buildWorkspace(tmp) {
  const devCommits = {};
  for (const name of names) {
    const work = join(tmp, 'authors', name);
    g(tmp, 'init', '-q', '-b', 'dev', work);
    g(work, 'commit', '-q', '--allow-empty', '-m', 'chore: start');
    g(work, 'tag', '-a', 'v1.0.0', '-m', 'v1.0.0');
    const bare = join(tmp, 'remotes', `${name}.git`);
    g(tmp, 'init', '-q', '--bare', '-b', 'dev', bare);
    g(work, 'remote', 'add', 'origin', bare);
    g(work, 'push', '-q', 'origin', 'HEAD:refs/heads/pre', 'HEAD:refs/heads/pro', '--tags');
    if (name === 'orchestration') {
      const gitmodules = names
        .filter((n) => n !== 'orchestration')
        .map((n) => `[submodule "${n}"]\n\tpath = components/${n}\n\turl = ../${n}.git\n`)
        .join('');
      g(work, 'config', 'core.autocrlf', 'false');
      writeFileSync(join(work, '.gitmodules'), gitmodules);
      g(work, 'add', '.gitmodules');
      for (const n of names.filter((x) => x !== 'orchestration'))
        g(work, 'update-index', '--add', '--cacheinfo', `160000,${devCommits[n]},components/${n}`);
      g(work, 'commit', '-q', '-m', 'feat: pin the components');
    } else {
      writeFileSync(join(work, 'src.txt'), `${name}\n`);
      g(work, 'add', '-A');
      g(work, 'commit', '-q', '-m', `feat: ${name} reads parquet`);
    }
    devCommits[name] = g(work, 'rev-parse', 'HEAD');
    g(work, 'push', '-q', 'origin', 'HEAD:refs/heads/dev');
    const agent = join(tmp, 'agent', name);
    g(tmp, 'clone', '-q', bare, agent);
    g(agent, 'checkout', '-q', '--detach', 'origin/dev');
  }
  writeFileSync(join(tmp, 'dev-commits.json'), JSON.stringify(devCommits));
}

export default async function run() {
  const { dir: template, built, ms } = cachedDir(`promote-${COMPONENTS + 1}-repos`, REPO_VERSION, (tmp) => buildWorkspace(tmp));
  if (built) console.log(`Built the workspace (${names.length} repositories) in ${(ms / 1000).toFixed(1)} s.`);
  const devCommits = JSON.parse(readFileSync(join(template, 'dev-commits.json'), 'utf8'));
  const scratch = mkdtempSync(join(tmpdir(), 'relevo-bench-promote-'));
  try {
    const { script } = snapshotTask('promote-branch', join(scratch, 'task'));
    const ws = join(scratch, 'ws');
    // A fresh copy of the workspace, its clones' remotes pointed at the copy's bare repositories.
    const fresh = () => {
      rmSync(ws, { recursive: true, force: true });
      cpSync(template, ws, { recursive: true });
      for (const n of names) g(join(ws, 'agent', n), 'remote', 'set-url', 'origin', join(ws, 'remotes', `${n}.git`));
    };
    const check = (label) => (r) => {
      if (r.status !== 0 || (label === 'task' && !/##vso\[task\.complete result=Succeeded;/.test(r.stdout)))
        throw new Error(`${label} failed: ${r.stdout.slice(-2000)}\n${r.stderr}`);
      for (const name of names) {
        const bare = join(ws, 'remotes', `${name}.git`);
        const pre = g(bare, 'rev-parse', 'refs/heads/pre');
        const tagged = g(bare, 'rev-parse', `refs/tags/${TAG}^{commit}`);
        if (pre !== devCommits[name] || tagged !== devCommits[name])
          throw new Error(`${label}: ${name} pre=${pre} tag=${tagged}, expected ${devCommits[name]}`);
      }
    };
    const floorScript = names
      .map(
        (n) =>
          `cd '${join(ws, 'agent', n)}' && git tag -a ${TAG} -m 'Release candidate ${TAG}' HEAD && git push -q origin HEAD:refs/heads/pre refs/tags/${TAG}`,
      )
      .join(' && \\\n');
    const agentTemp = join(scratch, 'agent-temp');
    const taskEnv = {
      ...ENV,
      AGENT_TEMPDIRECTORY: agentTemp,
      INPUT_TO: 'pre',
      INPUT_REPOSITORIES: names.map((n) => join(ws, 'agent', n)).join('\n'),
      BUILD_SOURCEBRANCH: 'refs/heads/dev',
      BUILD_SOURCESDIRECTORY: join(ws, 'agent'),
    };
    const results = timeInterleaved(
      [
        { name: 'floor', cmd: 'bash', args: ['-c', floorScript], opts: { env: ENV }, before: fresh, check: check('floor') },
        {
          name: 'task',
          cmd: process.execPath,
          args: [script],
          opts: { env: taskEnv },
          before: () => {
            fresh();
            rmSync(agentTemp, { recursive: true, force: true });
            mkdirSync(agentTemp);
          },
          check: check('task'),
        },
      ],
      { runs: RUNS, warmup: WARMUP },
    );
    const floor = results.get('floor').median;
    const task = results.get('task').median;
    console.log(`dev → pre across ${COMPONENTS} components + the orchestration (${names.length} local bare remotes), median of ${RUNS}:`);
    console.log(`  plain git, repo by repo (tag + one push each)       ${floor.toFixed(0).padStart(6)} ms`);
    console.log(`  PromoteBranch (every check, ${names.length} repositories)        ${task.toFixed(0).padStart(6)} ms`);
    console.log(goal('task / floor', `${(task / floor).toFixed(2)}x`, `≤ ${GOAL}x`, task / floor <= GOAL));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
