/**
 * The version, decided from what the history says: plain data in, plain data out. VersionBump
 * (shared/release) and PromoteBranch (shared/promotion) both decide through here.
 */
import type { Channel } from './channels';
import type { BumpLevel, CommitAnalysis } from './conventional';
import type { ComponentTag } from './history';
import { effectiveLevel, nextRelease, rcompare, SemVer } from './semver';
import { maxLevel } from './conventional';

/** The pre-release label of release candidates: a commit carrying one is released as it is. */
export const CANDIDATE_LABEL = 'rc';

/** Why the version is what it is: shown in the log and on the Summary tab. */
export type Reason =
  | { kind: 'already-tagged'; tag: string; onReleaseCommit: boolean }
  | { kind: 'promoted-candidate'; candidate: string }
  | { kind: 'initial' }
  | { kind: 'no-relevant-commits' }
  | {
      kind: 'commits';
      level: BumpLevel;
      requested: 'auto' | BumpLevel;
      zeroMajor: boolean;
      pastRelease?: string;
      /** What the commit messages ask for, and (orchestrations) what the component changes ask for. */
      fromCommits: BumpLevel;
      fromComponents?: BumpLevel;
    };

/** The release a version belongs to: 1.3.0 for 1.3.0-rc.2. */
export const releaseOf = (v: SemVer) => `${v.major}.${v.minor}.${v.patch}`;

export interface VersionInputs {
  /** The tag HEAD already carries for this channel, if any. */
  released?: { tag: ComponentTag; onReleaseCommit: boolean };
  /** The rc tag on HEAD that a final branch releases as it is. */
  promoted?: ComponentTag;
  base?: ComponentTag;
  analysis: CommitAnalysis;
  /** Orchestrations: the highest level the component changes since the base ask for. */
  componentLevel?: BumpLevel;
  bump: 'auto' | BumpLevel;
  /** The channel's pre-release label; empty for finals. */
  label: string;
  initial: string;
  tags: ComponentTag[];
  /** Final release tags, highest first. */
  finals: ComponentTag[];
}

/** The version and why, from what the history says. Plain data in, plain data out. */
export function decideVersion(i: VersionInputs): { version: string; reason: Reason } {
  if (i.released) {
    return {
      version: i.released.tag.version.version,
      reason: { kind: 'already-tagged', tag: i.released.tag.name, onReleaseCommit: i.released.onReleaseCommit },
    };
  }
  if (i.promoted) return { version: releaseOf(i.promoted.version), reason: { kind: 'promoted-candidate', candidate: i.promoted.name } };
  if (!i.base) return { version: withLabel(i.initial, i.label, i.tags), reason: { kind: 'initial' } };
  const found = i.componentLevel ? maxLevel(i.analysis.level, i.componentLevel) : i.analysis.level;
  const requested = i.bump === 'auto' ? found : i.bump;
  // Only a breaking change found in the commits stays in 0.x; an explicit major (input or +semver hint) goes to 1.0.0.
  const level = i.bump === 'auto' && !i.analysis.explicitMajor ? effectiveLevel(i.base.version, requested) : requested;
  if (level === 'none') return { version: i.base.version.version, reason: { kind: 'no-relevant-commits' } };
  let next = nextRelease(i.base.version, level);
  let pastRelease: string | undefined;
  if (i.label) {
    // A pre-release of a version already released elsewhere would sort below it: move past.
    while (i.finals.some((t) => t.version.version === next)) {
      pastRelease = next;
      next = nextRelease(new SemVer(next), 'patch');
    }
  }
  return {
    version: withLabel(next, i.label, i.tags),
    reason: {
      kind: 'commits',
      level,
      requested: i.bump,
      zeroMajor: level !== requested,
      pastRelease,
      fromCommits: i.analysis.level,
      fromComponents: i.componentLevel,
    },
  };
}

/** The highest of some tags. */
export function highest(tags: ComponentTag[]): ComponentTag | undefined {
  return [...tags].sort((a, b) => rcompare(a.version, b.version))[0];
}

/** Whether a tag on HEAD means HEAD is already released on this channel (a final counts on any). */
export function fitsChannel(t: ComponentTag, channel: Channel): boolean {
  return !t.version.prerelease.length || (channel.label !== '' && t.version.prerelease[0] === channel.label);
}

export function withLabel(version: string, label: string, tags: ComponentTag[]): string {
  if (!label) return version;
  let highestN = 0;
  for (const t of tags) {
    const v = t.version;
    if (releaseOf(v) !== version || v.prerelease[0] !== label) continue;
    const n = v.prerelease[1];
    if (typeof n === 'number' && n > highestN) highestN = n;
  }
  return `${version}-${label}.${highestN + 1}`;
}
