/** `keyflow processor`: the actors alone, as one member of the Kafka consumer group. */
import { HELP_OPTION, parseFlags } from './args.ts';
import { type Command, type Parsed, runCommand } from './command.ts';

export const PROCESSOR_USAGE = `Usage: keyflow processor

Runs the keyed actors as one member of the Kafka consumer group KAFKA_GROUP_ID: consumes its share
of the partitions, keeps the windows, checkpoints to Redis and writes the sinks. Meant for
distributed mode (KAFKA_BROKERS, REDIS_URL, NATS_URL). /health, /ready and /metrics listen on
KEYFLOW_OPS_PORT when it is set. See README.md.

  -h, --help                this text
`;

export function parseProcessorArgs(argv: readonly string[]): Parsed<object> {
  return parseFlags(argv, HELP_OPTION).help ? { help: true } : { help: false };
}

export const processorCommand: Command = {
  name: 'processor',
  usage: PROCESSOR_USAGE,
  run: (argv, io) => runCommand(processorCommand, argv, io, parseProcessorArgs, async () => (await import('./serve.ts')).serve(['processor'], { demo: false })),
};
