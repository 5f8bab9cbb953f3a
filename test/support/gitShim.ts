/**
 * A `git` placed first on a task's PATH, in front of the real one, for the tests that try a
 * task at every step: it counts the task's own git calls (not the ones git makes itself), can
 * make the k-th call fail, can run a script before or after a given subcommand (another run
 * pushing in between; a pause that a test cancels during), and can keep each call's
 * environment. `shim.env` goes into RunOptions.env.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './repo';

const REAL_GIT = execFileSync('sh', ['-c', 'command -v git']).toString().trim();

const SCRIPT = `#!/usr/bin/env bash
# Test shim: see test/support/gitShim.ts.
shim="$(cd "$(dirname "$0")" && pwd)"
if [ -n "$RELEVO_GIT_SHIM_INNER" ]; then exec "${REAL_GIT}" "$@"; fi
export RELEVO_GIT_SHIM_INNER=1
sub=""; skip=""
for a in "$@"; do
  if [ -n "$skip" ]; then skip=""; continue; fi
  case "$a" in -C|-c) skip=1 ;; -*) ;; *) sub="$a"; break ;; esac
done
exec 9>"$shim/lock"; flock 9
n=$(( $(cat "$shim/count" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$shim/count"
flock -u 9
printf '%s\\t%s\\n' "$n" "$*" >> "$shim/calls"
[ -f "$shim/keep-env" ] && env > "$shim/env-$n"
[ -f "$shim/before-$sub" ] && bash "$shim/before-$sub" "$n"
if [ "$n" = "$(cat "$shim/fail-at" 2>/dev/null)" ]; then echo "git shim: call $n ($sub) fails" >&2; exit 1; fi
if [ -f "$shim/after-$sub" ]; then
  "${REAL_GIT}" "$@"; status=$?
  bash "$shim/after-$sub" "$n"
  exit $status
fi
exec "${REAL_GIT}" "$@"
`;

export class GitShim {
  readonly dir = tempDir('relevo-git-shim-');

  constructor() {
    writeFileSync(join(this.dir, 'git'), SCRIPT);
    chmodSync(join(this.dir, 'git'), 0o755);
  }

  /** The PATH (and nothing else) a run needs to go through the shim. */
  get env(): Record<string, string> {
    return { PATH: `${this.dir}:${process.env.PATH}` };
  }

  /** Makes the k-th call fail (0: none) and starts counting again. */
  failAt(k: number): this {
    writeFileSync(join(this.dir, 'fail-at'), k ? String(k) : '');
    writeFileSync(join(this.dir, 'count'), '0');
    writeFileSync(join(this.dir, 'calls'), '');
    return this;
  }

  /** Runs `script` (bash) before every call of `subcommand` reaches git ($1 is the call's number). */
  before(subcommand: string, script: string): this {
    writeFileSync(join(this.dir, `before-${subcommand}`), script);
    return this;
  }

  /** Runs `script` after git has done every call of `subcommand`. */
  after(subcommand: string, script: string): this {
    writeFileSync(join(this.dir, `after-${subcommand}`), script);
    return this;
  }

  /** Keeps each call's environment (`envs()`). */
  keepEnvironments(): this {
    writeFileSync(join(this.dir, 'keep-env'), '');
    return this;
  }

  /** The calls made since the last failAt, as `git` arguments. */
  calls(): string[] {
    const file = join(this.dir, 'calls');
    return existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split('\t')[1])
      : [];
  }

  envs(): string[] {
    return readdirSync(this.dir)
      .filter((f) => f.startsWith('env-'))
      .map((f) => readFileSync(join(this.dir, f), 'utf8'));
  }
}
