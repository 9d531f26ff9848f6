/** What every `keyflow <command>` file exports (main.ts loads it only when that command runs), and the one way a command turns its arguments into an exit code. */
import { ErrorCode, isKeyflowError } from '../model/index.ts';

/** Where a command writes; tests pass collectors. */
export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const processIO: CliIO = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

export interface Command {
  /** The word after `keyflow`. */
  readonly name: string;
  /** What `keyflow <name> --help` prints. */
  readonly usage: string;
  /** Runs the command with the arguments after its name; resolves to the process exit code. */
  run(argv: readonly string[], io: CliIO): Promise<number>;
}

/** What a command's parser returns: either a request for the usage text or the parsed options. */
export type Parsed<O> = { readonly help: true } | ({ readonly help: false } & O);

/**
 * Parses `argv` with `parse`, then: `--help` → usage on stdout, exit 0; a bad argument
 * (INVALID_CONFIG thrown by `parse`) → the message and the usage on stderr, exit 2; otherwise
 * `run`. Errors thrown by `run` propagate (main.ts reports them with exit 1).
 */
export async function runCommand<O>(
  command: Pick<Command, 'name' | 'usage'>,
  argv: readonly string[],
  io: CliIO,
  parse: (argv: readonly string[]) => Parsed<O>,
  run: (options: O) => Promise<number>,
): Promise<number> {
  let parsed: Parsed<O>;
  try {
    parsed = parse(argv);
  } catch (e) {
    if (isKeyflowError(e) && e.code === ErrorCode.INVALID_CONFIG) {
      io.stderr(`keyflow ${command.name}: ${e.message}\n\n${command.usage}`);
      return 2;
    }
    throw e;
  }
  if (parsed.help) {
    io.stdout(command.usage);
    return 0;
  }
  return run(parsed);
}
