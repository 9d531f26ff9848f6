/** `keyflow gateway`: the GraphQL API alone, for distributed mode. */
import { HELP_OPTION, parseFlags } from './args.ts';
import { type Command, type Parsed, runCommand } from './command.ts';

export const GATEWAY_USAGE = `Usage: keyflow gateway

Serves the GraphQL API (publish, queries, subscriptions) plus /health, /ready and /metrics on
KEYFLOW_PORT, without running any actors. Meant for distributed mode: set KAFKA_BROKERS, REDIS_URL
and NATS_URL so that processors elsewhere consume what it publishes. See README.md.

  -h, --help                this text
`;

export function parseGatewayArgs(argv: readonly string[]): Parsed<object> {
  return parseFlags(argv, HELP_OPTION).help ? { help: true } : { help: false };
}

export const gatewayCommand: Command = {
  name: 'gateway',
  usage: GATEWAY_USAGE,
  run: (argv, io) => runCommand(gatewayCommand, argv, io, parseGatewayArgs, async () => (await import('./serve.ts')).serve(['gateway'], { demo: false })),
};
