/**
 * Realistic sample events for the default event types: IoT temperature sensors that drift and
 * drain their battery, clickstream sessions, and transactions with log-normal amounts. Pure given
 * a seed and a clock, so the bench and the tests reproduce the same data.
 */
import type { EventInput } from '../model/index.ts';

/** The event types this generator knows how to make. */
export const GENERATED_EVENT_TYPES = ['iot.sensor', 'clickstream', 'transaction'] as const;
export type GeneratedEventType = (typeof GENERATED_EVENT_TYPES)[number];

export function isGeneratedEventType(t: string): t is GeneratedEventType {
  return (GENERATED_EVENT_TYPES as readonly string[]).includes(t);
}

export interface EventGeneratorOptions {
  /** Event types to mix. @default all of {@link GENERATED_EVENT_TYPES} */
  types?: readonly GeneratedEventType[];
  /** Relative weight of each entry of `types` (same length). @default equal weights */
  weights?: readonly number[];
  /** Distinct keys per type: devices `sensor-0 … sensor-(K-1)`, users `user-0 … user-(K-1)`. @default 100 */
  keys?: number;
  /** Seed of the pseudo-random sequence; the same seed (and clock) gives the same events and eventIds. @default random */
  seed?: number;
  /** Event-time clock, epoch ms. @default Date.now */
  now?: () => number;
  /** Fraction (0..1) of events whose timestamp lies up to `maxLatenessMs` in the past (out of order). @default 0 */
  lateFraction?: number;
  /** How far back an out-of-order event's timestamp may lie, ms. @default 5000 */
  maxLatenessMs?: number;
}

export interface EventGenerator {
  /** The next event, valid for `parseEventInput`. */
  next(): EventInput;
  /** The seed in use (print it to reproduce a run). */
  readonly seed: number;
  /** Events generated so far. */
  readonly generated: number;
  /** Of those, events given an out-of-order timestamp. */
  readonly late: number;
}

