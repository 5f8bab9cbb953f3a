import { isUtf8 } from 'node:buffer';
import { parseToml, tomlTable, type TomlTable } from '../toml';
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, relative, resolve } from 'node:path';
import { UserError } from '../errors';
import { escapeRegex, iniSection, iniValue } from '../ini';

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
  /** Absolute path of the file written. */
  path: string;
  /** The input line(s) that asked for it, for messages and commits. */
  entry: string;
  format: string;
  oldVersion: string;
  newVersion: string;
  /** The file's bytes as read. */
  before: Buffer;
  /** The bytes to write: `before` with only the version's bytes changed. */
  after: Buffer;
  /** When the file was reached by following another one (a dynamic version), how. */
  via?: string;
}

/**
 * Versions to write: SemVer for non-Python files, PEP 440 for Python files (*.py,
 * pyproject.toml, setup.cfg, setup.py, and files Python metadata reads the version from).
 */
export interface VersionStrings {
  semver: string;
  pep440: string;
}

export interface VersionFilePlan {
  edits: VersionFileEdit[];
  /** Sentences for the log: entries that need no write, and why. */
  notes: string[];
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

function fail(entry: string, problem: string, fix: string): never {
  throw new UserError(`${entry}: ${problem}`, { input: INPUT, fix });
}

// ---------------------------------------------------------------------------------------------
// Bytes and text

/**
 * A file's bytes and the text the version is looked for in. The text leaves out a UTF-8 BOM and
 * is the UTF-8 decoding when the bytes are valid UTF-8, else Latin-1 (one character a byte), so
 * that any offset in it maps back to exactly one byte offset and nothing else is ever rewritten.
 */
interface Doc {
  buf: Buffer;
  bom: number;
  utf8: boolean;
  text: string;
}

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

function decode(buf: Buffer, entry: string): Doc {
  if (buf.length >= 2 && ((buf[0] === 0xff && buf[1] === 0xfe) || (buf[0] === 0xfe && buf[1] === 0xff))) {
    fail(
      entry,
      'is saved as UTF-16 (it starts with a UTF-16 byte-order mark), an encoding Relevo does not edit.',
      'save the file as UTF-8 (with or without a BOM); Python, npm and pip all read UTF-8.',
    );
  }
  const bom = buf.subarray(0, 3).equals(UTF8_BOM) ? 3 : 0;
  const body = buf.subarray(bom);
  const utf8 = isUtf8(body);
  return { buf, bom, utf8, text: body.toString(utf8 ? 'utf8' : 'latin1') };
}

/** The byte offset in `doc.buf` of the character at `index` of `doc.text`. */
function byteOffset(doc: Doc, index: number): number {
  return doc.bom + (doc.utf8 ? Buffer.byteLength(doc.text.slice(0, index), 'utf8') : index);
}

/** Replaces the given byte spans (not overlapping) with `value`, keeping every other byte. */
function splice(buf: Buffer, spans: [number, number][], value: string): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (const [start, end] of [...spans].sort((a, b) => a[0] - b[0])) {
    parts.push(buf.subarray(at, start), Buffer.from(value, 'utf8'));
    at = end;
  }
  parts.push(buf.subarray(at));
  return Buffer.concat(parts);
}

function whyUnreadable(code: string | undefined): string {
  if (code === 'ENOENT') return 'the file does not exist';
  if (code === 'EISDIR') return 'it is a folder';
  return `it cannot be read (${code})`;
}

function readBytes(path: string, entry: string, followed?: { from: string; via: string }): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = whyUnreadable(code);
    if (followed) {
      throw new UserError(`${entry}: the version is read from '${relative(followed.from, path) || path}' (${followed.via}), but ${why}.`, {
        input: INPUT,
        fix: 'fix the path where the project declares its version, or list the file that holds the version instead.',
      });
    }
    throw new UserError(`cannot read '${entry}': ${why}.`, {
      input: INPUT,
      fix: 'list files relative to workingDirectory, one a line, that exist in the repository.',
    });
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Finding the version in one file

