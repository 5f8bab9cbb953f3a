/**
 * Files a task writes in a repository: links resolved (never written through to outside the
 * repository), bytes written as given, and every change undoable, including files and folders
 * the task created.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { journal as runJournal, type UndoJournal } from './undo';

export function isInside(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * The file that writing `path` really changes: symbolic links (of the file or of a folder on
 * its way) resolved; for a file that does not exist yet, its nearest existing folder resolved.
 * `escapes` is set when `path` itself lies inside `root` but a link takes it outside.
 */
export function resolveWriteTarget(path: string, root: string): { target: string; isLink: boolean; escapes: boolean } {
  const realRoot = realpathSync(root);
  let existing = path;
  const rest: string[] = [];
  while (!existsSync(existing)) {
    if (isLink(existing)) throw Object.assign(new Error(`'${path}' is a link to a file that does not exist`), { code: 'EDANGLING' });
    rest.unshift(basename(existing));
    const up = dirname(existing);
    if (up === existing) break;
    existing = up;
  }
  const target = join(realpathSync(existing), ...rest);
  const lexicallyInside = isInside(path, root) || isInside(path, realRoot);
  return { target, isLink: target !== path && isLink(path), escapes: lexicallyInside && !isInside(target, realRoot) };
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Reads a file as bytes; undefined when it does not exist. */
export function readOptionalBytes(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Writes files and remembers how to undo each write: the original bytes, or that the file (and
 * the folders made for it) did not exist. Each file is registered with the run's undo journal
 * before its first write, so a failure or a cancellation puts it back even when the code that
 * wrote it never reaches its own `restore()`.
 */
export class FileChanges {
  private readonly originals = new Map<string, Buffer | undefined>();
  private readonly createdDirs: string[] = [];
  private readonly forget: (() => void)[] = [];

  constructor(private readonly journal: UndoJournal = runJournal) {}

  write(path: string, bytes: Buffer): void {
    if (!this.originals.has(path)) {
      this.originals.set(path, readOptionalBytes(path));
      this.forget.push(this.journal.register(`the file ${path}`, () => this.restorePath(path)));
    }
    const made = mkdirSync(dirname(path), { recursive: true });
    // mkdirSync returns the first folder it created; every folder from there down is new.
    if (made) for (let d = dirname(path); isInside(d, made); d = dirname(d)) this.createdDirs.push(d);
    writeFileSync(path, bytes);
  }

  /** The paths written so far, in order. */
  get written(): string[] {
    return [...this.originals.keys()];
  }

  /** The writes are part of what stays (committed and pushed): the journal no longer puts them back. */
  keep(): void {
    for (const f of this.forget.splice(0)) f();
    this.originals.clear();
    this.createdDirs.length = 0;
  }

  /** Puts every file back as it was; removes the files and folders that were created. */
  restore(): void {
    for (const path of [...this.originals.keys()].reverse()) this.restorePath(path);
    for (const f of this.forget.splice(0)) f();
  }

  private restorePath(path: string): void {
    if (!this.originals.has(path)) return;
    const bytes = this.originals.get(path);
    if (bytes === undefined) rmSync(path, { force: true });
    else writeFileSync(path, bytes);
    this.originals.delete(path);
    if (this.originals.size) return;
    for (const dir of this.createdDirs.sort((a, b) => b.length - a.length)) {
      try {
        rmdirSync(dir);
      } catch {
        // not empty: something else lives there now
      }
    }
    this.createdDirs.length = 0;
  }
}
