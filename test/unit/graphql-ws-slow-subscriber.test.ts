/**
 * A subscriber that reads too slowly, over a real socket: graphql-ws takes the next item only once
 * the previous one is written, so its items pile up in its bounded buffer; past the setting the
 * subscription is ended with RATE_LIMITED (a GraphQL error, then complete), its bus subscription is
 * gone, and a subscriber that keeps up on the same topic is not affected.
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type EventMessage, eventMessage } from '../../src/bus/messages.ts';
import { subjects } from '../../src/bus/port.ts';
import type { Metrics } from '../../src/core/telemetry/metrics.ts';
import type { EventLog } from '../../src/log/port.ts';
import { type Harness, createEmbeddedHarness } from '../helpers/graphql-harness.ts';
import { waitFor } from '../helpers/wait.ts';

const TOPIC = 'events.clickstream';
const BUFFER = 50;

function events(from: number, n: number): EventMessage[] {
  return Array.from({ length: n }, (_, i) =>
    eventMessage({ topic: TOPIC, partition: 0, offset: from + i }, 'u1', {
      eventId: `e${from + i}`,
      eventType: 'clickstream',
      timestamp: 1_700_000_000_000,
      userId: 'u1',
      deviceId: null,
      payload: { page: 'x'.repeat(32_000) },
      metadata: null,
    }),
  );
}

/** A graphql-transport-ws client by hand, so reading can be paused at the socket. */
async function rawClient(url: string) {
  const ws = new WebSocket(url, 'graphql-transport-ws');
  const received: { type: string; id?: string; payload?: { data?: unknown; errors?: { extensions?: { code?: string } }[] } }[] = [];
  ws.on('message', (data) => received.push(JSON.parse(String(data))));
  await new Promise((r) => ws.once('open', r));
  ws.send(JSON.stringify({ type: 'connection_init' }));
  await waitFor(() => received.some((m) => m.type === 'connection_ack'), { message: 'connection_ack' });
  ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `subscription { events(topic: "${TOPIC}") { eventId offset payload } }` } }));
  return {
    received,
    pause: () => (ws as unknown as { _socket: { pause(): void } })._socket.pause(),
    resume: () => (ws as unknown as { _socket: { resume(): void } })._socket.resume(),
    close: () => ws.close(),
  };
}

describe('a slow subscriber', () => {
  let h: Harness<EventLog>;
  let http: Server;
  let url: string;
  let closeWs: () => Promise<void>;
  beforeAll(async () => {
    h = await createEmbeddedHarness({ subscriptionBuffer: BUFFER });
    http = createServer(h.server.handler);
    closeWs = h.server.attach(http);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/graphql`;
  });
  afterAll(async () => {
    await closeWs();
    await new Promise<void>((r) => http.close(() => r()));
    await h.close();
  });

  it('is ended with RATE_LIMITED once its buffer is full; a subscriber that keeps up goes on', async () => {
    const subject = subjects.events(TOPIC);
    const slow = await rawClient(url);
    const fast = await rawClient(url);
    await waitFor(() => h.subscriberCount(subject) === 1, { message: 'the feed subscribed' });
    // both subscriptions are live once a probe reaches both
    let offset = 0;
    await waitFor(
      () => {
        h.bus.publish(subject, { events: events(offset++, 1) });
        return slow.received.some((m) => m.type === 'next') && fast.received.some((m) => m.type === 'next');
      },
      { message: 'both subscriptions deliver' },
    );
    slow.pause();
    const metrics = h.services.metrics as Metrics;
    const offsetsOf = (c: { received: { type: string; payload?: { data?: unknown } }[] }) =>
      c.received.filter((m) => m.type === 'next' && m.payload?.data).map((m) => Number((m.payload!.data as { events: { offset: string } }).events.offset));
    const fastLast = () => offsetsOf(fast).at(-1);
    // ~32 kB per message: socket buffers fill, then the slow one's item buffer; each burst is
    // smaller than the buffer and the next waits for the fast one, which thus always keeps up
    await waitFor(
      async () => {
        h.bus.publish(subject, { events: events(offset, 20) });
        offset += 20;
        await waitFor(() => fastLast() === offset - 1, { message: 'the fast one keeps up' });
        return (await metrics.subscriptionsRateLimited.get()).values.some((v) => v.value === 1);
      },
      { timeoutMs: 30_000, message: 'the slow subscription ended' },
    );
    const endedAt = offset;
    h.bus.publish(subject, { events: events(offset, 5) });
    offset += 5;
    // the fast one still gets everything, in order
    await waitFor(() => fastLast() === offset - 1, { message: 'the fast one has everything' });
    const fastOffsets = offsetsOf(fast);
    // from its first probe on, every offset once, in order
    expect(fastOffsets).toEqual(Array.from({ length: offset - fastOffsets[0]! }, (_, i) => fastOffsets[0]! + i));
    expect(fast.received.some((m) => m.type === 'complete' || m.type === 'error')).toBe(false);

    // the slow one, read again: what was written and buffered, then the error, then complete
    slow.resume();
    await waitFor(() => slow.received.some((m) => m.type === 'complete'), { message: 'the slow one completes' });
    const nexts = slow.received.filter((m) => m.type === 'next');
    const last = nexts.at(-1)!;
    expect(last.payload!.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    const delivered = offsetsOf(slow);
    expect(delivered).toEqual(Array.from({ length: delivered.length }, (_, i) => delivered[0]! + i));
    // it got less than everything: the rest was never buffered for it
    expect(delivered.length).toBeLessThan(endedAt);
    slow.close();
    fast.close();
    await waitFor(() => h.subscriberCount(subject) === 0, { message: 'no bus subscription left' });
  }, 60_000);
});
