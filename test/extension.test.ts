/** The extension as a whole: manifest ↔ task folders, each task.json, and the packaged VSIX. */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import JSZip from 'jszip';
import { explain, ROOT, runTask } from './support/agentRunner';
import { Repo, tempDir } from './support/repo';

interface TaskJson {
  id: string;
  name: string;
  friendlyName: string;
  version: { Major: number; Minor: number; Patch: number };
  minimumAgentVersion: string;
  instanceNameFormat: string;
  groups?: { name: string; visibleRule?: string }[];
  inputs: {
    name: string;
    helpMarkDown?: string;
    type: string;
    options?: Record<string, string>;
    defaultValue?: string;
    visibleRule?: string;
  }[];
  outputVariables: { name: string; description: string }[];
  restrictions: { settableVariables: { allowed: string[] } };
  execution: Record<string, { target: string }>;
}

const manifest = JSON.parse(readFileSync(join(ROOT, 'vss-extension.json'), 'utf8')) as {
  version: string;
  files: { path: string }[];
  contributions: { id: string; type: string; targets: string[]; properties: { name: string } }[];
  categories: string[];
  icons: { default: string };
  content: { details: { path: string } };
};
const taskFolders = readdirSync(join(ROOT, 'tasks'), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();
const taskJson = (folder: string) => JSON.parse(readFileSync(join(ROOT, 'tasks', folder, 'task.json'), 'utf8')) as TaskJson;

describe('repository', () => {
  it('tracks nothing generated or installed (node_modules/, dist/, out/, .bench/, .taskkey)', function () {
    if (!existsSync(join(ROOT, '.git'))) this.skip();
    const tracked = execFileSync('git', ['ls-files', '--', 'node_modules', 'dist', 'out', '.bench', '.taskkey'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).trim();
    assert.equal(tracked, '', `remove these from the index with git rm -r --cached:\n${tracked.split('\n').slice(0, 10).join('\n')}`);
  });

  it('no task run leaves a .taskkey behind (every run has an agent temp folder)', () => {
    assert.ok(!existsSync(join(ROOT, '.taskkey')), '.taskkey in the repository root');
  });
});

describe('extension manifest', () => {
  it('has exactly one task contribution per tasks/ folder, and a folder per contribution', () => {
    const tasks = manifest.contributions.filter((c) => c.type === 'ms.vss-distributed-task.task');
    assert.deepEqual(tasks.map((c) => c.id).sort(), taskFolders);
    for (const c of tasks) {
      assert.equal(c.properties.name, `dist/tasks/${c.id}`);
      assert.deepEqual(c.targets, ['ms.vss-distributed-task.tasks']);
      assert.ok(
        manifest.files.some((f) => f.path === `dist/tasks/${c.id}`),
        `files has dist/tasks/${c.id}`,
      );
    }
    assert.deepEqual(manifest.categories, ['Azure Pipelines']);
    assert.ok(existsSync(join(ROOT, manifest.icons.default)));
    assert.ok(existsSync(join(ROOT, manifest.content.details.path)));
  });

  it('every task.json is complete and consistent', () => {
    const ids = new Set<string>();
    for (const folder of taskFolders) {
      const t = taskJson(folder);
      const where = `tasks/${folder}/task.json`;
      assert.match(t.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, `${where} id`);
      assert.ok(!ids.has(t.id), `${where} id is unique`);
      ids.add(t.id);
      assert.match(t.name, /^[A-Za-z0-9-]+$/);
      assert.ok(t.friendlyName.length <= 40, `${where} friendlyName ≤ 40`);
      // The lowest agent the Node20_1 handler runs on: a higher minimum makes every older agent
      // upgrade itself first, which a v3 agent on an OS v4 does not support cannot do.
      assert.equal(t.minimumAgentVersion, '3.232.1', `${where} minimumAgentVersion`);
      assert.ok(t.instanceNameFormat, `${where} instanceNameFormat`);
      assert.deepEqual(Object.keys(t.execution).sort(), ['Node20_1', 'Node24']);
      assert.equal(t.execution.Node20_1.target, 'index.js');
      assert.equal(t.execution.Node24.target, 'index.js');
      for (const input of t.inputs)
        assert.ok(input.helpMarkDown && input.helpMarkDown.length > 10, `${where} input ${input.name} has help`);
      for (const input of t.inputs.filter((i) => i.type === 'pickList'))
        assert.ok(input.options && input.defaultValue! in input.options, `${where} ${input.name} default is an option`);
      assert.ok(t.outputVariables.length > 0);
      assert.deepEqual(
        [...t.restrictions.settableVariables.allowed].sort(),
        t.outputVariables.map((o) => o.name).sort(),
        `${where} may set only its outputs`,
      );
      assert.ok(existsSync(join(ROOT, 'tasks', folder, 'icon.png')));
      for (const input of [...t.inputs, ...(t.groups ?? []).map((g) => ({ ...g, name: `group ${g.name}` }))].filter((i) => i.visibleRule)) {
        const rule = input.visibleRule!;
        // The classic editor splits on && or on ||, never both, and has no parentheses.
        assert.ok(
          !(rule.includes('&&') && rule.includes('||')) && !/[()]/.test(rule),
          `${where} ${input.name}: visibleRule '${rule}' mixes && and || or uses parentheses`,
        );
        for (const clause of rule.split(/&&|\|\|/)) {
          const m = /^\s*(\w+)\s*(=|==|!=|<|>|<=|>=|Contains|StartsWith|EndsWith|NotContains|NotStartsWith|NotEndsWith)\s*(.*?)\s*$/.exec(
            clause,
          );
          assert.ok(m, `${where} ${input.name}: '${clause}' is not 'input operator value'`);
          assert.ok(
            t.inputs.some((i) => i.name === m[1]),
            `${where} ${input.name}: visibleRule names unknown input '${m[1]}'`,
          );
          // The editor reads values as [a-zA-Z0-9. ]+ (or an empty ""): '-' or '/' never match.
          assert.match(
            m[3],
            /^(""|[A-Za-z0-9. ]+)$/,
            `${where} ${input.name}: visibleRule value '${m[3]}' cannot be matched by the editor`,
          );
        }
      }
    }
  });
});

describe('packaged VSIX', function () {
  this.timeout(120_000);
  let unzipped: string;
  let vsix: string;

  before(async () => {
    const out = tempDir('relevo-vsix-');
    execFileSync(
      process.execPath,
      [join(ROOT, 'scripts', 'package.mjs'), '--output-path', out, '--version', '9.8.7', '--publisher', 'relevo-test'],
      { cwd: ROOT, stdio: 'pipe' },
    );
    vsix = join(
      out,
      readdirSync(out).find((f) => f.endsWith('.vsix'))!,
    );
    unzipped = tempDir('relevo-vsix-unzipped-');
    const zip = await JSZip.loadAsync(readFileSync(vsix));
    for (const entry of Object.values(zip.files).filter((e) => !e.dir)) {
      const dest = join(unzipped, entry.name);
      mkdirSync(dirname(dest), { recursive: true });
      writeFileSync(dest, await entry.async('nodebuffer'));
    }
  });

  it('is small and holds one bundle, task.json and icon per task, no node_modules', () => {
    assert.ok(statSync(vsix).size < 5 * 1024 * 1024, `VSIX is ${statSync(vsix).size} bytes`);
    assert.match(vsix, /relevo-test\.relevo-9\.8\.7\.vsix$/);
    const vsixManifest = readFileSync(join(unzipped, 'extension.vsixmanifest'), 'utf8');
    assert.match(vsixManifest, /Version="9\.8\.7"/);
    assert.match(vsixManifest, /Publisher="relevo-test"/);
    for (const folder of taskFolders) {
      const dir = join(unzipped, 'dist', 'tasks', folder);
      assert.deepEqual(readdirSync(dir).sort(), ['icon.png', 'index.js', 'task.json']);
      assert.deepEqual(JSON.parse(readFileSync(join(dir, 'task.json'), 'utf8')), taskJson(folder));
    }
    const all = execFileSync('find', [unzipped], { encoding: 'utf8' });
    assert.doesNotMatch(all, /node_modules|\.map$|\.ts$/m);
  });

  it('VersionBump runs from the unzipped VSIX (the bundle is complete)', async () => {
    const repo = Repo.init();
    repo.commit('feat: a');
    repo.tag('v1.0.0');
    repo.commit('feat: b');
    repo.detach();
    const run = await runTask('version-bump', {
      tasksDir: join(unzipped, 'dist', 'tasks'),
      inputs: { workingDirectory: repo.dir },
      variables: { 'Build.SourceBranch': 'refs/heads/main' },
      cwd: tempDir(),
    });
    assert.equal(run.result, 'Succeeded', explain(run));
    assert.equal(run.outputs.version, '1.1.0');
    assert.deepEqual(
      Object.keys(run.outputs).sort(),
      taskJson('version-bump')
        .outputVariables.map((o) => o.name)
        .sort(),
      'sets exactly the outputs task.json declares',
    );
  });
});
