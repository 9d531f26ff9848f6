/** `keyflow schema`: prints the GraphQL SDL the server serves (`npm run schema` writes it to schema.graphql). */
import { writeFileSync } from 'node:fs';
import { HELP_OPTION, parseFlags } from './args.ts';
import { type Command, type Parsed, runCommand } from './command.ts';

export const SCHEMA_USAGE = `Usage: keyflow schema [--out <file>]

Prints the GraphQL schema (SDL) the server serves. \`npm run schema\` writes it to schema.graphql
at the repository root, which a test keeps equal to the printed schema.

  --out <file>              write to this file instead of stdout
  -h, --help                this text
`;

/** The SDL exactly as committed in schema.graphql (GraphQL is loaded on use, so --help stays quick). */
export async function printServedSchema(): Promise<string> {
  const [{ printSchema }, { buildSchema }] = await Promise.all([import('graphql'), import('../graphql/index.ts')]);
  return `${printSchema(buildSchema())}\n`;
}

export function parseSchemaArgs(argv: readonly string[]): Parsed<{ out: string | undefined }> {
  const v = parseFlags(argv, { out: { type: 'string' }, ...HELP_OPTION });
  return v.help ? { help: true } : { help: false, out: v.out };
}

export const schemaCommand: Command = {
  name: 'schema',
  usage: SCHEMA_USAGE,
  run: (argv, io) =>
    runCommand(schemaCommand, argv, io, parseSchemaArgs, async ({ out }) => {
      const sdl = await printServedSchema();
      if (out === undefined) io.stdout(sdl);
      else writeFileSync(out, sdl);
      return 0;
    }),
};
