/**
 * Which version a submodule moves to: its policy (`relevo-version` in .gitmodules, else the
 * `defaultPolicy` input), the channel of the branch being built, and the component's tags.
 * Plain data in, plain data out.
 */
import Range from 'semver/classes/range';
import validRange from 'semver/ranges/valid';
import { UserError } from '../errors';
import { quoteForeign as q } from '../output';
import type { BumpLevel } from '../versioning/conventional';
import type { ComponentTag } from '../versioning/history';
import { changeBetween, isBreaking, parseVersion } from '../versioning/semver';

export type Policy =
  { kind: 'latest' | 'minor' | 'patch' | 'pin' } | { kind: 'exact'; version: string } | { kind: 'range'; range: Range; text: string };

export const POLICY_WORDS = ['latest', 'minor', 'patch', 'pin'] as const;

/** Reads a policy: latest, minor (newest in the same major), patch (same minor), pin, 1.3.0, or a range (^1.2, ~1.4, >=1.2 <2). */
export function parsePolicy(text: string, where: { input?: string; submodule?: string }): Policy {
  const value = text.trim();
  const word = POLICY_WORDS.find((w) => w === value.toLowerCase());
  if (word) return { kind: word };
  const exact = parseVersion(value.replace(/^v/, ''));
  if (exact) return { kind: 'exact', version: exact.version };
  if (value && validRange(value)) return { kind: 'range', range: new Range(value), text: value };
  throw new UserError(`${where.submodule ? `submodule '${q(where.submodule)}': ` : ''}'${q(value)}' is not a version policy.`, {
    input: where.input,
    fix: `use latest, minor, patch, pin, an exact version (1.3.0) or a range (^1.2, ~1.4)${where.submodule ? `, as 'relevo-version = …' under [submodule "${q(where.submodule)}"] in .gitmodules` : ''}.`,
  });
}

export function describePolicy(p: Policy): string {
  switch (p.kind) {
    case 'exact':
      return p.version;
    case 'range':
      return p.text;
    default:
      return p.kind;
  }
}

/**
 * Which pre-releases a branch may pin: none on a final branch; release candidates on any
 * pre-release channel, plus that channel's own label (dev builds may pin dev versions); every
 * pre-release with `allowPrerelease`.
 */
export interface Eligibility {
  channelLabel: string;
  allowPrerelease: boolean;
}

export function eligible(t: ComponentTag, e: Eligibility): boolean {
  const label = t.version.prerelease[0];
  if (label === undefined) return true;
  if (e.allowPrerelease) return true;
  if (!e.channelLabel) return false;
  return label === 'rc' || label === e.channelLabel;
}

export type Decision =
  | { action: 'update'; target: ComponentTag; change: BumpLevel; why: string }
  | { action: 'keep'; why: string; warning?: string }
  | { action: 'skip'; why: string; warning: string };

export interface DecisionInput {
  name: string;
  policy: Policy;
  /** The component's version tags, highest first. */
  tags: ComponentTag[];
  /** The tag the pinned commit carries, if any. */
  current?: ComponentTag;
  /** The pinned commit (for messages). */
  commit?: string;
  eligibility: Eligibility;
}

/** What happens to one submodule. A pinned version that does not exist is an error (all or nothing). */
export function decideSubmodule(i: DecisionInput): Decision {
  if (!i.tags.length)
    return { action: 'skip', why: 'no version tags', warning: `${q(i.name)}: its remote has no version tags; left as it is.` };
  const from = i.current?.version;
  if (i.policy.kind === 'pin') return { action: 'keep', why: 'pinned (policy pin)' };
  if (i.policy.kind === 'exact') {
    const version = i.policy.version;
    const target = i.tags.find((t) => t.version.version === version);
    if (!target) {
      throw new UserError(`submodule '${q(i.name)}' is pinned to ${version}, but its remote has no tag for that version.`, {
        fix: `tag ${version} in the component, or change 'relevo-version' for '${q(i.name)}' in .gitmodules. Nothing was committed or pushed.`,
      });
    }
    if (target.commit === i.commit) return { action: 'keep', why: `at ${version} as pinned` };
    return { action: 'update', target, change: changeBetween(from, target.version), why: `pinned to ${version}` };
  }
  const allowed = i.tags.filter((t) => eligible(t, i.eligibility));
  let candidates: ComponentTag[];
  if (i.policy.kind === 'latest') candidates = allowed;
  else if (i.policy.kind === 'range') {
    const range = i.policy.range;
    const withPre = new Range(range.raw, { includePrerelease: true });
    candidates = allowed.filter((t) => (t.version.prerelease.length ? withPre : range).test(t.version));
  } else {
    if (!from) {
      return {
        action: 'keep',
        why: `the pinned commit carries no version tag, so '${i.policy.kind}' has nothing to follow`,
        warning: `${q(i.name)}: the pinned commit ${i.commit?.slice(0, 12) ?? '(none)'} carries no version tag; '${i.policy.kind}' needs one. Set 'relevo-version' to latest or a range to move it.`,
      };
    }
    // Never a breaking step: below 1.0.0 the minor (0.y) or the patch (0.0.z) is the breaking part.
    const sameMinor = i.policy.kind === 'patch';
    candidates = allowed.filter((t) => !isBreaking(from, t.version) && (!sameMinor || t.version.minor === from.minor));
  }
  const best = candidates[0];
  if (!best) {
    return {
      action: 'keep',
      why: `no version matches '${describePolicy(i.policy)}'`,
      warning: `${q(i.name)}: no eligible version matches '${describePolicy(i.policy)}'; the pin stays.`,
    };
  }
  if (best.commit === i.commit) return { action: 'keep', why: `already at the newest match (${best.version.version})` };
  // Never move backwards on a moving policy: a newer pin than any match stays.
  if (from && best.version.compare(from) <= 0)
    return { action: 'keep', why: `${from.version} is already at or above the newest match (${best.version.version})` };
  return {
    action: 'update',
    target: best,
    change: changeBetween(from, best.version),
    why: `newest match for '${describePolicy(i.policy)}'`,
  };
}
