import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNatsBus, type NatsBusOptions } from '../../src/bus/nats/nats-bus.ts';
import { type LiveBus, subjects } from '../../src/bus/port.ts';
import { ErrorCode, KeyflowError } from '../../src/model/errors.ts';
import { assertReachable, hostPortOf, requireNats } from '../helpers/services.ts';

const { url } = requireNats();
const prefix = `kft-${randomUUID().slice(0, 8)}`;
const started: LiveBus[] = [];

async function node(o: NatsBusOptions = {}): Promise<LiveBus> {
  const bus = createNatsBus({ servers: url, prefix, ...o });
  started.push(bus);
  await bus.start();
  return bus;
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * A subscription reaches the server asynchronously, and across connections nothing orders it
 * before another connection's publish: publish probes until every receiver has seen one.
 */
async function untilSubscribed(publisher: LiveBus, subject: string, receivers: unknown[][]): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (receivers.every((r) => r.some((m) => m === 'probe'))) {
      for (const r of receivers) r.splice(0, r.length, ...r.filter((m) => m !== 'probe'));
      return;
    }
    publisher.publish(subject, 'probe');
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`subscribers of ${subject} never saw a probe`);
}

/** Requests until a responder answers (before that NATS says "no responders"). */
async function untilResponding(requester: LiveBus, subject: string, request: unknown = 'probe'): Promise<void> {
  for (let i = 0; i < 500; i++) {
    try {
      await requester.request(subject, request, 1000);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  throw new Error(`nobody ever answered on ${subject}`);
}

/** Drops late probes still in flight when {@link untilSubscribed} returned. */
function real(xs: unknown[]): unknown[] {
  return xs.filter((m) => m !== 'probe');
}

async function rejection(p: Promise<unknown>): Promise<KeyflowError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(KeyflowError);
    return e as KeyflowError;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  await assertReachable('NATS', hostPortOf(url, 4222));
});

afterAll(async () => {
  for (const b of started) await b.close();
});

