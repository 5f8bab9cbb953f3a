// Benchmarks the built BuildWheel task (dist/tasks/build-wheel/index.js) on a library of realistic
// size and the most demanding shape (issue 19): the Databricks SDK for Python's as released in
// 2024, ~200 modules in sub-packages, a setup.py that `exec`s databricks/sdk/version.py (so the
// task asks the build backend for the version and searches the modules for it), wheel and sdist,
// a version stamped. The floor: `python -m build --wheel --sdist --no-isolation` alone on the same
// project. The task does on top: the interpreter and requirement probe (one Python process), the
// version query (one more), the search for the version file, the stamp and its restore, setting
// an earlier build/ aside, the byproduct sweep, the wheel's checks (METADATA, WHEEL, RECORD
// hashes) and the copy into the output folder. Both use Debian's /usr/bin/python3. Interleaved
// runs, each checked: the wheel is there with the right version.
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
    const project = join(work, 'sdk');
    const pkg = join(project, 'databricks', 'sdk');
    mkdirSync(join(pkg, 'service'), { recursive: true });
    mkdirSync(join(pkg, 'mixins'), { recursive: true });
    writeFileSync(
      join(project, 'setup.py'),
      [
        'import pathlib',
        'from setuptools import setup, find_packages',
        'version_data = {}',
        "version_file = pathlib.Path(__file__).parent / 'databricks' / 'sdk' / 'version.py'",
        'with version_file.open("r") as f:',
        '    exec(f.read(), version_data)',
        "setup(name='databricks-sdk', version=version_data['__version__'], packages=find_packages(exclude=['tests', 'tests.*']),",
        "      python_requires='>=3.7', description='Databricks SDK for Python (Beta)')",
        '',
      ].join('\n'),
    );
    writeFileSync(join(project, 'databricks', '__init__.py'), '');
    writeFileSync(join(pkg, '__init__.py'), 'from databricks.sdk.version import __version__\n');
    writeFileSync(join(pkg, 'version.py'), "__version__ = '0.30.0'\n");
    writeFileSync(join(pkg, 'service', '__init__.py'), '');
    writeFileSync(join(pkg, 'mixins', '__init__.py'), '');
    // ~200 modules of ~60 lines each, as the SDK's service and mixin modules are (in count).
    const body = (i) =>
      Array.from(
        { length: 12 },
        (_, k) =>
          `class Thing${i}x${k}:\n    def as_dict(self) -> dict:\n        body = {}\n        body["k${k}"] = ${i}\n        return body\n`,
      ).join('\n');
    for (let i = 0; i < 180; i++) writeFileSync(join(pkg, 'service', `api${i}.py`), body(i));
    for (let i = 0; i < 20; i++) writeFileSync(join(pkg, 'mixins', `mixin${i}.py`), body(i));
    const { script } = snapshotTask('build-wheel', join(work, 'task'));
    const floorOut = join(work, 'floor-out');
    const taskOut = join(work, 'task-out');
    const agentTemp = join(work, 'agent-temp');
    mkdirSync(agentTemp);
    const clean = () => {
      for (const d of [floorOut, taskOut, join(project, 'build'), join(project, 'databricks_sdk.egg-info')])
        rmSync(d, { recursive: true, force: true });
    };
    const wheelIn = (dir, version) => {
      const files = readdirSync(dir);
      if (!files.includes(`databricks_sdk-${version}-py3-none-any.whl`)) throw new Error(`no wheel in ${dir}: ${files.join(', ')}`);
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
            wheelIn(floorOut, '0.30.0');
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
            wheelIn(taskOut, '1.3.0rc2');
          },
        },
      ],
      { runs: RUNS, warmup: 1 },
    );
    const floor = results.get('floor').median;
    const task = results.get('task').median;
    console.log(`The Databricks SDK's shape (205 modules, setup.py execs version.py; wheel + sdist, --no-isolation), median of ${RUNS}:`);
    console.log(`  python -m build --no-isolation alone                              ${floor.toFixed(0).padStart(6)} ms`);
    console.log(`  BuildWheel (probe, version query + search, stamp, checks, copy)   ${task.toFixed(0).padStart(6)} ms`);
    console.log(goal('task / floor', `${(task / floor).toFixed(2)}x`, `≤ ${GOAL}x`, task / floor <= GOAL));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
