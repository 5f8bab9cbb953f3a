// Helpers shared by bench scripts: synthetic git repositories built with `git fast-import`
// (cached under .bench/), and wall-clock timing of child processes.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CACHE = join(ROOT, '.bench');

/** Runs git and returns stdout; throws with stderr on a non-zero exit. */
export function git(cwd, args, input) {
  const r = spawnSync('git', args, { cwd, input, encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  if (r.error || r.status !== 0) throw new Error(`git ${args.join(' ')} failed (${r.error?.message ?? r.status}): ${r.stderr}`);
  return r.stdout;
}

/**
 * A synthetic repository, built once and cached as `.bench/<name>-<version>/`.
 * Bump `version` when the generator changes so stale caches are rebuilt.
 *
 * spec: {
 *   commits: number,                         // commits 1..commits on refs/heads/main
 *   message(i): string,                      // commit message of commit i
 *   tags: [{ name, at, annotated? }],        // tag on commit `at`
 * }
 * Returns { dir, built, ms }.
 */
export function syntheticRepo(name, version, spec) {
  return cachedDir(
    name,
    version,
    (tmp) => {
      git(tmp, ['init', '-q', '-b', 'main']);
      git(tmp, ['config', 'gc.auto', '0']);
      git(tmp, ['fast-import', '--quiet'], fastImportStream(spec));
      git(tmp, ['reset', '-q', '--hard', 'refs/heads/main']); // index and work tree match HEAD
      return join('.git', 'bench-complete');
    },
    { commits: spec.commits },
  );
}

/**
 * A folder built once by `build(tmp, dir)` and cached as `.bench/<name>-<version>/`. `build`
 * fills `tmp` (renamed to `dir` when it returns; anything that must name the final path,
 * such as a clone's remote URL, uses `dir`) and returns where in it, relative, the
 * completion marker goes (default `bench-complete`). Returns { dir, built, ms }.
 */
export function cachedDir(name, version, build, info = {}) {
  const dir = join(CACHE, `${name}-${version}`);
  const markers = [join(dir, '.git', 'bench-complete'), join(dir, 'bench-complete')];
  if (markers.some((m) => existsSync(m))) return { dir, built: false, ms: 0 };
  const t0 = Date.now();
  rmSync(dir, { recursive: true, force: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const marker = build(tmp, dir) ?? 'bench-complete';
    writeFileSync(join(tmp, marker), `${JSON.stringify({ name, version, ...info })}\n`);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  mkdirSync(dirname(dir), { recursive: true });
  renameSync(tmp, dir);
  return { dir, built: true, ms: Date.now() - t0 };
}

export const BASE_TIME = 1_700_000_000; // fixed, one second per commit: deterministic hashes
export const IDENT = 'Bench Bot <bench@example.com>';

/** A fast-import `data` command. */
export function data(text) {
  return `data ${Buffer.byteLength(text)}\n${text}\n`;
}

function fastImportStream(spec) {
  const tagsAt = new Map();
  for (const t of spec.tags) {
    if (t.at < 1 || t.at > spec.commits) throw new Error(`tag ${t.name} at ${t.at} is outside 1..${spec.commits}`);
    tagsAt.set(t.at, [...(tagsAt.get(t.at) ?? []), t]);
  }
  const parts = [];
  for (let i = 1; i <= spec.commits; i++) {
    const when = `${BASE_TIME + i} +0000`;
    let c = `commit refs/heads/main\nmark :${i}\nauthor ${IDENT} ${when}\ncommitter ${IDENT} ${when}\n${data(spec.message(i))}`;
    if (i === 1) c += `M 100644 inline README.md\n${data('# Synthetic bench repository\n')}`;
    c += `M 100644 inline src/mod${i % 20}.txt\n${data(`change ${i}\n`)}\n`;
    parts.push(c);
    for (const t of tagsAt.get(i) ?? []) {
      parts.push(
        t.annotated
          ? `tag ${t.name}\nfrom :${i}\ntagger ${IDENT} ${when}\n${data(`Release ${t.name}`)}`
          : `reset refs/tags/${t.name}\nfrom :${i}\n\n`,
      );
    }
  }
  return parts.join('');
}

/**
 * Times commands interleaved (one round runs each once): `warmup` untimed rounds, then
 * `runs` timed ones. Each command is { name, cmd, args, opts, before(), check(result) }:
 * before runs untimed ahead of every run (e.g. a fresh clone); check throws if a run did not
 * do what it should, so a failing run is never measured.
 * Returns Map name -> { median, samples }.
 */
export function timeInterleaved(commands, { runs = 5, warmup = 1 } = {}) {
  const samples = new Map(commands.map((c) => [c.name, []]));
  for (let round = 0; round < warmup + runs; round++) {
    for (const c of commands) {
      c.before?.();
      const t0 = process.hrtime.bigint();
      const r = spawnSync(c.cmd, c.args, { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'], ...c.opts });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.error) throw new Error(`${c.name}: ${r.error.message}`);
      c.check?.(r);
      if (round >= warmup) samples.get(c.name).push(ms);
    }
  }
  return new Map([...samples].map(([name, s]) => [name, { median: median(s), samples: s }]));
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Copies a built task folder (dist/tasks/<folder>/) into `into` and returns the copy's
 * index.js, so that every run of a bench measures one build even while someone rebuilds
 * dist/ (the build deletes it first). The agent, too, runs a task from its own copy. Waits
 * up to 10 s for a build in progress to finish. Returns { script, builtAt }.
 */
export function snapshotTask(folder, into) {
  const src = join(ROOT, 'dist', 'tasks', folder);
  const files = ['index.js', 'task.json'];
  for (let attempt = 0; attempt < 40; attempt++) {
    try {
      const before = files.map((f) => statSync(join(src, f)));
      rmSync(into, { recursive: true, force: true });
      cpSync(src, into, { recursive: true });
      const after = files.map((f) => statSync(join(src, f)));
      const copied = files.map((f) => statSync(join(into, f)));
      if (files.every((_, i) => before[i].mtimeMs === after[i].mtimeMs && after[i].size === copied[i].size)) {
        return { script: join(into, 'index.js'), builtAt: after[0].mtime };
      }
    } catch {
      // missing while a build runs: wait and try again
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
  }
  throw new Error(`${src} is missing or keeps changing: run \`npm run build\` first (npm run bench does).`);
}

/** Reports one goal; never throws. */
export function goal(label, value, text, ok) {
  return `  ${label.padEnd(48)} ${value.padStart(10)}   goal ${text.padEnd(8)} ${ok ? 'PASS' : 'MISS'}`;
}
