/**
 * PostgreSQL sink: final window results upserted into one table, one row per
 * (event_type, key, window, window_start). The columns are the WindowResult schema's fields
 * ({@link PG_COLUMNS}, snake_case; times as timestamptz, sent as epoch ms and converted in SQL).
 * A batch is one `INSERT … SELECT FROM unnest(…)` statement — one array parameter per column
 * whatever the batch size — with `ON CONFLICT DO UPDATE … WHERE`
 * the incoming revision is not older, so a replayed older revision never overwrites a newer one
 * and redelivery (at least once) leaves exactly one row per window.
 */
import pg from 'pg';
import type { PoolClient, PoolConfig } from 'pg';
import {
  ErrorCode,
  type FieldKind,
  KeyflowError,
  WINDOW_IDENTITY_FIELDS,
  WINDOW_RESULT_FIELDS,
  type WindowResult,
  windowIdentity,
} from '../../model/index.ts';
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

/** A column of the table: one WindowResult field. */
export interface PgColumn {
  readonly field: keyof WindowResult;
  /** snake_case of the field name. */
  readonly name: string;
  /** The column's SQL type. */
  readonly sqlType: string;
  readonly notNull: boolean;
  /** Part of the primary key (the window's identity). */
  readonly key: boolean;
  /**
   * The SQL expression, over the unnested parameter column `u.<name>`, that yields the column's
   * value: times travel as epoch ms (bigint) and become timestamptz in SQL.
   */
  readonly fromParam: string;
  /** The element type of the parameter array. */
  readonly paramType: string;
}

const SQL_TYPE_OF_KIND: Record<FieldKind, string> = {
  id: 'text',
  string: 'text',
  int: 'bigint',
  float: 'double precision',
  boolean: 'boolean',
  time: 'timestamptz',
  json: 'jsonb',
};
/** Columns whose type differs from their kind's, as created by earlier versions (kept so existing tables match). */
const SQL_TYPE_OF_FIELD: Partial<Record<keyof WindowResult, string>> = { revision: 'integer' };

const snakeCase = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The table's columns, one per WindowResult field, in the schema's order. */
export const PG_COLUMNS: readonly PgColumn[] = WINDOW_RESULT_FIELDS.map((f) => {
  const name = snakeCase(f.name);
  const sqlType = SQL_TYPE_OF_FIELD[f.name] ?? SQL_TYPE_OF_KIND[f.kind];
  const time = f.kind === 'time';
  return {
    field: f.name,
    name,
    sqlType,
    notNull: !f.nullable,
    key: (WINDOW_IDENTITY_FIELDS as readonly string[]).includes(f.name),
    paramType: time ? 'bigint' : sqlType,
    fromParam: time ? `'epoch'::timestamptz + u."${name}" * interval '1 millisecond'` : `u."${name}"`,
  };
});

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

  const createSql = createTableSql(table);
  const upsertSql = upsertStatement(table);

  return {
    name: opts.name ?? 'postgres',

    async start() {
      // CREATE TABLE IF NOT EXISTS is not safe against itself: two nodes starting at once can
      // both pass the existence check and one then fails on the table's row type (42710) or its
      // catalog index (23505). A transaction-scoped advisory lock on the table's name serialises
      // the creation; the lock goes with the transaction, also when the client dies.
      let client: PoolClient | undefined;
      try {
        client = await pool.connect();
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`keyflow.sink:${table}`]);
        await client.query(createSql);
        await client.query('COMMIT');
      } catch (e) {
        await client?.query('ROLLBACK').catch(() => undefined);
        throw toSinkError(e, `PostgreSQL sink cannot create table ${table}`);
      } finally {
        client?.release();
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
        const id = windowIdentity(r);
        const prev = byWindow.get(id);
        if (prev === undefined || r.revision > prev.revision || (r.revision === prev.revision && (r.final || !prev.final))) byWindow.set(id, r);
      }
      if (byWindow.size === 0) return;
      const n = byWindow.size;
      const arrays: unknown[][] = PG_COLUMNS.map(() => new Array(n));
      let i = 0;
      for (const r of byWindow.values()) {
        for (let c = 0; c < PG_COLUMNS.length; c++) {
          const v = r[PG_COLUMNS[c]!.field];
          if (typeof v === 'number' && !Number.isFinite(v) && PG_COLUMNS[c]!.notNull) {
            throw new KeyflowError(ErrorCode.SINK_FAILED, `window result ${r.eventType}/${r.key}/${r.window} has an invalid ${PG_COLUMNS[c]!.field} ${v}`);
          }
          arrays[c]![i] = v;
        }
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

const quoted = (c: PgColumn): string => `"${c.name}"`;

/** `CREATE TABLE IF NOT EXISTS` with a column per WindowResult field and the window identity as primary key. */
export function createTableSql(table: string): string {
  const columns = PG_COLUMNS.map((c) => `  ${quoted(c)} ${c.sqlType}${c.notNull ? ' NOT NULL' : ''}`);
  const key = PG_COLUMNS.filter((c) => c.key).map(quoted);
  return `CREATE TABLE IF NOT EXISTS ${table} (
${columns.join(',\n')},
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (${key.join(', ')})
)`;
}

/**
 * One `INSERT … SELECT FROM unnest(…)` of one array parameter per column. Newer revision wins; the
 * same revision replaces (idempotent redelivery) unless it would turn a final back into an update.
 */
export function upsertStatement(table: string): string {
  const cols = PG_COLUMNS.map(quoted).join(', ');
  const values = PG_COLUMNS.map((c) => c.fromParam).join(', ');
  const params = PG_COLUMNS.map((c, i) => `$${i + 1}::${c.paramType}[]`).join(', ');
  const key = PG_COLUMNS.filter((c) => c.key).map(quoted).join(', ');
  const updates = PG_COLUMNS.filter((c) => !c.key)
    .map((c) => `${quoted(c)} = EXCLUDED.${quoted(c)}`)
    .join(', ');
  return `INSERT INTO ${table} AS t (${cols}, updated_at)
SELECT ${values}, now() FROM unnest(${params}) AS u(${cols})
ON CONFLICT (${key}) DO UPDATE SET ${updates}, updated_at = now()
WHERE EXCLUDED.revision > t.revision
   OR (EXCLUDED.revision = t.revision AND (EXCLUDED.final OR NOT t.final))`;
}

/** Reads rows back as WindowResults, sorted by key, window, windowStart. For tests and tooling. */
export async function readPostgresWindowResults(pool: pg.Pool, table: string, eventType: string): Promise<WindowResult[]> {
  const t = quoteTable(table);
  const { rows } = await pool.query<Record<string, unknown>>(
    `SELECT ${PG_COLUMNS.map(quoted).join(', ')}
     FROM ${t} WHERE event_type = $1 ORDER BY key COLLATE "C", "window" COLLATE "C", window_start`,
    [eventType],
  );
  return rows.map((row) => {
    const r: Record<string, unknown> = {};
    for (const c of PG_COLUMNS) r[c.field] = fromSql(row[c.name], c);
    return r as WindowResult;
  });
}

/** A column's value as node-postgres returns it, back in the WindowResult's form. */
function fromSql(v: unknown, c: PgColumn): unknown {
  if (v === null) return null;
  if (v instanceof Date) return v.getTime();
  // bigint arrives as a decimal string
  if (c.sqlType === 'bigint' || c.sqlType === 'integer') return Number(v);
  return v;
}
