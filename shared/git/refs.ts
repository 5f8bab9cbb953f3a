/**
 * git's rules for ref names (git-check-ref-format), for names the core makes up: no
 * component starting with `.` or ending with `.lock`, no `..`, `//`, `@{`, control
 * characters, space, `~ ^ : ? * [ \`, and no trailing `/` or `.`.
 */
export function isValidRefName(name: string): boolean {
  if (!name || name === '@' || name.endsWith('/') || name.endsWith('.') || name.startsWith('/')) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f~^:?*[\\]|\.\.|\/\/|@\{/.test(name)) return false;
  return name.split('/').every((part) => part && !part.startsWith('.') && !part.endsWith('.lock'));
}
