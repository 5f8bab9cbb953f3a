// Benchmarks the built BuildWheel task (dist/tasks/build-wheel/index.js) building a small library
// (a pyproject.toml project, one package, wheel and sdist, a version stamped) against the floor:
// `python -m build --wheel --sdist --no-isolation` alone on the same project. The task does on top:
// the interpreter and requirement probe (one Python process), the version stamp and its restore,
// the byproduct sweep, the wheel's checks (METADATA, WHEEL, RECORD hashes) and the copy into the
// output folder. Both use Debian's /usr/bin/python3 (setuptools, build, wheel). Interleaved runs,
// each checked: the wheel is there with the right version.
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goal, snapshotTask, timeInterleaved } from './lib.mjs';

const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const RUNS = Number(process.env.BENCH_RUNS) || 5;
const GOAL = 1.3;

export default async function run() {
  const work = mkdtempSync(join(tmpdir(), 'relevo-bench-wheel-'));
  try {
    const project = join(work, 'ingest');
    mkdirSync(join(project, 'src', 'ingest'), { recursive: true });
    writeFileSync(
      join(project, 'pyproject.toml'),
      '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "ingest"\nversion = "1.3.0rc2"\ndescription = "bench"\n',
    );
    for (let i = 0; i < 20; i++) writeFileSync(join(project, 'src', 'ingest', `m${i}.py`), `def f${i}(x):\n    return x + ${i}\n`);
    writeFileSync(join(project, 'src', 'ingest', '__init__.py'), '__version__ = "1.3.0rc2"\n');
    const { script } = snapshotTask('build-wheel', join(work, 'task'));
    const floorOut = join(work, 'floor-out');
    const taskOut = join(work, 'task-out');
    const agentTemp = join(work, 'agent-temp');
    mkdirSync(agentTemp);
    const clean = () => {
      for (const d of [floorOut, taskOut, join(project, 'build'), join(project, 'src', 'ingest.egg-info')])
        rmSync(d, { recursive: true, force: true });
    };
    const wheelIn = (dir) => {
      const files = readdirSync(dir);
      if (!files.includes('ingest-1.3.0rc2-py3-none-any.whl')) throw new Error(`no wheel in ${dir}: ${files.join(', ')}`);
    };
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: process.env.LANG ?? 'C.UTF-8' };
    const results = timeInterleaved(
      [
        {
          name: 'floor',
          cmd: PYTHON,
          args: ['-m', 'build', '--wheel', '--sdist', '--no-isolation', '--outdir', floorOut, project],
          opts: { env: { ...env, PYTHONDONTWRITEBYTECODE: '1' } },
          before: clean,
          check: (r) => {
            if (r.status !== 0) throw new Error(`python -m build failed: ${r.stderr || r.stdout}`);
            wheelIn(floorOut);
          },
        },
        {
          name: 'task',
          cmd: process.execPath,
          args: [script],
          opts: {
            env: {
              ...env,
              AGENT_TEMPDIRECTORY: agentTemp,
              INPUT_PROJECTDIRECTORY: project,
              INPUT_PYTHONINTERPRETER: PYTHON,
              INPUT_VERSION: '1.3.0-rc.2',
              INPUT_ISOLATION: 'false',
              INPUT_OUTPUTDIRECTORY: taskOut,
            },
          },
          before: clean,
          check: (r) => {
            if (!r.stdout.includes('##vso[task.complete result=Succeeded;]'))
              throw new Error(`BuildWheel failed:\n${r.stdout.slice(-2000)}`);
            wheelIn(taskOut);
          },
        },
      ],
      { runs: RUNS, warmup: 1 },
    );
    const floor = results.get('floor').median;
    const task = results.get('task').median;
    console.log(`A small library (21 modules, wheel + sdist, --no-isolation), median of ${RUNS}:`);
    console.log(`  python -m build --no-isolation alone                ${floor.toFixed(0).padStart(6)} ms`);
    console.log(`  BuildWheel (probe, stamp + restore, checks, copy)   ${task.toFixed(0).padStart(6)} ms`);
    console.log(goal('task / floor', `${(task / floor).toFixed(2)}x`, `≤ ${GOAL}x`, task / floor <= GOAL));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
