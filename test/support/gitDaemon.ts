/**
 * A `git daemon` on 127.0.0.1 serving a folder of bare repositories, for tests that need a
 * network remote (shallow clones, fetch --deepen). Random port; stopped by PID; stops by
 * itself after a time limit even if a test forgets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';

export interface GitDaemon {
  url(repoName: string): string;
  stop(): void;
  pid: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function waitForPort(port: number, deadline: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`git daemon did not listen on ${port}`));
        else setTimeout(attempt, 25);
      });
    };
    attempt();
  });
}

export async function startGitDaemon(basePath: string, lifetimeMs = 5 * 60_000): Promise<GitDaemon> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    'git',
    [
      'daemon',
      '--reuseaddr',
      '--export-all',
      '--enable=receive-pack',
      `--base-path=${basePath}`,
      '--listen=127.0.0.1',
      `--port=${port}`,
      basePath,
    ],
    { stdio: 'ignore' },
  );
  const pid = child.pid!;
  const stop = () => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  const limit = setTimeout(stop, lifetimeMs);
  limit.unref();
  process.once('exit', stop);
  await waitForPort(port, Date.now() + 10_000);
  return { url: (name) => `git://127.0.0.1:${port}/${name}`, stop, pid };
}
