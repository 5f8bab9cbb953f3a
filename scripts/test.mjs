// `npm test` runs the whole suite; `npm test -- test/tasks/version-bump.test.ts` (one or more
// files) runs just those. mocha adds files named on its command line to the `spec` of its
// config, so the whole-suite list lives here, not in .mocharc.json.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const SUITE = ['test/unit/**/*.test.ts', 'test/tasks/**/*.test.ts', 'test/*.test.ts'];
const args = process.argv.slice(2);
const files = args.filter((a) => !a.startsWith('-'));
const mocha = createRequire(import.meta.url).resolve('mocha/bin/mocha.js');
const run = spawnSync(process.execPath, [mocha, ...(files.length ? [] : SUITE), ...args], { stdio: 'inherit' });
process.exit(run.status ?? 1);
