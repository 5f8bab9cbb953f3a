// Benchmarks the built VersionBump task on a maintenance branch while a newer line carries
// 3,000 release tags that the built commit never reaches, against a twin repository with the
// same commits but without those tags. Issue: building release/1.4 took 57 s with the 3,000
// tags against 0.27 s without; the fix asks git once which tags HEAD contains
// (`for-each-ref --merged`), and deepens a shallow clone only along the built branch.
//
// Two cases, each timed interleaved in both repositories:
// - full clone (with origin, all tags, HEAD detached at release/1.4);
// - depth-1 clone (`--depth 1 --no-tags --branch release/1.4` over file://, which honours
//   --depth), made fresh before every run, outside the timing; the objects the run fetched
//   are counted too.
// Every timed run must succeed with version 1.4.3-rc.1 from the 10 fixes since v1.4.2.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BASE_TIME, IDENT, cachedDir, data, git, goal, median, snapshotTask, timeInterleaved } from './lib.mjs';

// Bump when the repositories below change: cached copies under .bench/ are keyed by it.
const REPO_VERSION = 'v1';
const RUNS = 5;
const WARMUP = 1;

const BRANCH = 'release/1.4';

// main: commits 1..300 with these releases; release/1.4 forks at v1.4.0.
const MAIN_COMMITS = 300;
const MAIN_TAGS = [
  { name: 'v1.0.0', at: 50, annotated: true },
  { name: 'v1.1.0', at: 100 },
  { name: 'v1.2.0', at: 150, annotated: true },
  { name: 'v1.3.0', at: 200 },
  { name: 'v1.4.0', at: 250, annotated: true },
  { name: 'v1.5.0', at: 300, annotated: true },
];
const FORK_AT = 250;
// release/1.4: 30 fixes on top of v1.4.0; v1.4.1 and v1.4.2 on its 10th and 20th.
const BRANCH_COMMITS = 30;
const BRANCH_TAGS = [
  { name: 'v1.4.1', at: 10, annotated: true },
  { name: 'v1.4.2', at: 20 },
];
// The newer line: main goes on with 3,000 commits, each tagged v2.0.0, v2.1.0, … v31.99.0
// (every other one annotated) in the many-tags repository, untagged in the twin.
const NEWER_COMMITS = 3_000;
const newerTag = (k) => ({ name: `v${2 + Math.floor(k / 100)}.${k % 100}.0`, annotated: k % 2 === 1 });

const EXPECTED = { version: '1.4.3-rc.1', previousVersion: '1.4.2', commitCount: BRANCH_COMMITS - 20, channel: 'rc' };

const REPOS = [
  { key: 'many', name: 'unreached-tags-3000', label: '3,000 tags', newerTags: true },
  { key: 'twin', name: 'unreached-tags-twin', label: 'twin', newerTags: false },
];

function mainMessage(i) {
  const kind = i % 5;
  return kind === 0 ? `feat: feature ${i}\n` : kind <= 2 ? `fix: fix ${i}\n` : `chore: housekeeping ${i}\n`;
}

/** The fast-import stream of both repositories; they differ only in the newer line's tags. */
function stream(newerTags) {
  const parts = [];
  const commit = (ref, mark, when, message, file, content, from) =>
    parts.push(
      `commit ${ref}\nmark :${mark}\nauthor ${IDENT} ${when} +0000\ncommitter ${IDENT} ${when} +0000\n${data(message)}` +
        (from ? `from :${from}\n` : '') +
        (mark === 1 ? `M 100644 inline README.md\n${data('# Synthetic bench repository\n')}` : '') +
        `M 100644 inline ${file}\n${data(content)}\n`,
    );
  const tag = (t, mark, when) =>
    parts.push(
      t.annotated
        ? `tag ${t.name}\nfrom :${mark}\ntagger ${IDENT} ${when} +0000\n${data(`Release ${t.name}`)}`
        : `reset refs/tags/${t.name}\nfrom :${mark}\n\n`,
    );

  for (let i = 1; i <= MAIN_COMMITS; i++) {
    commit('refs/heads/main', i, BASE_TIME + i, mainMessage(i), `src/mod${i % 20}.txt`, `change ${i}\n`);
    for (const t of MAIN_TAGS.filter((t) => t.at === i)) tag(t, i, BASE_TIME + i);
  }
  for (let j = 1; j <= BRANCH_COMMITS; j++) {
    const mark = 100_000 + j;
    const when = BASE_TIME + 100_000 + j;
    commit(
      `refs/heads/${BRANCH}`,
      mark,
      when,
      `fix: backport ${j}\n`,
      `src/mod${j % 20}.txt`,
      `backport ${j}\n`,
      j === 1 ? FORK_AT : undefined,
    );
    for (const t of BRANCH_TAGS.filter((t) => t.at === j)) tag(t, mark, when);
  }
  for (let k = 0; k < NEWER_COMMITS; k++) {
    const i = MAIN_COMMITS + 1 + k;
    commit('refs/heads/main', i, BASE_TIME + i, mainMessage(i), `src/mod${i % 20}.txt`, `change ${i}\n`);
    if (newerTags) tag(newerTag(k), i, BASE_TIME + i);
  }
  return parts.join('');
}

