// Packages dist/ into out/<publisher>.<id>-<version>.vsix with tfx (offline, under a second).
// Usage: npm run package [-- --version 1.2.3] [-- --publisher my-publisher] [-- --output-path dir]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    version: { type: 'string', default: process.env.RELEVO_VERSION },
    publisher: { type: 'string', default: process.env.RELEVO_PUBLISHER },
    'output-path': { type: 'string', default: join(root, 'out') },
  },
});
if (!existsSync(join(root, 'dist', 'tasks'))) {
  console.error('dist/tasks is missing: run `npm run build` first (npm run package does).');
  process.exit(1);
}
if (values.version && !/^\d+\.\d+\.\d+$/.test(values.version)) {
  console.error(`--version '${values.version}' must be MAJOR.MINOR.PATCH (the Marketplace takes no pre-release labels).`);
  process.exit(1);
}
const outDir = resolve(values['output-path']);
mkdirSync(outDir, { recursive: true });
// tfx takes an --output-path whose name has a dot (mktemp's /tmp/tmp.XyZ) for a file name: name the file here.
const manifest = JSON.parse(readFileSync(join(root, 'vss-extension.json'), 'utf8'));
const vsixPath = join(outDir, `${values.publisher ?? manifest.publisher}.${manifest.id}-${values.version ?? manifest.version}.vsix`);
const args = [
  'extension',
  'create',
  '--root',
  root,
  '--manifest-globs',
  'vss-extension.json',
  '--output-path',
  vsixPath,
  '--no-prompt',
  '--no-color',
  '--json',
];
if (values.version) args.push('--override', JSON.stringify({ version: values.version }));
if (values.publisher) args.push('--publisher', values.publisher);
const tfx = join(dirname(createRequire(import.meta.url).resolve('tfx-cli/package.json')), '_build', 'tfx-cli.js');
let out;
try {
  out = execFileSync(process.execPath, [tfx, ...args], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
} catch (err) {
  console.error(`tfx extension create failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  process.exit(1);
}
const { path } = JSON.parse(out.slice(out.indexOf('{')));
const size = statSync(path).size;
console.log(`Packaged ${path} (${(size / 1024).toFixed(0)} KiB, tasks: ${readdirSync(join(root, 'dist', 'tasks')).join(', ')})`);
