/**
 * Interest on the NATS bus, seen from the wire: a raw NATS connection (which announces nothing)
 * taps every subject of the run's prefix. Nothing is sent on a subject no bus subscribes to; a
 * node that stops announcing stops counting after its TTL; a bus that closes withdraws at once; a
 * publisher that starts late learns the existing interest without waiting for a heartbeat.
 */
import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNatsBus, type NatsBusOptions } from '../../src/bus/nats/nats-bus.ts';
import { INTEREST_SUBJECTS } from '../../src/bus/nats/interest.ts';
import { createLiveFeed } from '../../src/bus/live-feed.ts';
import { publishWindowResults } from '../../src/bus/messages.ts';
import { subjects, type LiveBus } from '../../src/bus/port.ts';
import type { WindowResult } from '../../src/model/window-result.ts';
import { assertReachable, hostPortOf, requireNats } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

const { url } = requireNats();
const prefix = `kfi-${randomUUID().slice(0, 8)}`;
const started: LiveBus[] = [];
let tap: NatsConnection;
/** Subjects (without the prefix) the tap saw, in order. */
const wire: string[] = [];

async function node(o: NatsBusOptions = {}): Promise<LiveBus> {
  const bus = createNatsBus({ servers: url, prefix, ...o });
  started.push(bus);
  await bus.start();
  return bus;
}

const onWire = (subject: string) => wire.filter((s) => s === subject).length;

function result(eventType: string, count: number): WindowResult {
  return { eventType, key: 'k', window: 'tumbling-1m', windowStart: 0, windowEnd: 60_000, count, valueCount: count, sum: count, avg: 1, min: 1, max: 1, distinctUsers: 0, final: false, revision: count };
}

