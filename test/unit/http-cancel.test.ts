/**
 * shared/clients/http.ts under a cancel: the attempt in flight and the wait before a retry end
 * at once with CancelledError; the attempt is handed the signal (for fetch); a wait between
 * polls ends too. The run's own cancelSignal is not fired here (it would cancel this process's
 * other tests): each case passes a signal of its own, as the policy allows.
 */
import { strict as assert } from 'node:assert';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connectDatabricks } from '../../shared/clients/databricks';
import { waitUnlessCancelled, withRetries } from '../../shared/clients/http';
import { CancelledError } from '../../shared/processes';

const never = () => new Promise<never>(() => undefined);

describe('HTTP calls under a cancel', () => {
  it('an attempt still running ends at once, and the attempt was given the signal', async () => {
    const controller = new AbortController();
    let given: AbortSignal | undefined;
    const started = Date.now();
    const call = withRetries(
      (_n, signal) => {
        given = signal;
        return never();
      },
      () => ({ retry: false }),
      { signal: controller.signal },
    );
    setTimeout(() => controller.abort(new CancelledError()), 20);
    await assert.rejects(call, CancelledError);
    assert.equal(given, controller.signal);
    assert.ok(Date.now() - started < 1000);
  });

  it('the wait before a retry ends at once, and no further attempt starts', async () => {
    const controller = new AbortController();
    let attempts = 0;
    const started = Date.now();
    const call = withRetries(
      async () => {
        attempts++;
        throw new Error('HTTP 503');
      },
      () => ({ retry: true, retryAfterMs: 20_000, reason: 'HTTP 503' }),
      { signal: controller.signal, maxTotalMs: 60_000 },
    );
    setTimeout(() => controller.abort(new CancelledError()), 50);
    await assert.rejects(call, CancelledError);
    assert.equal(attempts, 1);
    assert.ok(Date.now() - started < 1000, 'the 20 s wait ran on');
  });

  it('a wait between polls ends at once', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(waitUnlessCancelled(20_000, controller.signal), CancelledError);
    assert.ok(Date.now() - started < 1000);
  });

  it('the Databricks client aborts the request itself: the server sees the connection closed', async () => {
    let closed: () => void = () => undefined;
    let arrived: () => void = () => undefined;
    const serverSawClose = new Promise<void>((resolve) => (closed = resolve));
    const serverHasIt = new Promise<void>((resolve) => (arrived = resolve));
    const server = createServer((_req, res) => {
      res.on('close', () => closed());
      arrived();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const controller = new AbortController();
      const client = connectDatabricks({
        host: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        auth: { kind: 'pat', token: 't' },
        retry: { signal: controller.signal },
      });
      const call = client.libraryStatuses('c-1');
      await serverHasIt;
      const aborted = Date.now();
      controller.abort(new CancelledError());
      await assert.rejects(call, CancelledError);
      assert.ok(Date.now() - aborted < 1000, 'the call ran on after the cancel');
      await Promise.race([
        serverSawClose,
        new Promise((_, reject) => setTimeout(() => reject(new Error('the request was left open')), 2000)),
      ]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
