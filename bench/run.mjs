// Runs every bench/*.bench.mjs in turn (sorted by name). A bench script exports
// `default async function run()`; a script without a default export runs on import.
// Exits non-zero if any script throws. A missed performance goal is reported by the
// script itself and is not an error.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2); // optional filter: node bench/run.mjs version-bump
const scripts = readdirSync(here)
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) => !only.length || only.some((o) => f.includes(o)))
  .sort();

if (!scripts.length) {
  console.error(`No bench scripts found in ${here}${only.length ? ` matching ${only.join(', ')}` : ''}.`);
  process.exit(1);
}

const failed = [];
const started = Date.now();
for (const file of scripts) {
  console.log(`\n=== ${file} ===`);
  const t0 = Date.now();
  try {
    const mod = await import(pathToFileURL(join(here, file)).href);
    if (typeof mod.default === 'function') await mod.default();
    console.log(`--- ${file}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } catch (err) {
    failed.push(file);
    console.error(`--- ${file}: FAILED after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  }
}

console.log(
  `\n${scripts.length - failed.length}/${scripts.length} bench script(s) ran in ${((Date.now() - started) / 1000).toFixed(1)} s.`,
);
if (failed.length) {
  console.error(`Failed: ${failed.join(', ')}`);
  process.exit(1);
}
