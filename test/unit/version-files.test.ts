import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prependChangelog, changelogSection } from '../../shared/versioning/changelog';
import { parseCommit } from '../../shared/versioning/conventional';
import { parseVersionFileSpecs, planVersionFileEdit, planVersionFileEdits, readVersionFile } from '../../shared/versioning/versionFiles';
import { tempDir } from '../support/repo';

/** Writes `content` to `name`, plans the edit to `version`, applies it and reads it back. */
function roundTrip(name: string, content: string, version: string, entry = name) {
  const dir = tempDir();
  writeFileSync(join(dir, name), content);
  const [spec] = parseVersionFileSpecs(entry, dir);
  const edit = planVersionFileEdit(spec, version);
  writeFileSync(edit.path, edit.after);
  return { edit, readBack: readVersionFile(spec), text: readFileSync(edit.path, 'utf8') };
}

describe('version files', () => {
  it('pyproject.toml [project], in PEP 440 form', () => {
    const src = '[build-system]\nrequires = ["setuptools"]\nversion = "9.9.9"\n\n[project]\nname = "ingest"\nversion = "1.2.0"\n\n[tool.x]\nversion = "0"\n';
    const r = roundTrip('pyproject.toml', src, '1.3.0-rc.2');
    assert.equal(r.readBack, '1.3.0rc2');
    assert.equal(r.edit.oldVersion, '1.2.0');
    assert.equal(r.text, src.replace('version = "1.2.0"', 'version = "1.3.0rc2"'));
  });
  it('pyproject.toml [tool.poetry]', () => {
    const r = roundTrip('pyproject.toml', "[tool.poetry]\nname = 'x'\nversion = '0.1.0'\n", '0.2.0-dev.3');
    assert.equal(r.readBack, '0.2.0.dev3');
    assert.match(r.text, /version = '0\.2\.0\.dev3'/);
  });
  it('pyproject.toml with a dynamic version says where to look', () => {
    assert.throws(() => roundTrip('pyproject.toml', '[project]\nname="x"\ndynamic = ["version"]\n', '1.0.0'), /Input 'versionFiles'.*dynamic.*__init__\.py/);
  });
  it('setup.cfg', () => {
    const r = roundTrip('setup.cfg', '[metadata]\nname = x\nversion = 1.0.0\n\n[options]\nzip_safe = False\n', '1.0.1');
    assert.equal(r.readBack, '1.0.1');
    assert.throws(() => roundTrip('setup.cfg', '[metadata]\nversion = attr: pkg.__version__\n', '1.0.0'), /attr:/);
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
      ['{"list": [{"version": "1.2.0"}, "version"], "version": "1.2.0"}', '{"list": [{"version": "1.2.0"}, "version"], "version": "2.0.0"}'],
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
    const dir = tempDir();
    writeFileSync(join(dir, 'v.py'), '__version__ = "1.2.0"\nVERSION_TAG = "v1.2.0"\n');
    const edits = planVersionFileEdits(parseVersionFileSpecs('v.py\nv.py:^VERSION_TAG = "v(.+)"', dir), '1.3.0-rc.1');
    assert.equal(edits.length, 1);
    assert.equal(edits[0].after, '__version__ = "1.3.0rc1"\nVERSION_TAG = "v1.3.0rc1"\n');
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
  });
  it('names the input for unreadable, unknown or mismatched files', () => {
    const dir = tempDir();
    assert.throws(() => planVersionFileEdit(parseVersionFileSpecs('missing.toml', dir)[0], '1.0.0'), /Input 'versionFiles': cannot read 'missing.toml': the file does not exist/);
    assert.throws(() => planVersionFileEdit(parseVersionFileSpecs('.', dir)[0], '1.0.0'), /versionFiles.*folder/);
    writeFileSync(join(dir, 'x.ini'), 'v=1');
    assert.throws(() => planVersionFileEdit(parseVersionFileSpecs('x.ini', dir)[0], '1.0.0'), /not a format Relevo knows.*path:regex/);
    assert.throws(() => planVersionFileEdit(parseVersionFileSpecs('x.ini:nomatch=(\\d)', dir)[0], '1.0.0'), /matches nothing/);
    assert.throws(() => parseVersionFileSpecs('x.ini:v=\\d', dir), /no capturing group/);
    assert.throws(() => parseVersionFileSpecs('x.ini:v=(', dir), /not a valid regular expression/);
  });
});

describe('changelog', () => {
  const commits = ['feat(ingest): stream files', 'fix: nulls in ids', 'chore: tidy', 'feat!: drop v1 API'].map((m, i) => parseCommit({ hash: `${i}abcdef0123`, message: m }));
  it('groups commits by kind', () => {
    const s = changelogSection('2.0.0', '2026-11-23', commits);
    assert.match(s, /^## 2\.0\.0 \(2026-11-23\)/);
    assert.match(s, /### Breaking changes\n\n- drop v1 API \(3abcdef\)/);
    assert.match(s, /### Features\n\n- \*\*ingest:\*\* stream files/);
    assert.match(s, /### Bug fixes\n\n- nulls in ids/);
    assert.doesNotMatch(s, /tidy/);
  });
  it('prepends under the title, once', () => {
    const s = changelogSection('1.1.0', '2026-11-23', commits.slice(0, 1));
    const once = prependChangelog('# Changelog\n\n## 1.0.0 (2026-01-01)\n\n- first\n', '1.1.0', s);
    assert.match(once, /^# Changelog\n\n## 1\.1\.0[\s\S]*## 1\.0\.0/);
    assert.equal(prependChangelog(once, '1.1.0', s), once);
    assert.match(prependChangelog('', '1.1.0', s), /^# Changelog\n\n## 1\.1\.0/);
  });
});
