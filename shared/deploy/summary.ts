/** The Summary tab: the bill of materials as the workspace now has it (or would, for a dry run), with links. */
import type { Deployed } from './apply';
import type { DeployPlan } from './plan';
import { markdownCode, markdownLink, markdownText as cell } from '../markdown';

export function deploySummary(plan: DeployPlan, deployed: Deployed[], dryRun: boolean): string {
  const moved = deployed.filter((d) => d.changed).length;
  const o = plan.release.orchestration;
  const lines = [
    `### ${dryRun ? 'Dry run: would deploy' : 'Deployed'} to ${cell(plan.host)}`,
    '',
    `${plan.release.components.length} component(s) from ${cell(plan.release.source)}${o?.tag ? `, orchestration ${cell(o.tag)}` : ''}. ${dryRun ? `${moved} target(s) would move; nothing was changed.` : `${moved} target(s) moved, ${deployed.length - moved} already there.`}`,
    '',
    '| component | version | commit | where | was | now |',
    '|---|---|---|---|---|---|',
  ];
  for (const d of deployed) {
    const where = d.target.startsWith('job:')
      ? `job ${cell(d.target.slice(4))}${d.name ? ` (${cell(d.name)})` : ''}`
      : markdownCode(d.target);
    const link = markdownLink(where, d.link);
    const ref = (r: string) => (/^[0-9a-f]{40}$/.test(r) ? `\`${r.slice(0, 12)}\`` : cell(r));
    const marker = dryRun ? '→' : '✅';
    const now = d.changed ? `${marker} ${ref(d.to)}` : `${ref(d.to)} (unchanged)`;
    lines.push(
      `| ${cell(d.component)} | ${cell(d.version ?? '') || '(untagged)'} | \`${d.commit.slice(0, 12)}\` | ${link} | ${ref(d.from) || '(new)'} | ${now} |`,
    );
  }
  const discarded = deployed.filter((d) => d.discarded);
  if (discarded.length) {
    lines.push('', '**Uncommitted changes discarded** (discardLocalChanges):', '');
    for (const d of discarded) lines.push(`- ${markdownCode(d.target, false)}: ${cell(d.discarded!)}`);
  }
  return lines.join('\n') + '\n';
}