/** Where the version is in a file, as offsets of `doc.text` (all spans get the new version). */
interface Found {
  format: string;
  spans: [number, number][];
}

type Finder = (doc: Doc) => Found;

/** What an entry amounts to: a file to edit (maybe another one than listed), or only a note. */
type Resolution =
  | {
      kind: 'edit';
      entry: string;
      path: string;
      python: boolean;
      via?: string;
      find: Finder;
      /** Names a followed file in messages. */ label?: string;
    }
  | { kind: 'note'; entry: string; note: string };

/** The span of group `v` (or `version`, or the first group) of `regex` in `text[from, to)`. */
function findIn(text: string, regex: RegExp, from = 0, to = text.length): [number, number] | undefined {
  const flags = regex.flags.includes('d') ? regex.flags : regex.flags + 'd';
  const m = new RegExp(regex.source, flags).exec(text.slice(from, to));
  const span = m?.indices?.groups?.v ?? m?.indices?.groups?.version ?? m?.indices?.[1];
  return span ? [from + span[0], from + span[1]] : undefined;
}

/** A module-level `NAME = "x"` or `NAME: <annotation> = "x"`. */
function assignment(name: string): RegExp {
  return new RegExp(`^${escapeRegex(name)}[ \\t]*(?::[^=\\n]*)?=[ \\t]*(["'])(?<v>[^"'\\n]*)\\1`, 'm');
}

function assignmentFinder(entry: string, name: string, where = ''): Finder {
  return (doc) => {
    const span = findIn(doc.text, assignment(name));
    if (!span)
      fail(entry, `no ${name} = "..." line${where}.`, `add '${name} = "0.1.0"' at module level, or list the file that holds the version.`);
    return { format: name, spans: [span] };
  };
}

function plainVersionFinder(entry: string, where = ''): Finder {
  return (doc) => {
    const m = /^\s*(\S+)/.exec(doc.text);
    if (!m) fail(entry, `is empty${where}.`, 'write the current version in it, e.g. 0.1.0.');
    const start = m[0].length - m[1].length;
    return { format: 'VERSION', spans: [[start, start + m[1].length]] };
  };
}

/** An INI [section]'s body: from after its header line to the next header. */

