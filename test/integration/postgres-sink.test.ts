import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, KeyflowError } from '../../src/model/errors.ts';
import type { Sink } from '../../src/sinks/port.ts';
import { createPostgresSink, type PostgresSinkOptions, readPostgresWindowResults } from '../../src/sinks/postgres/postgres-sink.ts';
import type { WindowResult } from '../../src/model/window-result.ts';
import { assertReachable, hostPortOf, requirePostgres } from '../helpers/services.ts';

const { url } = requirePostgres();
const MINUTE = 60_000;
const T0 = Date.UTC(2024, 0, 15, 10, 30);
let pool: pg.Pool;
const tables: string[] = [];
const sinks: Sink[] = [];

function uniqueTable(): string {
  const t = `kft_pg_${randomBytes(6).toString('hex')}`;
  tables.push(t);
  return t;
}

async function openSink(o: PostgresSinkOptions = {}): Promise<{ sink: Sink; table: string }> {
  const table = o.table ?? uniqueTable();
  const sink = createPostgresSink({ connectionString: url, ...o, table });
  sinks.push(sink);
  await sink.start();
  return { sink, table };
}

function result(key: string, slot: number, over: Partial<WindowResult> = {}): WindowResult {
  return {
    eventType: 'iot.sensor',
    key,
    window: 'tumbling-1m',
    windowStart: T0 + slot * MINUTE,
    windowEnd: T0 + (slot + 1) * MINUTE,
    count: 3,
    valueCount: 3,
    sum: 6,
    avg: 2,
    min: 1,
    max: 3,
    distinctUsers: 2,
    final: true,
    revision: 0,
    ...over,
  };
}

const read = (table: string, eventType = 'iot.sensor') => readPostgresWindowResults(pool, table, eventType);

beforeAll(async () => {
  await assertReachable('PostgreSQL', hostPortOf(url, 5432));
  pool = new pg.Pool({ connectionString: url, max: 2 });
});

afterAll(async () => {
  for (const s of sinks) await s.close().catch(() => undefined);
  if (pool) {
    for (const t of tables) await pool.query(`DROP TABLE IF EXISTS "${t}"`);
    await pool.end();
  }
});

