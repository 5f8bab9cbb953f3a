/** What a component change is, as VersionBump's plan, changelog and Summary speak of it (read by shared/submodules/changes.ts). */
import { maxLevel, type BumpLevel } from './conventional';

export interface ComponentEnd {
  commit: string;
  /** The tag the commit carries (its highest version); undefined when untagged or not looked up. */
  tag?: string;
  version?: string;
}

export interface ComponentChange {
  /** The submodule's name in .gitmodules (its path when .gitmodules does not name it). */
  name: string;
  /** Where it is pinned at the new commit (at the old one when removed). */
  path: string;
  kind: 'updated' | 'added' | 'removed';
  /** The component's remote, resolved and without credentials; undefined when removed. */
  url?: string;
  from?: ComponentEnd;
  to?: ComponentEnd;
  /** What it asks of the orchestration: added → minor, removed → major, else the version change. */
  change: BumpLevel;
  /** True when an end that was looked up carries no version tag (then counted as a patch). */
  untagged?: boolean;
}

export function componentLevel(changes: readonly ComponentChange[]): BumpLevel {
  return changes.reduce<BumpLevel>((level, c) => maxLevel(level, c.change), 'none');
}

/** `ingest v1.0.0 → v2.0.0 (major)`, `reporting added at v1.0.0 (minor)`, `legacy removed (major)`. */
export function describeChange(c: ComponentChange): string {
  const end = (e: ComponentEnd | undefined) => (e ? (e.tag ?? `${e.commit.slice(0, 12)} (untagged)`) : '?');
  if (c.kind === 'added') return `${c.name} added at ${end(c.to)} (${c.change})`;
  if (c.kind === 'removed') return `${c.name} removed (${c.change})`;
  return `${c.name} ${end(c.from)} → ${end(c.to)} (${c.change})`;
}
