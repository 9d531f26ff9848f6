/** The client address of a request: the socket's peer, or behind one trusted proxy the last X-Forwarded-For entry. */
import type { IncomingMessage } from 'node:http';

export function clientAddress(req: IncomingMessage | undefined, trustProxy: boolean): string {
  if (trustProxy) {
    const xff = req?.headers['x-forwarded-for'];
    const value = Array.isArray(xff) ? xff.join(',') : xff;
    const last = value?.split(',').pop()?.trim();
    if (last) return last.slice(0, 64);
  }
  return req?.socket?.remoteAddress ?? 'unknown';
}

/** The node:http request behind a yoga request, when it came through the node adapter. */
export function nodeRequestOf(serverContext: unknown): IncomingMessage | undefined {
  const req = (serverContext as { req?: IncomingMessage } | undefined)?.req;
  return req && typeof req === 'object' && 'socket' in req ? req : undefined;
}
