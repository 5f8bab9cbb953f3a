import { readFileSync } from 'node:fs';
import { basename, extname, isAbsolute, resolve } from 'node:path';
import { UserError } from '../errors';
import { toPep440 } from './pep440';

const INPUT = 'versionFiles';

/**
 * Files that carry the component's version. Each entry is a path (the format is known from the
 * file name) or `path:regex` for anything else, where the regex's first group (or the group
 * named `version`) is the version. Python files get the PEP 440 form, others SemVer.
 */
export interface VersionFileSpec {
  /** As written in the input. */
  entry: string;
  path: string;
  regex?: RegExp;
}

export interface VersionFileEdit {
  path: string;
  /** Path as written in the input, for messages and commits. */
  entry: string;
  format: string;
  oldVersion: string;
  newVersion: string;
  before: string;
  after: string;
}

export function parseVersionFileSpecs(text: string, root: string): VersionFileSpec[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((entry) => {
      // `C:\x` is a path, not `C` + regex.
      const colon = entry.search(/(?<!^[A-Za-z]):/);
      if (colon < 0) return { entry, path: resolve(root, entry) };
      const path = entry.slice(0, colon).trim();
      const pattern = entry.slice(colon + 1);
      let regex: RegExp;
      try {
        regex = new RegExp(pattern, 'm');
      } catch (err) {
        throw new UserError(`the pattern in '${entry}' is not a valid regular expression (${(err as Error).message}).`, {
          input: INPUT,
          fix: "write 'path:regex' with one capturing group around the version, e.g. 'chart.yaml:^version: (.+)$'.",
        });
      }
      // A regex matching the empty string as an alternative reports its group count.
      if (new RegExp(`(?:${pattern})|`).exec('')!.length < 2) {
        throw new UserError(`the pattern in '${entry}' has no capturing group.`, {
          input: INPUT,
          fix: "put the version in a group, e.g. 'chart.yaml:^version: (.+)$'.",
        });
      }
      return { entry, path: isAbsolute(path) ? path : resolve(root, path), regex };
    });
}

interface Located {
  format: string;
  python: boolean;
  start: number;
  end: number;
}

function fail(entry: string, problem: string, fix: string): never {
  throw new UserError(`${entry}: ${problem}`, { input: INPUT, fix });
}

