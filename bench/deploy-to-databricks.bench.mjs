// Benchmarks the built DeployToDatabricks task deploying an orchestration release of 50
// components (50 Git folders moved to their tag, 50 jobs pinned) to the Repos/Jobs contract
// server, where each folder's PATCH takes 300-900 ms (a checkout on Databricks' side). With
// bounded parallelism (parallel: 64) the deploy should take the time of the slowest PATCH plus
// a constant (the run without any PATCH delay: start-up, the release's 50 ls-remotes, the
// plan's reads), not the PATCHes' sum. Interleaved runs, each on a fresh workspace, each
// checked: every folder on its tag.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tsImport } from 'tsx/esm/api';
import { goal, median, snapshotTask } from './lib.mjs';

const RUNS = Number(process.env.BENCH_RUNS) || 3;
const COMPONENTS = 50;
/** The deploy's time beyond the no-delay run, as a multiple of the slowest PATCH. */
const GOAL = 1.3;

export default async function run() {
  const { makeRelease, makeWorkspace, deploy } = await tsImport('../test/support/deploy.ts', import.meta.url);
  const { cleanTempDirs } = await tsImport('../test/support/repo.ts', import.meta.url);
  const work = mkdtempSync(join(tmpdir(), 'relevo-bench-deploy-'));
  try {
    snapshotTask('deploy-to-databricks', join(work, 'deploy-to-databricks'));
    const names = Array.from({ length: COMPONENTS }, (_, i) => `component-${String(i + 1).padStart(2, '0')}`);
    const t0 = Date.now();
    const release = makeRelease({ names });
    console.log(`${COMPONENTS} components and the orchestration built in ${((Date.now() - t0) / 1000).toFixed(1)} s.`);
    const jobs = names.map((n) => `${n} nightly`).join('\n');

    const once = async (delayed) => {
      const ws = await makeWorkspace(release);
      // Seeded delays, 300-900 ms: the same for every run.
      if (delayed) ws.state.repos.forEach((r) => (r.patchDelayMs = 300 + ((r.id * 7919) % 601)));
      const started = Date.now();
      const result = await deploy(release, ws, { jobs, parallel: 64 }, { tasksDir: work });
      const total = Date.now() - started;
      if (result.result !== 'Succeeded') throw new Error(`the deploy failed: ${result.resultMessage}`);
      for (const c of release.components)
        if (ws.repoAt(`/Workspace/pro/${c.name}`).head !== c.commits[release.tag]) throw new Error(`${c.name} is not on ${release.tag}`);
      const patches = ws.requests.filter((r) => r.method === 'PATCH').map((r) => r.answeredAt - r.at);
      await ws.stop();
      return { total, slowest: Math.max(0, ...patches), sum: patches.reduce((a, b) => a + b, 0) };
    };

    await once(false); // warm-up
    const plain = [];
    const delayed = [];
    for (let i = 0; i < RUNS; i++) {
      plain.push(await once(false));
      delayed.push(await once(true));
    }
    const constant = median(plain.map((r) => r.total));
    const total = median(delayed.map((r) => r.total));
    const slowest = median(delayed.map((r) => r.slowest));
    const sum = median(delayed.map((r) => r.sum));
    console.log(`${COMPONENTS} Git folders and ${COMPONENTS} jobs, parallel 64, median of ${RUNS}:`);
    console.log(`  the deploy, PATCHes answered at once (the constant)     ${constant.toFixed(0).padStart(6)} ms`);
    console.log(`  the deploy, each PATCH 300-900 ms                        ${total.toFixed(0).padStart(6)} ms`);
    console.log(`  the slowest PATCH                                        ${slowest.toFixed(0).padStart(6)} ms`);
    console.log(`  the PATCHes' sum (one after another)                     ${sum.toFixed(0).padStart(6)} ms`);
    console.log(
      goal(
        '(deploy − constant) / slowest PATCH',
        `${((total - constant) / slowest).toFixed(2)}x`,
        `≤ ${GOAL}x`,
        (total - constant) / slowest <= GOAL,
      ),
    );
    cleanTempDirs();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
