// Benchmarks the built UpdateSubmodules task (dist/tasks/update-submodules/index.js) on an
// orchestration repository with 50 submodules, each component remote carrying 200 version tags,
// against what a user would script (`git submodule update --init --remote`, then a checkout of
// the newest tag in each submodule, then a commit), and against a twin whose components carry
// 20 tags (the same 50 submodules): the task's cost should not follow the number of tags.
// Every timed run is checked: both must pin the same 50 commits, the newest tag of each component.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BASE_TIME, IDENT, cachedDir, data, git, goal, snapshotTask, timeInterleaved } from './lib.mjs';

// Bump when the repositories below change: cached copies under .bench/ are keyed by it.
const REPO_VERSION = 'v3';
const RUNS = 5;
const WARMUP = 1;
const COMPONENTS = 50;
const PARALLEL = 8; // the task's default `parallel`
const SETS = [
  { key: 'many', tags: 200, name: 'submodules-50x200' },
  { key: 'few', tags: 20, name: 'submodules-50x20' },
];

const pad = (n) => String(n).padStart(2, '0');
const componentName = (c) => `c${pad(c)}`;

/** Tag i of a component: v1.0.0, v1.0.1, … v1.0.4, v1.1.0, … v1.9.4, v2.0.0, … (50 per major). */
function versionOf(i) {
  return `v${1 + Math.floor(i / 50)}.${Math.floor((i % 50) / 5)}.${i % 5}`;
}

/**
 * One component: a start commit, then one small commit per tag, each tagged; every other tag
 * annotated (alternating between components, so half of them have an annotated newest tag).
 */
function componentStream(c, tags) {
  const name = componentName(c);
  const parts = [];
  let when = `${BASE_TIME + c * 1000} +0000`;
  parts.push(
    `commit refs/heads/main\nmark :1\nauthor ${IDENT} ${when}\ncommitter ${IDENT} ${when}\n${data(`chore: start ${name}\n`)}` +
      `M 100644 inline README.md\n${data(`# ${name}\n`)}M 100644 inline src/${name}.py\n${data('# start\n')}\n`,
  );
  for (let i = 0; i < tags; i++) {
    const mark = i + 2;
    const tag = versionOf(i);
    when = `${BASE_TIME + c * 1000 + mark} +0000`;
    parts.push(
      `commit refs/heads/main\nmark :${mark}\nauthor ${IDENT} ${when}\ncommitter ${IDENT} ${when}\n${data(`feat: ${name} ${tag}\n`)}from :${mark - 1}\n` +
        `M 100644 inline src/${name}.py\n${data(`# ${name} ${tag}\nVERSION = '${tag.slice(1)}'\n`)}\n`,
    );
    parts.push(
      (i + c) % 2 === 0
        ? `tag ${tag}\nfrom :${mark}\ntagger ${IDENT} ${when}\n${data(`Release ${tag}`)}`
        : `reset refs/tags/${tag}\nfrom :${mark}\n\n`,
    );
  }
  return parts.join('');
}

/**
 * `<set>/c00.git … c49.git` (bare), and `<set>/orchestration.git` (bare) whose main pins every
 * component at v1.0.0 under `components/cNN`, with `url = ../cNN.git` and `relevo-version = latest`.
 * `<set>/expected.json`: per path, the old pin and the newest tag and its commit.
 */
function buildSet(set) {
  return cachedDir(
    set.name,
    REPO_VERSION,
    (tmp) => {
      const expected = {};
      for (let c = 0; c < COMPONENTS; c++) {
        const name = componentName(c);
        const bare = join(tmp, `${name}.git`);
        mkdirSync(bare);
        git(bare, ['init', '-q', '--bare', '--template=', '-b', 'main']); // no sample hooks to copy: 50 inits stay fast
        // Packed objects and refs in both sets, as on a server (fast-import leaves fewer than 100 objects loose).
        git(bare, ['-c', 'fastimport.unpackLimit=0', 'fast-import', '--quiet'], componentStream(c, set.tags));
        git(bare, ['pack-refs', '--all']);
        const newest = versionOf(set.tags - 1);
        const [from, to] = git(bare, ['rev-parse', 'v1.0.0^{commit}', `${newest}^{commit}`])
          .trim()
          .split('\n');
        expected[`components/${name}`] = { name, from, to, toTag: newest };
      }
      const gitmodules = Object.entries(expected)
        .map(([path, e]) => `[submodule "${e.name}"]\n\tpath = ${path}\n\turl = ../${e.name}.git\n\trelevo-version = latest\n`)
        .join('');
      const when = `${BASE_TIME} +0000`;
      const stream =
        `commit refs/heads/main\nauthor ${IDENT} ${when}\ncommitter ${IDENT} ${when}\n${data('chore: pin components\n')}` +
        `M 100644 inline README.md\n${data('# orchestration\n')}M 100644 inline .gitmodules\n${data(gitmodules)}` +
        Object.entries(expected)
          .map(([path, e]) => `M 160000 ${e.from} ${path}\n`)
          .join('') +
        '\n';
      const orch = join(tmp, 'orchestration.git');
      mkdirSync(orch);
      git(orch, ['init', '-q', '--bare', '--template=', '-b', 'main']);
      git(orch, ['-c', 'fastimport.unpackLimit=0', 'fast-import', '--quiet'], stream);
      writeFileSync(join(tmp, 'expected.json'), `${JSON.stringify(expected, null, 1)}\n`);
    },
    { components: COMPONENTS, tags: set.tags },
  );
}

