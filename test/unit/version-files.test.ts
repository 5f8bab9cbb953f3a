import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  KNOWN_VERSION_FILES,
  parseVersionFileSpecs,
  planVersionFileEdits,
  readVersionFile,
  VERSION_FILE_FORMATS,
  type VersionFilePlan,
  type VersionStrings,
} from '../../shared/versioning/versionFiles';
import { tempDir } from '../support/repo';

/** A version and its PEP 440 form (the caller computes that one). */
const V: Record<string, VersionStrings> = {
  '0.2.0': { semver: '0.2.0', pep440: '0.2.0' },
  '1.0.0': { semver: '1.0.0', pep440: '1.0.0' },
  '1.0.1': { semver: '1.0.1', pep440: '1.0.1' },
  '1.1.0': { semver: '1.1.0', pep440: '1.1.0' },
  '2.0.0': { semver: '2.0.0', pep440: '2.0.0' },
  '1.3.0-rc.2': { semver: '1.3.0-rc.2', pep440: '1.3.0rc2' },
  '1.3.0-rc.1': { semver: '1.3.0-rc.1', pep440: '1.3.0rc1' },
  '0.2.0-dev.3': { semver: '0.2.0-dev.3', pep440: '0.2.0.dev3' },
  '0.4.0-rc.1': { semver: '0.4.0-rc.1', pep440: '0.4.0rc1' },
  '1.1.0-rc.1': { semver: '1.1.0-rc.1', pep440: '1.1.0rc1' },
  '1.0.1-rc.1': { semver: '1.0.1-rc.1', pep440: '1.0.1rc1' },
};

const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));
const BOM = [0xef, 0xbb, 0xbf];

/** Writes the files (paths relative to a new temp folder) and returns the folder. */
function tree(files: Record<string, string | Buffer>): string {
  const dir = tempDir();
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  return dir;
}

/** Plans the entries (one a line) in `dir` and writes the edits. */
function apply(dir: string, entries: string, version: string): VersionFilePlan {
  const plan = planVersionFileEdits(parseVersionFileSpecs(entries, dir), V[version]);
  for (const e of plan.edits) writeFileSync(e.path, e.after);
  return plan;
}

/** Writes `content` to `name`, plans the edit to `version`, applies it and reads it back. */
function roundTrip(name: string, content: string | Buffer, version: string, entry = name) {
  const dir = tree({ [name]: content });
  const plan = apply(dir, entry, version);
  assert.equal(plan.edits.length, 1);
  const [edit] = plan.edits;
  const [spec] = parseVersionFileSpecs(entry, dir);
  return { edit, plan, readBack: readVersionFile(spec), bytes: readFileSync(edit.path), text: readFileSync(edit.path, 'utf8') };
}

/** The one edit a pyproject.toml (plus other files) leads to, applied. */
function pyproject(toml: string, others: Record<string, string | Buffer> = {}, version = '1.3.0-rc.2') {
  const dir = tree({ 'pyproject.toml': toml, ...others });
  const plan = apply(dir, 'pyproject.toml', version);
  return { dir, plan, edit: plan.edits[0], read: (name: string) => readFileSync(join(dir, name), 'utf8') };
}

