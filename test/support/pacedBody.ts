/**
 * A request body read the way a slow or stuck server reads it: at `bytesPerSecond` (the
 * client's bytes back up in the socket, so its sending slows down), or not at all past
 * `stopAfterBytes` (a stalled upload: the server neither reads on nor answers).
 */
import type { IncomingMessage } from 'node:http';

export interface Pace {
  bytesPerSecond?: number;
  stopAfterBytes?: number;
}

export function readPaced(req: IncomingMessage, pace: Pace = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let read = 0;
    let stalled = false;
    req.on('data', (c: Buffer) => {
      chunks.push(c);
      read += c.length;
      if (pace.stopAfterBytes !== undefined && read >= pace.stopAfterBytes) {
        stalled = true;
        req.pause(); // never resumed, never answered
        return;
      }
      if (pace.bytesPerSecond) {
        req.pause();
        setTimeout(() => req.resume(), (c.length / pace.bytesPerSecond) * 1000);
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', (err) => {
      if (!stalled) reject(err); // a stalled request the client gave up on stays unanswered
    });
  });
}
