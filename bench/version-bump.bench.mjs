// Benchmarks the built VersionBump task (dist/tasks/version-bump/index.js) on two synthetic
// repositories, against the floors (node startup, `git log` of the range) and the peer
// conventional-recommended-bump. Every timed run is checked: the task must succeed with the
// expected version, the peer must read the same range and recommend the expected bump.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, goal, snapshotTask, syntheticRepo, timeInterleaved } from './lib.mjs';

// Bump when the repositories below change: cached copies under .bench/ are keyed by it.
const REPO_VERSION = 'v1';
// BENCH_RUNS: more timed rounds on a noisy machine (the median is taken either way).
const RUNS = Number(process.env.BENCH_RUNS) || 5;
const WARMUP = 1;

const PEER = join(ROOT, 'bench', 'peer-bump.mjs');

/** Ordinary history: a mix of conventional types, every 7th commit with a body. No breaking changes. */
function routineMessage(i) {
  const kind = i % 10;
  const header =
    kind <= 2
      ? `fix: change ${i}`
      : kind === 3
        ? `feat: thing ${i}`
        : kind <= 7
          ? `chore: ${i}`
          : kind === 8
            ? `docs: note ${i}`
            : `refactor(core): tidy ${i}`;
  return i % 7 === 0 ? `${header}\n\nLonger explanation of change ${i},\nspread over two lines.\n\nRefs: #${i}\n` : `${header}\n`;
}

const REPOS = [
  {
    key: 'a',
    name: 'history-100k',
    title: '(a) 100,000 commits; last release v2.0.0 is 50 commits back',
    commits: 100_000,
    tags: [
      { name: 'v0.1.0', at: 10 },
      { name: 'v0.2.0', at: 5_000 },
      { name: 'v1.0.0', at: 50_000, annotated: true },
      { name: 'v1.1.0', at: 70_000 },
      { name: 'v1.2.0', at: 90_000, annotated: true },
      { name: 'v2.0.0', at: 99_950, annotated: true },
    ],
    special: {
      49_999: 'feat!: remove the legacy API\n',
      99_949: 'feat(core): new engine\n\nBREAKING CHANGE: the engine API changed.\n',
    },
    lastTag: 'v2.0.0',
    expected: { version: '2.1.0', releaseType: 'minor', commitCount: 50 },
  },
  {
    key: 'b',
    name: 'since-tag-20k',
    title: '(b) 20,100 commits; 20,000 since the last release v1.0.0',
    commits: 20_100,
    tags: [
      { name: 'v0.1.0', at: 10 },
      { name: 'v1.0.0', at: 100, annotated: true },
    ],
    special: { 99: 'feat!: first stable API\n' },
    lastTag: 'v1.0.0',
    expected: { version: '1.1.0', releaseType: 'minor', commitCount: 20_000 },
  },
];

const messageOf = (repo) => (i) => repo.special[i] ?? routineMessage(i);

