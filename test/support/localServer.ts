/**
 * An HTTP server for contract tests: 127.0.0.1 only, a random port, stopped by `stop()` (open
 * sockets destroyed, so a hanging request ends too) and by itself after `lifetimeMs`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export async function listenLocal(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  lifetimeMs = 120_000,
): Promise<{ port: number; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= new Promise<void>((resolve) => {
      clearTimeout(lifetime);
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
    return stopped;
  };
  const lifetime = setTimeout(() => void stop(), lifetimeMs);
  lifetime.unref();
  return { port: (server.address() as { port: number }).port, stop };
}

/** A fault a contract server injects: the next `times` requests matching method and path get this answer (or none). */
export interface Fault {
  method?: string;
  /** Matched against the path, case-insensitively: a substring or a RegExp. */
  path: string | RegExp;
  /** How many requests it applies to (default 1; Infinity for all). */
  times?: number;
  status?: number;
  headers?: Record<string, string>;
  /** JSON body (an object) or raw text. Default: the service's own error body for the status. */
  body?: unknown;
  /** Never answer (the socket stays open until the client gives up or the server stops). */
  hang?: boolean;
}
