/**
 * The interpreter and its build tools, checked before anything is built: one Python process
 * reports its version, where it is, which modules it lacks and which of the backend's
 * requirements are not installed (for builds without isolation). What is missing fails the
 * task with the exact command that installs it.
 */
import { isCancelled, CancelledError, startProcess, stopGroup } from '../processes';
import { UserError } from '../errors';
import { requirementName } from './project';

export interface Interpreter {
  /** As given (`python3`, a path). */
  command: string;
  /** `sys.executable` */
  executable: string;
  version: string;
  /** Whether `twine` can be run (`python -m twine`). */
  twine: boolean;
}

const PROBE = `
import sys, json, importlib.util
def has(m):
    try:
        return importlib.util.find_spec(m) is not None
    except Exception:
        return False
def dist(n):
    try:
        from importlib import metadata
    except ImportError:
        return True
    for c in {n, n.replace('-', '_'), n.replace('_', '-'), n.lower()}:
        try:
            metadata.version(c)
            return True
        except Exception:
            pass
    return False
req = json.loads(sys.argv[1])
print(json.dumps({
  "executable": sys.executable,
  "version": "%d.%d.%d" % sys.version_info[:3],
  "ok": sys.version_info >= (3, 8),
  "build": has("build"),
  "pip": has("pip"),
  "venv": has("venv") and has("ensurepip"),
  "twine": has("twine"),
  "missing": [r for r in req if not dist(r)],
}))
`;

export interface ProbeResult {
  executable: string;
  version: string;
  ok: boolean;
  build: boolean;
  pip: boolean;
  venv: boolean;
  twine: boolean;
  missing: string[];
}

/**
 * Runs a process (in its own group, see shared/processes.ts), collecting its output; ENOENT and
 * friends come back as `spawnError`. Past `timeoutMs` the whole group is stopped and `timedOut`
 * is set; a cancellation of the run rejects with CancelledError.
 */
export function runProcess(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; onLine?: (line: string) => void; timeoutMs: number },
): Promise<{ code: number | null; output: string; spawnError?: NodeJS.ErrnoException; timedOut?: boolean }> {
  return new Promise((resolve, reject) => {
    let output = '';
    let pending = '';
    let timedOut = false;
    const child = startProcess(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      doing: `running ${command}`,
    });
    const timer = setTimeout(() => {
      timedOut = true;
      void stopGroup(child, 2000);
    }, options.timeoutMs);
    const take = (d: Buffer) => {
      const text = d.toString('utf8');
      output += text;
      if (!options.onLine) return;
      pending += text;
      const lines = pending.split(/\r?\n/);
      pending = lines.pop() ?? '';
      for (const l of lines) options.onLine(l);
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: null, output, spawnError: err });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (pending && options.onLine) options.onLine(pending);
      if (isCancelled() && code !== 0) reject(new CancelledError(`running ${command}`));
      else resolve({ code, output, timedOut });
    });
  });
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}

/**
 * Checks the interpreter: it runs, is Python 3.8+, has `build`, and (without isolation) has the
 * backend's requirements installed. `requires` is the project's [build-system] requires.
 */
export async function checkInterpreter(
  command: string,
  options: { isolation: boolean; requires: string[]; input?: string },
): Promise<Interpreter> {
  const input = options.input ?? 'pythonInterpreter';
  const names = options.isolation ? [] : options.requires.map(requirementName);
  const run = await runProcess(command, ['-c', PROBE, JSON.stringify(names)], { timeoutMs: 60_000 });
  if (run.spawnError) {
    throw new UserError(`'${command}' cannot be run (${run.spawnError.code === 'ENOENT' ? 'not found' : run.spawnError.message}).`, {
      input,
      fix: `install Python 3 on the agent (a UsePythonVersion@0 step before this one; on Debian/Ubuntu: sudo apt-get install -y python3 python3-venv), or set ${input} to the interpreter's path.`,
    });
  }
  let probe: ProbeResult;
  try {
    probe = JSON.parse(run.output.trim().split('\n').pop() ?? '') as ProbeResult;
  } catch {
    throw new UserError(
      `'${command}' is not a Python 3 interpreter (it answered: ${run.output.trim().split('\n').slice(-3).join(' | ').slice(0, 300)}).`,
      { input, fix: `set ${input} to python3 or the interpreter's path.` },
    );
  }
  if (!probe.ok)
    throw new UserError(`'${command}' is Python ${probe.version}; building needs 3.8 or newer.`, {
      input,
      fix: 'add a UsePythonVersion@0 step (versionSpec: 3.x) before this one, or point it at a newer interpreter.',
    });
  const py = quote(command);
  const debian = /^\/usr\/bin\/python3(\.\d+)?$/.test(probe.executable);
  if (!probe.build) {
    throw new UserError(`the Python at ${probe.executable} (${probe.version}) has no 'build' module, which builds the wheel.`, {
      input,
      fix: `install it: ${py} -m pip install build${debian ? ' (Debian/Ubuntu system Python: sudo apt-get install -y python3-build python3-wheel python3-venv)' : ''}.${probe.pip ? '' : ` This Python has no pip either: ${py} -m ensurepip --upgrade first.`}`,
    });
  }
  if (options.isolation && !probe.venv) {
    throw new UserError(`the Python at ${probe.executable} cannot make virtual environments, which isolated builds need.`, {
      input: 'isolation',
      fix: `${debian ? 'sudo apt-get install -y python3-venv' : `${py} -m pip install virtualenv`}, or set isolation: false (then the build uses what is installed).`,
    });
  }
  if (probe.missing.length) {
    const wanted = options.requires.filter((r) => probe.missing.includes(requirementName(r)));
    throw new UserError(
      `without isolation the build uses what is installed, and the Python at ${probe.executable} lacks the build requirements ${wanted.join(', ')} ([build-system] requires).`,
      {
        input: 'isolation',
        fix: `install them: ${py} -m pip install ${wanted.map(quote).join(' ')}${debian ? ` (Debian/Ubuntu: sudo apt-get install -y ${probe.missing.map((n) => `python3-${n.toLowerCase().replace(/_/g, '-')}`).join(' ')})` : ''}; or set isolation: true where a package index is reachable.`,
      },
    );
  }
  return { command, executable: probe.executable, version: probe.version, twine: probe.twine };
}
