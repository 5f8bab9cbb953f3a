import { UserError } from '../errors';
import { isValidRefName } from '../git/refs';
import { parseVersion, type SemVer } from './semver';

/**
 * A tag format such as `v{version}` or `{component}/v{version}` (monorepos): how a version is
 * written as a tag, and the other way round.
 */
export interface TagFormat {
  format: string;
  /** A for-each-ref / ls-remote pattern that lists only this component's tags. */
  refPattern: string;
  tagFor(version: string): string;
  /** The version a tag name stands for, or undefined when the tag is not this component's. */
  versionOf(tagName: string): SemVer | undefined;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function parseTagFormat(format: string, component: string): TagFormat {
  const placeholders = format.match(/\{[^}]*\}/g) ?? [];
  const versionCount = placeholders.filter((p) => p === '{version}').length;
  if (versionCount !== 1) {
    throw new UserError(`'${format}' must contain '{version}' exactly once.`, {
      input: 'tagFormat',
      fix: "use e.g. 'v{version}', or '{component}/v{version}' for several components in one repository.",
    });
  }
  const unknown = placeholders.filter((p) => p !== '{version}' && p !== '{component}');
  if (unknown.length) {
    throw new UserError(`unknown placeholder ${unknown.join(', ')} in '${format}'.`, {
      input: 'tagFormat',
      fix: "only '{version}' and '{component}' are replaced.",
    });
  }
  if (format.includes('{component}') && !component) {
    throw new UserError(`'${format}' uses '{component}' but no component is set.`, {
      input: 'component',
      fix: "set 'component' to the component's name (e.g. ingest), or remove '{component}' from 'tagFormat'.",
    });
  }
  // `/` separates parts, as in the names `git submodule add` gives (components/ingest).
  if (component && !/^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/.test(component)) {
    throw new UserError(`'${component}' cannot be used in a tag name.`, {
      input: 'component',
      fix: 'use letters, digits, dots, hyphens and underscores (and / between parts).',
    });
  }
  const withComponent = format.split('{component}').join(component);
  const [before, after] = withComponent.split('{version}');
  if (!isValidRefName(`${before}1.0.0-rc.1${after}`)) {
    throw new UserError(`'${format}'${component ? ` with component '${component}'` : ''} does not give valid git tag names.`, {
      input: 'tagFormat',
      fix: "avoid spaces, '~', '^', ':', '?', '*', '[', '\\', '..', '//', '@{', parts starting with '.' or ending in '.lock'.",
    });
  }
  // Text right after the version that SemVer could read as part of it (`{version}-{component}`)
  // would make `2.0.0-web-api` read as api's pre-release `2.0.0-web`.
  if (/^[0-9A-Za-z.+-]/.test(after)) {
    throw new UserError(`'${format}' puts text right after '{version}' that could be read as part of a version.`, {
      input: 'tagFormat',
      fix: "put the component before the version, e.g. '{component}/v{version}', or end the format with '{version}'.",
    });
  }
  const matcher = new RegExp(`^${escape(before)}(.+)${escape(after)}$`);
  return {
    format,
    refPattern: `refs/tags/${before}*`,
    tagFor: (version) => `${before}${version}${after}`,
    versionOf(tagName) {
      const m = matcher.exec(tagName);
      return m ? parseVersion(m[1]) : undefined;
    },
  };
}
