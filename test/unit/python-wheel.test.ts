/** shared/python: PEP 440 forms, wheel checks, version stamps, init scripts, the upload form. */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import JSZip from 'jszip';
import { uploadDistribution, uploadForm } from '../../shared/clients/pypiUpload';
import { planVersionStamp, readProject } from '../../shared/python/project';
import { indexUrlFor, initScriptText } from '../../shared/python/publish';
import { canonicalPep440, inspectWheel, parseWheelFileName, samePep440 } from '../../shared/python/wheel';
import { toPep440, unpublishablePep440 } from '../../shared/versioning/pep440';
import { startPypiServer } from '../support/pypiServer';
import { tempDir } from '../support/repo';

const b64 = (data: string) => createHash('sha256').update(data).digest('base64url');

async function makeWheel(
  dir: string,
  file: string,
  tamper: { metadataVersion?: string; dropRecord?: string; badHash?: string; extra?: string } = {},
): Promise<string> {
  const zip = new JSZip();
  const files: Record<string, string> = {
    'ingest/__init__.py': '__version__ = "1.3.0rc2"\n',
    'ingest-1.3.0rc2.dist-info/METADATA': `Metadata-Version: 2.1\nName: ingest\nVersion: ${tamper.metadataVersion ?? '1.3.0rc2'}\n\nlong description\n`,
    'ingest-1.3.0rc2.dist-info/WHEEL': 'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
  };
  for (const [name, data] of Object.entries(files)) zip.file(name, data);
  if (tamper.extra) zip.file(tamper.extra, 'x');
  const record = Object.entries(files)
    .filter(([name]) => name !== tamper.dropRecord)
    .map(([name, data]) => `${name},sha256=${name === tamper.badHash ? b64('other') : b64(data)},${Buffer.byteLength(data)}`);
  zip.file('ingest-1.3.0rc2.dist-info/RECORD', [...record, 'ingest-1.3.0rc2.dist-info/RECORD,,', ''].join('\n'));
  const path = join(dir, file);
  writeFileSync(path, await zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' }));
  return path;
}

describe('python: versions', () => {
  it('SemVer → PEP 440 for finals, rc and dev versions, and their canonical forms', () => {
    assert.equal(toPep440('1.3.0'), '1.3.0');
    assert.equal(toPep440('1.3.0-rc.2'), '1.3.0rc2');
    assert.equal(toPep440('1.3.0-dev.7'), '1.3.0.dev7');
    assert.equal(toPep440('1.3.0-feature-x.3', { devNumber: 4711 }), '1.3.0.dev4711');
    assert.equal(canonicalPep440('1.3.0-rc.2'), '1.3rc2');
    assert.equal(canonicalPep440('1.3.0.DEV7'), '1.3.dev7');
    assert.equal(canonicalPep440('v2.0'), '2');
    assert.equal(canonicalPep440('1.0.post1'), '1.post1');
    assert.equal(canonicalPep440('not a version'), undefined);
    assert.ok(samePep440('1.3.0rc2', '1.3rc2'));
    assert.ok(!samePep440('1.3.0rc2', '1.3.0rc3'));
  });
});

describe('python: wheel checks', () => {
  let dir: string;
  before(() => (dir = tempDir('relevo-wheel-unit-')));

  it('reads a valid wheel: name, version, tags, every file hashed', async () => {
    const path = await makeWheel(dir, 'ingest-1.3.0rc2-py3-none-any.whl');
    const w = inspectWheel(path, { name: 'Ingest', version: '1.3.0-rc.2' });
    assert.equal(w.name, 'ingest');
    assert.equal(w.version, '1.3.0rc2');
    assert.deepEqual(w.tags, ['py3-none-any']);
    assert.equal(w.files, 4);
  });

  it('names every problem: version, RECORD hash, an unlisted file, a file name that is not a wheel name', async () => {
    const bad = await makeWheel(dir, 'ingest-1.3.0rc2-py3-none-any.whl', {
      metadataVersion: '1.3.0',
      badHash: 'ingest/__init__.py',
      extra: 'ingest/extra.py',
    });
    assert.throws(
      () => inspectWheel(bad, { name: 'ingest', version: '1.3.0rc2' }),
      (err: Error & { problems: string[] }) => {
        assert.deepEqual(err.problems, [
          "METADATA Version is '1.3.0', the build asked for '1.3.0rc2'",
          "the file name's version '1.3.0rc2' is not the METADATA Version '1.3.0'",
          "RECORD's sha256 of ingest/__init__.py does not match the file",
          'RECORD does not list ingest/extra.py',
        ]);
        return true;
      },
    );
    const unlisted = await makeWheel(dir, 'ingest-1.3.0rc2-py3-none-any.whl', { dropRecord: 'ingest-1.3.0rc2.dist-info/WHEEL' });
    assert.throws(() => inspectWheel(unlisted), /RECORD does not list ingest-1\.3\.0rc2\.dist-info\/WHEEL/);
    const misnamed = await makeWheel(dir, 'other-1.3.0rc2-py3-none-any.whl');
    assert.throws(() => inspectWheel(misnamed), /the file name's distribution 'other' is not the METADATA Name 'ingest'/);
    assert.equal(parseWheelFileName('ingest-1.0.whl'), undefined);
    assert.deepEqual(parseWheelFileName('my_lib-1.0-1-cp311-cp311-manylinux_2_17_x86_64.whl'), {
      distribution: 'my_lib',
      version: '1.0',
      build: '1',
      python: 'cp311',
      abi: 'cp311',
      platform: 'manylinux_2_17_x86_64',
    });
  });
});

describe('python: zip64 wheels', () => {
  it('reads a wheel with more than 65,535 entries (zip64, as Python zipfile writes it) and checks every RECORD hash', function () {
    this.timeout(60_000);
    const dir = tempDir('relevo-zip64-');
    const wheel = join(dir, 'big-1.0.0-py3-none-any.whl');
    // 66,000 modules: zipfile switches to zip64 (the end record's count is 0xffff).
    execFileSync('/usr/bin/python3', [
      '-c',
      `import sys, zipfile, hashlib, base64
def h(b): return 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b'=').decode()
files = {'big/m%d.py' % i: b'X = %d\\n' % i for i in range(66000)}
files['big-1.0.0.dist-info/METADATA'] = b'Metadata-Version: 2.1\\nName: big\\nVersion: 1.0.0\\n\\n'
files['big-1.0.0.dist-info/WHEEL'] = b'Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n'
record = ''.join('%s,%s,%d\\n' % (n, h(b), len(b)) for n, b in files.items()) + 'big-1.0.0.dist-info/RECORD,,\\n'
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:
    for n, b in files.items(): z.writestr(n, b)
    z.writestr('big-1.0.0.dist-info/RECORD', record)
`,
      wheel,
    ]);
    const buf = readFileSync(wheel);
    const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    assert.equal(buf.readUInt16LE(eocd + 10), 0xffff, 'a zip64 archive');
    const info = inspectWheel(wheel, { name: 'big', version: '1.0.0' });
    assert.equal(info.files, 66003);
    assert.equal(info.version, '1.0.0');
  });
});

describe('python: version stamps', () => {
  const noAnswer = () => Promise.resolve({ how: 'setup.py --version', problem: 'NameError: compute' });
  it('follows setup.cfg attr: to the __init__.py; names the version input when there is nowhere to write', async () => {
    const dir = tempDir('relevo-stamp-');
    writeFileSync(join(dir, 'setup.cfg'), '[metadata]\nname = picker\nversion = attr: picker.__version__\n');
    mkdirSync(join(dir, 'picker'));
    writeFileSync(join(dir, 'picker', '__init__.py'), '__version__ = "0.1.0"\n');
    const stamp = await planVersionStamp(readProject(dir), { semver: '1.3.0-rc.2', pep440: '1.3.0rc2' }, noAnswer);
    assert.equal(stamp.kind, 'files');
    assert.equal(stamp.kind === 'files' && stamp.edits[0].path, join(dir, 'picker', '__init__.py'));
    assert.equal(stamp.kind === 'files' && stamp.edits[0].after.toString(), '__version__ = "1.3.0rc2"\n');

    const none = tempDir('relevo-stamp-');
    writeFileSync(join(none, 'setup.py'), 'from setuptools import setup\nsetup(name="x", version=compute())\n');
    await assert.rejects(
      () => planVersionStamp(readProject(none), { semver: '1.0.0', pep440: '1.0.0' }, noAnswer),
      /Input 'version': cannot find where the project's version is written.*setup\.py --version.*NameError: compute/,
    );
    assert.throws(
      () => readProject(tempDir('relevo-stamp-')),
      /Input 'projectDirectory': .* holds no pyproject\.toml, setup\.cfg or setup\.py/,
    );
  });

  it('a version the project reports is stamped into the one module-level assignment that holds it; several or none are refused', async () => {
    const dir = tempDir('relevo-stamp-');
    writeFileSync(join(dir, 'setup.py'), "v = {}\nexec(open('sdk/version.py').read(), v)\nsetup(name='sdk', version=v['__version__'])\n");
    mkdirSync(join(dir, 'sdk'));
    mkdirSync(join(dir, 'tests'));
    writeFileSync(join(dir, 'sdk', 'version.py'), "# the version\n__version__ = '0.30.0'\n");
    // Not at module level, or another version: not a holder.
    writeFileSync(join(dir, 'tests', 'test_x.py'), "def f():\n    version = '0.30.0'\nVERSION = '0.29.0'\n");
    const said = () => Promise.resolve({ version: '0.30.0', how: 'setup.py --version' });
    const stamp = await planVersionStamp(readProject(dir), { semver: '1.3.0-rc.2', pep440: '1.3.0rc2' }, said);
    assert.equal(stamp.kind === 'files' && stamp.edits[0].path, join(dir, 'sdk', 'version.py'));
    assert.equal(stamp.kind === 'files' && stamp.edits[0].after.toString(), "# the version\n__version__ = '1.3.0rc2'\n");
    assert.equal(stamp.kind === 'files' && stamp.edits[0].via, 'the version setup.py --version reports');

    writeFileSync(join(dir, 'sdk', '__about__.py'), 'VERSION: str = "0.30.0"\n');
    await assert.rejects(
      () => planVersionStamp(readProject(dir), { semver: '1.0.0', pep440: '1.0.0' }, said),
      /Input 'version': the project reports version 0\.30\.0 \(setup\.py --version\), and 2 files hold it: sdk\/__about__\.py, sdk\/version\.py/,
    );
    await assert.rejects(
      () => planVersionStamp(readProject(dir), { semver: '1.0.0', pep440: '1.0.0' }, () => Promise.resolve({ version: '9.9', how: 'x' })),
      /Input 'version': the project reports version 9\.9 \(x\), and no file in it holds that string/,
    );
  });
});

describe('python: versions that cannot be published', () => {
  it('refuses build metadata and pre-releases that would lose a number; takes the rest', () => {
    assert.match(unpublishablePep440('1.3.0+build.5') ?? '', /local version \(1\.3\.0\+build\.5\)/);
    assert.match(unpublishablePep440('1.3.0-rc.2.3') ?? '', /would become 1\.3\.0rc2/);
    assert.match(unpublishablePep440('1.3.0-rc.x.2') ?? '', /rc2/);
    assert.match(unpublishablePep440('1.3.0-5.1') ?? '', /dev5/);
    for (const ok of ['1.3.0', '1.3.0-rc.2', '1.3.0-rc', '1.3.0-dev.7', '1.3.0-5', '1.3.0-feature-x.3.4'])
      assert.equal(unpublishablePep440(ok), undefined, ok);
  });
});

describe('python: init script and index URL', () => {
  it('installs exactly this version from the feed index, overridable on the cluster, with no credential in it', () => {
    assert.equal(
      indexUrlFor('https://pkgs.dev.azure.com/o/p/_packaging/libs/pypi/upload/'),
      'https://pkgs.dev.azure.com/o/p/_packaging/libs/pypi/simple/',
    );
    assert.equal(indexUrlFor('https://upload.pypi.org/legacy/'), 'https://pypi.org/simple/');
    assert.equal(indexUrlFor('https://nexus.example.com/repository/py/'), undefined);
    const s = initScriptText({
      name: 'ingest',
      version: '1.3.0rc2',
      indexUrl: 'https://pkgs.dev.azure.com/o/p/_packaging/libs/pypi/simple/',
    });
    assert.match(s, /^#!\/bin\/bash\n/);
    assert.match(s, /INDEX_URL="\$\{RELEVO_INDEX_URL:-https:\/\/pkgs\.dev\.azure\.com\/o\/p\/_packaging\/libs\/pypi\/simple\/\}"/);
    assert.match(s, /pip install .* 'ingest==1\.3\.0rc2'\n$/);
    assert.match(
      initScriptText({ name: 'ingest', version: '1.0.0', wheelRemotePath: '/Volumes/m/l/w/ingest-1.0.0-py3-none-any.whl' }),
      /pip install .* '\/Volumes\/m\/l\/w\/ingest-1\.0\.0-py3-none-any\.whl'/,
    );
  });
});

describe('python: upload form', () => {
  it('has the legacy upload fields and digests; a wrong password is a 401 with what to do and no password in it', async () => {
    const bytes = Buffer.from('wheel');
    const form = uploadForm({
      path: '/x/ingest-1.0.0-py3-none-any.whl',
      bytes,
      name: 'ingest',
      version: '1.0.0',
      filetype: 'bdist_wheel',
      pyversion: 'py3',
    });
    assert.equal(form.get(':action'), 'file_upload');
    assert.equal(form.get('protocol_version'), '1');
    assert.equal(form.get('sha256_digest'), createHash('sha256').update(bytes).digest('hex'));
    assert.equal((form.get('content') as File).name, 'ingest-1.0.0-py3-none-any.whl');
    const feed = await startPypiServer({ existsStatus: 400 });
    try {
      const d = {
        path: '/x/ingest-1.0.0.tar.gz',
        bytes,
        name: 'ingest',
        version: '1.0.0',
        filetype: 'sdist' as const,
        pyversion: 'source',
      };
      assert.deepEqual(await uploadDistribution({ url: feed.url, username: feed.username, password: feed.password }, d), {
        status: 'uploaded',
        httpStatus: 200,
      });
      const again = await uploadDistribution({ url: feed.url, username: feed.username, password: feed.password }, d);
      assert.equal(again.status, 'exists');
      assert.equal(again.httpStatus, 400);
      await assert.rejects(
        uploadDistribution({ url: feed.url, username: feed.username, password: 'wrong-pass-123' }, d),
        (err: Error) => /HTTP 401/.test(err.message) && /Input 'feedUrl'/.test(err.message) && !err.message.includes('wrong-pass-123'),
      );
      feed.denied = true;
      await assert.rejects(
        uploadDistribution({ url: feed.url, username: feed.username, password: feed.password }, { ...d, path: '/x/other.tar.gz' }),
        /HTTP 403.*Feed Publisher/,
      );
    } finally {
      await feed.stop();
    }
  });
});
