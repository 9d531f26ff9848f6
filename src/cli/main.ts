/**
 * The keyflow command line: picks the command and runs it. Each command lives in its own file
 * (src/cli/<command>.ts), parses its own flags and is loaded only when it runs, so `--help` does
 * not load the platform. `keyflow` alone runs `start`.
 *
 * Exit codes: 0 done (or --help), 1 failed (the error is printed), 2 bad command line.
 */
import { isKeyflowError } from '../model/index.ts';
import { type CliIO, type Command, processIO } from './command.ts';

interface CommandEntry {
  readonly name: string;
  /** One line for `keyflow --help`. */
  readonly summary: string;
  load(): Promise<Command>;
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'start',
    summary: 'run every role in one process (the default; embedded defaults need no servers)',
    load: async () => (await import('./start.ts')).startCommand,
  },
  {
    name: 'gateway',
    summary: 'serve the GraphQL API only (distributed mode: KAFKA_BROKERS, REDIS_URL, NATS_URL)',
    load: async () => (await import('./gateway.ts')).gatewayCommand,
  },
  {
    name: 'processor',
    summary: 'run the actors as a member of the Kafka consumer group (distributed mode)',
    load: async () => (await import('./processor.ts')).processorCommand,
  },
  {
    name: 'produce',
    summary: 'publish generated events through the GraphQL API at a target rate (load generator)',
    load: async () => (await import('./produce.ts')).produceCommand,
  },
  {
    name: 'replay',
    summary: 'rebuild a sink (data lake, PostgreSQL, events.aggregated) from the retained log',
    load: async () => (await import('./replay.ts')).replayCommand,
  },
  {
    name: 'redrive',
    summary: 'redrive dead letters after a fix (each at most once; --dry-run to see what would go)',
    load: async () => (await import('./redrive.ts')).redriveCommand,
  },
  {
    name: 'schema',
    summary: 'print the GraphQL schema (SDL) the server serves',
    load: async () => (await import('./schema.ts')).schemaCommand,
  },
];

export const MAIN_USAGE = `Usage: keyflow <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(12)}${c.summary}`).join('\n')}
  help [cmd]  this text, or the usage of one command

keyflow alone runs start. keyflow <command> --help prints the command's options. Configuration
comes from environment variables (KEYFLOW_PORT, KAFKA_BROKERS, …); see README.md.
`;

const find = (name: string | undefined) => COMMANDS.find((c) => c.name === name);

/** Runs the command line `argv` (the arguments after `keyflow`); resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const [name = 'start', ...rest] = argv;
  if (name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? rest[0] : undefined;
    if (topic === undefined) {
      io.stdout(MAIN_USAGE);
      return 0;
    }
    const entry = find(topic);
    if (!entry) {
      io.stderr(`keyflow: unknown command "${topic}"\n\n${MAIN_USAGE}`);
      return 2;
    }
    io.stdout((await entry.load()).usage);
    return 0;
  }
  // Options without a command belong to start: `keyflow --demo` is `keyflow start --demo`.
  const entry = name.startsWith('-') ? find('start') : find(name);
  if (!entry) {
    io.stderr(`keyflow: unknown command "${name}"\n\n${MAIN_USAGE}`);
    return 2;
  }
  return (await entry.load()).run(name.startsWith('-') ? argv : rest, io);
}

runCli(process.argv.slice(2), processIO).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (isKeyflowError(error)) {
      process.stderr.write(`keyflow: ${error.code}: ${error.message}\n`);
    } else {
      process.stderr.write(`keyflow: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    }
    process.exit(1);
  },
);
