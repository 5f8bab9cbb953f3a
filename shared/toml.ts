/**
 * Reading TOML (pyproject.toml): one parser and one way of saying where a document is broken,
 * for the version files (versioning/versionFiles.ts, which also finds where each value is
 * written to edit it in place) and the Python project (python/project.ts).
 */
import { parse, TomlError } from 'smol-toml';

export type TomlTable = Record<string, unknown>;

/** The document's tables and values, or the parser's first line and where it stopped ("… (line 3, column 7)"). */
export function parseToml(text: string): { table: TomlTable } | { error: string } {
  try {
    return { table: parse(text) as TomlTable };
  } catch (err) {
    const first = (err as Error).message.split('\n')[0].replace(/^Invalid TOML document:\s*/, '');
    const where = err instanceof TomlError ? ` (line ${err.line}, column ${err.column})` : '';
    return { error: `${first}${where}` };
  }
}

/** `value` when it is a TOML table (not an array or a date). */
export function tomlTable(value: unknown): TomlTable | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date) ? (value as TomlTable) : undefined;
}
