// Builds one minified esbuild bundle per task into dist/tasks/<folder>/ with its task.json
// and icon.png: exactly the files that go into the VSIX.
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tasksDir = join(root, 'tasks');
const out = join(root, 'dist', 'tasks');
rmSync(join(root, 'dist'), { recursive: true, force: true });

const folders = readdirSync(tasksDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
const started = Date.now();
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
    });
    if (result.warnings.length) throw new Error(`esbuild warnings for ${folder}`);
    copyFileSync(join(src, 'task.json'), join(dest, 'task.json'));
    copyFileSync(join(src, 'icon.png'), join(dest, 'icon.png'));
  }),
);
console.log(`Built ${folders.length} task(s) into dist/tasks in ${Date.now() - started} ms: ${folders.join(', ')}`);
