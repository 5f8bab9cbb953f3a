/**
 * A Python project as BuildWheel sees it before building: its name (when written down), where
 * its version comes from, what its build backend needs, and the edits that stamp a requested
 * version into it for the build. The version files are found by VersionBump's reader
 * (versioning/versionFiles.ts), so dynamic versions (`attr:`, `file:`, `[tool.setuptools.dynamic]`)
 * are followed the same way; git-tag versions (setuptools-scm, hatch-vcs) get
 * SETUPTOOLS_SCM_PRETEND_VERSION instead of an edit.
 */
import { existsSync, readdirSync, readFileSync, statSync, type Dirent } from 'node:fs';
import { join, relative } from 'node:path';
import { parseToml, tomlTable as table } from '../toml';
import { isUserError, UserError } from '../errors';
import { iniValue } from '../ini';
import { planVersionFileEdits, type VersionFileEdit } from '../versioning/versionFiles';
import { canonicalPep440 } from './wheel';

export const PROJECT_FILES = ['pyproject.toml', 'setup.cfg', 'setup.py'] as const;

export interface PythonProject {
  dir: string;
  /** The project files that exist, in PROJECT_FILES order. */
  files: string[];
  /** As written in the project; undefined when it is computed (setup.py code, dynamic). */
  name?: string;
  /** [build-system] requires (PEP 518's default when there is none). */
  buildRequires: string[];
  backend: string;
}

export type VersionStamp =
  /** Version files written for the build and put back after. */
  | { kind: 'files'; edits: VersionFileEdit[] }
  /** The version comes from git tags: the build gets it through the environment. */
  | { kind: 'env'; env: Record<string, string>; note: string };

export function readProject(dir: string, input = 'projectDirectory'): PythonProject {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UserError(`'${dir}' is not a folder.`, {
      input,
      fix: 'set it to the folder that holds pyproject.toml, setup.cfg or setup.py (relative to $(Build.SourcesDirectory)).',
    });
  }
  const files = PROJECT_FILES.filter((f) => existsSync(join(dir, f)));
  if (!files.length) {
    throw new UserError(`'${dir}' holds no pyproject.toml, setup.cfg or setup.py.`, {
      input,
      fix: 'set it to the folder of the Python project (the one with pyproject.toml).',
    });
  }
  let name: string | undefined;
  let buildRequires = ['setuptools>=40.8.0'];
  let backend = 'setuptools.build_meta:__legacy__';
  if (files.includes('pyproject.toml')) {
    const parsed = parseToml(readFileSync(join(dir, 'pyproject.toml'), 'utf8'));
    if ('error' in parsed)
      throw new UserError(`pyproject.toml is not valid TOML: ${parsed.error}.`, {
        input,
        fix: 'fix the syntax so that pip and the build backend can read the file.',
      });
    const data = parsed.table;
    const project = table(data.project);
    const poetry = table(table(data.tool)?.poetry);
    if (typeof project?.name === 'string') name = project.name;
    else if (typeof poetry?.name === 'string') name = poetry.name;
    const buildSystem = table(data['build-system']);
    if (buildSystem) {
      if (Array.isArray(buildSystem.requires)) buildRequires = buildSystem.requires.filter((r): r is string => typeof r === 'string');
      if (typeof buildSystem['build-backend'] === 'string') backend = buildSystem['build-backend'];
    }
  }
  if (!name && files.includes('setup.cfg')) name = iniValue(readFileSync(join(dir, 'setup.cfg'), 'utf8'), 'metadata', 'name');
  if (!name && files.includes('setup.py'))
    name = /\bname\s*=\s*["']([A-Za-z0-9][A-Za-z0-9._-]*)["']/.exec(readFileSync(join(dir, 'setup.py'), 'utf8'))?.[1];
  return { dir, files, name, buildRequires, backend };
}

/** The distribution name of a requirement (`setuptools-scm[toml]>=8` → `setuptools-scm`). */
export function requirementName(requirement: string): string {
  return /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(requirement)?.[1] ?? requirement.trim();
}

/**
 * How to put `pep440` into the build. Tries the files setuptools reads, in its order (the
 * first that holds a version wins); a version from git tags is passed as
 * SETUPTOOLS_SCM_PRETEND_VERSION (setuptools-scm, hatch-vcs) and PDM_BUILD_SCM_VERSION.
 * When no project file writes the version literally (setup.py `exec`s a version.py, reads a
 * file with a regex, imports an `__about__.py`), the project is asked: `reported()` gives the
 * version its build backend reports, and the one file that holds exactly that string as
 * `__version__`/`version`/`VERSION` (or as a whole VERSION file) is stamped.
 */