describe('version files', () => {
  it('pyproject.toml [project], in PEP 440 form', () => {
    const src =
      '[build-system]\nrequires = ["setuptools"]\nversion = "9.9.9"\n\n[project]\nname = "ingest"\nversion = "1.2.0"\n\n[tool.x]\nversion = "0"\n';
    const r = roundTrip('pyproject.toml', src, '1.3.0-rc.2');
    assert.equal(r.readBack, '1.3.0rc2');
    assert.equal(r.edit.oldVersion, '1.2.0');
    assert.equal(r.edit.newVersion, '1.3.0rc2');
    assert.equal(r.edit.via, undefined);
    assert.equal(r.text, src.replace('version = "1.2.0"', 'version = "1.3.0rc2"'));
    assert.deepEqual(r.plan.notes, []);
  });
  it('pyproject.toml [tool.poetry]', () => {
    const r = roundTrip('pyproject.toml', "[tool.poetry]\nname = 'x'\nversion = '0.1.0'\n", '0.2.0-dev.3');
    assert.equal(r.readBack, '0.2.0.dev3');
    assert.match(r.text, /version = '0\.2\.0\.dev3'/);
  });
  it('pyproject.toml: headers with spaces, comments or quotes; a comment after the value', () => {
    const forms = [
      '[project]  # the metadata\nname = "x"\nversion = "1.2.0"\n',
      '[ project ]\nname = "x"\nversion = "1.2.0"\n',
      '[ "project" ] # quoted\nname = "x"\nversion = "1.2.0"\n',
      '[project]\nname = "x"\nversion = "1.2.0"  # bumped by Relevo\n',
      "[project]\nname = 'x'\n  version   =   '1.2.0'\n",
      '[project]\ndescription = """\n[tool.poetry]\nversion = "0.0.0"\n"""\nversion = "1.2.0"\n',
      '[project]\nname = "x"\n\n[project.urls]\nHome = "https://x"\n\n[tool]\npoetry.name = "y"\n',
    ];
    for (const src of forms.slice(0, -1)) {
      const r = roundTrip('pyproject.toml', src, '1.3.0-rc.2');
      assert.equal(r.text, src.replace('1.2.0', '1.3.0rc2'), src);
    }
    assert.throws(
      () => roundTrip('pyproject.toml', forms.at(-1)!, '1.0.0'),
      /Input 'versionFiles': pyproject\.toml: no version in \[project\] or \[tool\.poetry\]/,
    );
  });
  it('pyproject.toml: both [project] and [tool.poetry] are updated', () => {
    const src = '[project]\nname = "x"\nversion = "1.2.0"\n\n[tool.poetry]\nversion = "1.2.0"\npackages = [{ include = "x" }]\n';
    const r = roundTrip('pyproject.toml', src, '1.3.0-rc.2');
    assert.equal(r.text, src.replaceAll('1.2.0', '1.3.0rc2'));
    assert.equal(r.edit.format, 'pyproject [project] + [tool.poetry]');
    // Poetry 2: [project] dynamic, the version under [tool.poetry].
    const p2 = pyproject('[project]\nname = "x"\ndynamic = ["version"]\n\n[tool.poetry]\nversion = "1.2.0"\n');
    assert.equal(p2.read('pyproject.toml'), '[project]\nname = "x"\ndynamic = ["version"]\n\n[tool.poetry]\nversion = "1.3.0rc2"\n');
  });
  it('pyproject.toml with CRLF line endings and non-ASCII text keeps every other byte', () => {
    const src = '[project]\r\nname = "x"\r\ndescription = "Ünïcödé — naïve"\r\nversion = "1.2.0"\r\n';
    const r = roundTrip('pyproject.toml', src, '1.3.0-rc.2');
    assert.ok(r.bytes.equals(Buffer.from(src.replace('1.2.0', '1.3.0rc2'), 'utf8')));
    assert.ok(r.edit.before.equals(Buffer.from(src, 'utf8')));
  });
  it('pyproject.toml with a TOML syntax error names the entry and the error', () => {
    assert.throws(
      () => roundTrip('pyproject.toml', '[project]\nname = "x\nversion = "1.0.0"\n', '1.0.0'),
      (err: Error) => err.name === 'UserError' && /^Input 'versionFiles': pyproject\.toml: is not valid TOML: .*line 2/.test(err.message),
    );
    assert.throws(
      () => roundTrip('pyproject.toml', '[project]\nversion = "1"\nversion = "2"\n', '1.0.0'),
      /pyproject\.toml: is not valid TOML: .*redefine/,
    );
  });

  describe('pyproject.toml dynamic versions are followed', () => {
    const oneLine = '[project]\nname = "pkg"\ndynamic = ["version"]\n';
    const spread = '[project]\nname = "pkg"\ndynamic = [\n  "readme",\n  "version",  # from the package\n]\n';
    for (const [form, head] of [
      ['on one line', oneLine],
      ['over several lines', spread],
    ]) {
      it(`[tool.setuptools.dynamic] attr, dynamic ${form}`, () => {
        const init = '"""Pkg."""\n__version__ = "1.2.0"\nother = "1.2.0"\n';
        const r = pyproject(`${head}\n[tool.setuptools.dynamic]\nversion = {attr = "pkg.__version__"}\n`, { 'pkg/__init__.py': init });
        assert.equal(r.plan.edits.length, 1);
        assert.equal(r.edit.path, join(r.dir, 'pkg', '__init__.py'));
        assert.equal(r.edit.entry, 'pyproject.toml');
        assert.equal(r.edit.via, 'pyproject.toml dynamic version → [tool.setuptools.dynamic] attr pkg.__version__');
        assert.equal(r.read('pkg/__init__.py'), init.replace('__version__ = "1.2.0"', '__version__ = "1.3.0rc2"'));
        assert.equal(r.read('pyproject.toml'), `${head}\n[tool.setuptools.dynamic]\nversion = {attr = "pkg.__version__"}\n`);
        assert.equal(readVersionFile(parseVersionFileSpecs('pyproject.toml', r.dir)[0]), '1.3.0rc2');
      });
      it(`[tool.setuptools.dynamic] file, dynamic ${form}`, () => {
        for (const file of ['"VERSION"', '["VERSION"]']) {
          const r = pyproject(`${head}[tool.setuptools.dynamic]\nversion = {file = ${file}}\n`, { VERSION: '1.2.0\n# written by CI\n' });
          assert.equal(r.read('VERSION'), '1.3.0rc2\n# written by CI\n', 'PEP 440: setuptools reads it');
          assert.match(r.edit.via!, /\[tool\.setuptools\.dynamic\] file VERSION/);
        }
      });
      it(`[tool.hatch.version] path, dynamic ${form}`, () => {
        const r = pyproject(`${head}[tool.hatch.version]\npath = "src/pkg/__about__.py"\n`, {
          'src/pkg/__about__.py': '# SPDX\n__version__ = "1.2.0"\n',
        });
        assert.equal(r.read('src/pkg/__about__.py'), '# SPDX\n__version__ = "1.3.0rc2"\n');
        assert.equal(r.edit.via, 'pyproject.toml dynamic version → [tool.hatch.version] path src/pkg/__about__.py');
      });
    }
    it('attr under src/ through [tool.setuptools.package-dir], a sub-module, or a VERSION constant', () => {
      const toml = (attr: string, extra = '') => `${oneLine}[tool.setuptools.dynamic]\nversion = { attr = "${attr}" }\n${extra}`;
      let r = pyproject(toml('pkg.__version__', '[tool.setuptools.package-dir]\n"" = "src"\n'), {
        'src/pkg/__init__.py': '__version__ = "1.2.0"\n',
      });
      assert.equal(r.read('src/pkg/__init__.py'), '__version__ = "1.3.0rc2"\n');
      r = pyproject(toml('pkg.__version__', '[tool.setuptools]\npackage-dir = {pkg = "lib/pkg"}\n'), {
        'lib/pkg/__init__.py': '__version__ = "1.2.0"\n',
        'pkg/__init__.py': '__version__ = "0.0.0"\n',
      });
      assert.equal(r.read('lib/pkg/__init__.py'), '__version__ = "1.3.0rc2"\n');
      assert.equal(r.read('pkg/__init__.py'), '__version__ = "0.0.0"\n', 'the mapped folder wins');
      r = pyproject(toml('pkg.sub.__version__'), { 'src/pkg/sub.py': "__version__: str = '1.2.0'\n" });
      assert.equal(r.read('src/pkg/sub.py'), "__version__: str = '1.3.0rc2'\n");
      r = pyproject(toml('pkg.VERSION'), {
        'pkg.py': 'from typing import Final\n\nVERSION: Final[str] = "1.2.0"\n__version__ = VERSION\n',
      });
      assert.equal(r.read('pkg.py'), 'from typing import Final\n\nVERSION: Final[str] = "1.3.0rc2"\n__version__ = VERSION\n');
    });
    it('hatch accepts VERSION and a custom pattern', () => {
      let r = pyproject(`${oneLine}[tool.hatch.version]\npath = "pkg/about.py"\n`, { 'pkg/about.py': "VERSION = 'v1.2.0'\n" });
      assert.equal(r.read('pkg/about.py'), "VERSION = 'v1.3.0rc2'\n");
      r = pyproject(`${oneLine}[tool.hatch.version]\npath = "pkg/meta.py"\npattern = "(?i)^release = '(?P<version>[^']+)'"\n`, {
        'pkg/meta.py': "RELEASE = '1.2.0'\n",
      });
      assert.equal(r.read('pkg/meta.py'), "RELEASE = '1.3.0rc2'\n");
    });
    it('a file reached both ways is edited once, in PEP 440 form', () => {
      const dir = tree({ 'pyproject.toml': `${oneLine}[tool.setuptools.dynamic]\nversion = {file = "VERSION"}\n`, VERSION: '1.2.0\n' });
      const plan = apply(dir, 'pyproject.toml\nVERSION', '1.3.0-rc.2');
      assert.equal(plan.edits.length, 1);
      assert.equal(plan.edits[0].entry, 'pyproject.toml, VERSION');
      assert.equal(readFileSync(join(dir, 'VERSION'), 'utf8'), '1.3.0rc2\n');
    });
    it('versions from git tags give a note and no edit', () => {
      const cases: [string, RegExp][] = [
        [`${oneLine}[tool.setuptools_scm]\n`, /setuptools-scm/],
        [`[build-system]\nrequires = ["setuptools>=64", "setuptools-scm>=8"]\n\n${oneLine}`, /setuptools-scm/],
        [`[build-system]\nrequires = ["setuptools_scm[toml]"]\n\n${spread}`, /setuptools-scm/],
        [`${oneLine}[tool.hatch.version]\nsource = "vcs"\n`, /hatch-vcs/],
        [
          '[tool.poetry]\nname = "pkg"\nversion = "0.0.0"\n\n[tool.poetry-dynamic-versioning]\nenable = true\n',
          /poetry-dynamic-versioning/,
        ],
      ];
      for (const [toml, tool] of cases) {
        const r = pyproject(toml);
        assert.deepEqual(r.plan.edits, [], toml);
        assert.equal(r.plan.notes.length, 1);
        assert.match(r.plan.notes[0], /^pyproject\.toml: the version comes from git tags \(/);
        assert.match(r.plan.notes[0], tool);
        assert.match(r.plan.notes[0], /the tag is the version; nothing written\.$/);
        assert.equal(r.read('pyproject.toml'), toml);
      }
      const off = pyproject('[tool.poetry]\nname = "pkg"\nversion = "1.2.0"\n\n[tool.poetry-dynamic-versioning]\nenable = false\n');
      assert.match(off.read('pyproject.toml'), /version = "1\.3\.0rc2"/);
      assert.deepEqual(off.plan.notes, []);
    });
    it('says where it looked when the source is not found', () => {
      assert.throws(
        () => pyproject(oneLine),
        (err: Error) => {
          assert.equal(err.name, 'UserError');
          assert.match(err.message, /^Input 'versionFiles': pyproject\.toml: the version is declared dynamic/);
          assert.match(err.message, /\[tool\.setuptools\.dynamic\].*\[tool\.hatch\.version\].*setuptools_scm.*poetry-dynamic-versioning/);
          assert.match(err.message, /Fix: list the file that holds the version instead \(e\.g\. src\/<package>\/__init__\.py\)/);
          return true;
        },
      );
      assert.throws(
        () => pyproject(`${oneLine}[tool.setuptools.dynamic]\nversion = {attr = "pkg.__version__"}\n`),
        /no file for module 'pkg' was found; looked for pkg\/__init__\.py, pkg\.py, src\/pkg\/__init__\.py, src\/pkg\.py\. Fix: list the file/,
      );
      assert.throws(
        () =>
          pyproject(`${oneLine}[tool.setuptools.dynamic]\nversion = {attr = "pkg.__version__"}\n`, {
            'pkg/__init__.py': 'from ._version import __version__\n',
          }),
        /pyproject\.toml: no __version__ = "\.\.\." line in pkg\/__init__\.py \(pyproject\.toml dynamic version → /,
      );
      assert.throws(
        () => pyproject(`${oneLine}[tool.hatch.version]\npath = "src/pkg/__about__.py"\n`),
        /the version is read from 'src\/pkg\/__about__\.py' \(.*\), but the file does not exist/,
      );
    });
  });

  it('setup.cfg', () => {
    const r = roundTrip('setup.cfg', '[metadata]\nname = x\nversion = 1.0.0\n\n[options]\nzip_safe = False\n', '1.0.1');
    assert.equal(r.readBack, '1.0.1');
    const crlf = roundTrip('setup.cfg', '[metadata]\r\nversion = 1.0.0\r\n', '1.3.0-rc.2');
    assert.ok(crlf.bytes.equals(Buffer.from('[metadata]\r\nversion = 1.3.0rc2\r\n')));
  });
  it('setup.cfg attr: and file: are followed', () => {
    let dir = tree({
      'setup.cfg': '[metadata]\nname = pkg\nversion = attr: pkg.__version__\n\n[options]\npackage_dir =\n    =src\n',
      'src/pkg/__init__.py': '__version__ = "1.2.0"\n',
    });
    let plan = apply(dir, 'setup.cfg', '1.3.0-rc.2');
    assert.equal(plan.edits[0].path, join(dir, 'src', 'pkg', '__init__.py'));
    assert.equal(plan.edits[0].via, 'setup.cfg version = attr: pkg.__version__');
    assert.equal(readFileSync(join(dir, 'src/pkg/__init__.py'), 'utf8'), '__version__ = "1.3.0rc2"\n');
    dir = tree({ 'py/setup.cfg': '[metadata]\nversion = file: VERSION.txt\n', 'py/VERSION.txt': '1.2.0' });
    plan = apply(dir, 'py/setup.cfg', '1.3.0-rc.2');
    assert.equal(plan.edits[0].path, join(dir, 'py', 'VERSION.txt'));
    assert.equal(readFileSync(join(dir, 'py/VERSION.txt'), 'utf8'), '1.3.0rc2');
    assert.equal(readFileSync(join(dir, 'py/setup.cfg'), 'utf8'), '[metadata]\nversion = file: VERSION.txt\n');
  });
  it('setup.py literal', () => {
    const r = roundTrip('setup.py', 'from setuptools import setup\nsetup(name="x", version="0.3.0", packages=[])\n', '0.4.0-rc.1');
    assert.equal(r.readBack, '0.4.0rc1');
    assert.throws(() => roundTrip('setup.py', 'setup(name="x", version=get_version())\n', '1.0.0'), /literal/);
  });
  it('__init__.py __version__', () => {
    const r = roundTrip('__init__.py', '"""Pkg."""\n__version__ = "1.0.0"\nother = "2"\n', '2.0.0');
    assert.equal(r.readBack, '2.0.0');
    const typed = roundTrip('version.py', "__version__: str = '1.0.0'\n", '1.1.0');
    assert.equal(typed.readBack, '1.1.0');
  });
  it('a Latin-1 byte in a comment is kept byte for byte', () => {
    const before = bytes('# -*- coding: latin-1 -*-\n# caf', [0xe9], '\r\n__version__ = "1.0.0"\n');
    const r = roundTrip('__init__.py', before, '1.3.0-rc.2');
    assert.ok(r.edit.before.equals(before));
    assert.ok(
      r.bytes.equals(bytes('# -*- coding: latin-1 -*-\n# caf', [0xe9], '\r\n__version__ = "1.3.0rc2"\n')),
      r.bytes.toString('latin1'),
    );
    assert.equal(r.edit.oldVersion, '1.0.0');
  });
  it('a UTF-8 byte-order mark is kept (and ^ still matches on line 1)', () => {
    const py = roundTrip('__init__.py', bytes(BOM, '__version__ = "1.0.0"\r\n'), '1.1.0');
    assert.ok(py.bytes.equals(bytes(BOM, '__version__ = "1.1.0"\r\n')));
    assert.equal(py.readBack, '1.1.0');
    const json = roundTrip('package.json', bytes(BOM, '{\n  "name": "ü",\n  "version": "1.0.0"\n}\n'), '1.1.0-rc.1');
    assert.ok(json.bytes.equals(bytes(BOM, '{\n  "name": "ü",\n  "version": "1.1.0-rc.1"\n}\n')));
    const toml = roundTrip('pyproject.toml', bytes(BOM, '[project]\nversion = "1.0.0"\n'), '1.1.0');
    assert.ok(toml.bytes.equals(bytes(BOM, '[project]\nversion = "1.1.0"\n')));
  });
  it('UTF-16 files are refused', () => {
    for (const bom of [
      [0xff, 0xfe],
      [0xfe, 0xff],
    ]) {
      const text = Buffer.from('__version__ = "1.0.0"\n', 'utf16le');
      assert.throws(
        () => roundTrip('__init__.py', bytes(bom, text.toString('latin1')), '1.1.0'),
        /Input 'versionFiles': __init__\.py: is saved as UTF-16.*Fix: save the file as UTF-8/,
      );
    }
  });
  it('package.json keeps SemVer and formatting', () => {
    const src = '{\n    "name": "x",\n    "version": "1.0.0",\n    "dependencies": {}\n}\n';
    const r = roundTrip('package.json', src, '1.1.0-rc.1');
    assert.equal(r.readBack, '1.1.0-rc.1');
    assert.equal(r.text, src.replace('1.0.0', '1.1.0-rc.1'));
  });
  it('package.json: only the top-level version, whatever the JSON looks like', () => {
    const cases: [string, string][] = [
      ['{"a":{"version":"1.2.0"},"version":"1.2.0"}', '{"a":{"version":"1.2.0"},"version":"2.0.0"}'],
      ['{"s": "say \\"version\\": \\"1.2.0\\"", "version": "1.2.0"}', '{"s": "say \\"version\\": \\"1.2.0\\"", "version": "2.0.0"}'],
      [
        '{"list": [{"version": "1.2.0"}, "version"], "version": "1.2.0"}',
        '{"list": [{"version": "1.2.0"}, "version"], "version": "2.0.0"}',
      ],
      ['{"\\u0076ersion": "1.2.0"}', '{"\\u0076ersion": "2.0.0"}'],
      ['\uFEFF{\n  "version": "1.2.0"\n}\n', '\uFEFF{\n  "version": "2.0.0"\n}\n'],
      ['{"version": "0.0.1", "name": "x", "version": "1.2.0"}', '{"version": "0.0.1", "name": "x", "version": "2.0.0"}'],
    ];
    for (const [src, expected] of cases) assert.equal(roundTrip('package.json', src, '2.0.0').text, expected, src);
    assert.throws(() => roundTrip('package.json', '{"config": {"version": "1.0.0"}}', '2.0.0'), /no top-level "version"/);
    assert.throws(() => roundTrip('package.json', '{"version": 1}', '2.0.0'), /no top-level "version"/);
    assert.throws(() => roundTrip('package.json', '{"version": "1.0.0",}', '2.0.0'), /not valid JSON/);
  });
  it('entries naming one file apply one after the other', () => {
    const dir = tree({ 'v.py': '__version__ = "1.2.0"\nVERSION_TAG = "v1.2.0"\n' });
    const { edits } = planVersionFileEdits(parseVersionFileSpecs('v.py\nv.py:^VERSION_TAG = "v(.+)"', dir), V['1.3.0-rc.1']);
    assert.equal(edits.length, 1);
    assert.equal(edits[0].entry, 'v.py, v.py:^VERSION_TAG = "v(.+)"');
    assert.equal(edits[0].oldVersion, '1.2.0');
    assert.ok(edits[0].before.equals(Buffer.from('__version__ = "1.2.0"\nVERSION_TAG = "v1.2.0"\n')));
    assert.ok(edits[0].after.equals(Buffer.from('__version__ = "1.3.0rc1"\nVERSION_TAG = "v1.3.0rc1"\n')));
  });
  it('VERSION', () => {
    const r = roundTrip('VERSION', '1.0.0\n', '1.0.1');
    assert.equal(r.readBack, '1.0.1');
    assert.equal(r.text, '1.0.1\n');
  });
  it('path:regex', () => {
    const r = roundTrip('chart.yaml', 'name: x\nversion: 0.1.0\nappVersion: 0.1.0\n', '0.2.0', 'chart.yaml:^version: (.+)$');
    assert.equal(r.readBack, '0.2.0');
    assert.equal(r.text, 'name: x\nversion: 0.2.0\nappVersion: 0.1.0\n');
    const named = roundTrip('notebook.py', '# VERSION = "1.0.0"\n', '1.0.1-rc.1', 'notebook.py:VERSION = "(?<version>[^"]+)"');
    assert.equal(named.readBack, '1.0.1rc1', 'a .py file gets PEP 440 even through a regex');
    const unicode = roundTrip('chart.yaml', 'name: café ☕\r\nversión: 0.1.0\r\n', '0.2.0', 'chart.yaml:^versión: (\\S+)');
    assert.ok(unicode.bytes.equals(Buffer.from('name: café ☕\r\nversión: 0.2.0\r\n', 'utf8')));
  });
  it('names the input for unreadable, unknown or mismatched files', () => {
    const dir = tempDir();
    const plan = (entry: string) => planVersionFileEdits(parseVersionFileSpecs(entry, dir), V['1.0.0']);
    assert.throws(() => plan('missing.toml'), /Input 'versionFiles': cannot read 'missing.toml': the file does not exist/);
    assert.throws(() => plan('.'), /versionFiles.*folder/);
    writeFileSync(join(dir, 'x.ini'), 'v=1');
    assert.throws(() => plan('x.ini'), /not a format Relevo knows.*path:regex/);
    assert.throws(() => plan('x.ini:nomatch=(\\d)'), /matches nothing/);
    assert.throws(() => parseVersionFileSpecs('x.ini:v=\\d', dir), /no capturing group/);
    assert.throws(() => parseVersionFileSpecs('x.ini:v=(', dir), /not a valid regular expression/);
  });
});

describe('version-file formats: one table, and the help that lists them', () => {
  it('task.json help and docs/version-bump.md name every format of the table', () => {
    const root = join(__dirname, '..', '..');
    const help = (
      JSON.parse(readFileSync(join(root, 'tasks', 'version-bump', 'task.json'), 'utf8')).inputs as { name: string; helpMarkDown: string }[]
    )
      .find((i) => i.name === 'versionFiles')!
      .helpMarkDown.replace(/`/g, '');
    const docs = readFileSync(join(root, 'docs', 'version-bump.md'), 'utf8').replace(/`/g, '');
    for (const format of Object.values(VERSION_FILE_FORMATS)) {
      assert.ok(help.includes(format.label), `task.json help of versionFiles does not name ${format.label}`);
      assert.ok(docs.includes(format.label), `docs/version-bump.md does not name ${format.label}`);
    }
    assert.equal(KNOWN_VERSION_FILES.split(', ').length, Object.keys(VERSION_FILE_FORMATS).length);
  });
});
