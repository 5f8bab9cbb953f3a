/** The plan and its outcome, as log lines (what a dry run prints) and as the Summary tab's Markdown. */
import { ZERO_SHA } from '../git';
import { markdownCode, markdownLink, markdownText as escape } from '../markdown';
import { quoteForeign } from '../output';
import type { PromotionResult } from './apply';
import { describeRoute } from './flow';
import type { BackMerge, BranchMove, PromotionPlan, RepositoryPlan } from './plan';

const short = (sha: string) => (sha === ZERO_SHA ? 'none' : sha.slice(0, 12));

export function describeMove(m: BranchMove): string {
  switch (m.kind) {
    case 'fast-forward':
      return `${m.branch}: ${short(m.from)} → ${short(m.to)} (fast-forward)`;
    case 'merge':
      return `${m.branch}: ${short(m.from)} → ${short(m.to)} (merge commit)`;
    case 'create':
      return `${m.branch}: created at ${short(m.to)}`;
    case 'up-to-date':
      return `${m.branch}: at the commit already`;
    case 'contains':
      return `${m.branch}: contains the commit already (stays at ${short(m.from)})`;
    case 'pull-request':
      return `${m.branch}: pull request (stays at ${short(m.from)} until it completes)`;
  }
}

export function describeBackMerge(b: BackMerge): string {
  switch (b.status) {
    case 'missing':
      return `${b.branch}: does not exist, skipped`;
    case 'up-to-date':
      return `${b.branch}: has it already`;
    case 'fast-forward':
      return `${b.branch}: ${short(b.from)} → ${short(b.to)} (fast-forward)`;
    case 'merged':
      return `${b.branch}: ${short(b.from)} → ${short(b.to)} (merge commit)`;
    case 'pull-request':
      return `${b.branch}: conflicts in ${b.conflicts!.map(quoteForeign).join(', ')} → pull request`;
  }
}

function tagState(t: RepositoryPlan['tag']): string {
  if (!t.existing) return 'new';
  return t.pushExisting ? 'on the commit locally, pushed' : 'on the commit already';
}

/** Where the tag in the table's tag column came from. */
function tagOrigin(t: RepositoryPlan['tag']): string {
  if (t.untested) return ' ⚠️ untested';
  return t.candidate ? ` from ${markdownCode(t.candidate)}` : '';
}

function describeTag(r: RepositoryPlan): string {
  const t = r.tag;
  const state = tagState(t);
  const on = r.refs.find((p) => p.ref === `refs/tags/${t.tag}`)?.to ?? r.commit;
  return `${t.tag} on ${short(on)}${on !== r.commit ? ' (the merge commit)' : ''} (${state}; ${t.why})${t.untested ? ' — UNTESTED (allowUntested)' : ''}`;
}

/**
 * The plan, one block per repository (the log, and what a dry run shows). Text from outside (the
 * commit's subject, the repository's name, what a server said of a gate, submodule and file
 * names) is quoted with quoteForeign: one line each, no logging command.
 */
export function planLines(plan: PromotionPlan): string[] {
  const lines = [
    `Plan: ${describeRoute(plan.route)}, strategy ${plan.strategy}, ${plan.repositories.length} repositor${plan.repositories.length === 1 ? 'y' : 'ies'}.`,
  ];
  for (const r of plan.repositories) {
    lines.push(
      `  ${quoteForeign(r.label)}: commit ${short(r.commit)} "${quoteForeign(r.subject)}" (on ${r.source.branch} at ${short(r.source.tip)})`,
    );
    lines.push(`    ${describeMove(r.move)}`);
    lines.push(`    tag ${describeTag(r)}`);
    for (const g of r.gates) lines.push(`    gate ${g.gate}: ${g.passed ? 'passed' : 'FAILED'} (${quoteForeign(g.detail)})`);
    for (const b of r.backMerges) lines.push(`    back-merge into ${describeBackMerge(b)}`);
    for (const p of r.pins) lines.push(`    pin ${quoteForeign(p.name)} at ${short(p.commit)}: ${p.on}`);
    if (r.refs.length) lines.push(`    push: ${r.refs.map((p) => `${p.ref} → ${short(p.to)}`).join(', ')}`);
    for (const n of r.notes) lines.push(`    note: ${quoteForeign(n)}`);
  }
  return lines;
}

