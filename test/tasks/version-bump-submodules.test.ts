import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { explain } from '../support/agentRunner';
import { startGitDaemon, type GitDaemon } from '../support/gitDaemon';
import { remoteTags, Repo, tempDir } from '../support/repo';
import { bump, componentRemote, failed, ok, Orchestration, shallowCloneOf } from '../support/versionBump';

interface ComponentChangeJson {
  name: string;
  path: string;
  kind: string;
  change: string;
  from: { commit: string; tag: string | null; version: string | null } | null;
  to: { commit: string; tag: string | null; version: string | null } | null;
}

const changesOf = (run: { outputs: Record<string, string> }): ComponentChangeJson[] =>
  JSON.parse(run.outputs.componentChanges) as ComponentChangeJson[];
const SUBMODULES = { submodules: true };

describe('VersionBump submodules: true (orchestration versions from component versions)', function () {
  this.timeout(120_000);

  let remotes: string;
  let daemon: GitDaemon;
  let ingest: ReturnType<typeof componentRemote>;
  let transform: ReturnType<typeof componentRemote>;
  let reporting: ReturnType<typeof componentRemote>;
  let quality: ReturnType<typeof componentRemote>;
  let orchestrations = 0;

  before(async () => {
    remotes = tempDir('relevo-components-');
    // Annotated and lightweight tags in turn, release candidates, and an untagged commit.
    ingest = componentRemote(remotes, 'ingest', ['1.0.0', '1.0.1', ['1.1.0-rc.1'], ['1.1.0-rc.2', '1.1.0'], null, '2.0.0-rc.1', '2.0.0']);
    transform = componentRemote(remotes, 'transform', ['2.1.0', '2.1.1', '2.2.0']);
    reporting = componentRemote(remotes, 'reporting', ['0.3.0', '0.3.1', '1.0.0']);
    quality = componentRemote(remotes, 'quality', ['1.0.0', '1.0.1']);
    daemon = await startGitDaemon(remotes);
  });
  after(() => daemon?.stop());

  /** An orchestration released as v1.4.0 pinning ingest 1.0.0, transform 2.1.0, reporting 0.3.0 (relative URLs), origin on the daemon. */
  function orchestration(): Orchestration {
    const o = Orchestration.init();
    o.pin('ingest', ingest.at('1.0.0')).pin('transform', transform.at('2.1.0')).pin('reporting', reporting.at('0.3.0'));
    o.commit('feat: pin the components');
    o.tag('v1.4.0');
    // Served next to the components, so that ../ingest.git resolves to the daemon's ingest.git.
    const name = `orch-${++orchestrations}.git`;
    o.repo.addBareRemote(join(remotes, name));
    o.repo.git('remote', 'set-url', 'origin', daemon.url(name));
    return o;
  }

  it('a component major → orchestration major, over several update commits; the Summary and the output list every change', async () => {
    const o = orchestration();
    o.pin('transform', transform.at('2.1.1')).commit('chore: transform 2.1.1');
    o.pin('ingest', ingest.at('1.1.0')).commit('chore: ingest 1.1.0');
    o.pin('ingest', ingest.at('2.0.0-rc.1')).commit('chore: ingest 2.0.0-rc.1');
    o.pin('ingest', ingest.at('2.0.0')).commit('chore: ingest 2.0.0');
    o.commit('docs: notes');
    const run = ok(await bump(o.repo, { ...SUBMODULES, changelogFile: 'CHANGELOG.md' }));
    assert.equal(run.outputs.version, '2.0.0');
    assert.equal(run.outputs.bump, 'major');
    assert.equal(run.outputs.previousVersion, '1.4.0');
    assert.equal(run.outputs.changed, 'true');
    assert.equal(run.outputs.commitCount, '5');
    assert.deepEqual(
      changesOf(run).map((c) => [c.name, c.kind, c.from?.tag, c.to?.tag, c.change]),
      [
        ['ingest', 'updated', 'v1.0.0', 'v2.0.0', 'major'],
        ['transform', 'updated', 'v2.1.0', 'v2.1.1', 'patch'],
      ],
    );
    assert.equal(changesOf(run)[0].to?.commit, ingest.at('2.0.0'));
    const summary = run.summaries[0];
    assert.match(summary, /ingest v1\.0\.0 → v2\.0\.0 \(major\) drove a major bump since v1\.4\.0/);
    assert.match(summary, /\| component \| version \| change \| commits \|/);
    assert.match(summary, /\| ingest \| `v1\.0\.0` → `v2\.0\.0` \| major \| `[0-9a-f]{7}` → `[0-9a-f]{7}` \|/);
    assert.match(summary, /\| transform \| `v2\.1\.0` → `v2\.1\.1` \| patch \|/);
    assert.doesNotMatch(summary, /reporting/, 'an unchanged submodule is not listed');
    assert.match(
      readFileSync(join(o.repo.dir, 'CHANGELOG.md'), 'utf8'),
      /### Components\n\n- \*\*ingest\*\* v1\.0\.0 → v2\.0\.0 \(major\)\n- \*\*transform\*\* v2\.1\.0 → v2\.1\.1 \(patch\)/,
    );
    assert.deepEqual(run.warnings, []);
  });

  it('only component patches → patch; a pre-release-only step is a patch too', async () => {
    const o = orchestration();
    o.pin('transform', transform.at('2.1.1')).commit('chore: transform 2.1.1');
    o.pin('reporting', reporting.at('0.3.1')).commit('chore: reporting 0.3.1');
    const run = ok(await bump(o.repo, SUBMODULES));
    assert.equal(run.outputs.version, '1.4.1');
    assert.equal(run.outputs.bump, 'patch');
    assert.match(
      run.summaries[0],
      /reporting v0\.3\.0 → v0\.3\.1 \(patch\) and transform v2\.1\.0 → v2\.1\.1 \(patch\) drove a patch bump|transform v2\.1\.0 → v2\.1\.1 \(patch\) and reporting v0\.3\.0 → v0\.3\.1 \(patch\) drove a patch bump/,
    );

    const rc = orchestration();
    rc.pin('ingest', ingest.at('1.1.0-rc.1')).commit('chore: ingest rc');
    rc.tag('v1.5.0');
    rc.pin('ingest', ingest.at('1.1.0')).commit('chore: ingest final');
    const step = ok(await bump(rc.repo, SUBMODULES));
    assert.equal(step.outputs.version, '1.5.1', `1.1.0-rc.1 → 1.1.0 is a pre-release-only step\n${explain(step)}`);
    assert.deepEqual(
      changesOf(step).map((c) => [c.from?.version, c.to?.version, c.change]),
      [['1.1.0-rc.1', '1.1.0', 'patch']],
    );
  });

  it('a component minor → minor; a commit carrying a final and its candidate counts as the final', async () => {
    const o = orchestration();
    o.pin('ingest', ingest.at('1.1.0')).commit('chore: ingest 1.1.0');
    const run = ok(await bump(o.repo, SUBMODULES));
    assert.equal(run.outputs.version, '1.5.0');
    assert.equal(changesOf(run)[0].to?.tag, 'v1.1.0', 'v1.1.0 and v1.1.0-rc.2 sit on one commit: the final wins');
  });

  it('a submodule added → minor; one removed → major', async () => {
    const added = orchestration();
    added.pin('quality', quality.at('1.0.1'), daemon.url('quality.git')).commit('chore: add quality');
    const a = ok(await bump(added.repo, SUBMODULES));
    assert.equal(a.outputs.version, '1.5.0');
    assert.deepEqual(
      changesOf(a).map((c) => [c.name, c.kind, c.from, c.to?.tag, c.change]),
      [['quality', 'added', null, 'v1.0.1', 'minor']],
    );
    assert.match(a.summaries[0], /quality added at v1\.0\.1 \(minor\) drove a minor bump/);
    assert.match(a.summaries[0], /\| quality \| added at `v1\.0\.1` \| minor \|/);

    const removed = orchestration();
    removed.unpin('reporting').commit('chore: drop reporting');
    const r = ok(await bump(removed.repo, SUBMODULES));
    assert.equal(r.outputs.version, '2.0.0');
    assert.deepEqual(
      changesOf(r).map((c) => [c.name, c.kind, c.from?.commit, c.to, c.change]),
      [['reporting', 'removed', reporting.at('0.3.0'), null, 'major']],
    );
    assert.match(r.summaries[0], /reporting removed \(major\) drove a major bump/);
  });

  it('a submodule moved to another path is one update, not a removal', async () => {
    const o = orchestration();
    o.unpin('transform')
      .pin('transform', transform.at('2.1.1'), '../transform.git', 'libs/transform')
      .commit('chore: move transform under libs/');
    const run = ok(await bump(o.repo, SUBMODULES));
    assert.equal(run.outputs.version, '1.4.1');
    assert.deepEqual(
      changesOf(run).map((c) => [c.name, c.path, c.kind, c.change]),
      [['transform', 'libs/transform', 'updated', 'patch']],
    );
  });

  it('relative (../ingest.git), daemon and plain-path URLs; a {component} tag format', async () => {
    const named = tempDir('relevo-named-');
    const api = componentRemote(named, 'api', ['1.0.0', '1.1.0'], (v) => `api/v${v}`);
    const o = orchestration();
    o.pin('api', api.at('1.0.0'), api.bare)
      .pin('transform', transform.at('2.1.0'), `file://${transform.bare}`)
      .commit('chore: add api, transform by file URL');
    o.tag('v1.5.0');
    o.pin('api', api.at('1.1.0'), api.bare).pin('ingest', ingest.at('1.0.1')).commit('chore: api 1.1.0, ingest 1.0.1');
    const run = ok(await bump(o.repo, { ...SUBMODULES, submoduleTagFormat: '{component}/v{version}' }));
    assert.equal(run.outputs.version, '1.6.0');
    assert.deepEqual(
      changesOf(run).map((c) => [c.name, c.from?.tag, c.to?.tag, c.change]),
      [
        ['api', 'api/v1.0.0', 'api/v1.1.0', 'minor'],
        // ingest's tags are v1.0.0, not ingest/v1.0.0: untagged in this format, so a patch with a warning.
        ['ingest', null, null, 'patch'],
      ],
    );
    assert.equal(run.warnings.length, 1, explain(run));
    assert.match(run.warnings[0], /Submodule 'ingest': commit [0-9a-f]{12} and [0-9a-f]{12} carries no version tag/);
  });

  it('a gitlink at an untagged commit counts as a patch and warns naming the submodule and the commit', async () => {
    const o = orchestration();
    const untagged = ingest.commits[4];
    o.pin('ingest', untagged).commit('chore: ingest at a fix');
    const run = ok(await bump(o.repo, SUBMODULES));
    assert.equal(run.outputs.version, '1.4.1');
    assert.equal(run.warnings.length, 1, explain(run));
    assert.match(
      run.warnings[0],
      new RegExp(`Submodule 'ingest': commit ${untagged.slice(0, 12)} carries no version tag .*counted as a patch`),
    );
    assert.deepEqual(
      changesOf(run).map((c) => [c.from?.tag, c.to?.tag, c.to?.commit, c.change]),
      [['v1.0.0', null, untagged, 'patch']],
    );
    assert.match(
      run.summaries[0],
      new RegExp(`\\| ingest \\| \`v1\\.0\\.0\` → untagged \`${untagged.slice(0, 12)}\` \\| patch \\(untagged\\) \\|`),
    );
  });

  it('an unreadable component remote fails the run naming the submodule; nothing is written, tagged or pushed', async () => {
    const o = Orchestration.init();
    o.pin('ingest', ingest.at('1.0.0'), daemon.url('ingest.git')).commit('feat: pin ingest');
    o.tag('v1.4.0');
    o.repo.write('VERSION', '1.4.0\n').commitAll('chore: version file');
    o.pin('ingest', ingest.at('2.0.0'), daemon.url('ingest.git'))
      .pin('gone', ingest.at('1.0.0'), daemon.url('no-such-component.git'))
      .commit('chore: ingest 2.0.0, add gone');
    const bare = o.repo.addBareRemote();
    const head = o.repo.detach().head();
    const tagsBefore = remoteTags(bare);
    const run = failed(
      await bump(o.repo, {
        ...SUBMODULES,
        versionFiles: 'VERSION',
        commitVersionFiles: true,
        createTag: true,
        pushTag: true,
        changelogFile: 'CHANGELOG.md',
      }),
      /Input 'submodules': cannot read the tags of submodule 'gone' \(git:\/\/127\.0\.0\.1:\d+\/no-such-component\.git\)/,
    );
    assert.match(run.resultMessage!, /nothing was changed/);
    assert.equal(o.repo.head(), head, 'no commit');
    assert.equal(o.repo.git('tag', '--list', 'v2*'), '', 'no tag');
    assert.equal(readFileSync(join(o.repo.dir, 'VERSION'), 'utf8'), '1.4.0\n', 'version file untouched');
    assert.equal(o.repo.git('status', '--porcelain', '--ignore-submodules=none'), '', 'work tree untouched (no CHANGELOG.md)');
    assert.deepEqual(remoteTags(bare), tagsBefore, 'nothing pushed');
  });

  it("the orchestration's own commits count too: a feat over component patches → minor; a component major over a fix → major", async () => {
    const o = orchestration();
    o.pin('transform', transform.at('2.1.1')).commit('chore: transform 2.1.1');
    o.commit('feat: nightly schedule for the pipeline');
    const run = ok(await bump(o.repo, SUBMODULES));
    assert.equal(run.outputs.version, '1.5.0');
    assert.match(
      run.summaries[0],
      /the commits since v1\.4\.0 ask for a minor bump \(component changes: transform v2\.1\.0 → v2\.1\.1 \(patch\)\)/i,
    );
    assert.match(run.summaries[0], /feat: nightly schedule/);

    const both = orchestration();
    both.commit('fix: retry the job');
    both.pin('reporting', reporting.at('1.0.0')).commit('chore: reporting 1.0.0');
    const b = ok(await bump(both.repo, SUBMODULES));
    assert.equal(b.outputs.version, '2.0.0');
    assert.match(
      b.summaries[0],
      /reporting v0\.3\.0 → v1\.0\.0 \(major\) drove a major bump since v1\.4\.0 \(the commits alone ask for a patch\)/,
    );
  });

  it('without submodules: true the gitlinks do not count and componentChanges is empty', async () => {
    const o = orchestration();
    o.pin('ingest', ingest.at('2.0.0')).commit('chore: ingest 2.0.0');
    const run = ok(await bump(o.repo));
    assert.equal(run.outputs.version, '1.4.0');
    assert.equal(run.outputs.changed, 'false');
    assert.equal(run.outputs.componentChanges, '[]');
    const on = ok(await bump(o.repo, SUBMODULES));
    assert.equal(on.outputs.version, '2.0.0');
  });

  it('no submodule changed: the commits decide; the Summary says so; a forced bump reads no component', async () => {
    const o = orchestration();
    o.commit('chore: tidy');
    const run = ok(await bump(o.repo, SUBMODULES));
    assert.equal(run.outputs.version, '1.4.0');
    assert.equal(run.outputs.componentChanges, '[]');
    assert.match(run.summaries[0], /No submodule changed since v1\.4\.0/);
    assert.match(run.summaries[0], /and no submodule changed its version/);
    o.pin('ingest', ingest.at('2.0.0'), '../no-such-component.git').commit('chore: ingest from nowhere');
    const forced = ok(await bump(o.repo, { ...SUBMODULES, bump: 'patch' }));
    assert.equal(forced.outputs.version, '1.4.1');
    assert.match(forced.stdout, /bump is set to 'patch': the submodules' versions are not read/);
  });

  it("`ignore = all` in .gitmodules does not hide a gitlink change; a re-run reports the first run's changes", async () => {
    const o = orchestration();
    o.repo.git('config', '-f', '.gitmodules', 'submodule.ingest.ignore', 'all');
    o.pin('ingest', ingest.at('1.1.0')).commit('chore: ingest 1.1.0');
    const first = ok(await bump(o.repo, { ...SUBMODULES, createTag: true }));
    assert.equal(first.outputs.version, '1.5.0');
    const again = ok(await bump(o.repo, { ...SUBMODULES, createTag: true }));
    assert.equal(again.outputs.version, '1.5.0');
    assert.equal(again.outputs.changed, 'false');
    assert.equal(again.outputs.bump, 'minor');
    assert.deepEqual(changesOf(again), changesOf(first));
  });

  it('a shallow clone is deepened to the base, and the gitlinks are read there', async () => {
    const o = orchestration();
    for (let i = 0; i < 3; i++) o.commit(`docs: page ${i}`);
    o.pin('ingest', ingest.at('2.0.0'), `file://${ingest.bare}`).commit('chore: ingest 2.0.0');
    const shallow = shallowCloneOf(o.repo);
    const run = ok(await bump(shallow, SUBMODULES));
    assert.equal(run.outputs.version, '2.0.0');
    assert.equal(changesOf(run)[0].from?.tag, 'v1.0.0');
  });

  it('a bad submoduleTagFormat names its input', async () => {
    const o = orchestration();
    failed(await bump(o.repo, { ...SUBMODULES, submoduleTagFormat: 'v{version}-{component}' }), /Input 'submoduleTagFormat':/);
  });

  it('fails naming a changed gitlink that .gitmodules does not declare', async () => {
    const o = orchestration();
    mkdirSync(join(o.repo.dir, 'stray'));
    o.repo.git('update-index', '--add', '--cacheinfo', `160000,${quality.at('1.0.0')},stray`);
    o.commit('chore: a stray gitlink');
    failed(await bump(o.repo, SUBMODULES), /Input 'submodules': the gitlink 'stray' has no entry in \.gitmodules/);
  });

  it('sanity: Repo.commit keeps gitlinks whose folders are empty', () => {
    const o = orchestration();
    o.commit('chore: x');
    assert.match(o.repo.git('ls-tree', 'HEAD', 'ingest'), /^160000 commit /);
    assert.ok(Repo);
  });
});
