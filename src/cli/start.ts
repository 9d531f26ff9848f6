/** `keyflow start`: every role in one process; on the embedded defaults it needs no servers. */
import { HELP_OPTION, parseFlags } from './args.ts';
import { type Command, type Parsed, runCommand } from './command.ts';

export const START_USAGE = `Usage: keyflow start [--demo]

Runs every role (GraphQL gateway and processor) in one process. Without KAFKA_BROKERS, REDIS_URL
and NATS_URL it uses the embedded log, checkpoints and bus under KEYFLOW_DATA_DIR (default ./data):
no servers needed. GraphQL, /health, /ready and /metrics listen on KEYFLOW_PORT (default 4000).
Configuration comes from environment variables; see README.md.

  --demo                    also run the load generator in-process, so windows fill up on their own
  -h, --help                this text
`;

export function parseStartArgs(argv: readonly string[]): Parsed<{ demo: boolean }> {
  const v = parseFlags(argv, { demo: { type: 'boolean' }, ...HELP_OPTION });
  return v.help ? { help: true } : { help: false, demo: v.demo === true };
}

export const startCommand: Command = {
  name: 'start',
  usage: START_USAGE,
  run: (argv, io) => runCommand(startCommand, argv, io, parseStartArgs, async (o) => (await import('./serve.ts')).serve(['gateway', 'processor'], o)),
};
