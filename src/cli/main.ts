/**
 * The keyflow command line: picks the command and runs it; each command parses its own flags
 * (src/cli/<command>.ts). `keyflow` alone runs `start`.
 *
 *   keyflow start [--demo]   all roles in one process (the default)
 *   keyflow gateway          GraphQL API only (distributed mode)
 *   keyflow processor        consumer-group member running the actors (distributed mode)
 *   keyflow produce …        load generator publishing through the GraphQL API
 *   keyflow replay …         rebuild a sink from the log
 *   keyflow schema           print the GraphQL SDL
 *
 * Exit codes: 0 done (or --help), 1 failed (the error is printed), 2 bad command line.
 */
import { isKeyflowError } from '../model/index.ts';
import { type CliIO, type Command, processIO } from './command.ts';
import { gatewayCommand } from './gateway.ts';
import { processorCommand } from './processor.ts';
import { produceCommand } from './produce.ts';
import { replayCommand } from './replay.ts';
import { schemaCommand } from './schema.ts';
import { startCommand } from './start.ts';

export const COMMANDS: readonly Command[] = [startCommand, gatewayCommand, processorCommand, produceCommand, replayCommand, schemaCommand];

export const MAIN_USAGE = `Usage: keyflow <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(12)}${c.summary}`).join('\n')}
  help [cmd]  this text, or the usage of one command

keyflow alone runs start. keyflow <command> --help prints the command's options. Configuration
comes from environment variables (KEYFLOW_PORT, KAFKA_BROKERS, …); see README.md.
`;

/** Runs the command line `argv` (the arguments after `keyflow`); resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const [name = 'start', ...rest] = argv;
  if (name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? rest[0] : undefined;
    const command = COMMANDS.find((c) => c.name === topic);
    if (topic !== undefined && !command) {
      io.stderr(`keyflow: unknown command "${topic}"\n\n${MAIN_USAGE}`);
      return 2;
    }
    io.stdout(command ? command.usage : MAIN_USAGE);
    return 0;
  }
  // `keyflow --demo` is `keyflow start --demo`.
  const command = name.startsWith('-') ? startCommand : COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr(`keyflow: unknown command "${name}"\n\n${MAIN_USAGE}`);
    return 2;
  }
  return command.run(name.startsWith('-') ? argv : rest, io);
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
