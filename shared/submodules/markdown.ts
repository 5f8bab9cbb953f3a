/**
 * Text from outside (submodule names and paths, tags, commit subjects) in a Markdown table
 * cell: the Summary tab and pull request descriptions are rendered as HTML, so `|`, `<`, `>`,
 * backticks and backslashes are escaped, and a line break (CR or LF) becomes a space: a cell
 * stays one cell.
 */
export function markdownCell(text: string): string {
  return text.replace(/\r\n|\r|\n/g, ' ').replace(/[\\`<>|]/g, (c) => `\\${c}`);
}

/** A path as inline code in a table cell; escaped text when it holds a backtick (a code span cannot escape one). */
export function markdownCode(text: string): string {
  const flat = text.replace(/\r\n|\r|\n/g, ' ');
  return flat.includes('`') ? markdownCell(flat) : `\`${flat.replace(/\|/g, '\\|')}\``;
}
