/**
 * A REST shim: an HTTP proxy on 127.0.0.1 put between a task and a contract server, as GitShim
 * is put between a task and git. It counts the task's calls, and can
 * - fail the k-th answer (`failAt(k)`): with the call never sent on (`forward: false`: the
 *   server did nothing) or sent on and its answer replaced (`forward: true`: the server acted,
 *   the task is told it failed), a status and body of the test's choosing;
 * - hold the answer to a call matching a method and path (`hold`): the call is sent on, the
 *   server acts, and its answer is kept back (a flag file is touched when the answer is held,
 *   for runTask's `cancel.whenFile`) until `releaseAfterMs` or the shim stops. Whether the task
 *   abandoned the held call (closed its connection) and when, is recorded.
 * Every call is recorded in order, the undo's own calls too.
 */
import { writeFileSync } from 'node:fs';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenLocal } from './localServer';

export interface ShimCall {
  /** 1-based, in the order the calls arrived. */
  n: number;
  method: string;
  path: string;
  at: number;
  /** The status the task was given (undefined while held or abandoned). */
  status?: number;
  /** The answer was replaced by the fault (`before`: the server never saw the call). */
  failed?: 'before' | 'after';
  held?: boolean;
  /** When the task closed the connection before it had the answer. */
  abandonedAt?: number;
}

export interface ShimFault {
  /** Send the call on (the server acts) and replace its answer; default false (the server never sees it). */
  forward?: boolean;
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Touched once the fault's answer is sent (for runTask's `cancel.whenFile`). */
  flagFile?: string;
}

export interface RestShim {
  url: string;
  calls: ShimCall[];
  /** Fails the k-th call (1-based; 0: none). */
  failAt(k: number, fault?: ShimFault): RestShim;
  /** Holds the answer to the `nth` (default first) call matching `method` and `path` (once). */
  hold(match: { method?: string; path: string | RegExp }, options: { flagFile: string; releaseAfterMs?: number; nth?: number }): RestShim;
  stop(): Promise<void>;
}

export async function startRestShim(target: string): Promise<RestShim> {
  const upstream = new URL(target);
  const calls: ShimCall[] = [];
  let failAt = 0;
  let fault: ShimFault = {};
  let holds: Array<{ method?: string; path: string | RegExp; flagFile: string; releaseAfterMs?: number; nth?: number; seen: number }> = [];
  const timers = new Set<NodeJS.Timeout>();

  const forward = (
    req: IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const out = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: upstream.host },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      out.on('error', reject);
      out.end(body);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const method = (req.method ?? 'GET').toUpperCase();
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    const call: ShimCall = { n: calls.length + 1, method, path, at: Date.now() };
    calls.push(call);
    res.on('close', () => {
      if (!res.writableEnded) call.abandonedAt = Date.now();
    });
    const answer = (status: number, headers: Record<string, string | string[] | undefined>, payload: Buffer | string) => {
      if (res.destroyed) return;
      call.status = status;
      const h: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(headers))
        if (v !== undefined && !/^(connection|transfer-encoding|keep-alive)$/i.test(k)) h[k] = v;
      h['content-length'] = String(Buffer.byteLength(payload));
      res.writeHead(status, h);
      res.end(method === 'HEAD' ? undefined : payload);
    };
    const failing = call.n === failAt;
    const failed = () => {
      answer(
        fault.status ?? 500,
        { 'content-type': 'application/json', ...fault.headers },
        JSON.stringify(fault.body ?? { error_code: 'INTERNAL_ERROR', message: 'failed by the REST shim' }),
      );
      if (fault.flagFile) writeFileSync(fault.flagFile, `${call.n}\n`);
    };
    if (failing && !fault.forward) {
      call.failed = 'before';
      return failed();
    }
    const upstreamAnswer = await forward(req, body);
    if (failing) {
      call.failed = 'after';
      return failed();
    }
    const hold = holds.find(
      (h) =>
        (!h.method || h.method.toUpperCase() === method) &&
        (typeof h.path === 'string' ? path.includes(h.path) : h.path.test(path)) &&
        ++h.seen === (h.nth ?? 1),
    );
    if (hold) {
      holds = holds.filter((h) => h !== hold);
      call.held = true;
      writeFileSync(hold.flagFile, `${call.n}\n`);
      if (hold.releaseAfterMs !== undefined) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          answer(upstreamAnswer.status, upstreamAnswer.headers, upstreamAnswer.body);
        }, hold.releaseAfterMs);
        timers.add(timer);
      }
      return;
    }
    answer(upstreamAnswer.status, upstreamAnswer.headers, upstreamAnswer.body);
  };

  const { port, stop } = await listenLocal(handle);
  const shim: RestShim = {
    url: `http://127.0.0.1:${port}`,
    calls,
    failAt(k, f = {}) {
      failAt = k;
      fault = f;
      return shim;
    },
    hold(match, options) {
      holds.push({ ...match, ...options, seen: 0 });
      return shim;
    },
    async stop() {
      for (const t of timers) clearTimeout(t);
      await stop();
    },
  };
  return shim;
}
