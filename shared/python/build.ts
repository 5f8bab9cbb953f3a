/**
 * The build: the requested version stamped into the project (files written through FileChanges),
 * `python -m build` into a scratch folder (bounded: past `timeoutMs` its whole process group is
 * stopped), the wheel opened and checked, `twine check` when twine is there, and only then the
 * files written into the output folder.
 *
 * Every change is registered with the run's undo journal before it is made: the stamped files,
 * setuptools' `build/`, `.eggs` and `*.egg-info` folders the build makes in the project, and the
 * files written into the output folder. On success the project is put back here (the stamp was
 * for the build only) and the output files stay registered (a later failure of the run takes
 * them away again, unless they landed, e.g. in an artifact). On a failure, a timeout or a
 * cancellation nothing is put back here: the journal does it, and the task's last lines say so.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, type Dirent } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../errors';
import { FileChanges } from '../files';
import { journal } from '../undo';
import type { Log } from '../log';
import { runProcess, type Interpreter } from './interpreter';
import { planVersionStamp, statedVersion, type PythonProject, type VersionStamp } from './project';
import { canonicalPep440, inspectWheel, WheelCheckError, type WheelInfo } from './wheel';

export interface BuildOptions {
  project: PythonProject;
  interpreter: Interpreter;
  /** The requested version (SemVer and its PEP 440 form); undefined: the project's own. */
  version?: { semver: string; pep440: string };
  isolation: boolean;
  sdist: boolean;
  outputDirectory: string;
  /** Scratch space (the agent's temp folder). */
  tempDirectory: string;
  log: Log;
  /** Build output lines, as they come (default: not shown). */
  onOutput?: (line: string) => void;
  /** `python -m build` is stopped (its whole process group) after this long. */
  timeoutMs: number;
  /** `python -m build --skip-dependency-check` (non-isolated builds only). */
  skipDependencyCheck?: boolean;
}

export interface BuildResult {
  wheel: WheelInfo;
  /** Where the wheel and sdist were copied. */
  wheelPath: string;
  sdistPath?: string;
  stamp?: VersionStamp;
  /** The version the wheel was checked against, and where that came from. */
  expectedVersion?: string;
  twine: 'passed' | 'absent';
  seconds: number;
}

/** Folders setuptools and friends leave in the project while building. */
const BYPRODUCT = /^(build|\.eggs|.+\.egg-info)$/;
const SKIP = new Set(['.git', 'node_modules', '.venv', 'venv', '.tox', '.nox', '__pycache__']);

function byproducts(dir: string, depth = 3): Set<string> {
  const found = new Set<string>();
  const walk = (d: string, left: number) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory() || SKIP.has(e.name)) continue;
      const path = join(d, e.name);
      if (BYPRODUCT.test(e.name)) found.add(path);
      else if (left > 1) walk(path, left - 1);
    }
  };
  walk(dir, depth);
  return found;
}