describe('NATS bus interest', () => {
  beforeAll(async () => {
    await assertReachable('NATS', hostPortOf(url, 4222));
    tap = await connect({ servers: url });
    tap.subscribe(`${prefix}.>`, { callback: (_e, m) => wire.push(m.subject.slice(prefix.length + 1)) });
    await tap.flush();
  });

  afterAll(async () => {
    await Promise.all(started.map((b) => b.close()));
    await tap?.close();
  });

  it('sends nothing on a subject nobody subscribes to, and everything once someone does', async () => {
    const a = await node({ name: 'pub' });
    const b = await node({ name: 'sub' });
    const s = 'keyflow.events.unwatched';
    const marker = 'keyflow.events.marker';
    const got: unknown[] = [];
    b.subscribe(marker, (m) => got.push(m));
    await waitFor(() => !a.wants(s) && a.wants(marker), { message: 'a knows who listens' });
    for (let i = 0; i < 20; i++) a.publish(s, { i });
    a.publish(marker, 'after the unwatched ones');
    // the marker left a after the 20 publishes on the same connection: they would have arrived first
    await waitFor(() => got.length === 1 && onWire(marker) === 1, { message: 'marker delivered' });
    expect(onWire(s)).toBe(0);

    const received: unknown[] = [];
    const off = b.subscribe(s, (m) => received.push(m));
    await waitFor(() => a.wants(s), { message: 'a learns the new subscription' });
    for (let i = 0; i < 5; i++) a.publish(s, { i });
    await waitFor(() => received.length === 5, { message: 'the five delivered' });
    expect(onWire(s)).toBe(5);
    off();
    await waitFor(() => !a.wants(s), { message: 'a learns the unsubscribe' });
    a.publish(s, { after: true });
    a.publish(marker, 'again');
    await waitFor(() => got.length === 2, { message: 'second marker' });
    expect(onWire(s)).toBe(5);
  });

  it("a gateway watching one window gets no NATS traffic for the type's other windows; one watching every window gets them all", async () => {
    const a = await node({ name: 'pub-w' });
    const b = await node({ name: 'gateway-w' });
    const feed = createLiveFeed({ bus: b });
    const type = `w-${randomUUID().slice(0, 6)}`;
    const windows = ['sliding-5m-1m', 'tumbling-1m', 'tumbling-5m'];
    const emission = (offset: number) => windows.map((window) => ({ ...result(type, offset), window }));
    const at = (offset: number) => ({ topic: 'events.w', partition: 0, offset, watermark: 1000, part: 0 });
    const watched = subjects.windowResults(type, 'tumbling-1m');
    const got: string[] = [];
    const offOne = feed.windowResults(type, (rs) => got.push(...rs.map((r) => `${r.window}@${r.count}`)), 'k', 'tumbling-1m');
    await waitFor(() => a.wants(watched) && !a.wants(subjects.windowResults(type, 'tumbling-5m')), { message: 'a knows which window is watched' });
    for (let i = 1; i <= 10; i++) publishWindowResults(a, emission(i), at(i));
    await waitFor(() => got.length === 10, { message: 'the watched window delivered' });
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => `tumbling-1m@${i + 1}`));
    expect(onWire(watched)).toBe(10);
    for (const w of windows) if (w !== 'tumbling-1m') expect(onWire(subjects.windowResults(type, w))).toBe(0);

    // every window (a subscription without a window filter): the pattern is announced, all travel, once each
    const all: string[] = [];
    const offAll = feed.windowResults(type, (rs) => all.push(...rs.map((r) => `${r.window}@${r.count}`)));
    await waitFor(() => a.wants(subjects.windowResults(type, 'tumbling-5m')), { message: 'a learns the pattern' });
    for (let i = 11; i <= 12; i++) publishWindowResults(a, emission(i), at(i));
    publishWindowResults(a, emission(11), at(11)); // a replay: dropped on both subscriptions
    await waitFor(() => all.length === 6 && got.length === 12, { message: 'every window delivered' });
    await new Promise((r) => setTimeout(r, 100));
    expect(all).toEqual([11, 12].flatMap((i) => windows.map((w) => `${w}@${i}`)));
    expect(got.slice(10)).toEqual(['tumbling-1m@11', 'tumbling-1m@12']);
    expect(onWire(subjects.windowResults(type, 'tumbling-5m'))).toBe(3);
    offAll();
    offOne();
    await waitFor(() => !a.wants(watched), { message: 'a learns nobody watches' });
  });

  it('a node that stops announcing (killed) stops counting after its TTL', async () => {
    const a = await node({ name: 'pub2' });
    const s = 'keyflow.windows.ghost';
    await waitFor(() => !a.wants(s), { message: 'warm-up over' });
    // a node that announces once and then dies: nobody withdraws its interest
    tap.publish(`${prefix}.${INTEREST_SUBJECTS.announce}`, new TextEncoder().encode(JSON.stringify({ node: 'ghost', subjects: [s], ttlMs: 600 })));
    await waitFor(() => a.wants(s), { message: 'the ghost counts' });
    const from = Date.now();
    await waitFor(() => !a.wants(s), { timeoutMs: 5000, intervalMs: 20, message: 'the ghost expires' });
    expect(Date.now() - from).toBeLessThan(2000);
  });

  it('a bus that closes withdraws at once; a publisher that starts late learns existing interest without waiting for a heartbeat', async () => {
    const s = 'keyflow.events.late-publisher';
    // TTL of a minute: heartbeats every 20 s, so only the query and the withdrawal can explain what follows
    const slow = { ttlMs: 60_000, warmUpMs: 0 };
    const b = await node({ name: 'sub3', interest: slow });
    b.subscribe(s, () => undefined);
    const a = await node({ name: 'pub3', interest: slow });
    await waitFor(() => a.wants(s), { timeoutMs: 3000, message: 'the late publisher asked and b answered' });
    await b.close();
    await waitFor(() => !a.wants(s), { timeoutMs: 3000, message: 'b withdrew when it closed' });
  });

  it('interest: false publishes everything', async () => {
    const a = await node({ name: 'pub4', interest: false });
    const s = 'keyflow.events.ungated';
    expect(a.wants(s)).toBe(true);
    a.publish(s, 1);
    await waitFor(() => onWire(s) === 1, { message: 'sent although nobody listens' });
  });
});
