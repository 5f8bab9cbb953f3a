/**
 * The Summary tab of BuildWheel, written on every outcome: what was built, how it was checked,
 * where it went, each cluster's outcome, and, when the run failed, why.
 */
import { basename } from 'node:path';
import { markdownCode, markdownText } from '../markdown';
import type { BuildResult } from './build';
import { OUTCOMES } from './clusterStates';
import type { PublishResult } from './publish';

export function buildWheelSummary(build: BuildResult | undefined, published: PublishResult, requested?: string, failure?: string): string {
  const failed = failure ? ['', `**Failed:** ${markdownText(failure)}`, ''] : [];
  if (!build) return ['### Wheel not built', ...failed].join('\n');
  const w = build.wheel;
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  const rows: Array<[string, string]> = [
    ['Package', markdownCode(w.name)],
    ['Version', `\`${w.version}\`${requested && requested !== w.version ? ` (from ${markdownCode(requested)})` : ''}`],
    ['Wheel', `${markdownCode(basename(build.wheelPath))} — ${w.files} files, ${kb(w.bytes)}, sha256 \`${w.sha256.slice(0, 16)}…\``],
  ];
  if (build.sdistPath) rows.push(['sdist', markdownCode(basename(build.sdistPath))]);
  rows.push([
    'Checks',
    `file name, METADATA Name and Version${build.expectedVersion ? ` (= ${build.expectedVersion})` : ''}, WHEEL tags, RECORD hashes of every file; twine check ${build.twine === 'passed' ? 'passed' : 'not run (twine is not installed)'}`,
  ]);
  if (build.stamp?.kind === 'files')
    rows.push([
      'Version stamped',
      build.stamp.edits.map((e) => `${markdownCode(basename(e.path))} ${markdownText(e.oldVersion)} → ${e.newVersion}`).join(', ') +
        ' for the build, put back after',
    ]);
  if (build.stamp?.kind === 'env')
    rows.push(['Version stamped', `SETUPTOOLS_SCM_PRETEND_VERSION=${w.version} (the version comes from git tags)`]);
  rows.push(['Build time', `${build.seconds.toFixed(1)} s`]);
  const lines = [`### Wheel ${w.name} ${w.version}`, ...failed, '', '| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`), ''];
  if (published.uploadedTo.length || published.feed.length || published.initScriptPath) {
    lines.push('**Published to**', '');
    for (const to of published.uploadedTo)
      lines.push(`- ${to.startsWith('artifact:') ? `pipeline artifact ${markdownCode(to.slice(9), false)}` : markdownCode(to, false)}`);
    // Each file the feed has, one by one: a feed that took the wheel and refused the sdist shows it.
    for (const f of published.feed)
      lines.push(`- feed: ${markdownCode(f.file, false)} ${f.status === 'uploaded' ? 'uploaded' : 'was already there, skipped'}`);
    if (published.initScriptPath && !published.initScriptRemote)
      lines.push(`- init script ${markdownCode(basename(published.initScriptPath), false)} (in the output folder)`);
    lines.push('');
  } else if (!failure) lines.push('Not published (no artifactName, feedUrl or volumePath).', '');
  else lines.push('Nothing was published.', '');
  if (published.clusters.length) {
    lines.push('| cluster | library |', '|---|---|');
    for (const c of published.clusters)
      lines.push(
        `| ${markdownText(c.clusterId)}${c.name ? ` (${markdownText(c.name)})` : ''} | ${OUTCOMES[c.outcome].summary}${c.messages.length ? `: ${markdownText(c.messages.join('; '))}` : ''} |`,
      );
    lines.push('');
  }
  return lines.join('\n');
}
