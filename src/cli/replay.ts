/** `keyflow replay`: rebuild a sink from the retained log (the work is in replay-sink.ts, loaded on use). */
import { HELP_OPTION, invalidFlag, parseFlags } from './args.ts';
import { type Command, type Parsed, runCommand } from './command.ts';
import type { ReplayOptions } from './replay-sink.ts';

export const REPLAY_USAGE = `Usage: keyflow replay --sink data-lake|postgres|aggregated [--types <list>]

Rebuilds the sink from the retained log: recomputes every window from the raw events and upserts
each final result. Uses the same configuration as the platform (KEYFLOW_WINDOWS, KEYFLOW_DATA_DIR
or KAFKA_BROKERS, DATABASE_URL, …); in embedded mode stop \`keyflow start\` first.

  --sink <sink>             data-lake, postgres or aggregated (the events.aggregated topic)
  --types <list>            comma-separated event types to replay (default: every configured type)
  -h, --help                this text
`;

const SINKS = ['data-lake', 'postgres', 'aggregated'] as const;

const FLAGS = { sink: { type: 'string' }, types: { type: 'string' }, ...HELP_OPTION } as const;

/**
 * Parses the arguments after `replay`.
 * @throws KeyflowError INVALID_CONFIG naming the offending flag in `details.flag`.
 */
export function parseReplayArgs(argv: readonly string[]): Parsed<ReplayOptions> {
  const v = parseFlags(argv, FLAGS);
  if (v.help) return { help: true };
  const sink = SINKS.find((s) => s === v.sink);
  if (!sink) throw invalidFlag('sink', `must be ${SINKS.join(', ')}${v.sink === undefined ? '' : `, got "${v.sink}"`}`);
  if (v.types === undefined) return { help: false, sink };
  const types = v.types
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  if (types.length === 0) throw invalidFlag('types', 'needs at least one event type');
  return { help: false, sink, types };
}

export const replayCommand: Command = {
  name: 'replay',
  usage: REPLAY_USAGE,
  run: (argv, io) =>
    runCommand(replayCommand, argv, io, parseReplayArgs, async (options) => {
      const [{ loadConfig }, { createLogger }, { runReplay }] = await Promise.all([
        import('../app/index.ts'),
        import('../core/index.ts'),
        import('./replay-sink.ts'),
      ]);
      const config = loadConfig();
      const logger = createLogger({ level: config.KEYFLOW_LOG_LEVEL, base: { command: 'replay' } });
      const stats = await runReplay(config, options, logger);
      io.stdout(`${JSON.stringify(stats)}\n`);
      return 0;
    }),
};