/** `origin.git` (bare, served over file://) and `full`, a full clone of it with HEAD detached at release/1.4. */
function buildRepo(repo) {
  return cachedDir(repo.name, REPO_VERSION, (tmp, dir) => {
    const bare = join(tmp, 'origin.git');
    git(tmp, ['init', '-q', '--bare', '-b', 'main', bare]);
    git(bare, ['config', 'gc.auto', '0']);
    git(bare, ['fast-import', '--quiet'], stream(repo.newerTags));
    git(bare, ['repack', '-a', '-d', '-q']); // one ordinary pack, as a server would have
    git(tmp, ['clone', '-q', '--branch', BRANCH, `file://${bare}`, 'full']);
    const full = join(tmp, 'full');
    git(full, ['remote', 'set-url', 'origin', `file://${join(dir, 'origin.git')}`]);
    git(full, ['checkout', '-q', '--detach']);
  });
}

function outputs(stdout) {
  const out = {};
  for (const m of stdout.matchAll(/^##vso\[task\.setvariable variable=([^;]+);[^\]]*\](.*)$/gm)) out[m[1]] = m[2];
  return out;
}

function checkTask(what, after) {
  return (r) => {
    const complete = /^##vso\[task\.complete[^\]]*\].*$/m.exec(r.stdout)?.[0];
    const o = outputs(r.stdout);
    const problems = [];
    if (r.status !== 0) problems.push(`exit code ${r.status}`);
    if (!complete?.includes('result=Succeeded')) problems.push(`task.complete: ${complete ?? '(none)'}`);
    for (const [k, v] of Object.entries(EXPECTED)) if (o[k] !== String(v)) problems.push(`${k} ${o[k]} (expected ${v})`);
    if (problems.length)
      throw new Error(
        `VersionBump, ${what}: ${problems.join('; ')}\n--- stdout ---\n${r.stdout.slice(-4000)}\n--- stderr ---\n${r.stderr.slice(-4000)}`,
      );
    after?.(r);
  };
}

/** Objects in a repository: loose plus packed (fetched objects no ref points at count too). */
function objectCount(dir) {
  const kv = Object.fromEntries(
    git(dir, ['count-objects', '-v'])
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(': ')),
  );
  return Number(kv.count) + Number(kv['in-pack']);
}

const fmt = (ms) => ms.toFixed(1);

function printTable(commands, t) {
  console.log(`  ${'command'.padEnd(44)} ${'median ms'.padStart(10)}   runs (ms)`);
  for (const c of commands) {
    const { median: m, samples } = t.get(c.name);
    console.log(`  ${c.name.padEnd(44)} ${fmt(m).padStart(10)}   ${samples.map(fmt).join(' ')}`);
  }
}

export default async function run() {
  const agentTemp = mkdtempSync(join(tmpdir(), 'relevo-bench-'));
  const clones = mkdtempSync(join(tmpdir(), 'relevo-bench-shallow-'));
  const scratch = mkdtempSync(join(tmpdir(), 'relevo-bench-task-'));
  const node = process.execPath;
  const envFor = (dir) => ({
    ...process.env,
    INPUT_WORKINGDIRECTORY: dir,
    BUILD_SOURCEBRANCH: `refs/heads/${BRANCH}`,
    INPUT_BUMP: 'auto',
    AGENT_TEMPDIRECTORY: agentTemp,
  });
  try {
    // A private copy of the build: dist/ may be rebuilt by someone else while this runs.
    const { script: TASK, builtAt } = snapshotTask('version-bump', join(scratch, 'version-bump'));
    console.log(
      `\nMaintenance branch ${BRANCH} (${BRANCH_COMMITS} fixes on v1.4.0; v1.4.1, v1.4.2) while main carries ${NEWER_COMMITS.toLocaleString('en-US')} newer tags HEAD never reaches`,
    );
    const built = REPOS.map((repo) => ({ ...repo, ...buildRepo(repo) }));
    for (const r of built) {
      const tags = git(join(r.dir, 'origin.git'), ['for-each-ref', '--format=x', 'refs/tags']).split('\n').filter(Boolean).length;
      console.log(`  ${r.label.padEnd(10)} ${r.dir} (${r.built ? `generated in ${(r.ms / 1000).toFixed(1)} s` : 'cached'}); ${tags} tags`);
    }
    console.log(`  task: dist/tasks/version-bump built ${builtAt.toISOString()}, run from a copy`);
    console.log(`  expected ${EXPECTED.version} (rc channel) from ${EXPECTED.commitCount} commits since v${EXPECTED.previousVersion}`);

    // (c) Full clone: all history and tags, origin over file://.
    console.log(`\n(c) full clone, HEAD detached at ${BRANCH}`);
    const fullCommands = [
      { name: 'node -e 0', cmd: node, args: ['-e', '0'] },
      ...built.map((r) => {
        const dir = join(r.dir, 'full');
        return {
          name: `VersionBump (${r.label})`,
          cmd: node,
          args: [TASK],
          opts: { cwd: dir, env: envFor(dir) },
          check: checkTask(`full clone, ${r.label}`),
        };
      }),
    ];
    const tf = timeInterleaved(fullCommands, { runs: RUNS, warmup: WARMUP });
    printTable(fullCommands, tf);
    const fullRatio = tf.get('VersionBump (3,000 tags)').median / tf.get('VersionBump (twin)').median;
    console.log(goal('VersionBump: 3,000 tags / twin', `${fullRatio.toFixed(2)}×`, '≤ 2×', fullRatio <= 2));

    // (d) Depth-1 clone, fresh for every run; objects fetched = objects after the run − objects
    // after cloning (count-objects: loose + packed, so objects no ref points at count too).
    // Floor, per repository: the one deepening step this case needs (50 commits of
    // release/1.4, the task's first step) run alone with git in a fresh depth-1 clone.
    console.log(`\n(d) depth-1 clone (--depth 1 --no-tags --branch ${BRANCH}, file://), fresh for every run`);
    const fetched = new Map();
    const deepenLog = new Map();
    const freshClone = (key, origin) => {
      const dir = join(clones, key);
      let before = 0;
      fetched.set(key, []);
      return {
        dir,
        before: () => {
          rmSync(dir, { recursive: true, force: true });
          git(clones, ['clone', '-q', '--depth', '1', '--no-tags', '--branch', BRANCH, `file://${origin}`, dir]);
          git(dir, ['checkout', '-q', '--detach']);
          before = objectCount(dir);
        },
        count: () => fetched.get(key).push(objectCount(dir) - before),
      };
    };
    const shallowCommands = built.map((r) => {
      const clone = freshClone(r.key, join(r.dir, 'origin.git'));
      return {
        name: `VersionBump (${r.label})`,
        cmd: node,
        args: [TASK],
        opts: { cwd: clones, env: envFor(clone.dir) },
        before: clone.before,
        check: checkTask(`depth-1 clone, ${r.label}`, (res) => {
          clone.count();
          deepenLog.set(
            r.key,
            res.stdout
              .split('\n')
              .filter((l) => /shallow clone/i.test(l))
              .map((l) => l.trim()),
          );
        }),
      };
    });
    const floorName = (r) => `git fetch --deepen=50 (floor, ${r.label})`;
    for (const r of built) {
      const clone = freshClone(`floor-${r.key}`, join(r.dir, 'origin.git'));
      shallowCommands.push({
        name: floorName(r),
        cmd: 'git',
        args: ['fetch', '--no-tags', '--quiet', '--no-write-fetch-head', '--deepen=50', 'origin', `refs/heads/${BRANCH}`],
        opts: { cwd: clone.dir },
        before: clone.before,
        check: (res) => {
          if (res.status !== 0) throw new Error(`${floorName(r)}: exit ${res.status}: ${res.stderr}`);
          clone.count();
        },
      });
    }
    const ts = timeInterleaved(shallowCommands, { runs: RUNS, warmup: WARMUP });
    printTable(shallowCommands, ts);
    const objs = new Map([...fetched].map(([k, xs]) => [k, { median: median(xs.slice(WARMUP)), all: [...new Set(xs)] }]));
    const objLine = (label, key) => {
      const o = objs.get(key);
      console.log(
        `  ${`objects fetched, ${label}`.padEnd(44)} ${String(o.median).padStart(10)}   ${o.all.length > 1 ? `varied: ${o.all.join(', ')}` : 'same every run'}`,
      );
    };
    for (const r of built) objLine(`VersionBump (${r.label})`, r.key);
    for (const r of built) objLine(`floor (${r.label})`, `floor-${r.key}`);
    for (const r of built) for (const l of deepenLog.get(r.key) ?? []) console.log(`  ${r.label} logged: ${l}`);
    const ms = (name) => ts.get(name).median;
    for (const r of built) {
      const over = ms(`VersionBump (${r.label})`) - ms(floorName(r));
      console.log(
        `  ${`VersionBump − floor (${r.label})`.padEnd(44)} ${`${fmt(over)} ms`.padStart(10)}   the task's own cost over the deepening it needs`,
      );
    }
    const shallowRatio = ms('VersionBump (3,000 tags)') / ms('VersionBump (twin)');
    console.log(goal('VersionBump: 3,000 tags / twin', `${shallowRatio.toFixed(2)}×`, '≤ 2×', shallowRatio <= 2));
    const many = objs.get('many').median;
    const twin = objs.get('twin').median;
    console.log(goal('objects fetched: 3,000 tags / twin', `${(many / twin).toFixed(2)}×`, '≤ 2×', many <= 2 * twin));
    for (const r of built) {
      const n = objs.get(r.key).median;
      const floor = objs.get(`floor-${r.key}`).median;
      console.log(goal(`objects fetched: ${r.label} / floor`, `${(n / floor).toFixed(2)}×`, '≤ 2×', n <= 2 * floor));
    }
  } finally {
    rmSync(agentTemp, { recursive: true, force: true });
    rmSync(clones, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
}