/** The expectation, recomputed from the messages the generator wrote (guards the constants above). */
function expectationFromHistory(repo) {
  const tag = repo.tags.find((t) => t.name === repo.lastTag);
  const msg = messageOf(repo);
  let level = 0; // 0 none, 1 patch, 2 minor, 3 major
  for (let i = tag.at + 1; i <= repo.commits; i++) {
    const m = msg(i);
    if (/^\w+(\([^)]*\))?!:/.test(m) || /^BREAKING[ -]CHANGE:/m.test(m)) level = Math.max(level, 3);
    else if (/^feat(\(|:)/.test(m)) level = Math.max(level, 2);
    else if (/^(fix|perf|revert)(\(|:)/.test(m)) level = Math.max(level, 1);
  }
  const [major, minor, patch] = repo.lastTag.slice(1).split('.').map(Number);
  const version = [null, `${major}.${minor}.${patch + 1}`, `${major}.${minor + 1}.0`, `${major + 1}.0.0`][level] ?? repo.lastTag.slice(1);
  return { version, releaseType: [null, 'patch', 'minor', 'major'][level], commitCount: repo.commits - tag.at };
}

function outputs(stdout) {
  const out = {};
  for (const m of stdout.matchAll(/^##vso\[task\.setvariable variable=([^;]+);[^\]]*\](.*)$/gm)) out[m[1]] = m[2];
  return out;
}

function checkTask(repo) {
  return (r) => {
    const complete = /^##vso\[task\.complete[^\]]*\].*$/m.exec(r.stdout)?.[0];
    const o = outputs(r.stdout);
    const problems = [];
    if (r.status !== 0) problems.push(`exit code ${r.status}`);
    if (!complete?.includes('result=Succeeded')) problems.push(`task.complete: ${complete ?? '(none)'}`);
    if (o.version !== repo.expected.version) problems.push(`version ${o.version} (expected ${repo.expected.version})`);
    if (o.previousVersion !== repo.lastTag.slice(1))
      problems.push(`previousVersion ${o.previousVersion} (expected ${repo.lastTag.slice(1)})`);
    if (o.commitCount !== String(repo.expected.commitCount))
      problems.push(`commitCount ${o.commitCount} (expected ${repo.expected.commitCount})`);
    if (problems.length) {
      throw new Error(
        `VersionBump on repo ${repo.key}: ${problems.join('; ')}\n--- stdout ---\n${r.stdout.slice(-4000)}\n--- stderr ---\n${r.stderr.slice(-4000)}`,
      );
    }
  };
}

function checkPeer(repo) {
  return (r) => {
    let res;
    try {
      if (r.status !== 0) throw new Error(`exit code ${r.status}`);
      res = JSON.parse(r.stdout.trim().split('\n').pop());
    } catch (err) {
      throw new Error(`peer on repo ${repo.key} failed: ${err.message}\n${r.stdout}\n${r.stderr}`);
    }
    if (res.releaseType !== repo.expected.releaseType || res.commitCount !== repo.expected.commitCount) {
      throw new Error(
        `peer on repo ${repo.key}: ${JSON.stringify(res)} (expected releaseType ${repo.expected.releaseType}, ${repo.expected.commitCount} commits)`,
      );
    }
  };
}

function checkFloor(repo) {
  return (r) => {
    const lines = r.stdout.split('\n').filter(Boolean).length;
    if (r.status !== 0 || lines !== repo.expected.commitCount)
      throw new Error(`git log on repo ${repo.key}: exit ${r.status}, ${lines} lines (expected ${repo.expected.commitCount}): ${r.stderr}`);
  };
}

const fmt = (ms) => ms.toFixed(1);

export default async function run() {
  const agentTemp = mkdtempSync(join(tmpdir(), 'relevo-bench-'));
  try {
    // A private copy of the build: dist/ may be rebuilt by someone else while this runs.
    const { script: TASK, builtAt } = snapshotTask('version-bump', join(agentTemp, 'task', 'version-bump'));
    console.log(`  task built ${builtAt.toISOString()}; ${RUNS} timed rounds after ${WARMUP} warm-up, interleaved; medians`);
    const results = [];
    for (const repo of REPOS) {
      const computed = expectationFromHistory(repo);
      if (JSON.stringify(computed) !== JSON.stringify(repo.expected)) {
        throw new Error(
          `repo ${repo.key}: the history implies ${JSON.stringify(computed)}, the bench expects ${JSON.stringify(repo.expected)}`,
        );
      }
      const { dir, built, ms } = syntheticRepo(repo.name, REPO_VERSION, {
        commits: repo.commits,
        message: messageOf(repo),
        tags: repo.tags,
      });
      console.log(`\n${repo.title}`);
      console.log(
        `  repo ${dir} (${built ? `generated in ${(ms / 1000).toFixed(1)} s` : 'cached'}); expected ${repo.expected.version} from ${repo.expected.commitCount} commits since ${repo.lastTag}`,
      );

      const env = {
        ...process.env,
        INPUT_WORKINGDIRECTORY: dir,
        BUILD_SOURCEBRANCH: 'refs/heads/main',
        INPUT_BUMP: 'auto',
        AGENT_TEMPDIRECTORY: agentTemp,
      };
      const node = process.execPath;
      const commands = [
        { name: 'node -e 0', cmd: node, args: ['-e', '0'], opts: { cwd: dir } },
        {
          name: `git log --format=%s ${repo.lastTag}..HEAD`,
          cmd: 'git',
          args: ['log', '--format=%s', `${repo.lastTag}..HEAD`],
          opts: { cwd: dir },
          check: checkFloor(repo),
        },
        { name: 'VersionBump', cmd: node, args: [TASK], opts: { cwd: dir, env }, check: checkTask(repo) },
        { name: 'conventional-recommended-bump', cmd: node, args: [PEER, dir], opts: { cwd: dir }, check: checkPeer(repo) },
      ];
      const t = timeInterleaved(commands, { runs: RUNS, warmup: WARMUP });
      console.log(`  ${'command'.padEnd(44)} ${'median ms'.padStart(10)}   runs (ms)`);
      for (const c of commands) {
        const { median, samples } = t.get(c.name);
        console.log(`  ${c.name.padEnd(44)} ${fmt(median).padStart(10)}   ${samples.map(fmt).join(' ')}`);
      }
      const startup = t.get('node -e 0').median;
      const floor = t.get(commands[1].name).median;
      const vb = t.get('VersionBump').median;
      const peer = t.get('conventional-recommended-bump').median;
      if (repo.key === 'a') {
        const overhead = vb - startup - floor;
        results.push(
          goal('(a) VersionBump − (node -e 0) − git log', `${fmt(overhead)} ms`, '≤ 100 ms', overhead <= 100) +
            `   (${(overhead / 100).toFixed(2)}× the goal)`,
        );
      } else {
        results.push(goal('(b) VersionBump / git log', `${(vb / floor).toFixed(2)}×`, '≤ 1.5×', vb / floor <= 1.5));
        results.push(goal('(b) conventional-recommended-bump / VersionBump', `${(peer / vb).toFixed(2)}×`, '≥ 3×', peer / vb >= 3));
      }
      for (const line of results.slice(-(repo.key === 'a' ? 1 : 2))) console.log(line);
    }
    console.log('\nVersionBump against its goals');
    for (const line of results) console.log(line);
  } finally {
    rmSync(agentTemp, { recursive: true, force: true });
  }
}