const SETUP_CFG_VERSION = /^[ \t]*version[ \t]*[=:][ \t]*(?<v>[^\s#;](?:[^#;\r\n]*[^\s#;])?)[ \t]*\r?$/m;

/**
 * The version-file formats Relevo edits, one entry each: which files it takes, how the task's
 * help names it, and how the version is found in it. Adding a format is adding an entry here:
 * the error for an unknown file and the list test/unit/version-files.test.ts checks against
 * task.json and docs/version-bump.md come from this table.
 */
export type VersionFileFormatId = 'pyproject.toml' | 'setup.cfg' | 'setup.py' | '__version__' | 'package.json' | 'VERSION';

interface VersionFileFormat {
  /** How the help and the errors name it. */
  label: string;
  takes: (name: string, ext: string) => boolean;
  resolve: (spec: VersionFileSpec, read: (path: string) => Doc, edit: (python: boolean, find: Finder) => Resolution) => Resolution;
}

export const VERSION_FILE_FORMATS = {
  'pyproject.toml': {
    label: 'pyproject.toml',
    takes: (name) => name === 'pyproject.toml',
    resolve: (spec, read) => resolvePyproject(spec, read(spec.path)),
  },
  'setup.cfg': {
    label: 'setup.cfg',
    takes: (name) => name === 'setup.cfg',
    resolve: (spec, read) => resolveSetupCfg(spec, read(spec.path)),
  },
  'setup.py': {
    label: 'setup.py',
    takes: (name) => name === 'setup.py',
    resolve: (spec, _read, edit) =>
      edit(true, (doc) => {
        const span = findIn(doc.text, /\bversion\s*=\s*(["'])(?<v>[^"'\n]*)\1/);
        if (!span)
          fail(
            spec.entry,
            'no literal version="..." argument.',
            'write the version as a string literal in setup(), or list the file it is read from.',
          );
        return { format: 'setup.py', spans: [span] };
      }),
  },
  __version__: {
    label: '*.py with __version__',
    takes: (_name, ext) => ext === '.py',
    resolve: (spec, _read, edit) =>
      edit(true, (doc) => {
        const span = findIn(doc.text, assignment('__version__'));
        if (!span) fail(spec.entry, 'no __version__ = "..." line.', 'add \'__version__ = "0.1.0"\' at module level.');
        return { format: '__version__', spans: [span] };
      }),
  },
  'package.json': {
    label: 'package.json',
    takes: (name) => name === 'package.json',
    resolve: (spec, _read, edit) =>
      edit(false, (doc) => {
        const span = topLevelStringValue(doc.text, 'version');
        if (span === 'invalid') fail(spec.entry, 'is not valid JSON.', 'fix the file so that it parses.');
        if (!span) fail(spec.entry, 'has no top-level "version" string.', 'add "version": "0.1.0".');
        return { format: 'package.json', spans: [span] };
      }),
  },
  VERSION: {
    label: 'VERSION',
    takes: (name) => name === 'version' || name === 'version.txt',
    resolve: (spec, _read, edit) => edit(false, plainVersionFinder(spec.entry)),
  },
} satisfies Record<VersionFileFormatId, VersionFileFormat>;

/** The formats as the help names them: "pyproject.toml, setup.cfg, …". */
export const KNOWN_VERSION_FILES = Object.values(VERSION_FILE_FORMATS)
  .map((f) => f.label)
  .join(', ');

function resolveEntry(spec: VersionFileSpec, read: (path: string) => Doc): Resolution {
  const name = basename(spec.path).toLowerCase();
  const ext = extname(name);
  const edit = (python: boolean, find: Finder): Resolution => ({ kind: 'edit', entry: spec.entry, path: spec.path, python, find });
  if (spec.regex) {
    const regex = spec.regex;
    const python = ext === '.py' || name === 'pyproject.toml' || name === 'setup.cfg';
    return edit(python, (doc) => {
      const span = findIn(doc.text, regex);
      if (!span)
        fail(
          spec.entry,
          'the pattern matches nothing in the file.',
          'check the pattern against the file, or list the file without a pattern if its format is known.',
        );
      return { format: 'regex', spans: [span] };
    });
  }
  const format = Object.values(VERSION_FILE_FORMATS).find((f: VersionFileFormat) => f.takes(name, ext));
  if (format) return format.resolve(spec, read, edit);
  fail(spec.entry, 'is not a format Relevo knows.', `use 'path:regex' with a group around the version (known: ${KNOWN_VERSION_FILES}).`);
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

// ---------------------------------------------------------------------------------------------
// Following a version to the file that holds it (setuptools attr:/file:, hatch, pdm, flit)

/**
 * The files a module may be in, setuptools-style: `package-dir` mappings first (the longest
 * prefix of the module's name that is mapped; `""` maps the root), then the project folder
 * and `src/`. Each place is tried as a package (`__init__.py`) and as a module (`.py`).
 */
function moduleCandidates(base: string, module: string[], packageDir: Record<string, string>): string[] {
  const places: string[] = [];
  for (let k = module.length; k >= 0; k--) {
    const mapped = packageDir[module.slice(0, k).join('.')];
    if (mapped !== undefined) {
      places.push(resolve(base, mapped, ...module.slice(k)));
      break;
    }
  }
  places.push(resolve(base, ...module), resolve(base, 'src', ...module));
  return [...new Set(places.flatMap((p) => [resolve(p, '__init__.py'), `${p}.py`]))];
}

function followAttr(entry: string, base: string, attr: string, packageDir: Record<string, string>, via: string): Resolution {
  const parts = attr
    .trim()
    .split('.')
    .map((p) => p.trim());
  if (parts.length < 2 || parts.some((p) => !/^[A-Za-z_]\w*$/.test(p))) {
    fail(
      entry,
      `the version is read from '${attr}' (${via}), which is not a 'package.attribute' name.`,
      'name the attribute with its module, e.g. <package>.__version__, or list the file that holds the version.',
    );
  }
  const name = parts.pop()!;
  const candidates = moduleCandidates(base, parts, packageDir);
  const path = candidates.find(isFile);
  if (!path) {
    fail(
      entry,
      `the version is read from ${attr} (${via}), but no file for module '${parts.join('.')}' was found; looked for ${candidates.map((c) => relative(base, c)).join(', ')}.`,
      "list the file that holds the version instead (e.g. src/<package>/__init__.py), or set the package's folder ([tool.setuptools.package-dir] or [options] package_dir).",
    );
  }
  return {
    kind: 'edit',
    entry,
    path,
    python: true,
    via,
    label: `${entry} → ${relative(base, path)}`,
    find: assignmentFinder(entry, name, ` in ${relative(base, path)} (${via})`),
  };
}

function followFile(entry: string, base: string, file: string, via: string, find: (where: string) => Finder): Resolution {
  const path = resolve(base, file);
  readBytes(path, entry, { from: base, via }); // a missing file is reported with how it was reached
  return {
    kind: 'edit',
    entry,
    path,
    python: true,
    via,
    label: `${entry} → ${relative(base, path)}`,
    find: find(` in ${relative(base, path)} (${via})`),
  };
}

/** A Python `re` pattern (hatch's `pattern`) as a JavaScript one, for the usual constructs. */
function pythonRegex(entry: string, pattern: string, via: string): RegExp {
  let flags = 'm';
  const source = pattern
    .replace(/^\(\?([aiLmsux]+)\)/, (_, f: string) => {
      if (f.includes('i')) flags += 'i';
      if (f.includes('s')) flags += 's';
      return '';
    })
    .replace(/\(\?P</g, '(?<')
    .replace(/\(\?P=(\w+)\)/g, '\\k<$1>');
  try {
    const regex = new RegExp(source, flags);
    if (!/\(\?<version>/.test(source)) throw new Error('it has no group named version');
    return regex;
  } catch (err) {
    fail(
      entry,
      `the version pattern '${pattern}' (${via}) cannot be used (${(err as Error).message}).`,
      'list the file that holds the version instead, with path:regex if its format is not known.',
    );
  }
}

/** hatchling's default pattern for `[tool.hatch.version] path`. */
const HATCH_DEFAULT = /^(?:__version__|VERSION)(?:\s*:\s*str)? *= *(['"])v?(?<v>.+?)\1/im;

function regexFinder(entry: string, regex: RegExp, format: string): (where: string) => Finder {
  return (where) => (doc) => {
    const span = findIn(doc.text, regex);
    if (!span)
      fail(
        entry,
        `no version found${where}.`,
        'write it as \'__version__ = "0.1.0"\' at module level, or list the file that holds the version.',
      );
    return { format, spans: [span] };
  };
}

// ---------------------------------------------------------------------------------------------
// pyproject.toml

type Table = TomlTable;
const table = tomlTable;

function get(root: unknown, path: string[]): unknown {
  let at: unknown = root;
  for (const key of path) at = table(at)?.[key];
  return at;
}

function parsePyproject(entry: string, doc: Doc): Table {
  const parsed = parseToml(doc.buf.subarray(doc.bom).toString('utf8'));
  if ('error' in parsed)
    fail(entry, `is not valid TOML: ${parsed.error}.`, 'fix the syntax so that pip and the build backend can read the file.');
  return parsed.table;
}

/** A key = value of a TOML document: its full dotted path and where its value's text is. */
interface TomlValue {
  path: string[];
  start: number;
  end: number;
}

/**
 * The key = value lines of a TOML document with the offsets of their values: enough of TOML to
 * find where a value is written (headers with spaces, comments and quoted keys, dotted keys,
 * strings and arrays over several lines). The document is known to be valid (it was parsed).
 */
function scanToml(s: string): TomlValue[] {
  const n = s.length;
  const values: TomlValue[] = [];
  let i = 0;
  let table: string[] = [];
  const spaces = () => {
    while (s[i] === ' ' || s[i] === '\t') i++;
  };
  const nextLine = () => {
    while (i < n && s[i] !== '\n') i++;
    i++;
  };
  const BARE = /[A-Za-z0-9_-]+/y;
  const key = (): string[] | undefined => {
    const parts: string[] = [];
    for (;;) {
      spaces();
      if (s[i] === '"' || s[i] === "'") {
        const end = skipString(s, i);
        const raw = s.slice(i, end);
        let part = raw.slice(1, -1);
        if (raw[0] === '"') {
          try {
            part = JSON.parse(raw) as string;
          } catch {
            // an escape JSON does not have; keep the raw text
          }
        }
        parts.push(part);
        i = end;
      } else {
        BARE.lastIndex = i;
        const m = BARE.exec(s);
        if (!m) return undefined;
        parts.push(m[0]);
        i += m[0].length;
      }
      spaces();
      if (s[i] !== '.') return parts;
      i++;
    }
  };
  while (i < n) {
    spaces();
    const c = s[i];
    if (c === '\n') {
      i++;
      continue;
    }
    if (c === '#' || c === '\r') {
      nextLine();
      continue;
    }
    if (c === '[') {
      i += s[i + 1] === '[' ? 2 : 1;
      table = key() ?? table;
      nextLine();
      continue;
    }
    const path = key();
    spaces();
    if (!path || s[i] !== '=') {
      nextLine();
      continue;
    }
    i++;
    spaces();
    const start = i;
    i = skipValue(s, i);
    values.push({ path: [...table, ...path], start, end: i });
    nextLine();
  }
  return values;
}

/** The index after the string starting at `i` (any of TOML's four kinds). */
function skipString(s: string, i: number): number {
  const q = s[i];
  if (s.startsWith(q.repeat(3), i)) {
    let j = i + 3;
    while (j < s.length) {
      if (q === '"' && s[j] === '\\') j += 2;
      else if (s.startsWith(q.repeat(3), j)) {
        let run = 3; // up to two quotes before the closing ones belong to the string
        while (run < 5 && s[j + run] === q) run++;
        return j + run;
      } else j++;
    }
    return s.length;
  }
  let j = i + 1;
  while (j < s.length && s[j] !== q && s[j] !== '\n') j += q === '"' && s[j] === '\\' ? 2 : 1;
  return j + 1;
}

/** The index after the value starting at `i`. */
function skipValue(s: string, i: number): number {
  if (s[i] === '"' || s[i] === "'") return skipString(s, i);
  if (s[i] === '[' || s[i] === '{') {
    let depth = 0;
    let j = i;
    while (j < s.length) {
      const c = s[j];
      if (c === '"' || c === "'") {
        j = skipString(s, j);
        continue;
      }
      if (c === '#') {
        while (j < s.length && s[j] !== '\n') j++;
        continue;
      }
      if (c === '[' || c === '{') depth++;
      else if (c === ']' || c === '}') {
        depth--;
        if (depth === 0) return j + 1;
      }
      j++;
    }
    return j;
  }
  let j = i;
  while (j < s.length && s[j] !== '\n' && s[j] !== '#') j++;
  while (j > i && /[ \t\r]/.test(s[j - 1])) j--;
  return j;
}

const STATIC_VERSIONS: [string[], string][] = [
  [['project', 'version'], '[project]'],
  [['tool', 'poetry', 'version'], '[tool.poetry]'],
];

/** Every static version of a pyproject.toml ([project] and [tool.poetry]), where it is written. */
function pyprojectStatics(entry: string, doc: Doc): Found {
  const data = parsePyproject(entry, doc);
  const scanned = scanToml(doc.text);
  const spans: [number, number][] = [];
  const where: string[] = [];
  for (const [path, label] of STATIC_VERSIONS) {
    const value = get(data, path);
    if (typeof value !== 'string') continue;
    const at = scanned.find((v) => v.path.length === path.length && v.path.every((p, k) => p === path[k]));
    const raw = at ? doc.text.slice(at.start, at.end) : '';
    const quote = /^("""|'''|"|')/.exec(raw)?.[0].length ?? 0;
    if (!at || !quote || raw.slice(quote, raw.length - quote) !== value) {
      fail(
        entry,
        `the version in ${label} is not written as a plain string on a line of its own (e.g. in an inline table), so Relevo cannot edit it in place.`,
        `write it as 'version = "${value}"' under ${label}.`,
      );
    }
    spans.push([at.start + quote, at.end - quote]);
    where.push(label);
  }
  if (!spans.length) fail(entry, 'no version in [project] or [tool.poetry].', 'add \'version = "0.1.0"\' under [project].');
  return { format: `pyproject ${where.join(' + ')}`, spans };
}

function strings(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return typeof value === 'string' ? [value] : [];
}

function resolvePyproject(spec: VersionFileSpec, doc: Doc): Resolution {
  const { entry } = spec;
  const base = dirname(spec.path);
  const data = parsePyproject(entry, doc);
  const tool = table(data.tool);
  const fromGit = (how: string): Resolution => ({
    kind: 'note',
    entry,
    note: `${entry}: the version comes from git tags (${how}), so the tag is the version; nothing written.`,
  });

  // The plugin rewrites tool.poetry.version / project.version while it builds: what is written is a placeholder.
  if (get(tool, ['poetry-dynamic-versioning', 'enable']) === true) return fromGit('poetry-dynamic-versioning');
  if (STATIC_VERSIONS.some(([path]) => typeof get(data, path) === 'string')) {
    return { kind: 'edit', entry, path: spec.path, python: true, find: (d) => pyprojectStatics(entry, d) };
  }

  const dynamic = strings(get(data, ['project', 'dynamic'])).includes('version');
  const scmTable = table(tool?.setuptools_scm) !== undefined;
  if (!dynamic) {
    if (scmTable) return fromGit('setuptools-scm');
    fail(entry, 'no version in [project] or [tool.poetry].', 'add \'version = "0.1.0"\' under [project].');
  }

  const hatch = table(get(tool, ['hatch', 'version']));
  const pdm = table(get(tool, ['pdm', 'version']));
  const setuptoolsVersion = table(get(tool, ['setuptools', 'dynamic', 'version']));
  const requires = strings(get(data, ['build-system', 'requires']));
  const backend = get(data, ['build-system', 'build-backend']);
  if (hatch?.source === 'vcs') return fromGit('hatch-vcs');
  if (scmTable) return fromGit('setuptools-scm');
  if (pdm?.source === 'scm') return fromGit('pdm-backend scm');

  const via = (how: string) => `${entry} dynamic version → ${how}`;
  if (setuptoolsVersion) {
    if (typeof setuptoolsVersion.attr === 'string') {
      const packageDir: Record<string, string> = {};
      for (const [k, v] of Object.entries(table(get(tool, ['setuptools', 'package-dir'])) ?? {}))
        if (typeof v === 'string') packageDir[k] = v;
      return followAttr(entry, base, setuptoolsVersion.attr, packageDir, via(`[tool.setuptools.dynamic] attr ${setuptoolsVersion.attr}`));
    }
    const files = strings(setuptoolsVersion.file);
    if (files.length === 1) {
      return followFile(entry, base, files[0], via(`[tool.setuptools.dynamic] file ${files[0]}`), (where) =>
        plainVersionFinder(entry, where),
      );
    }
    fail(
      entry,
      '[tool.setuptools.dynamic] version is neither {attr = "..."} nor {file = "..."} with one file.',
      'read it from one file or attribute, or list the file that holds the version instead.',
    );
  }
  if (hatch) {
    const path = hatch.path;
    if (typeof path !== 'string')
      fail(
        entry,
        '[tool.hatch.version] has no path (and its source is not vcs).',
        'set path = "src/<package>/__about__.py", or list the file that holds the version instead.',
      );
    const how = via(`[tool.hatch.version] path ${path}`);
    if (hatch.source === 'code') {
      const expression = typeof hatch.expression === 'string' ? hatch.expression : '__version__';
      if (!/^[A-Za-z_]\w*$/.test(expression))
        fail(
          entry,
          `[tool.hatch.version] reads the version from the expression '${expression}', which Relevo cannot follow.`,
          'list the file that holds the version instead.',
        );
      return followFile(entry, base, path, how, (where) => assignmentFinder(entry, expression, where));
    }
    if (hatch.source !== undefined && hatch.source !== 'regex') {
      fail(
        entry,
        `[tool.hatch.version] source '${String(hatch.source)}' is not one Relevo can follow.`,
        'list the file that holds the version instead.',
      );
    }
    const regex = typeof hatch.pattern === 'string' ? pythonRegex(entry, hatch.pattern, how) : HATCH_DEFAULT;
    return followFile(entry, base, path, how, regexFinder(entry, regex, 'hatch version'));
  }
  if (pdm?.source === 'file' && typeof pdm.path === 'string') {
    return followFile(entry, base, pdm.path, via(`[tool.pdm.version] path ${pdm.path}`), (where) =>
      assignmentFinder(entry, '__version__', where),
    );
  }
  if (requires.some((r) => /^\s*setuptools[-_]scm\b/i.test(r))) return fromGit('setuptools-scm');
  if (typeof backend === 'string' && backend.startsWith('flit_core')) {
    const configured = get(tool, ['flit', 'module', 'name']);
    const name = typeof configured === 'string' ? configured : String(get(data, ['project', 'name']) ?? '').replace(/-/g, '_');
    if (name) return followAttr(entry, base, `${name}.__version__`, {}, via(`flit reads ${name}.__version__`));
  }
  fail(
    entry,
    'the version is declared dynamic, but Relevo found where it comes from in none of the places it looks: [tool.setuptools.dynamic] version (attr or file), [tool.hatch.version] (path or vcs), [tool.pdm.version], [tool.setuptools_scm] or setuptools-scm in [build-system] requires, [tool.poetry-dynamic-versioning], flit.',
    'list the file that holds the version instead (e.g. src/<package>/__init__.py), or declare it, e.g. [tool.setuptools.dynamic] version = {attr = "<package>.__version__"}.',
  );
}

// ---------------------------------------------------------------------------------------------
// setup.cfg

/** The lines of an INI key's value, with continuation lines; undefined when the key is absent. */

function resolveSetupCfg(spec: VersionFileSpec, doc: Doc): Resolution {
  const { entry } = spec;
  const find: Finder = (d) => {
    const range = iniSection(d.text, 'metadata');
    const span = range && findIn(d.text, SETUP_CFG_VERSION, range[0], range[1]);
    if (!span) fail(entry, 'no version in [metadata].', "add 'version = 0.1.0' under [metadata].");
    return { format: 'setup.cfg', spans: [span] };
  };
  const [start, end] = find(doc).spans[0];
  const value = doc.text.slice(start, end);
  const base = dirname(spec.path);
  const attr = /^attr:\s*(.+)$/.exec(value);
  if (attr) {
    const packageDir: Record<string, string> = {};
    const raw = iniValue(doc.text, 'options', 'package_dir') ?? '';
    for (const item of raw.split(raw.includes('\n') ? '\n' : ',')) {
      const eq = item.indexOf('=');
      if (eq >= 0) packageDir[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
    }
    return followAttr(entry, base, attr[1], packageDir, `${entry} version = attr: ${attr[1]}`);
  }
  const file = /^file:\s*(.+)$/.exec(value);
  if (file) {
    const files = file[1]
      .split(',')
      .map((f) => f.trim())
      .filter(Boolean);
    if (files.length !== 1)
      fail(
        entry,
        `the version is read from several files (${file[1]}).`,
        'read it from one file, or list the file that holds the version instead.',
      );
    return followFile(entry, base, files[0], `${entry} version = file: ${files[0]}`, (where) => plainVersionFinder(entry, where));
  }
  return { kind: 'edit', entry, path: spec.path, python: true, find };
}

// ---------------------------------------------------------------------------------------------
// Plans

function resolveAll(specs: VersionFileSpec[]) {
  const docs = new Map<string, Doc>();
  const read = (entry: string) => (path: string) => {
    let doc = docs.get(path);
    if (!doc) docs.set(path, (doc = decode(readBytes(path, entry), entry)));
    return doc;
  };
  const resolutions = specs.map((spec) => {
    read(spec.entry)(spec.path); // a missing file or a folder is reported before its format
    return resolveEntry(spec, read(spec.entry));
  });
  for (const r of resolutions) if (r.kind === 'edit') read(r.label ?? r.entry)(r.path);
  return { resolutions, docs };
}

/** The version a file holds now, as written there (the followed file's, for a dynamic version). */
export function readVersionFile(spec: VersionFileSpec): string {
  const { resolutions, docs } = resolveAll([spec]);
  const r = resolutions[0];
  if (r.kind === 'note') throw new UserError(r.note, { input: INPUT });
  const doc = docs.get(r.path)!;
  const [start, end] = r.find(doc).spans[0];
  return doc.text.slice(start, end);
}

/**
 * Reads the version files and computes their new bytes; writes nothing. Entries that lead to
 * the same file (a `__version__` and a `path:regex` for another line of it, or a pyproject.toml
 * whose dynamic version is read from a listed `__init__.py`) apply one after the other to the
 * same bytes: one edit per file. A file any Python metadata reads gets the PEP 440 form.
 */
export function planVersionFileEdits(specs: VersionFileSpec[], versions: VersionStrings): VersionFilePlan {
  const { resolutions, docs } = resolveAll(specs);
  const notes: string[] = [];
  const python = new Set<string>();
  for (const r of resolutions) if (r.kind === 'edit' && r.python) python.add(r.path);
  const byPath = new Map<string, VersionFileEdit>();
  for (const r of resolutions) {
    if (r.kind === 'note') {
      notes.push(r.note);
      continue;
    }
    const newVersion = python.has(r.path) ? versions.pep440 : versions.semver;
    const earlier = byPath.get(r.path);
    const doc = earlier ? decode(earlier.after, r.label ?? r.entry) : docs.get(r.path)!;
    const found = r.find(doc);
    const spans = found.spans.map(([s, e]): [number, number] => [byteOffset(doc, s), byteOffset(doc, e)]);
    const after = splice(doc.buf, spans, newVersion);
    if (earlier) {
      if (!earlier.entry.split(', ').includes(r.entry)) earlier.entry += `, ${r.entry}`;
      earlier.via ??= r.via;
      earlier.after = after;
      continue;
    }
    const old = [...new Set(spans.map(([s, e]) => doc.buf.subarray(s, e).toString('utf8')))];
    byPath.set(r.path, {
      path: r.path,
      entry: r.entry,
      format: found.format,
      oldVersion: old.join(', '),
      newVersion,
      before: doc.buf,
      after,
      ...(r.via ? { via: r.via } : {}),
    });
  }
  return { edits: [...byPath.values()], notes };
}
