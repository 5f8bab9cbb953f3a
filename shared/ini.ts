/**
 * setup.cfg-style INI, read as setuptools reads it: `[section]` headers (spaces allowed inside
 * the brackets), `key = value` or `key: value`, values continued on indented lines, `#` and `;`
 * comment lines. Used by the version files (VersionBump) and the project reader (BuildWheel).
 */

/** `s` as a literal inside a regular expression. */
export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The offsets of a section's body (after its header line, up to the next header). */
export function iniSection(text: string, name: string): [number, number] | undefined {
  const m = new RegExp(`^[ \\t]*\\[[ \\t]*${escapeRegex(name)}[ \\t]*\\][ \\t]*\\r?$`, 'm').exec(text);
  if (!m) return undefined;
  const start = m.index + m[0].length;
  const next = /^[ \t]*\[/m.exec(text.slice(start));
  return [start, next ? start + next.index : text.length];
}

/** A key's value in a section, continuation lines joined with newlines; undefined when absent. */
export function iniValue(text: string, section: string, key: string): string | undefined {
  const range = iniSection(text, section);
  if (!range) return undefined;
  const lines = text.slice(range[0], range[1]).split(/\r?\n/);
  const at = lines.findIndex((l) => new RegExp(`^${escapeRegex(key)}[ \\t]*[=:]`).test(l));
  if (at < 0) return undefined;
  const value = [lines[at].replace(/^[^=:]*[=:]/, '')];
  for (const line of lines.slice(at + 1)) {
    if (!/^[ \t]+\S/.test(line)) break;
    value.push(line);
  }
  return (
    value
      .map((l) => l.trim())
      .filter((l) => l && !/^[#;]/.test(l))
      .join('\n') || undefined
  );
}
