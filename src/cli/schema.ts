/** `keyflow schema`: prints the GraphQL SDL the server serves (`npm run schema` writes it to schema.graphql). */
import { writeFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { buildSchema } from '../graphql/index.ts';
import { HELP_OPTION, parseFlags } from './args.ts';
import { type Command, type Parsed, runCommand } from './command.ts';

export const SCHEMA_USAGE = `Usage: keyflow schema [--out <file>]

Prints the GraphQL schema (SDL) the server serves. \`npm run schema\` writes it to schema.graphql
at the repository root, which a test keeps equal to the printed schema.

  --out <file>              write to this file instead of stdout
  -h, --help                this text
`;

/** The SDL exactly as committed in schema.graphql. */
export function printServedSchema(): string {
  return `${printSchema(buildSchema())}\n`;
}

export function parseSchemaArgs(argv: readonly string[]): Parsed<{ out: string | undefined }> {
  const v = parseFlags(argv, { out: { type: 'string' }, ...HELP_OPTION });
  return v.help ? { help: true } : { help: false, out: v.out };
}

export const schemaCommand: Command = {
  name: 'schema',
  summary: 'print the GraphQL schema (SDL) the server serves',
  usage: SCHEMA_USAGE,
  run: (argv, io) =>
    runCommand(schemaCommand, argv, io, parseSchemaArgs, async ({ out }) => {
      if (out === undefined) io.stdout(printServedSchema());
      else writeFileSync(out, printServedSchema());
      return 0;
    }),
};