/** The [section] a key lives in: its start and end offsets in the file. */
function sectionRange(content: string, header: RegExp): [number, number] | undefined {
  const m = header.exec(content);
  if (!m) return undefined;
  const start = m.index + m[0].length;
  const next = /^\s*\[/m.exec(content.slice(start));
  return [start, next ? start + next.index : content.length];
}

/** Finds the value of group `v` of `regex` inside [from, to). */
function findIn(content: string, regex: RegExp, from = 0, to = content.length): [number, number] | undefined {
  const slice = content.slice(from, to);
  const m = new RegExp(regex.source, regex.flags.includes('d') ? regex.flags : regex.flags + 'd').exec(slice);
  const span = m?.indices?.groups?.v;
  return span ? [from + span[0], from + span[1]] : undefined;
}

function locate(spec: VersionFileSpec, content: string): Located {
  const name = basename(spec.path).toLowerCase();
  const ext = extname(name);
  if (spec.regex) {
    const python = ext === '.py' || name === 'pyproject.toml' || name === 'setup.cfg';
    const m = new RegExp(spec.regex.source, 'md').exec(content);
    const span = m?.indices?.groups?.version ?? m?.indices?.[1];
    if (!span) fail(spec.entry, 'the pattern matches nothing in the file.', 'check the pattern against the file, or list the file without a pattern if its format is known.');
    return { format: 'regex', python, start: span[0], end: span[1] };
  }
  if (name === 'pyproject.toml') {
    const key = /^[ \t]*version[ \t]*=[ \t]*(["'])(?<v>[^"'\n]*)\1/m;
    for (const [format, header] of [
      ['pyproject [project]', /^[ \t]*\[project\][ \t]*$/m],
      ['pyproject [tool.poetry]', /^[ \t]*\[tool\.poetry\][ \t]*$/m],
    ] as const) {
      const range = sectionRange(content, header);
      const span = range && findIn(content, key, range[0], range[1]);
      if (span) return { format, python: true, start: span[0], end: span[1] };
    }
    if (/^\s*dynamic\s*=.*["']version["']/m.test(content)) {
      fail(spec.entry, "the version is declared dynamic, so it lives in another file.", 'list the file that holds it instead (e.g. src/<package>/__init__.py).');
    }
    fail(spec.entry, 'no version in [project] or [tool.poetry].', "add 'version = \"0.1.0\"' under [project].");
  }
  if (name === 'setup.cfg') {
    const range = sectionRange(content, /^[ \t]*\[metadata\][ \t]*$/m);
    const span = range && findIn(content, /^[ \t]*version[ \t]*[=:][ \t]*(?<v>[^\s#;](?:[^#;\n]*[^\s#;])?)[ \t]*$/m, range[0], range[1]);
    if (!span) fail(spec.entry, 'no version in [metadata].', "add 'version = 0.1.0' under [metadata].");
    if (/^(attr|file):/.test(content.slice(span[0], span[1]))) {
      fail(spec.entry, "the version is read from another file ('attr:' or 'file:').", 'list the file that holds the version instead.');
    }
    return { format: 'setup.cfg', python: true, start: span[0], end: span[1] };
  }
  if (name === 'setup.py') {
    const span = findIn(content, /\bversion\s*=\s*(["'])(?<v>[^"'\n]*)\1/);
    if (!span) fail(spec.entry, 'no literal version="..." argument.', "write the version as a string literal in setup(), or list the file it is read from.");
    return { format: 'setup.py', python: true, start: span[0], end: span[1] };
  }
  if (ext === '.py') {
    const span = findIn(content, /^__version__[ \t]*(?::[ \t]*str[ \t]*)?=[ \t]*(["'])(?<v>[^"'\n]*)\1/m);
    if (!span) fail(spec.entry, 'no __version__ = "..." line.', "add '__version__ = \"0.1.0\"' at module level.");
    return { format: '__version__', python: true, start: span[0], end: span[1] };
  }
  if (name === 'package.json') {
    const span = topLevelStringValue(content, 'version');
    if (span === 'invalid') fail(spec.entry, 'is not valid JSON.', 'fix the file so that it parses.');
    if (!span) fail(spec.entry, 'has no top-level "version" string.', 'add "version": "0.1.0".');
    return { format: 'package.json', python: false, start: span[0], end: span[1] };
  }
  if (name === 'version' || name === 'version.txt') {
    const m = /^\s*(\S+)/.exec(content);
    if (!m) fail(spec.entry, 'is empty.', 'write the current version in it, e.g. 0.1.0.');
    const start = m[0].length - m[1].length;
    return { format: 'VERSION', python: false, start, end: start + m[1].length };
  }
  fail(spec.entry, 'is not a format Relevo knows.', "use 'path:regex' with a group around the version (known: pyproject.toml, setup.cfg, setup.py, *.py with __version__, package.json, VERSION).");
}

/**
 * The offsets of the text of a top-level string property in a JSON document, found by
 * scanning (so nested `"version"` keys are skipped and the file's formatting is kept).
 */
function topLevelStringValue(json: string, key: string): [number, number] | undefined | 'invalid' {
  try {
    JSON.parse(json.replace(/^\uFEFF/, '')); // npm accepts a byte-order mark
  } catch {
    return 'invalid';
  }
  let found: [number, number] | undefined; // JSON readers take the last of duplicate keys
  let depth = 0;
  let expectKey = false;
  let lastKey: string | undefined;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '{' || c === '[') {
      depth++;
      expectKey = c === '{';
    } else if (c === '}' || c === ']') depth--;
    else if (c === ',') expectKey = depth === 1 || expectKey;
    else if (c === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        lastKey = JSON.parse(json.slice(i, j + 1)) as string;
        expectKey = false;
      } else if (depth === 1 && lastKey === key) {
        found = [i + 1, j];
        lastKey = undefined;
      } else if (depth === 1) lastKey = undefined;
      i = j;
    } else if (depth === 1 && !/[\s:\uFEFF]/.test(c)) lastKey = undefined;
  }
  return found;
}

function readText(spec: VersionFileSpec): string {
  try {
    return readFileSync(spec.path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'the file does not exist' : code === 'EISDIR' ? 'it is a folder' : `it cannot be read (${code})`;
    throw new UserError(`cannot read '${spec.entry}': ${why}.`, {
      input: INPUT,
      fix: 'list files relative to workingDirectory, one a line, that exist in the repository.',
    });
  }
}

/** The version a file holds now, as written there. */
export function readVersionFile(spec: VersionFileSpec): string {
  const content = readText(spec);
  const at = locate(spec, content);
  return content.slice(at.start, at.end);
}

/** Reads a version file and computes its new content; writes nothing. */
export function planVersionFileEdit(spec: VersionFileSpec, semver: string, current = readText(spec)): VersionFileEdit {
  const at = locate(spec, current);
  const newVersion = at.python ? toPep440(semver) : semver;
  return {
    path: spec.path,
    entry: spec.entry,
    format: at.format,
    oldVersion: current.slice(at.start, at.end),
    newVersion,
    before: current,
    after: current.slice(0, at.start) + newVersion + current.slice(at.end),
  };
}

/**
 * The edits for all entries, one per file: entries naming the same file (a `__version__` and a
 * `path:regex` for another line of it) apply one after the other to the same text.
 */
export function planVersionFileEdits(specs: VersionFileSpec[], semver: string): VersionFileEdit[] {
  const byPath = new Map<string, VersionFileEdit>();
  for (const spec of specs) {
    const earlier = byPath.get(spec.path);
    const edit = planVersionFileEdit(spec, semver, earlier?.after);
    byPath.set(spec.path, earlier ? { ...earlier, entry: `${earlier.entry}, ${spec.entry}`, after: edit.after } : edit);
  }
  return [...byPath.values()];
}
