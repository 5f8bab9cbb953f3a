/**
 * A component's released versions, read from its remote with one `git ls-remote --tags` (no
 * clone; annotated tags peeled to their commits), and the version a pinned commit stands for.
 */
import type { Git, TagRef } from '../git';
import { rcompare } from '../versioning/semver';
import type { ComponentTag } from '../versioning/history';
import type { TagFormat } from '../versioning/tagFormat';

/** This component's version tags on `url`, highest first. */
export async function componentTags(git: Git, url: string, format: TagFormat): Promise<ComponentTag[]> {
  return versionTags(await git.remoteRefs(url, [format.refPattern], 'listing tags'), format);
}

/** The refs that are this component's version tags, highest first. */
export function versionTags(refs: TagRef[], format: TagFormat): ComponentTag[] {
  const tags: ComponentTag[] = [];
  for (const r of refs) {
    const version = format.versionOf(r.name);
    if (version) tags.push({ name: r.name, commit: r.commit, version });
  }
  return tags.sort((a, b) => rcompare(a.version, b.version));
}

/** The version a commit carries: its highest tag (a final over its candidates); undefined when untagged. */
export function versionAt(tags: ComponentTag[], commit: string | undefined): ComponentTag | undefined {
  return commit ? tags.find((t) => t.commit === commit) : undefined;
}
