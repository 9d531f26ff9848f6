/**
 * PostgreSQL sink: final window results upserted into one table, one row per
 * (event_type, key, window, window_start). A batch is one `INSERT … SELECT FROM unnest(…)`
 * statement — 14 array parameters whatever the batch size — with `ON CONFLICT DO UPDATE … WHERE`
 * the incoming revision is not older, so a replayed older revision never overwrites a newer one
 * and redelivery (at least once) leaves exactly one row per window.
 */
import pg from 'pg';
import type { PoolConfig } from 'pg';
import { ErrorCode, KeyflowError } from '../../model/index.ts';
import type { WindowResult } from '../../model/index.ts';
import type { Sink } from '../port.ts';

export interface PostgresSinkOptions {
  /** `postgres://user:pass@host:5432/db`. Ignored when `pool` is given. */
  connectionString?: string;
  /**
   * Table to upsert into, optionally schema-qualified (`analytics.window_results`); created with
   * its primary key when missing. Letters, digits and `_` only.
   * @default 'keyflow_window_results'
   */
  table?: string;
  /** Extra node-postgres pool settings (TLS, max connections, …), merged over the defaults. */
  poolConfig?: PoolConfig;
  /** An existing pool to use; the sink then does not end it on close. */
  pool?: pg.Pool;
  /**
   * Also write non-final updates (final = false). Off by default: the port carries finals to
   * sinks; with it on, an update never replaces a final of the same revision.
   * @default false
   */
  includeUpdates?: boolean;
  /** Sink name for health and metrics. @default 'postgres' */
  name?: string;
}

const COLUMNS = [
  'event_type',
  'key',
  'window',
  'window_start',
  'window_end',
  'count',
  'value_count',
  'sum',
  'avg',
  'min',
  'max',
  'distinct_users',
  'revision',
  'final',
] as const;
const ARRAY_TYPES = ['text', 'text', 'text', 'timestamptz', 'timestamptz', 'bigint', 'bigint', 'float8', 'float8', 'float8', 'float8', 'bigint', 'integer', 'boolean'];

/** Quotes a possibly schema-qualified identifier after checking it is a plain one. */
function quoteTable(table: string): string {
  const parts = table.split('.');
  if (parts.length > 2 || parts.some((p) => !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(p))) {
    throw new KeyflowError(ErrorCode.INVALID_CONFIG, `PostgreSQL sink table "${table}" must be [schema.]name of letters, digits and _`);
  }
  return parts.map((p) => `"${p}"`).join('.');
}

// SQLSTATE classes after which the same write may succeed later: connection exceptions,
// insufficient resources, operator intervention (shutdown), transaction rollback (deadlock,
// serialization), plus Node socket errors.
const RETRIABLE_SQLSTATE = /^(08|53|57|40)/;
const RETRIABLE_NODE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function toSinkError(e: unknown, message: string): KeyflowError {
  const code = (e as { code?: unknown } | null)?.code;
  const text = e instanceof Error ? e.message : String(e);
  const retriable =
    typeof code !== 'string' || RETRIABLE_SQLSTATE.test(code) || RETRIABLE_NODE.has(code) || /timeout|terminat|connection/i.test(text);
  return new KeyflowError(ErrorCode.SINK_FAILED, `${message}: ${text}`, { retriable, cause: e, details: typeof code === 'string' ? { sqlstate: code } : undefined });
}

/**
 * Creates the PostgreSQL sink.
 *
 * @example
 * const sink = createPostgresSink({ connectionString: process.env.DATABASE_URL });
 * await sink.start(); // creates keyflow_window_results if missing
 * await sink.write(finals);
 */