// What a user would script: every submodule at its remote's newest version tag, committed.
// protocol.file.allow=always: since git 2.38 `git submodule` refuses file:// (and path) remotes
// without it; a user whose remotes are on the same machine has to write it too.
const PEER_SCRIPT = `#!/usr/bin/env bash
set -eu
git -c protocol.file.allow=always submodule update --init --remote --quiet $SUBMODULE_JOBS
paths=()
while read -r _ path; do
  tag=$(git -C "$path" tag --sort=-v:refname | head -n 1)
  git -C "$path" checkout -q "$tag"
  paths+=("$path")
done < <(git config -f .gitmodules --get-regexp '^submodule\\..*\\.path$')
git add -- "\${paths[@]}"
git commit -q -m "chore: update components"
`;

function outputs(stdout) {
  const out = {};
  for (const m of stdout.matchAll(/^##vso\[task\.setvariable variable=([^;]+);[^\]]*\](.*)$/gm)) out[m[1]] = m[2];
  return out;
}

/** The gitlinks HEAD records under components/, path -> commit. */
function pins(work) {
  const map = {};
  for (const line of git(work, ['ls-tree', 'HEAD', 'components/']).split('\n').filter(Boolean)) {
    const [meta, path] = line.split('\t');
    const [mode, , sha] = meta.split(' ');
    if (mode === '160000') map[path] = sha;
  }
  return map;
}

/** Throws unless `work`'s HEAD is one commit on top of `base` pinning every component at its newest tag. */
function checkPins(who, work, base, expected) {
  const problems = [];
  const parent = git(work, ['rev-parse', 'HEAD~1']).trim();
  if (parent !== base) problems.push(`HEAD~1 is ${parent}, not the orchestration's main ${base}`);
  const got = pins(work);
  const wrong = Object.entries(expected).filter(([path, e]) => got[path] !== e.to);
  if (wrong.length)
    problems.push(
      `${wrong.length} pin(s) not at the newest tag, e.g. ${wrong[0][0]} at ${got[wrong[0][0]] ?? '(none)'} (expected ${wrong[0][1].toTag} ${wrong[0][1].to})`,
    );
  if (Object.keys(got).length !== COMPONENTS) problems.push(`${Object.keys(got).length} gitlinks (expected ${COMPONENTS})`);
  if (problems.length) throw new Error(`${who}: ${problems.join('; ')}`);
}

const fmt = (ms) => ms.toFixed(0);
const FLOOR = `${COMPONENTS} × git ls-remote --tags, ${PARALLEL} at a time`;
const TASK = 'UpdateSubmodules';
const PEER = 'peer: submodule update --remote + checkout';
const PEER_JOBS = `same peer, --jobs ${PARALLEL}`;

/**
 * Where one run's time goes (untimed, after the timed runs): the task once more on a fresh clone,
 * with GIT_TRACE2_EVENT writing one file per git process. Each top-level git process (one the
 * task spawned) goes into a phase; a phase's window is its first start to its last exit,
 * relative to the task's spawn.
 */
function breakdown(task, clone, env, check, traceDir, agentTemp) {
  clone.before();
  rmSync(traceDir, { recursive: true, force: true });
  mkdirSync(traceDir);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [task], {
    cwd: clone.work,
    env: { ...env, GIT_TRACE2_EVENT: traceDir },
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
  });
  const total = Date.now() - t0;
  check(r);
  const phases = new Map();
  for (const f of readdirSync(traceDir)) {
    const events = readFileSync(join(traceDir, f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const start = events.find((e) => e.event === 'start');
    const exit = events.find((e) => e.event === 'exit' || e.event === 'atexit');
    if (!start || !exit || start.sid.includes('/')) continue; // children of git (upload-pack, index-pack …) are inside their parent's time
    const cmd = start.argv.slice(1).filter((a, i, all) => a !== '-C' && all[i - 1] !== '-C')[0];
    const phase = start.argv.some((a) => a.startsWith(agentTemp))
      ? 'summary: change logs (init + fetch + log per update)'
      : cmd === 'ls-remote'
        ? 'read tags: git ls-remote per component'
        : 'local git: read .gitmodules, commit, index';
    const from = Date.parse(start.time) - t0;
    const to = from + exit.t_abs * 1000;
    const p = phases.get(phase) ?? { n: 0, sum: 0, from: Infinity, to: 0 };
    phases.set(phase, { n: p.n + 1, sum: p.sum + exit.t_abs * 1000, from: Math.min(p.from, from), to: Math.max(p.to, to) });
  }
  rmSync(traceDir, { recursive: true, force: true });
  return { total, phases };
}

function printBreakdown(tags, { total, phases }) {
  console.log(`  ${tags} tags: one traced run, ${fmt(total)} ms from spawn to exit`);
  const sorted = [...phases].sort((a, b) => a[1].from - b[1].from);
  for (const [phase, p] of sorted) {
    console.log(
      `    ${phase.padEnd(54)} ${String(p.n).padStart(3)} process(es), ${fmt(p.sum).padStart(5)} ms summed, from ${fmt(p.from).padStart(5)} to ${fmt(p.to).padStart(5)} ms`,
    );
  }
  const first = Math.min(...[...phases.values()].map((p) => p.from));
  const last = Math.max(...[...phases.values()].map((p) => p.to));
  console.log(
    `    ${'node: start-up to the first git; after the last git'.padEnd(54)} ${fmt(first).padStart(5)} ms; ${fmt(total - last)} ms`,
  );
}

/** The commands for one set: the ls-remote floor, the task, the peer (and the peer with --jobs in the 200-tag set). */
function setCommands(set, dir, scratch, task, peer, agentTemp) {
  const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
  const base = git(join(dir, 'orchestration.git'), ['rev-parse', 'main']).trim();
  const url = pathToFileURL(join(dir, 'orchestration.git')).href;
  const remotes = `${pathToFileURL(dir).href}/`; // where ../cNN.git resolves from the orchestration's URL
  const name = (n) => `${n} [${set.tags}]`;

  // A fresh clone of the orchestration for every run (outside the timing), HEAD detached at main.
  const fresh = (label) => {
    const work = join(scratch, `${set.key}-${label}`);
    return {
      work,
      before() {
        rmSync(work, { recursive: true, force: true });
        git(scratch, ['clone', '-q', url, work]);
        git(work, ['checkout', '-q', '--detach', 'origin/main']);
      },
    };
  };
  const relevo = fresh('relevo');
  const env = {
    ...process.env,
    INPUT_WORKINGDIRECTORY: relevo.work,
    INPUT_DEFAULTPOLICY: 'latest',
    INPUT_MODE: 'commit',
    BUILD_SOURCEBRANCH: 'refs/heads/main',
    AGENT_TEMPDIRECTORY: agentTemp,
  };
  const relevoCheck = (r) => {
    const complete = /^##vso\[task\.complete[^\]]*\].*$/m.exec(r.stdout)?.[0];
    const o = outputs(r.stdout);
    const problems = [];
    if (r.status !== 0) problems.push(`exit code ${r.status}`);
    if (!complete?.includes('result=Succeeded')) problems.push(`task.complete: ${complete ?? '(none)'}`);
    if (o.updatedCount !== String(COMPONENTS)) problems.push(`updatedCount ${o.updatedCount} (expected ${COMPONENTS})`);
    try {
      checkPins('UpdateSubmodules', relevo.work, base, expected);
    } catch (err) {
      problems.push(err.message);
    }
    if (problems.length)
      throw new Error(
        `UpdateSubmodules on ${set.tags} tags: ${problems.join('; ')}\n--- stdout ---\n${r.stdout.slice(-4000)}\n--- stderr ---\n${r.stderr.slice(-4000)}`,
      );
  };
  const peerCommand = (label, clone, jobs) => ({
    name: name(label),
    cmd: 'bash',
    args: [peer],
    opts: { cwd: clone.work, env: { ...process.env, SUBMODULE_JOBS: jobs } },
    before: clone.before,
    check: (r) => {
      if (r.status !== 0)
        throw new Error(`${label} on ${set.tags} tags: exit ${r.status}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
      checkPins(`${label} on ${set.tags} tags`, clone.work, base, expected);
    },
  });
  const commands = [
    {
      name: name(FLOOR),
      cmd: 'bash',
      args: [
        '-c',
        `for c in "$@"; do echo "${remotes}$c.git"; done | xargs -P ${PARALLEL} -n 1 git ls-remote --tags >/dev/null`,
        'floor',
        ...Object.values(expected).map((e) => e.name),
      ],
      check: (r) => {
        if (r.status !== 0) throw new Error(`ls-remote floor on ${set.tags} tags: exit ${r.status}: ${r.stderr}`);
      },
    },
    { name: name(TASK), cmd: process.execPath, args: [task], opts: { cwd: relevo.work, env }, before: relevo.before, check: relevoCheck },
    peerCommand(PEER, fresh('peer'), ''),
    // The same script with parallel clones, in the 200-tag set only: for reference, it is not what the issue names.
    ...(set.key === 'many' ? [peerCommand(PEER_JOBS, fresh('peer-jobs'), `--jobs ${PARALLEL}`)] : []),
  ];
  return { commands, name, trace: () => breakdown(task, relevo, env, relevoCheck, join(scratch, `${set.key}-trace`), agentTemp) };
}

export default async function run() {
  const scratch = mkdtempSync(join(tmpdir(), 'relevo-bench-submodules-'));
  try {
    const { script: task, builtAt } = snapshotTask('update-submodules', join(scratch, 'task'));
    const agentTemp = join(scratch, 'agent-temp');
    mkdirSync(agentTemp);
    const peer = join(scratch, 'peer.sh');
    writeFileSync(peer, PEER_SCRIPT, { mode: 0o755 });
    console.log(`  task: copy of dist/tasks/update-submodules built ${builtAt.toISOString()}`);

    const sets = SETS.map((set) => {
      const { dir, built, ms } = buildSet(set);
      console.log(
        `  ${COMPONENTS} submodules × ${set.tags} tags (v1.0.0 … ${versionOf(set.tags - 1)}), pinned at v1.0.0: ${dir} (${built ? `generated in ${(ms / 1000).toFixed(1)} s` : 'cached'})`,
      );
      return { set, ...setCommands(set, dir, scratch, task, peer, agentTemp) };
    });
    // Both sets in one interleaved series, so the 200/20 ratio compares runs made side by side.
    const commands = sets.flatMap((s) => s.commands);
    const t = timeInterleaved(commands, { runs: RUNS, warmup: WARMUP });
    console.log(`\n  Served over file://; medians of ${RUNS} runs after ${WARMUP} warm-up, taking turns.`);
    console.log(`  ${'command [tags per component]'.padEnd(48)} ${'median ms'.padStart(10)}   runs (ms)`);
    for (const c of commands) {
      const { median, samples } = t.get(c.name);
      console.log(`  ${c.name.padEnd(48)} ${fmt(median).padStart(10)}   ${samples.map(fmt).join(' ')}`);
    }
    const [many, few] = sets.map((s) => ({
      floor: t.get(s.name(FLOOR)).median,
      relevo: t.get(s.name(TASK)).median,
      peer: t.get(s.name(PEER)).median,
      peerJobs: t.get(s.name(PEER_JOBS))?.median,
    }));

    console.log('\nGoals');
    console.log(
      goal(`peer / UpdateSubmodules (200 tags)`, `${(many.peer / many.relevo).toFixed(2)}×`, '≥ 5×', many.peer / many.relevo >= 5),
    );
    console.log(
      goal(`UpdateSubmodules, 200 tags / 20 tags`, `${(many.relevo / few.relevo).toFixed(2)}×`, '≤ 1.5×', many.relevo / few.relevo <= 1.5),
    );
    console.log('For reference (no goal)');
    const ref = (label, ratio) => console.log(`  ${label.padEnd(44)} ${`${ratio.toFixed(2)}×`.padStart(10)}`);
    ref('peer --jobs 8 / UpdateSubmodules (200 tags)', many.peerJobs / many.relevo);
    ref('peer / UpdateSubmodules (20 tags)', few.peer / few.relevo);
    ref('peer, 200 tags / 20 tags', many.peer / few.peer);
    ref('ls-remote floor, 200 tags / 20 tags', many.floor / few.floor);
    console.log('Where the time goes (one more run of the task on each set, traced)');
    for (const s of sets) printBreakdown(s.set.tags, s.trace());
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
