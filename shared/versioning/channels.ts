import { UserError } from '../errors';

/**
 * A branch channel says what kind of version a branch produces: a final release (empty label)
 * or a pre-release with a label (`rc`, `dev`, ...). Patterns are matched against the branch name
 * without `refs/heads/`; `*` matches any run of characters, `/` included. First match wins.
 */
export interface ChannelRule {
  pattern: string;
  label: string;
}

export const DEFAULT_BRANCH_CHANNELS = 'pro=\nmain=\nmaster=\npre=rc\nrelease/*=rc\nhotfix/*=rc\ndev=dev\ndevelop=dev';

const LABEL = /^[0-9A-Za-z-]*$/;

export function parseBranchChannels(text: string, inputName = 'branchChannels'): ChannelRule[] {
  const rules: ChannelRule[] = [];
  for (const entry of text
    .split(/[\n,;]/)
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = entry.indexOf('=');
    if (eq <= 0) {
      throw new UserError(`'${entry}' is not of the form 'branchPattern=label'.`, {
        input: inputName,
        fix: "write one rule a line, e.g. 'main=' for final releases or 'release/*=rc' for release candidates.",
      });
    }
    const pattern = entry.slice(0, eq).trim();
    const label = entry.slice(eq + 1).trim();
    if (!LABEL.test(label) || /^\d+$/.test(label)) {
      throw new UserError(`the label '${label}' for '${pattern}' is not a valid SemVer pre-release identifier.`, {
        input: inputName,
        fix: 'use letters, digits and hyphens only, not all digits (e.g. rc, dev, beta), or leave it empty for final releases.',
      });
    }
    rules.push({ pattern, label });
  }
  return rules;
}

/** `*` matches any run of characters, `/` included; nothing else is special. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`);
}

/** A SemVer-safe pre-release label made from a branch name: `feature/My_Thing` → `feature-my-thing`. */
export function labelFromBranch(branch: string): string {
  const label = branch
    .toLowerCase()
    .replace(/[^0-9a-z-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-|-$/g, '');
  if (!label) return 'branch';
  return /^\d+$/.test(label) ? `b${label}` : label;
}

export interface Channel {
  /** Empty for final releases. */
  label: string;
  /** The rule that matched, or undefined when the label came from the branch name. */
  rule?: ChannelRule;
}

export function channelFor(branch: string, rules: ChannelRule[]): Channel {
  for (const rule of rules) {
    if (globToRegExp(rule.pattern).test(branch)) return { label: rule.label, rule };
  }
  return { label: labelFromBranch(branch) };
}
