/**
 * Text from outside (names, paths, tags, commit subjects, server messages, data) in the
 * Markdown of a Summary tab or a pull request description. Azure DevOps renders both as
 * GitHub-flavoured Markdown with HTML, so foreign text must stay text: one line, one table
 * cell, no emphasis, link, code span or HTML of its own. Every summary writes foreign text
 * through these functions and nothing else.
 */

/** Line breaks as GFM knows them (CR, LF, CRLF) become a space: a cell or a list item stays one line. */
function oneLine(text: string): string {
  return text.replace(/\r\n|\r|\n/g, ' ');
}

/**
 * Foreign text as Markdown inline text, for a table cell, a list item, a quote or a heading.
 * Backslash escapes (CommonMark: any ASCII punctuation) keep every character as it is:
 * `\` `` ` `` `*` `~` `<` `>` `&` `[` `]` `|` always, `_` where it could start or end emphasis
 * (not inside a word, so `full_name` stays readable), and `#`, `+`, `-`, `=` or `1. ` at the
 * start, where they would begin a heading, a list or a rule.
 */
export function markdownText(text: string): string {
  return oneLine(text)
    .replace(/[\\`*~<>&[\]|]/g, (c) => `\\${c}`)
    .replace(/_/g, (c, i: number, s: string) =>
      /[\p{L}\p{N}]/u.test(s[i - 1] ?? '') && /[\p{L}\p{N}]/u.test(s[i + 1] ?? '') ? c : `\\${c}`,
    )
    .replace(/^(\s*)([#+=-])/, '$1\\$2')
    .replace(/^(\s*\d{1,9})([.)])(?=\s|$)/, '$1\\$2');
}

/**
 * Foreign text as an inline code span, fenced with more backticks than it holds (padded with a
 * space when it starts or ends with one). In a table (`inTable`) a `|` is written `\|`, which
 * GFM reads as part of the cell even in code; outside a table it would show the backslash.
 */
export function markdownCode(text: string, inTable = true): string {
  const flat = oneLine(text);
  if (!flat) return '';
  const content = inTable ? flat.replace(/\|/g, '\\|') : flat;
  const longest = Math.max(0, ...(flat.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = /^[` ]|[` ]$/.test(flat) ? ' ' : '';
  return `${fence}${pad}${content}${pad}${fence}`;
}

/**
 * A link to `url` labelled with `label` (Markdown already: escape foreign text in it first).
 * Only http(s) links are made (never `javascript:` and the like); characters that would end the
 * destination or the table cell (space, parentheses, `<`, `>`, `|`, backslash, backtick) are
 * percent-encoded. Anything else is shown as the label alone.
 */
export function markdownLink(label: string, url: string | undefined): string {
  if (!url || !/^https?:\/\/[^\s]/i.test(url)) return label;
  const safe = oneLine(url).replace(/[\s()<>|\\`]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
  return `[${label}](${safe})`;
}
