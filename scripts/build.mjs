// Builds one minified esbuild bundle per task into dist/tasks/<folder>/ with its task.json
// and icon.png: exactly the files that go into the VSIX. The build goes to a fresh folder, and
// dist becomes a link to it (see the end).
import { build } from 'esbuild';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tasksDir = join(root, 'tasks');
const dist = join(root, 'dist');
const next = join(root, `dist.next-${process.pid}`);
const out = join(next, 'tasks');
rmSync(next, { recursive: true, force: true });

// azure-devops-node-api's WebApi requires every API area at load (30 of them, ~1 MB minified)
// although the REST client (shared/clients/azureDevOps.ts) only asks it for these: the others
// become empty modules, so a task that talks to Azure DevOps loads ~0.3 MB instead of ~1.2 MB
// (about 30 ms of compile on every run). A getXxxApi() of an area left out would fail with
// "is not a constructor": add the area here before using it.
const AZURE_DEVOPS_AREAS = new Set(['BuildApi', 'GitApi', 'LocationsApi']);
const onlyUsedAzureDevOpsAreas = {
  name: 'only-used-azure-devops-areas',
  setup(b) {
    b.onResolve({ filter: /^\.\/[A-Za-z]+Api$/ }, (args) => {
      if (!/[\\/]azure-devops-node-api[\\/]WebApi\.js$/.test(args.importer)) return undefined;
      const area = args.path.slice(2);
      return AZURE_DEVOPS_AREAS.has(area) ? undefined : { path: area, namespace: 'unused-azure-devops-area' };
    });
    b.onLoad({ filter: /.*/, namespace: 'unused-azure-devops-area' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
  },
};

const folders = readdirSync(tasksDir, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);
const started = Date.now();
try {
  await Promise.all(
    folders.map(async (folder) => {
      const src = join(tasksDir, folder);
      for (const f of ['index.ts', 'task.json', 'icon.png']) {
        if (!existsSync(join(src, f))) throw new Error(`tasks/${folder}/${f} is missing`);
      }
      const dest = join(out, folder);
      mkdirSync(dest, { recursive: true });
      const result = await build({
        entryPoints: [join(src, 'index.ts')],
        outfile: join(dest, 'index.js'),
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'cjs',
        minify: true,
        sourcemap: false,
        legalComments: 'none',
        logLevel: 'warning',
        metafile: true,
        plugins: [onlyUsedAzureDevOpsAreas],
      });
      if (result.warnings.length) throw new Error(`esbuild warnings for ${folder}`);
      copyFileSync(join(src, 'task.json'), join(dest, 'task.json'));
      copyFileSync(join(src, 'icon.png'), join(dest, 'icon.png'));
    }),
  );
} catch (err) {
  rmSync(next, { recursive: true, force: true });
  throw err;
}
// dist is a link to the newest build, replaced by one rename (atomic): a test or bench running
// the previous build, or a second build finishing at the same time, never finds dist/ missing
// or half-written. The previous build stays until the next one, for runs still reading it.
const builds = join(root, 'dist.builds');
mkdirSync(builds, { recursive: true });
const id = `${Date.now()}-${process.pid}`;
renameSync(next, join(builds, id));
const link = join(root, `dist.link-${process.pid}`);
rmSync(link, { force: true });
symlinkSync(join('dist.builds', id), link);
if (existsSync(dist) && !lstatSync(dist).isSymbolicLink()) rmSync(dist, { recursive: true, force: true }); // a folder from an older build script
renameSync(link, dist);
const current = readlinkSync(dist);
const kept = readdirSync(builds).sort();
for (const b of kept.slice(0, -2)) if (join('dist.builds', b) !== current) rmSync(join(builds, b), { recursive: true, force: true });
console.log(`Built ${folders.length} task(s) into dist/tasks in ${Date.now() - started} ms: ${folders.join(', ')}`);