export function createPostgresSink(opts: PostgresSinkOptions = {}): Sink {
  const table = quoteTable(opts.table ?? 'keyflow_window_results');
  const includeUpdates = opts.includeUpdates ?? false;
  const owned = opts.pool === undefined;
  const pool =
    opts.pool ??
    new pg.Pool({
      connectionString: opts.connectionString,
      max: 4,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      ...opts.poolConfig,
    });
  // An idle client that loses its server emits on the pool; without a listener that is an
  // uncaught exception. The next query reports the failure instead.
  if (owned) pool.on('error', () => {});

  const createSql = `CREATE TABLE IF NOT EXISTS ${table} (
  event_type text NOT NULL,
  key text NOT NULL,
  "window" text NOT NULL,
  window_start timestamptz NOT NULL,
  window_end timestamptz NOT NULL,
  count bigint NOT NULL,
  value_count bigint NOT NULL,
  sum double precision,
  avg double precision,
  min double precision,
  max double precision,
  distinct_users bigint NOT NULL,
  revision integer NOT NULL,
  final boolean NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_type, key, "window", window_start)
)`;

  const cols = COLUMNS.map((c) => `"${c}"`).join(', ');
  const unnestArgs = ARRAY_TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ');
  const updates = COLUMNS.filter((c) => !['event_type', 'key', 'window', 'window_start'].includes(c))
    .map((c) => `"${c}" = EXCLUDED."${c}"`)
    .join(', ');
  // Newer revision wins; the same revision replaces (idempotent redelivery) unless it would turn
  // a final back into an update.
  const upsertSql = `INSERT INTO ${table} AS t (${cols}, updated_at)
SELECT u.*, now() FROM unnest(${unnestArgs}) AS u
ON CONFLICT (event_type, key, "window", window_start) DO UPDATE SET ${updates}, updated_at = now()
WHERE EXCLUDED.revision > t.revision
   OR (EXCLUDED.revision = t.revision AND (EXCLUDED.final OR NOT t.final))`;

  return {
    name: opts.name ?? 'postgres',

    async start() {
      try {
        await pool.query(createSql);
      } catch (e) {
        // Two nodes creating the table at once: one wins, the other sees a duplicate type/table.
        const code = (e as { code?: unknown }).code;
        if (code !== '23505' && code !== '42P07') throw toSinkError(e, `PostgreSQL sink cannot create table ${table}`);
      }
    },

    async close() {
      if (owned) await pool.end();
    },

    async write(results: readonly WindowResult[]) {
      // ON CONFLICT may touch a row only once per statement: keep the winner per window first.
      const byWindow = new Map<string, WindowResult>();
      for (const r of results) {
        if (!r.final && !includeUpdates) continue;
        const id = `${r.eventType}\u0000${r.key}\u0000${r.window}\u0000${r.windowStart}`;
        const prev = byWindow.get(id);
        if (prev === undefined || r.revision > prev.revision || (r.revision === prev.revision && (r.final || !prev.final))) byWindow.set(id, r);
      }
      if (byWindow.size === 0) return;
      const n = byWindow.size;
      const arrays: unknown[][] = COLUMNS.map(() => new Array(n));
      let i = 0;
      for (const r of byWindow.values()) {
        arrays[0]![i] = r.eventType;
        arrays[1]![i] = r.key;
        arrays[2]![i] = r.window;
        arrays[3]![i] = isoTime(r.windowStart, r);
        arrays[4]![i] = isoTime(r.windowEnd, r);
        arrays[5]![i] = r.count;
        arrays[6]![i] = r.valueCount;
        arrays[7]![i] = r.sum;
        arrays[8]![i] = r.avg;
        arrays[9]![i] = r.min;
        arrays[10]![i] = r.max;
        arrays[11]![i] = r.distinctUsers;
        arrays[12]![i] = r.revision;
        arrays[13]![i] = r.final;
        i++;
      }
      try {
        await pool.query(upsertSql, arrays);
      } catch (e) {
        throw toSinkError(e, `PostgreSQL sink could not upsert ${n} window results into ${table}; the batch may be redelivered`);
      }
    },

    async healthy() {
      try {
        await pool.query('SELECT 1');
        return { connected: true, detail: `postgres table ${table}` };
      } catch (e) {
        return { connected: false, detail: e instanceof Error ? e.message : String(e) };
      }
    },
  };
}

function isoTime(ms: number, r: WindowResult): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) {
    throw new KeyflowError(ErrorCode.SINK_FAILED, `window result ${r.eventType}/${r.key}/${r.window} has an invalid time ${ms}`);
  }
  return d.toISOString();
}

/** Reads rows back as WindowResults, sorted by key, window, windowStart. For tests and tooling. */
export async function readPostgresWindowResults(pool: pg.Pool, table: string, eventType: string): Promise<WindowResult[]> {
  const t = quoteTable(table);
  const { rows } = await pool.query<Record<string, unknown>>(
    `SELECT event_type, key, "window", window_start, window_end, count, value_count, sum, avg, min, max, distinct_users, revision, final
     FROM ${t} WHERE event_type = $1 ORDER BY key COLLATE "C", "window" COLLATE "C", window_start`,
    [eventType],
  );
  return rows.map((r) => ({
    eventType: r.event_type as string,
    key: r.key as string,
    window: r.window as string,
    windowStart: (r.window_start as Date).getTime(),
    windowEnd: (r.window_end as Date).getTime(),
    count: Number(r.count),
    valueCount: Number(r.value_count),
    sum: r.sum as number | null,
    avg: r.avg as number | null,
    min: r.min as number | null,
    max: r.max as number | null,
    distinctUsers: Number(r.distinct_users),
    final: r.final as boolean,
    revision: r.revision as number,
  }));
}
