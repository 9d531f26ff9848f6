/** The Pothos schema builder shared by the schema modules. */
import SchemaBuilder from '@pothos/core';
import type { ApiServices } from '../services.ts';

/** What every resolver receives. */
export interface GraphQLContext {
  readonly services: ApiServices;
  /** Identifies the request in logs and in error extensions. */
  readonly requestId: string;
}

/** Timestamps leave resolvers as epoch ms, Date or ISO strings; the DateTime scalar prints them as UTC. */
export type DateTimeOutput = Date | number | string;

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: DateTimeOutput };
    JSON: { Input: unknown; Output: unknown };
    ID: { Input: string; Output: string };
  };
}>({ defaultFieldNullability: false });
