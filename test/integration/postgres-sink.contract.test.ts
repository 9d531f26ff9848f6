import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPostgresSink, readPostgresWindowResults } from '../../src/sinks/postgres/postgres-sink.ts';
import { assertReachable, hostPortOf, requirePostgres } from '../helpers/services.ts';
import { describeSinkContract } from '../contract/sink.contract.ts';

describeSinkContract('postgres sink', async () => {
  const { url } = requirePostgres();
  // A missing PostgreSQL fails the suite here, loudly, instead of skipping it.
  await assertReachable('PostgreSQL', hostPortOf(url, 5432));
  const table = `kft_sink_${randomBytes(6).toString('hex')}`;
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const sink = createPostgresSink({ connectionString: url, table });
  return {
    sink,
    readBack: (eventType) => readPostgresWindowResults(pool, table, eventType),
    cleanup: async () => {
      try {
        await pool.query(`DROP TABLE IF EXISTS "${table}"`);
      } finally {
        await pool.end();
      }
    },
  };
});