/** `none`, `up-to-date`, `merged` (fast-forward or merge commit), `pull-request` (a conflict), `skipped` (branch missing). */
export function backMergeStatus(r: RepositoryPlan | undefined): string {
  if (!r?.backMerges.length) return 'none';
  const s = r.backMerges.map((b) => b.status);
  if (s.includes('pull-request')) return 'pull-request';
  if (s.some((x) => x === 'merged' || x === 'fast-forward')) return 'merged';
  if (s.every((x) => x === 'missing')) return 'skipped';
  return 'up-to-date';
}

/** One repository in the `repositories` output (JSON): what the run did there, or would do (dry run). */
export interface RepositoryOutput {
  path: string;
  remote: string;
  remoteUrl?: string;
  name: string;
  promotedCommit: string;
  version: string;
  tag: string;
  target: string;
  move: BranchMove['kind'];
  pullRequestId?: number;
  pullRequestUrl?: string;
  backMergeStatus: string;
  backMergePullRequests: { branch: string; id: number; url: string }[];
}

/** The `repositories` output: every repository of the run (the other outputs describe only the first). */
export function repositoriesOutput(plan: PromotionPlan, result: PromotionResult | undefined): RepositoryOutput[] {
  return plan.repositories.map((r) => {
    const done = result?.repositories.find((x) => x.dir === r.dir);
    return {
      path: r.dir,
      remote: r.remote,
      ...(r.remoteUrl ? { remoteUrl: r.remoteUrl } : {}),
      name: r.name,
      promotedCommit: r.commit,
      version: r.tag.version,
      tag: r.tag.tag,
      target: r.move.branch,
      move: r.move.kind,
      ...(done?.pullRequest ? { pullRequestId: done.pullRequest.id, pullRequestUrl: done.pullRequest.url } : {}),
      backMergeStatus: backMergeStatus(r),
      backMergePullRequests: (done?.backMergePullRequests ?? []).map((pr) => ({ branch: pr.branch, id: pr.id, url: pr.url })),
    };
  });
}

export function promotionSummary(plan: PromotionPlan, result: PromotionResult | undefined, dryRun: boolean): string {
  const out = [`### PromoteBranch: ${describeRoute(plan.route)}`, ''];
  out.push(
    dryRun
      ? '**Dry run**: the plan below was checked; nothing was pushed, tagged or opened.'
      : `Strategy \`${plan.strategy}\`; every check passed before anything moved.`,
    '',
  );
  const untested = plan.repositories.filter((r) => r.tag.untested);
  if (untested.length)
    out.push(
      `> ⚠️ **Untested release** (allowUntested): ${untested.map((r) => `${escape(r.label)} ${escape(r.tag.tag)}`).join(', ')} carried no release candidate.`,
      '',
    );
  out.push('| repository | commit | target | tag | gates | back-merge |', '|---|---|---|---|---|---|');
  for (const r of plan.repositories) {
    const gates = r.gates.length ? r.gates.map((g) => `${g.passed ? '✅' : '❌'} ${escape(g.gate)}`).join('<br>') : 'none';
    const bm = r.backMerges.length ? r.backMerges.map((b) => escape(describeBackMerge(b))).join('<br>') : '—';
    out.push(
      `| ${escape(r.label)} | \`${short(r.commit)}\` ${escape(r.subject)} | ${escape(describeMove(r.move))} | ${markdownCode(r.tag.tag)}${r.tag.existing ? ' (existing)' : ''}${tagOrigin(r.tag)} | ${gates} | ${bm} |`,
    );
  }
  out.push('');
  if (result) {
    out.push('**What happened**', '');
    for (const r of result.repositories) {
      const plan_ = plan.repositories.find((p) => p.dir === r.dir)!;
      out.push(
        `- ${escape(r.label)}: ${r.pushed.length ? `pushed ${r.pushed.map((u) => markdownCode(u.ref.replace(/^refs\/(heads|tags)\//, ''), false)).join(', ')}` : 'nothing to push'}${r.pullRequest ? `; ${r.pullRequest.reused ? 'updated' : 'opened'} ${markdownLink(`pull request ${r.pullRequest.id}`, r.pullRequest.url)}` : ''}`,
      );
      for (const pr of r.backMergePullRequests)
        out.push(
          `  - ⚠️ back-merge into ${markdownCode(pr.branch, false)} conflicts: ${markdownLink(`pull request ${pr.id}`, pr.url)} to resolve it`,
        );
      for (const n of plan_.notes) out.push(`  - ${escape(n)}`);
    }
    out.push('');
  }
  out.push('<details><summary>The plan</summary>', '', '```', ...planLines(plan), '```', '', '</details>', '');
  return out.join('\n');
}
