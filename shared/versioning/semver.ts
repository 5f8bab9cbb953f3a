// The three modules used, not semver's index (which loads all of its ~40 modules at start-up).
import SemVer from 'semver/classes/semver';
import parseSemver from 'semver/functions/parse';
import rcompare from 'semver/functions/rcompare';
import type { BumpLevel } from './conventional';

export { SemVer, rcompare };

/** Strict SemVer 2.0 parse (no leading `v`, no loose forms); undefined when not a version. */
export function parseVersion(text: string): SemVer | undefined {
  const trimmed = text.trim();
  // semver.parse forgives a leading `v` or `=`; a version field or tag payload must not have one.
  if (!/^\d/.test(trimmed)) return undefined;
  return parseSemver(trimmed, { loose: false }) ?? undefined;
}

/**
 * The level actually applied: while the major is 0 a breaking change bumps the minor
 * (SemVer §4: anything may change in 0.y.z, so teams keep 1.0.0 for the first stable API).
 */
export function effectiveLevel(base: SemVer, level: BumpLevel): BumpLevel {
  return level === 'major' && base.major === 0 ? 'minor' : level;
}

/** The next release version (no pre-release part). */
export function nextRelease(base: SemVer, level: BumpLevel): string {
  if (level === 'none') return base.version;
  const next = new SemVer(`${base.major}.${base.minor}.${base.patch}`);
  return next.inc(level).version;
}

/** The level that separates two release versions, for reporting. */
export function levelBetween(from: SemVer | undefined, to: SemVer): BumpLevel {
  if (!from) return 'none';
  if (to.major !== from.major) return 'major';
  if (to.minor !== from.minor) return 'minor';
  if (to.patch !== from.patch) return 'patch';
  return 'none';
}

/**
 * Whether `to` may break what `from` offered, under SemVer's 0.x rule as npm's caret reads it:
 * the first part that is not zero is the breaking one (1.x → 2.x, 0.1.x → 0.2.x, 0.0.1 → 0.0.2).
 */
export function isBreaking(from: SemVer, to: SemVer): boolean {
  if (to.major !== from.major) return true;
  if (from.major === 0 && to.minor !== from.minor) return true;
  return from.major === 0 && from.minor === 0 && to.patch !== from.patch;
}

/**
 * The change between two versions, for component pins: a breaking step (`isBreaking`, so
 * 0.1.0 → 0.9.0 too) is major; a pre-release-only step counts as a patch; none before → minor
 * (an addition).
 */
export function changeBetween(from: SemVer | undefined, to: SemVer): BumpLevel {
  if (!from) return 'minor';
  if (isBreaking(from, to)) return 'major';
  const level = levelBetween(from, to);
  return level === 'none' && from.compare(to) !== 0 ? 'patch' : level;
}
