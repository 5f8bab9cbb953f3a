// The peer, run as its own Node process so it pays its own startup just like the task does:
//   node bench/peer-bump.mjs <repo>
// conventional-recommended-bump v11 finds the last semver tag itself (`git log --decorate`
// from HEAD), reads the commits since it, and applies the conventionalcommits preset.
// Prints one JSON line: { releaseType, commitCount }.
import { Bumper } from 'conventional-recommended-bump';

const cwd = process.argv[2];
if (!cwd) {
  console.error('usage: node bench/peer-bump.mjs <repo>');
  process.exit(2);
}
const bumper = new Bumper(cwd).loadPreset('conventionalcommits');
const rec = await bumper.bump();
console.log(JSON.stringify({ releaseType: rec.releaseType ?? null, commitCount: rec.commits?.length ?? null, reason: rec.reason ?? null }));
