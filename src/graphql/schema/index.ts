/** Builds the keyflow GraphQL schema (code-first with Pothos); it contains the original contract (test/fixtures/contract/schema.graphql); `npm run schema` prints it to schema.graphql. */
import type { GraphQLSchema } from 'graphql';
import { builder } from './builder.ts';
import './scalars.ts';
import './types.ts';
import './operations.ts';
import './event-types.ts';
import './redrive.ts';
import './rollups.ts';
import './schemas.ts';

export type { GraphQLContext } from './builder.ts';
export { parseDateTime, serializeDateTime } from './scalars.ts';
export type { DeadLetterView, EventView, TopicView } from './types.ts';

let schema: GraphQLSchema | undefined;

/** The schema; stateless (resolvers reach the node through the context's `services`), so built once. */
export function buildSchema(): GraphQLSchema {
  schema ??= builder.toSchema({ sortSchema: false });
  return schema;
}
