/**
 * A `rename()` in front of libc's for a task's process (LD_PRELOAD; Linux with a C compiler):
 * the DuckDB engine swaps an environment in with two folder renames, and this is how a test
 * stops at any one of them without a hook in the product. It counts the renames of the
 * entries of one folder (`dir`: the targets' parent), and can make the k-th fail (EIO) or
 * pause before the k-th (after touching a flag file, which the runner's cancel waits for). The
 * pause happens in the libuv thread that runs the rename: the task's event loop, and so its
 * SIGINT handler, go on meanwhile, as they would with a slow file system. `shim.env` goes into
 * RunOptions.env.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './repo';

const SOURCE = `#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int counter;

/* An entry of dir itself (dir/name), not something deeper. */
static int in_dir(const char *path, const char *dir) {
  size_t n = strlen(dir);
  return strncmp(path, dir, n) == 0 && path[n] == '/' && strchr(path + n + 1, '/') == NULL;
}

int rename(const char *from, const char *to) {
  static int (*real)(const char *, const char *);
  if (!real) real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
  const char *dir = getenv("RELEVO_RENAME_DIR");
  if (!dir || !in_dir(from, dir)) return real(from, to);
  int k = __sync_add_and_fetch(&counter, 1);
  const char *log = getenv("RELEVO_RENAME_LOG");
  const char *fail_at = getenv("RELEVO_RENAME_FAIL_AT");
  const char *pause_at = getenv("RELEVO_RENAME_PAUSE_AT");
  if (log) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) { dprintf(fd, "%d\\t%s\\t%s\\n", k, from, to); close(fd); }
  }
  if (fail_at && atoi(fail_at) == k) { errno = EIO; return -1; }
  if (pause_at && atoi(pause_at) == k) {
    const char *flag = getenv("RELEVO_RENAME_FLAG");
    if (flag) { int fd = open(flag, O_WRONLY | O_CREAT, 0644); if (fd >= 0) close(fd); }
    const char *ms = getenv("RELEVO_RENAME_PAUSE_MS");
    long m = ms ? atol(ms) : 1000;
    struct timespec ts = { m / 1000, (m % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
  }
  return real(from, to);
}
`;

let built: string | undefined | null;

/** The compiled shim, or undefined where it cannot be built (not Linux, no C compiler). */
function library(): string | undefined {
  if (built !== undefined) return built ?? undefined;
  built = null;
  if (process.platform !== 'linux') return undefined;
  try {
    const dir = tempDir('relevo-rename-shim-');
    writeFileSync(join(dir, 'shim.c'), SOURCE);
    execFileSync('cc', ['-shared', '-fPIC', '-O2', '-o', join(dir, 'shim.so'), join(dir, 'shim.c'), '-ldl'], { stdio: 'pipe' });
    built = join(dir, 'shim.so');
  } catch {
    built = null;
  }
  return built ?? undefined;
}

export class RenameShim {
  private readonly work = tempDir('relevo-rename-');
  private settings: Record<string, string> = {};
  readonly flag = join(this.work, 'paused');
  private readonly log = join(this.work, 'renames');

  static available(): boolean {
    return !!library();
  }

  /** `dir`: the folder whose entries' renames count (absolute, as the task names them). */
  constructor(private readonly dir: string) {}

  /** Makes the k-th rename fail with EIO (0: none). */
  failAt(k: number): this {
    this.settings = { RELEVO_RENAME_FAIL_AT: String(k) };
    return this;
  }

  /** Pauses `ms` before the k-th rename, once the flag file exists. */
  pauseAt(k: number, ms: number): this {
    this.settings = { RELEVO_RENAME_PAUSE_AT: String(k), RELEVO_RENAME_PAUSE_MS: String(ms), RELEVO_RENAME_FLAG: this.flag };
    return this;
  }

  /** For one run: the environment, with a fresh count. */
  get env(): Record<string, string> {
    writeFileSync(this.log, '');
    rmSync(this.flag, { force: true });
    return { LD_PRELOAD: library()!, RELEVO_RENAME_DIR: this.dir, RELEVO_RENAME_LOG: this.log, ...this.settings };
  }

  /** The counted renames of the last run: "from → to", in order. */
  renames(): string[] {
    return readFileSync(this.log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t').slice(1).join(' → '));
  }
}