/** A small, fast 32-bit PRNG (mulberry32): returns floats in [0, 1). */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal variate (Box–Muller). */
function gaussian(rand: () => number): number {
  const u = 1 - rand(); // (0, 1]: log(0) would be -Infinity
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function pickWeighted<T>(rand: () => number, items: readonly T[], cumulative: readonly number[]): T {
  const total = cumulative[cumulative.length - 1]!;
  const r = rand() * total;
  for (let i = 0; i < cumulative.length; i++) if (r < cumulative[i]!) return items[i]!;
  return items[items.length - 1]!;
}

function cumulate(weights: readonly number[]): number[] {
  const out: number[] = [];
  let acc = 0;
  for (const w of weights) out.push((acc += w));
  return out;
}

const PAGES = ['/', '/search', '/products', '/products/{id}', '/cart', '/checkout', '/account', '/help'] as const;
const ACTIONS = ['view', 'click', 'scroll', 'add_to_cart', 'purchase'] as const;
const ACTION_WEIGHTS = cumulate([55, 25, 10, 7, 3]);
const CURRENCIES = ['USD', 'EUR', 'GBP', 'JPY'] as const;
const CURRENCY_WEIGHTS = cumulate([55, 25, 12, 8]);
const MERCHANTS = [
  'acme-grocery',
  'northwind-books',
  'globex-electronics',
  'initech-software',
  'umbrella-pharmacy',
  'stark-hardware',
  'wayne-travel',
  'wonka-sweets',
  'hooli-cloud',
  'pied-piper-media',
  'cyberdyne-games',
  'soylent-foods',
] as const;

/** The type-specific part of an event: its key field and payload. */
interface Body {
  deviceId?: string;
  userId?: string;
  payload: Record<string, unknown>;
}

interface SensorState {
  base: number;
  drift: number;
  battery: number;
}

interface SessionState {
  sessionId: string;
  sessions: number;
}

/**
 * Creates a deterministic event source.
 * @example
 * const gen = createEventGenerator({ types: ['iot.sensor'], keys: 10, seed: 42 });
 * const input = gen.next(); // { eventId, timestamp, eventType: 'iot.sensor', deviceId: 'sensor-3', payload: {...} }
 */
export function createEventGenerator(options: EventGeneratorOptions = {}): EventGenerator {
  const types = options.types && options.types.length > 0 ? options.types : GENERATED_EVENT_TYPES;
  const weights = options.weights && options.weights.length === types.length ? options.weights : types.map(() => 1);
  const typeCumulative = cumulate(weights);
  const keys = Math.max(1, Math.floor(options.keys ?? 100));
  const seed = (options.seed ?? Math.floor(Math.random() * 2 ** 32)) >>> 0;
  const now = options.now ?? Date.now;
  const lateFraction = Math.min(1, Math.max(0, options.lateFraction ?? 0));
  const maxLatenessMs = Math.max(0, options.maxLatenessMs ?? 5000);
  const rand = createRandom(seed);
  // eventIds carry the seed so that two runs with different seeds never collide, while a rerun
  // with the same seed republishes the same ids (and the gateway answers DUPLICATE).
  const idPrefix = `kf-${seed.toString(36)}-`;
  const sensors = new Map<number, SensorState>();
  const sessions = new Map<number, SessionState>();
  let seq = 0;
  let late = 0;

  function key(): number {
    return Math.floor(rand() * keys);
  }

  function sensor(): Body {
    const n = key();
    let s = sensors.get(n);
    if (!s) {
      s = { base: 18 + rand() * 8, drift: 0, battery: 60 + rand() * 40 };
      sensors.set(n, s);
    }
    // A bounded random walk: neighbouring readings of one device stay close, as real ones do.
    s.drift = Math.max(-5, Math.min(5, s.drift + gaussian(rand) * 0.05));
    s.battery = Math.max(1, s.battery - 0.01 - rand() * 0.01);
    let value = s.base + s.drift + gaussian(rand) * 0.2;
    if (rand() < 0.001) value += 15; // an occasional spike, as faulty sensors produce
    return { deviceId: `sensor-${n}`, payload: { value: round(value, 2), unit: 'celsius', battery: round(s.battery, 1) } };
  }

  function click(): Body {
    const n = key();
    let s = sessions.get(n);
    if (!s || rand() < 0.05) {
      const count = (s?.sessions ?? 0) + 1;
      s = { sessionId: `sess-${seed.toString(36)}-${n}-${count}`, sessions: count };
      sessions.set(n, s);
    }
    const template = PAGES[Math.floor(rand() * PAGES.length)]!;
    const page = template.replace('{id}', String(1000 + Math.floor(rand() * 500)));
    const action = pickWeighted(rand, ACTIONS, ACTION_WEIGHTS);
    return { userId: `user-${n}`, payload: { page, action, sessionId: s.sessionId } };
  }

  function transaction(): Body {
    const n = key();
    const currency = pickWeighted(rand, CURRENCIES, CURRENCY_WEIGHTS);
    // Log-normal: most purchases are small, a few are large (median ≈ 25).
    let amount = Math.min(10_000, Math.max(0.5, Math.exp(3.2 + 0.9 * gaussian(rand))));
    amount = currency === 'JPY' ? Math.round(amount * 150) : round(amount, 2);
    const merchant = MERCHANTS[Math.floor(rand() * MERCHANTS.length)]!;
    return { userId: `user-${n}`, payload: { amount, currency, merchant } };
  }

  return {
    seed,
    get generated() {
      return seq;
    },
    get late() {
      return late;
    },
    next(): EventInput {
      const eventType = pickWeighted(rand, types, typeCumulative);
      const body = eventType === 'iot.sensor' ? sensor() : eventType === 'clickstream' ? click() : transaction();
      let t = now();
      if (lateFraction > 0 && rand() < lateFraction) {
        t -= Math.floor(rand() * maxLatenessMs) + 1;
        late++;
      }
      const n = seq++;
      return {
        eventId: idPrefix + n.toString(36),
        timestamp: new Date(t).toISOString(),
        eventType,
        ...body,
        metadata: { source: 'keyflow-produce', seq: n },
      };
    },
  };
}

/**
 * Turns a valid event into one the gateway must reject, in one of the ways clients get it wrong:
 * an unknown event type, a payload that is not an object, a timestamp that is not a date-time.
 */
export function corruptEvent(event: EventInput, rand: () => number): Record<string, unknown> {
  const r = rand();
  if (r < 1 / 3) return { ...event, eventType: 'unknown.type' };
  if (r < 2 / 3) return { ...event, payload: 'not-an-object' };
  return { ...event, timestamp: 'yesterday' };
}
