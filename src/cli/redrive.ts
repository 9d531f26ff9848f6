/** `keyflow redrive`: re-send dead letters after a fix, each at most once (the work is in src/redrive). */

import { parseIsoTimestamp } from '../model/index.ts';
import type { RedriveFilter } from '../redrive/index.ts';
import { HELP_OPTION, invalidFlag, parseFlags } from './args.ts';
import { type Command, type Parsed, runCommand } from './command.ts';

export const REDRIVE_USAGE = `Usage: keyflow redrive [--topics <list>] [--error-types <list>] [--from <time>] [--to <time>] [--ids <list>] [--dry-run]

Re-sends the dead letters that match every given filter to their event type's topic (the type as
registered now), each at most once however often it is run; a dead letter whose event still fails
today's checks stays, reported STILL_INVALID with the reason. Prints the report as JSON. Uses the
platform's configuration (KEYFLOW_DATA_DIR or KAFKA_BROKERS, …); in embedded mode stop
\`keyflow start\` first (or use the admin mutation redriveDeadLetters).

  --topics <list>           source topics, comma-separated
  --error-types <list>      error types, comma-separated (e.g. UNKNOWN_EVENT_TYPE,SCHEMA_VALIDATION_FAILED)
  --from <time>             dead-lettered at or after this ISO-8601 time
  --to <time>               dead-lettered before this ISO-8601 time
  --ids <list>              dead-letter ids (events.dlq/<partition>/<offset>), comma-separated
  --dry-run                 report what would be redriven; change nothing
  -h, --help                this text
`;

const FLAGS = {
  topics: { type: 'string' },
  'error-types': { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  ids: { type: 'string' },
  'dry-run': { type: 'boolean' },
  ...HELP_OPTION,
} as const;

export interface RedriveArgs {
  filter: RedriveFilter;
  dryRun: boolean;
}

const list = (flag: string, raw: string): string[] => {
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw invalidFlag(flag, 'needs at least one value');
  return items;
};

const time = (flag: string, raw: string): number => {
  const t = parseIsoTimestamp(raw);
  if (Number.isNaN(t)) throw invalidFlag(flag, `must be an ISO-8601 date-time with an offset, got "${raw}"`);
  return t;
};

/** @throws KeyflowError INVALID_CONFIG naming the offending flag. */
export function parseRedriveArgs(argv: readonly string[]): Parsed<RedriveArgs> {
  const v = parseFlags(argv, FLAGS);
  if (v.help) return { help: true };
  const filter: RedriveFilter = {
    ...(v.topics !== undefined ? { topics: list('topics', v.topics) } : {}),
    ...(v['error-types'] !== undefined ? { errorTypes: list('error-types', v['error-types']) } : {}),
    ...(v.ids !== undefined ? { ids: list('ids', v.ids) } : {}),
    ...(v.from !== undefined ? { from: time('from', v.from) } : {}),
    ...(v.to !== undefined ? { to: time('to', v.to) } : {}),
  };
  return { help: false, filter, dryRun: v['dry-run'] ?? false };
}

export const redriveCommand: Command = {
  name: 'redrive',
  usage: REDRIVE_USAGE,
  run: (argv, io) =>
    runCommand(redriveCommand, argv, io, parseRedriveArgs, async ({ filter, dryRun }) => {
      const [{ loadConfig, createCatalog, createEventLog, detectPlatform }, { createLogger, systemClock }, { redriveDeadLetters }, { DEFAULT_EVENT_TYPES, createEventTypeRegistry }] =
        await Promise.all([import('../app/index.ts'), import('../core/index.ts'), import('../redrive/index.ts'), import('../model/index.ts')]);
      const config = loadConfig();
      const logger = createLogger({ level: config.KEYFLOW_LOG_LEVEL, base: { command: 'redrive' } });
      const log = createEventLog(config, { logger, clock: systemClock, nodeId: `${detectPlatform().defaultNodeId()}-redrive` });
      await log.start();
      try {
        // the types as registered now: a dead letter goes to its type's topic
        const registry = createEventTypeRegistry(DEFAULT_EVENT_TYPES);
        const catalog = createCatalog(config, { log, registry, clock: systemClock, logger });
        await catalog.start();
        await catalog.close();
        const report = await redriveDeadLetters({ log, registry, filter, dryRun, maxFutureSkewMs: config.KEYFLOW_MAX_FUTURE_SKEW_MS });
        io.stdout(`${JSON.stringify(report, null, 2)}\n`);
        logger.info({ event: 'audit.admin_action', action: 'redrive', dryRun, matched: report.matched, redriven: report.items.filter((i) => i.outcome === 'REDRIVEN').length, runId: report.runId }, 'redrive done');
        return 0;
      } finally {
        await log.close();
      }
    }),
};