export async function buildProject(o: BuildOptions): Promise<BuildResult> {
  const started = Date.now();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PYTHONDONTWRITEBYTECODE: '1',
    PIP_DISABLE_PIP_VERSION_CHECK: '1',
    PYTHONIOENCODING: 'utf-8',
  };
  // A build/ (or *.egg-info) left by an earlier local build would ship what it holds (a module
  // deleted from the source since): set aside for the build, put back after (or by the journal).
  const aside = [...byproducts(o.project.dir)].map((path) => [path, join(dirname(path), `.relevo-aside-${basename(path)}-${process.pid}`)]);
  const restoreAside = () => {
    for (const [path, moved] of aside) if (existsSync(moved) && !existsSync(path)) renameSync(moved, path);
  };
  const forgetAside = aside.length
    ? journal.register(`${aside.map(([p]) => p).join(', ')} (set aside for a clean build; put back)`, restoreAside)
    : () => undefined;
  for (const [path, moved] of aside) {
    renameSync(path, moved);
    o.log.info(`${path} was there from an earlier build: set aside so the wheel holds only what the source holds (put back afterwards).`);
  }
  const stamped = new FileChanges();
  const removeByproducts = () => {
    for (const path of byproducts(o.project.dir)) rmSync(path, { recursive: true, force: true });
  };
  // Registered before the build makes them: a failed, stopped or cancelled build leaves no build/ or *.egg-info.
  const forgetByproducts = journal.register(
    `the build folders (build/, *.egg-info) the build made in ${o.project.dir} (removed)`,
    removeByproducts,
  );
  const stamp = o.version ? await planVersionStamp(o.project, o.version, () => reportedVersion(o, env)) : undefined;
  // Whatever asking the project left (setuptools writes *.egg-info into it).
  removeByproducts();
  const expectedVersion = o.version?.pep440 ?? statedVersion(o.project);
  const scratch = mkdtempSync(join(o.tempDirectory, 'relevo-wheel-'));
  let result: BuildResult;
  try {
    if (stamp?.kind === 'files') {
      for (const edit of stamp.edits) {
        o.log.info(
          `Version ${edit.newVersion} stamped into ${edit.path}${edit.via ? ` (${edit.via})` : ''} for the build (was ${edit.oldVersion}; put back afterwards).`,
        );
        stamped.write(edit.path, edit.after);
      }
    } else if (stamp?.kind === 'env') {
      Object.assign(env, stamp.env);
      o.log.info(`Version: ${stamp.note}`);
    }
    const args = [
      '-m',
      'build',
      '--wheel',
      ...(o.sdist ? ['--sdist'] : []),
      '--outdir',
      scratch,
      ...(o.isolation ? [] : ['--no-isolation']),
      ...(o.skipDependencyCheck ? ['--skip-dependency-check'] : []),
      o.project.dir,
    ];
    o.log.info(`${o.interpreter.command} ${args.join(' ')}`);
    // The build's own output, folded in the agent's log (as text: the log neutralises it).
    o.log.group?.('Build output');
    let run: Awaited<ReturnType<typeof runProcess>>;
    try {
      run = await runProcess(o.interpreter.command, args, { cwd: o.project.dir, env, onLine: o.onOutput, timeoutMs: o.timeoutMs });
    } finally {
      o.log.endGroup?.();
    }
    if (run.timedOut) {
      const last = run.output.trimEnd().split(/\r?\n/).slice(-10).join('\n');
      throw new UserError(
        `the build of ${o.project.name ?? basename(o.project.dir)} ran for ${duration(o.timeoutMs)} and was stopped with every process it started (${buildPhase(run.output)}). Its last output:\n${last}\n`,
        {
          input: 'buildTimeoutMinutes',
          fix: `run '${o.interpreter.command} -m build${o.isolation ? '' : ' --no-isolation'}' in ${o.project.dir} to see where it waits (a prompt, a download, a compiler), fix it, or raise buildTimeoutMinutes.`,
        },
      );
    }
    if (run.code !== 0) {
      const tail = run.output.trimEnd().split(/\r?\n/).slice(-25).join('\n');
      const missing = missingDependencies(run.output);
      throw new UserError(
        `the build of ${o.project.name ?? basename(o.project.dir)} failed (exit ${run.code}). The end of its output:\n${tail}\n`,
        {
          fix: missing.length
            ? `install the build requirements (${o.interpreter.command} -m pip install ${missing.map((m) => `'${m}'`).join(' ')}), set skipDependencyCheck: true when what is installed is known to do (python -m build -x), or set isolation: true where a package index is reachable.`
            : `run '${o.interpreter.command} -m build${o.isolation ? '' : ' --no-isolation'}' in ${o.project.dir} to reproduce it, and fix what the output above says.`,
        },
      );
    }
    const built = readdirSync(scratch);
    const wheels = built.filter((f) => f.endsWith('.whl'));
    const sdists = built.filter((f) => f.endsWith('.tar.gz'));
    if (wheels.length !== 1 || (o.sdist && sdists.length !== 1))
      throw new Error(`the build made ${built.join(', ') || 'nothing'}; expected one wheel${o.sdist ? ' and one sdist' : ''}`);
    let wheel: WheelInfo;
    try {
      wheel = inspectWheel(join(scratch, wheels[0]), { name: o.project.name, version: expectedVersion });
    } catch (err) {
      if (!(err instanceof WheelCheckError)) throw err;
      throw new UserError(`the built wheel ${err.wheel} does not pass the checks: ${err.problems.join('; ')}.`, {
        input: err.problems.some((p) => /Version/.test(p)) && o.version ? 'version' : 'projectDirectory',
        fix: err.problems.some((p) => /Version/.test(p))
          ? 'the build backend did not take the version from the file Relevo stamped: make the project read its version from pyproject.toml, setup.cfg or setup.py (or setuptools-scm).'
          : 'fix the project so that it builds a valid wheel (the problems above); nothing was published.',
      });
    }
    if (o.sdist && !sdists[0].includes(wheel.version.replace(/_/g, '-')) && !sdists[0].includes(wheel.fileName.version)) {
      throw new UserError(`the sdist ${sdists[0]} does not carry the wheel's version ${wheel.version}.`, {
        input: 'sdist',
        fix: 'set sdist: false, or make the project read its version from one place.',
      });
    }
    let twine: BuildResult['twine'] = 'absent';
    if (o.interpreter.twine) {
      const files = [join(scratch, wheels[0]), ...(o.sdist ? [join(scratch, sdists[0])] : [])];
      const check = await runProcess(o.interpreter.command, ['-m', 'twine', 'check', ...files], { env, timeoutMs: TWINE_CHECK_BOUND_MS });
      if (check.code !== 0) {
        throw new UserError(`twine check refused the build:\n${check.output.trimEnd().split(/\r?\n/).slice(-15).join('\n')}\n`, {
          input: 'projectDirectory',
          fix: "fix the metadata twine names (often the long description's markup: readme and its content-type).",
        });
      }
      twine = 'passed';
    }
    // Into the output folder, each file registered first: a later failure of the run takes it
    // away again (a file that was there before gets its bytes back).
    const output = new FileChanges();
    const wheelPath = join(o.outputDirectory, wheels[0]);
    output.write(wheelPath, readFileSync(join(scratch, wheels[0])));
    const sdistPath = o.sdist ? join(o.outputDirectory, sdists[0]) : undefined;
    if (sdistPath) output.write(sdistPath, readFileSync(join(scratch, sdists[0])));
    result = {
      wheel: { ...wheel, file: wheelPath },
      wheelPath,
      sdistPath,
      stamp,
      expectedVersion,
      twine,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  // Built: the project as it was (the stamp was for the build only).
  stamped.restore();
  removeByproducts();
  forgetByproducts();
  restoreAside();
  forgetAside();
  return result;
}

/** "30 minutes", "1 minute", "3 s": how long the build was given. */
function duration(ms: number): string {
  const minutes = ms / 60_000;
  if (Number.isInteger(minutes)) return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  return minutes > 1 ? `${minutes.toFixed(1)} minutes` : `${Math.round(ms / 100) / 10} s`;
}

/** `twine check` reads two files: five minutes is far more than it ever needs. */
const TWINE_CHECK_BOUND_MS = 5 * 60_000;

/** Which phase of `python -m build` a stopped build was in, from the last phase line it printed. */
export function buildPhase(output: string): string {
  const phases = [
    ...output.matchAll(
      /^\* (Creating [^\n]*|Installing packages in isolated environment[^\n]*|Getting build dependencies for (?:wheel|sdist)[^\n]*|Building (?:wheel|sdist)[^\n]*)$/gm,
    ),
  ].map((m) => m[1].replace(/\.+$/, ''));
  return phases.length ? `it was at: ${phases[phases.length - 1]}` : 'before it printed its first phase';
}

/**
 * Every package `python -m build` says is missing. It prints them one a line after
 * "ERROR Missing dependencies:", indented, nested ones further indented ("hatchling", then
 * "editables>=0.3" under it).
 */
export function missingDependencies(output: string): string[] {
  const at = output.search(/ERROR Missing dependencies:/);
  if (at < 0) return [];
  const lines = output.slice(at).split(/\r?\n/).slice(1);
  const found: string[] = [];
  for (const line of lines) {
    if (!/^\s+\S/.test(line)) break;
    const name = line.trim().replace(/^-+>\s*/, '');
    if (name && !found.includes(name)) found.push(name);
  }
  return found;
}

/** The snippet that asks the build backend for the project's metadata (PEP 517 prepare_metadata_for_build_wheel). */
const REPORTED_VERSION = `
import sys
from build.util import project_wheel_metadata
print("RELEVO-VERSION=" + project_wheel_metadata(sys.argv[1], isolated=False)["Version"])
`;

/**
 * The version the project's build backend reports. A setuptools project with a setup.py is asked
 * with `setup.py --version` first (it runs setup.py alone: a fraction of the PEP 517 metadata
 * build, which writes the whole egg-info); otherwise, or when that fails, PEP 517 metadata
 * (`prepare_metadata_for_build_wheel`, without isolation: what is installed).
 */
async function reportedVersion(o: BuildOptions, env: NodeJS.ProcessEnv): Promise<{ version?: string; how: string; problem?: string }> {
  const problems: string[] = [];
  if (o.project.files.includes('setup.py') && o.project.backend.startsWith('setuptools')) {
    const legacy = await runProcess(o.interpreter.command, ['setup.py', '--version'], { cwd: o.project.dir, env, timeoutMs: o.timeoutMs });
    const last = lastLine(legacy.output);
    if (legacy.code === 0 && canonicalPep440(last)) return { version: last, how: 'setup.py --version' };
    problems.push(`setup.py --version: ${legacy.timedOut ? 'no answer in time' : last}`);
  }
  const how = `the build backend (${o.project.backend})`;
  const pep517 = await runProcess(o.interpreter.command, ['-c', REPORTED_VERSION, o.project.dir], {
    cwd: o.project.dir,
    env,
    timeoutMs: o.timeoutMs,
  });
  const version = /^RELEVO-VERSION=(\S+)\s*$/m.exec(pep517.output)?.[1];
  if (version) return { version, how };
  problems.push(`${how}: ${pep517.timedOut ? 'no answer in time' : lastLine(pep517.output)}`);
  return { how: problems.length > 1 ? 'setup.py --version, then PEP 517 metadata' : how, problem: problems.join('; ') };
}

function lastLine(output: string): string {
  return output.trim().split(/\r?\n/).pop()?.trim().slice(0, 300) ?? '';
}