describe('PostgreSQL sink', () => {
  it('starts cleanly when many nodes create the same table at the same moment, over and over', async () => {
    // CREATE TABLE IF NOT EXISTS races with itself (duplicate row type 42710, catalog index
    // 23505); each round starts eight sinks on a fresh table at once.
    for (let round = 0; round < 12; round++) {
      const table = uniqueTable();
      const all = Array.from({ length: 8 }, () => createPostgresSink({ connectionString: url, table }));
      sinks.push(...all);
      await Promise.all(all.map((s) => s.start()));
      await Promise.all(all.map((s) => s.close()));
    }
  });

  it('creates the table with the documented columns and primary key, once, even when started concurrently', async () => {
    const table = uniqueTable();
    const all = [0, 1, 2, 3].map(() => createPostgresSink({ connectionString: url, table }));
    sinks.push(...all);
    await Promise.all(all.map((s) => s.start()));
    await all[0]!.start();
    const cols = await pool.query<{ column_name: string; data_type: string }>(
      'SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position',
      [table],
    );
    expect(cols.rows.map((r) => [r.column_name, r.data_type])).toEqual([
      ['event_type', 'text'],
      ['key', 'text'],
      ['window', 'text'],
      ['window_start', 'timestamp with time zone'],
      ['window_end', 'timestamp with time zone'],
      ['count', 'bigint'],
      ['value_count', 'bigint'],
      ['sum', 'double precision'],
      ['avg', 'double precision'],
      ['min', 'double precision'],
      ['max', 'double precision'],
      ['distinct_users', 'bigint'],
      ['final', 'boolean'],
      ['revision', 'integer'],
      ['updated_at', 'timestamp with time zone'],
    ]);
    const pk = await pool.query<{ attname: string }>(
      `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
       WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`,
      [`"${table}"`],
    );
    expect(pk.rows.map((r) => r.attname)).toEqual(['event_type', 'key', 'window', 'window_start']);
    expect(await all[0]!.healthy()).toMatchObject({ connected: true });
  });

  it('is idempotent: the same batch twice leaves the same rows', async () => {
    const { sink, table } = await openSink();
    const batch = [result('d1', 0), result('d1', 1, { sum: null, avg: null, min: null, max: null, valueCount: 0 }), result('d2', 0)];
    await sink.write(batch);
    const once = await read(table);
    await sink.write(batch);
    expect(await read(table)).toEqual(once);
    expect(once).toEqual(batch);
  });

  it('orders by revision: an older revision never overwrites a newer one; the same revision replaces', async () => {
    const { sink, table } = await openSink();
    await sink.write([result('d1', 0, { revision: 2, count: 20 })]);
    await sink.write([result('d1', 0, { revision: 1, count: 10 })]);
    await sink.write([result('d1', 0, { revision: 0, count: 5 })]);
    expect((await read(table)).map((r) => [r.revision, r.count])).toEqual([[2, 20]]);
    await sink.write([result('d1', 0, { revision: 2, count: 21 })]);
    expect((await read(table)).map((r) => [r.revision, r.count])).toEqual([[2, 21]]);
    await sink.write([result('d1', 0, { revision: 3, count: 30 })]);
    expect((await read(table)).map((r) => [r.revision, r.count])).toEqual([[3, 30]]);
  });

  it('accepts one window several times in one batch (the newest revision wins)', async () => {
    const { sink, table } = await openSink();
    await sink.write([result('d1', 0, { revision: 1, count: 1 }), result('d1', 0, { revision: 4, count: 4 }), result('d1', 0, { revision: 2, count: 2 })]);
    expect((await read(table)).map((r) => [r.revision, r.count])).toEqual([[4, 4]]);
  });

  it('writes only finals by default; with includeUpdates an update never replaces a final of the same revision', async () => {
    const a = await openSink();
    await a.sink.write([result('d1', 0, { final: false })]);
    expect(await read(a.table)).toEqual([]);

    const b = await openSink({ includeUpdates: true });
    await b.sink.write([result('d1', 0, { final: false, count: 1 })]);
    expect((await read(b.table)).map((r) => [r.final, r.count])).toEqual([[false, 1]]);
    await b.sink.write([result('d1', 0, { final: true, count: 2 })]);
    await b.sink.write([result('d1', 0, { final: false, count: 3 })]);
    expect((await read(b.table)).map((r) => [r.final, r.count])).toEqual([[true, 2]]);
    await b.sink.write([result('d1', 0, { final: false, count: 4, revision: 1 })]);
    expect((await read(b.table)).map((r) => [r.final, r.count, r.revision])).toEqual([[false, 4, 1]]);
  });

  it('keeps awkward keys, event types and numbers exact', async () => {
    const { sink, table } = await openSink();
    const keys = ['a,b', 'q"uote', 'back\\slash', '{brace}', 'NULL', 'ünï 🔑', ' ', "it's"];
    const batch = keys.map((k, i) => result(k, i, { eventType: 'odd"type', sum: 0.1 + 0.2, min: -1e300, max: 5e-324, avg: i / 3, count: 2 ** 40 }));
    await sink.write(batch);
    const back = await read(table, 'odd"type');
    // readBack orders keys bytewise (COLLATE "C").
    expect(back).toEqual([...batch].sort((x, y) => Buffer.compare(Buffer.from(x.key), Buffer.from(y.key))));
  });

  it('upserts 10k results in one statement', async () => {
    const client = new pg.Pool({ connectionString: url, max: 1 });
    const statements: string[] = [];
    const query = client.query.bind(client) as (...a: unknown[]) => unknown;
    (client as unknown as { query: (...a: unknown[]) => unknown }).query = (...a: unknown[]) => {
      statements.push(String(a[0]).split('\n')[0]!);
      return query(...a);
    };
    const table = uniqueTable();
    const sink = createPostgresSink({ pool: client, table });
    await sink.start();
    statements.length = 0;
    const batch = Array.from({ length: 10_000 }, (_, i) => result(`dev-${i}`, i % 7, { count: i }));
    await sink.write(batch);
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/^INSERT INTO/);
    const n = await pool.query<{ n: string; s: string }>(`SELECT count(*) AS n, sum(count) AS s FROM "${table}"`);
    expect(Number(n.rows[0]!.n)).toBe(10_000);
    expect(Number(n.rows[0]!.s)).toBe((9_999 * 10_000) / 2);
    await sink.close();
    await client.end();
  });

  it('rejects an unsafe table name as INVALID_CONFIG', () => {
    for (const table of ['x; DROP TABLE y', 'a.b.c', '1abc', 'a"b']) {
      expect(() => createPostgresSink({ connectionString: url, table })).toThrow(KeyflowError);
    }
  });

  it('rejects with SINK_FAILED (retriable) and reports unhealthy when PostgreSQL is unreachable', async () => {
    const sink = createPostgresSink({ connectionString: 'postgres://postgres@127.0.0.1:1/postgres', table: uniqueTable(), poolConfig: { connectionTimeoutMillis: 1000 } });
    sinks.push(sink);
    for (const p of [sink.start(), sink.write([result('d1', 0)])]) {
      const err = await p.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(KeyflowError);
      expect((err as KeyflowError).code).toBe(ErrorCode.SINK_FAILED);
      expect((err as KeyflowError).retriable).toBe(true);
    }
    expect(await sink.healthy()).toMatchObject({ connected: false });
  });

  // Feature: keyflow, Property 15: Sink data persistence (one row per window, newest revision, in any delivery order)
  it('property: any redelivery order and batching of the same finals ends in the same table', async () => {
    const { sink, table } = await openSink();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ key: fc.constantFrom('a', 'b'), slot: fc.integer({ min: 0, max: 2 }), revision: fc.integer({ min: 0, max: 3 }) }), { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 1, max: 4 }),
        fc.infiniteStream(fc.nat()),
        async (writes, batchSize, shuffle) => {
          run += 1;
          const eventType = `prop${run}`;
          // The count is a function of the window and revision, as a replay would produce it.
          const results = writes.map((w) => result(w.key, w.slot, { eventType, revision: w.revision, count: w.slot * 10 + w.revision }));
          const order = results.map((r, i) => ({ r, k: shuffle.next().value as number, i })).sort((x, y) => x.k - y.k || x.i - y.i);
          for (let i = 0; i < order.length; i += batchSize) await sink.write(order.slice(i, i + batchSize).map((o) => o.r));
          const best = new Map<string, number>();
          for (const w of writes) best.set(`${w.key}/${w.slot}`, Math.max(best.get(`${w.key}/${w.slot}`) ?? -1, w.revision));
          const rows = await read(table, eventType);
          expect(rows.length).toBe(best.size);
          for (const row of rows) {
            const slot = (row.windowStart - T0) / MINUTE;
            expect(row.revision).toBe(best.get(`${row.key}/${slot}`));
            expect(row.count).toBe(slot * 10 + row.revision);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
