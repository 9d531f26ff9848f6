/** The Pothos schema builder shared by the schema modules. */
import SchemaBuilder from '@pothos/core';
import type { ApiServices } from '../services.ts';

/** What every resolver receives. */
export interface GraphQLContext {
  readonly services: ApiServices;
  /** Identifies the request in logs and in error extensions. */
  readonly requestId: string;
}

/** Timestamps are epoch ms (UTC) on both sides of the DateTime scalar, which alone reads and prints ISO-8601. */
export type DateTimeOutput = number;

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: number; Output: DateTimeOutput };
    JSON: { Input: unknown; Output: unknown };
    ID: { Input: string; Output: string };
  };
}>({ defaultFieldNullability: false });