export async function planVersionStamp(
  project: PythonProject,
  versions: { semver: string; pep440: string },
  reported: () => Promise<{ version?: string; how: string; problem?: string }>,
  input = 'version',
): Promise<VersionStamp> {
  const reasons: string[] = [];
  if (project.files.includes('setup.py') && /use_scm_version\s*=/.test(readFileSync(join(project.dir, 'setup.py'), 'utf8')))
    return scm('setup.py use_scm_version');
  for (const file of project.files) {
    try {
      const plan = planVersionFileEdits([{ entry: file, path: join(project.dir, file) }], versions);
      if (plan.edits.length) return { kind: 'files', edits: plan.edits };
      if (plan.notes.some((n) => /git tags/.test(n))) return scm(plan.notes.join(' '));
      reasons.push(...plan.notes);
    } catch (err) {
      if (!isUserError(err)) throw err;
      reasons.push(err.message.replace(/^Input 'versionFiles': /, '').replace(/ Fix: .*$/, ''));
    }
  }
  const asked = await reported();
  if (!asked.version) {
    throw new UserError(
      `cannot find where the project's version is written: no project file writes it literally (${reasons.join(' ')}), and asking the project (${asked.how}) failed: ${asked.problem ?? 'no version'}.`,
      {
        input,
        fix: `make '${asked.how}' work in ${project.dir}, or write the version in pyproject.toml ([project] version = "0.1.0"), setup.cfg or setup.py, or leave 'version' empty to build the version the project says.`,
      },
    );
  }
  const holders = filesHoldingVersion(project.dir, asked.version);
  if (holders.length !== 1) {
    throw new UserError(
      holders.length
        ? `the project reports version ${asked.version} (${asked.how}), and ${holders.length} files hold it: ${holders.map((h) => h.entry).join(', ')}; Relevo stamps one.`
        : `the project reports version ${asked.version} (${asked.how}), and no file in it holds that string as __version__, version or VERSION (or as a VERSION file).`,
      {
        input,
        fix: holders.length
          ? "keep the version in one file (the others import it), or leave 'version' empty to build the version the project says."
          : 'write the version as `__version__ = "..."` in one module (setup.py may read it), or leave \'version\' empty to build the version the project says.',
      },
    );
  }
  const h = holders[0];
  const text = h.before.toString('utf8');
  const start = Buffer.byteLength(text.slice(0, h.span[0]));
  const end = Buffer.byteLength(text.slice(0, h.span[1]));
  return {
    kind: 'files',
    edits: [
      {
        path: h.path,
        entry: h.entry,
        format: h.name,
        oldVersion: text.slice(h.span[0], h.span[1]),
        newVersion: versions.pep440,
        before: h.before,
        after: Buffer.concat([h.before.subarray(0, start), Buffer.from(versions.pep440), h.before.subarray(end)]),
        via: `the version ${asked.how} reports`,
      },
    ],
  };

  function scm(why: string): VersionStamp {
    return {
      kind: 'env',
      env: { SETUPTOOLS_SCM_PRETEND_VERSION: versions.pep440, PDM_BUILD_SCM_VERSION: versions.pep440 },
      note: `the version comes from git tags (${why.replace(/\s+/g, ' ').slice(0, 200)}): the build gets SETUPTOOLS_SCM_PRETEND_VERSION=${versions.pep440}.`,
    };
  }
}

/** Folders never searched for a version (tools, environments, build output). */
const NOT_SOURCE = new Set([
  '.git',
  'node_modules',
  '.venv',
  'venv',
  'env',
  '.tox',
  '.nox',
  '__pycache__',
  'build',
  'dist',
  '.eggs',
  'site-packages',
]);

/** A module-level `__version__ = "x"`, `version: str = 'x'`, `VERSION = "x"`. */
const VERSION_ASSIGNMENT = /^(__version__|version|VERSION)[ \t]*(?::[^=\n]*)?=[ \t]*(["'])([^"'\n]+)\2/gm;

export interface VersionHolder {
  path: string;
  /** Relative to the project, for messages. */
  entry: string;
  name: string;
  before: Buffer;
  /** Character offsets of the version string in the file's text. */
  span: [number, number];
}

/**
 * The files of the project (Python modules, and files named VERSION or version.txt) that hold
 * `version` (compared in PEP 440 canonical form) as a module-level version assignment or as their
 * whole content. Searched to a depth of six folders, skipping environments and build output.
 */
export function filesHoldingVersion(dir: string, version: string): VersionHolder[] {
  const wanted = canonicalPep440(version) ?? version;
  const same = (v: string) => v === version || canonicalPep440(v) === wanted;
  const found: VersionHolder[] = [];
  const walk = (d: string, depth: number) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(d, e.name);
      if (e.isDirectory()) {
        if (depth < 6 && !NOT_SOURCE.has(e.name) && !e.name.endsWith('.egg-info')) walk(path, depth + 1);
        continue;
      }
      if (!e.isFile() || e.name === 'setup.py') continue;
      const lower = e.name.toLowerCase();
      if (lower === 'version' || lower === 'version.txt') {
        const before = readFileSync(path);
        const text = before.toString('utf8');
        const m = /^\s*(\S+)\s*$/.exec(text);
        if (m && same(m[1])) {
          const start = text.indexOf(m[1]);
          found.push({ path, entry: relative(dir, path), name: 'VERSION file', before, span: [start, start + m[1].length] });
        }
        continue;
      }
      if (!lower.endsWith('.py')) continue;
      const before = readFileSync(path);
      const text = before.toString('utf8');
      for (const m of text.matchAll(VERSION_ASSIGNMENT)) {
        if (!same(m[3])) continue;
        const start = m.index + m[0].length - m[3].length - 1;
        found.push({ path, entry: relative(dir, path), name: m[1], before, span: [start, start + m[3].length] });
        break;
      }
    }
  };
  walk(dir, 1);
  return found;
}

/** The version the project states, when it is written down statically; undefined otherwise. */
export function statedVersion(project: PythonProject): string | undefined {
  for (const file of project.files) {
    try {
      const plan = planVersionFileEdits([{ entry: file, path: join(project.dir, file) }], { semver: '0.0.0', pep440: '0.0.0' });
      if (plan.edits.length) return plan.edits[0].oldVersion.split(', ')[0];
      if (plan.notes.length) return undefined;
    } catch {
      // not in this file
    }
  }
  return undefined;
}
