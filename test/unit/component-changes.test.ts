import { strict as assert } from 'node:assert';
import { classifyChange, parseGitlinkDiff } from '../../shared/submodules/changes';
import { componentLevel, describeChange, type ComponentChange } from '../../shared/versioning/componentChange';
import type { ComponentTag } from '../../shared/versioning/history';
import { parseVersion } from '../../shared/versioning/semver';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const Z = '0'.repeat(40);
const tag = (version: string): ComponentTag => ({ name: `v${version}`, commit: version, version: parseVersion(version)! });

describe('component changes (orchestration versions)', () => {
  it('reads gitlinks from diff-tree -z output: updated, added, removed, replaced; plain files are left out', () => {
    const out = [
      `:160000 160000 ${A} ${B} M`,
      'ingest',
      `:000000 160000 ${Z} ${B} A`,
      'libs/new one',
      `:160000 000000 ${A} ${Z} D`,
      'old',
      `:160000 100644 ${A} ${B} T`,
      'now-a-file',
      `:100644 100644 ${A} ${B} M`,
      '.gitmodules',
      '',
    ].join('\0');
    assert.deepEqual(parseGitlinkDiff(out), [
      { path: 'ingest', from: A, to: B },
      { path: 'libs/new one', from: undefined, to: B },
      { path: 'old', from: A, to: undefined },
      { path: 'now-a-file', from: A, to: undefined },
    ]);
    assert.deepEqual(parseGitlinkDiff(''), []);
  });

  it('classifies: major/minor/patch by version, a pre-release-only step is a patch, untagged is a patch, added minor, removed major', () => {
    assert.deepEqual(classifyChange('updated', tag('1.0.0'), tag('2.0.0')), { change: 'major', untagged: false });
    assert.deepEqual(classifyChange('updated', tag('1.0.0'), tag('1.1.0-rc.1')), { change: 'minor', untagged: false });
    assert.deepEqual(classifyChange('updated', tag('1.1.0-rc.1'), tag('1.1.0-rc.2')), { change: 'patch', untagged: false });
    assert.deepEqual(classifyChange('updated', tag('1.1.0-rc.2'), tag('1.1.0')), { change: 'patch', untagged: false });
    assert.deepEqual(classifyChange('updated', tag('1.0.0'), tag('1.0.1')), { change: 'patch', untagged: false });
    assert.deepEqual(
      classifyChange('updated', tag('2.0.0'), tag('1.9.0')),
      { change: 'major', untagged: false },
      'a major step down is a major change',
    );
    assert.deepEqual(classifyChange('updated', tag('1.0.0'), undefined), { change: 'patch', untagged: true });
    assert.deepEqual(classifyChange('updated', undefined, tag('3.0.0')), { change: 'patch', untagged: true });
    assert.deepEqual(classifyChange('added', undefined, undefined), { change: 'minor', untagged: false });
    assert.deepEqual(classifyChange('removed', tag('1.0.0'), undefined), { change: 'major', untagged: false });
  });

  it('takes the largest change and describes each', () => {
    const c = (over: Partial<ComponentChange>): ComponentChange => ({
      name: 'ingest',
      path: 'ingest',
      kind: 'updated',
      change: 'patch',
      ...over,
    });
    assert.equal(componentLevel([]), 'none');
    assert.equal(componentLevel([c({ change: 'patch' }), c({ change: 'major' }), c({ change: 'minor' })]), 'major');
    assert.equal(
      describeChange(c({ from: { commit: A, tag: 'v1.0.0' }, to: { commit: B, tag: 'v2.0.0' }, change: 'major' })),
      'ingest v1.0.0 → v2.0.0 (major)',
    );
    assert.equal(
      describeChange(c({ from: { commit: A, tag: 'v1.0.0' }, to: { commit: B } })),
      `ingest v1.0.0 → ${B.slice(0, 12)} (untagged) (patch)`,
    );
    assert.equal(describeChange(c({ kind: 'added', to: { commit: B, tag: 'v1.0.0' }, change: 'minor' })), 'ingest added at v1.0.0 (minor)');
    assert.equal(describeChange(c({ kind: 'removed', from: { commit: A }, change: 'major' })), 'ingest removed (major)');
  });
});
