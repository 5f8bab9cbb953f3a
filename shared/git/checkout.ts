/**
 * What a plain checkout's own files say about it, without starting git: every task opens its
 * repository first, and each git process costs a fork of the Node process (1.5–2 ms of its CPU)
 * plus git's own start. Only the layout agents make is read here; anything else is git's to answer.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface CheckoutState {
  top: string;
  shallow: boolean;
  head: string;
  shallowFile: string;
}

const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * HEAD, the top level and shallowness when `dir` is the top of a plain checkout: `<dir>/.git` is
 * a folder owned by this user (git refuses others' repositories unless safe.directory allows
 * them: git says so itself), HEAD is detached at a commit (as agents check out) or on a branch
 * whose ref is a loose file or a packed-refs line. Undefined otherwise (a subfolder, a linked
 * work tree or submodule, GIT_DIR and friends, an unborn branch, reftable), and then git answers.
 */
export function readCheckout(dir: string, env: NodeJS.ProcessEnv = process.env): CheckoutState | undefined {
  if (env.GIT_DIR || env.GIT_WORK_TREE || env.GIT_COMMON_DIR || typeof process.getuid !== 'function') return undefined;
  const gitDir = join(dir, '.git');
  try {
    const stat = statSync(gitDir);
    if (!stat.isDirectory() || stat.uid !== process.getuid() || existsSync(join(gitDir, 'commondir'))) return undefined;
    const head = resolveHead(gitDir, readFileSync(join(gitDir, 'HEAD'), 'utf8').trim());
    if (!head) return undefined;
    const shallowFile = join(gitDir, 'shallow');
    const shallow = existsSync(shallowFile) && statSync(shallowFile).size > 0;
    return { top: realpathSync(dir), shallow, head, shallowFile };
  } catch {
    return undefined;
  }
}

function resolveHead(gitDir: string, head: string): string | undefined {
  if (SHA.test(head)) return head;
  const ref = /^ref: (refs\/heads\/[^\s]+)$/.exec(head)?.[1];
  if (!ref || ref.split('/').some((part) => part === '..' || part === '')) return undefined;
  const loose = join(gitDir, ref);
  if (existsSync(loose)) {
    const sha = readFileSync(loose, 'utf8').trim();
    return SHA.test(sha) ? sha : undefined;
  }
  const packed = join(gitDir, 'packed-refs');
  if (!existsSync(packed)) return undefined;
  for (const line of readFileSync(packed, 'utf8').split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0 && line.slice(space + 1).trimEnd() === ref) {
      const sha = line.slice(0, space);
      return SHA.test(sha) ? sha : undefined;
    }
  }
  return undefined;
}
