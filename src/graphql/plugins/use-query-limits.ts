/**
 * Query limits with graphql-armor (depth, aliases, cost, tokens, directives). A rejection is a
 * QUERY_TOO_COMPLEX error. An envelop plugin, so it runs for HTTP and WebSocket operations alike.
 */
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import type { GraphQLError, ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { markComplexityError } from '../errors.ts';

export interface QueryLimits {
  /** Deepest selection set (introspection excluded). @default 10 */
  maxDepth?: number;
  /** Most aliases in one operation. @default 30 */
  maxAliases?: number;
  /** Highest graphql-armor cost (introspection excluded). @default 5000 */
  maxCost?: number;
  /** Most lexical tokens in one document. @default 2000 */
  maxTokens?: number;
  /** Most directives in one operation. @default 50 */
  maxDirectives?: number;
}

const onReject = [(_ctx: ValidationContext | null, error: GraphQLError) => markComplexityError(error)];

export function useQueryLimits(limits: QueryLimits = {}): Plugin {
  return EnvelopArmorPlugin({
    maxDepth: { n: limits.maxDepth ?? 10, ignoreIntrospection: true, flattenFragments: true, onReject },
    maxAliases: { n: limits.maxAliases ?? 30, onReject },
    costLimit: { maxCost: limits.maxCost ?? 5000, ignoreIntrospection: true, onReject },
    maxTokens: { n: limits.maxTokens ?? 2000, onReject },
    maxDirectives: { n: limits.maxDirectives ?? 50, onReject },
    blockFieldSuggestion: { enabled: true },
  }) as Plugin;
}