describe('NATS live bus', () => {
  it('fans a publish out to subscribers on every connection, in publish order', async () => {
    const a = await node();
    const b = await node();
    const c = await node();
    expect(a.kind).toBe('nats');
    expect(await a.healthy()).toMatchObject({ connected: true });
    const subject = subjects.windowResults('iot.sensor', 'tumbling-1m');
    const gotB: unknown[] = [];
    const gotC: unknown[] = [];
    const gotA: unknown[] = [];
    b.subscribe(subject, (m) => gotB.push(m));
    c.subscribe(subject, (m) => gotC.push(m));
    a.subscribe(subject, (m) => gotA.push(m));
    await untilSubscribed(a, subject, [gotA, gotB, gotC]);
    const expected = Array.from({ length: 1000 }, (_, i) => ({ i, nested: { s: `v${i}`, n: null } }));
    for (const m of expected) a.publish(subject, m);
    await waitFor(() => real(gotB).length === 1000 && real(gotC).length === 1000 && real(gotA).length === 1000, '1000 messages on every node');
    expect(real(gotB)).toEqual(expected);
    expect(real(gotC)).toEqual(expected);
    expect(real(gotA)).toEqual(expected);
  });

  it('stops delivering after unsubscribe, and keeps prefixes apart', async () => {
    const a = await node();
    const b = await node();
    const other = await node({ prefix: `${prefix}-other` });
    const got: unknown[] = [];
    const leaked: unknown[] = [];
    const off = b.subscribe('keyflow.events.t', (m) => got.push(m));
    other.subscribe('keyflow.events.t', (m) => leaked.push(m));
    await untilSubscribed(a, 'keyflow.events.t', [got]);
    // Positive control: the other prefix's subscription works for its own deployment.
    const otherPub = await node({ prefix: `${prefix}-other` });
    await untilSubscribed(otherPub, 'keyflow.events.t', [leaked]);
    a.publish('keyflow.events.t', 1);
    await waitFor(() => real(got).length === 1, 'first message');
    off();
    off();
    a.publish('keyflow.events.t', 2);
    // A later message on a still-subscribed subject proves the earlier one had its chance.
    const probe: unknown[] = [];
    b.subscribe('keyflow.events.probe', (m) => probe.push(m));
    await untilSubscribed(a, 'keyflow.events.probe', [probe]);
    expect(real(got)).toEqual([1]);
    expect(real(leaked)).toEqual([]);
  });

  it('request/reply across two connections with a queue group: each request answered once, load shared', async () => {
    const requester = await node();
    const r1 = await node();
    const r2 = await node();
    const subject = subjects.query('events.iot.sensors', 3);
    const seen = [0, 0];
    r1.respond(subject, async (req) => {
      seen[0]! += 1;
      return { by: 1, echo: req };
    });
    r2.respond(subject, async (req) => {
      seen[1]! += 1;
      return { by: 2, echo: req };
    });
    // Probe until both responders have answered once, then count from zero.
    for (let i = 0; i < 500 && (seen[0] === 0 || seen[1] === 0); i++) await untilResponding(requester, subject, { i: -1 });
    seen[0] = seen[1] = 0;
    const replies = await Promise.all(Array.from({ length: 60 }, (_, i) => requester.request(subject, { i }, 5000)));
    replies.forEach((r, i) => {
      expect(r).toMatchObject({ echo: { i } });
    });
    expect(seen[0]! + seen[1]!).toBe(60);
    expect(seen[0]).toBeGreaterThan(0);
    expect(seen[1]).toBeGreaterThan(0);
  });

  it('carries undefined, null and primitives through request/reply', async () => {
    const a = await node();
    const b = await node();
    const got: unknown[] = [];
    b.respond('keyflow.query.prim.0', async (req) => {
      got.push(req);
      return req;
    });
    await untilResponding(a, 'keyflow.query.prim.0');
    got.length = 0;
    expect(await a.request('keyflow.query.prim.0', undefined, 5000)).toBeUndefined();
    expect(await a.request('keyflow.query.prim.0', null, 5000)).toBeNull();
    expect(await a.request('keyflow.query.prim.0', 'x', 5000)).toBe('x');
    expect(await a.request('keyflow.query.prim.0', 7, 5000)).toBe(7);
    expect(got).toEqual([undefined, null, 'x', 7]);
  });

  it('rejects with TIMEOUT (retriable) when nobody responds', async () => {
    const a = await node();
    const err = await rejection(a.request('keyflow.query.nobody.0', { q: 1 }, 2000));
    expect(err.code).toBe(ErrorCode.TIMEOUT);
    expect(err.retriable).toBe(true);
    expect(err.details).toMatchObject({ noResponders: true });
  });

  it('rejects with TIMEOUT when the responder does not answer in time', async () => {
    const a = await node();
    const b = await node();
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    b.respond('keyflow.query.slow.0', async () => {
      await held;
      return 'late';
    });
    // A responder that only ever holds: its registration is proven by a sibling subject answering.
    b.respond('keyflow.query.slow-ready.0', async () => 'ready');
    await untilResponding(a, 'keyflow.query.slow-ready.0');
    const err = await rejection(a.request('keyflow.query.slow.0', {}, 100));
    expect(err.code).toBe(ErrorCode.TIMEOUT);
    expect(err.retriable).toBe(true);
    release();
  });

  it('passes a responder\'s KeyflowError to the requester with its code and retriable flag', async () => {
    const a = await node();
    const b = await node();
    b.respond('keyflow.query.err.0', async (req) => {
      if (req === 'plain') throw new Error('secret internals');
      throw new KeyflowError(ErrorCode.NOT_OWNER, 'partition moved', { retriable: true, details: { partition: 0 } });
    });
    b.respond('keyflow.query.err-ready.0', async () => 'ready');
    await untilResponding(a, 'keyflow.query.err-ready.0');
    const err = await rejection(a.request('keyflow.query.err.0', 'x', 5000));
    expect(err.code).toBe(ErrorCode.NOT_OWNER);
    expect(err.retriable).toBe(true);
    expect(err.message).toBe('partition moved');
    expect(err.details).toEqual({ partition: 0 });
    const plain = await rejection(a.request('keyflow.query.err.0', 'plain', 5000));
    expect(plain.code).toBe(ErrorCode.INTERNAL);
    expect(plain.retriable).toBe(false);
  });

  it('survives a throwing subscriber and reports it through onError', async () => {
    const errors: string[] = [];
    const a = await node();
    const b = await node({ onError: (e, ctx) => errors.push(`${ctx.operation}:${e.message}`) });
    const got: unknown[] = [];
    b.subscribe('keyflow.events.boom', (m) => {
      if (m === 'bad') throw new Error('handler bug');
      got.push(m);
    });
    const ready: unknown[] = [];
    b.subscribe('keyflow.events.boom-ready', (m) => ready.push(m));
    await untilSubscribed(a, 'keyflow.events.boom-ready', [ready]);
    a.publish('keyflow.events.boom', 'bad');
    a.publish('keyflow.events.boom', 'good');
    await waitFor(() => got.length === 1, 'message after the throwing one');
    expect(got).toEqual(['good']);
    expect(errors).toEqual(['subscribe:handler bug']);
    expect(await b.healthy()).toMatchObject({ connected: true });
  });

  it('attaches subscriptions made before start()', async () => {
    const a = await node();
    const b = createNatsBus({ servers: url, prefix });
    started.push(b);
    const got: unknown[] = [];
    b.subscribe('keyflow.events.early', (m) => got.push(m));
    b.respond('keyflow.query.early.0', async () => 'pong');
    expect(await b.healthy()).toMatchObject({ connected: false });
    await b.start();
    await untilSubscribed(a, 'keyflow.events.early', [got]);
    expect(real(got)).toEqual([]);
    await untilResponding(a, 'keyflow.query.early.0');
    expect(await a.request('keyflow.query.early.0', 'ping', 5000)).toBe('pong');
  });

  it('rejects a prefix that is not a valid run of subject tokens', () => {
    for (const bad of ['a b', 'a..b', '.a', 'a.', 'a.*', '>']) {
      expect(() => createNatsBus({ servers: url, prefix: bad })).toThrow(KeyflowError);
    }
    expect(() => createNatsBus({ servers: url, prefix: 'keyflow:prod.eu-1' })).not.toThrow();
  });

  it('reports unhealthy after close and BROKER_UNAVAILABLE when NATS cannot be reached', async () => {
    const a = createNatsBus({ servers: url, prefix });
    await a.start();
    await a.close();
    expect(await a.healthy()).toMatchObject({ connected: false });
    const errReq = await rejection(a.request('keyflow.query.x.0', 1, 100));
    expect(errReq.code).toBe(ErrorCode.BROKER_UNAVAILABLE);

    const down = createNatsBus({ servers: 'nats://127.0.0.1:1', prefix, connectTimeoutMs: 1000 });
    const err = await rejection(down.start());
    expect(err.code).toBe(ErrorCode.BROKER_UNAVAILABLE);
    expect(err.retriable).toBe(true);
    expect(await down.healthy()).toMatchObject({ connected: false });
  });
});
