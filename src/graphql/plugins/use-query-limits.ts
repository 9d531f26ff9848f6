/**
 * Query limits: depth, aliases, cost and directives with graphql-armor, tokens with
 * use-token-limit.ts (sized by the batch limit). A rejection is a QUERY_TOO_COMPLEX error. An
 * envelop plugin, so it runs for HTTP and WebSocket operations alike.
 */
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import type { GraphQLError, ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { MAX_JSON_DEPTH } from '../../model/index.ts';
import { markComplexityError } from '../errors.ts';
import { type TokenLimits, useTokenLimit } from './use-token-limit.ts';

export interface QueryLimits extends TokenLimits {
  /** Deepest selection set (introspection excluded). @default 10 */
  maxDepth?: number;
  /** Most aliases in one operation. @default 30 */
  maxAliases?: number;
  /** Highest graphql-armor cost (introspection excluded). @default 5000 */
  maxCost?: number;
  /** Most directives in one operation. @default 50 */
  maxDirectives?: number;
}

const onReject = [(_ctx: ValidationContext | null, error: GraphQLError) => markComplexityError(error)];

export function useQueryLimits(limits: QueryLimits = {}): Plugin {
  const armor = EnvelopArmorPlugin({
    maxDepth: { n: limits.maxDepth ?? 10, ignoreIntrospection: true, flattenFragments: true, onReject },
    maxAliases: { n: limits.maxAliases ?? 30, onReject },
    costLimit: { maxCost: limits.maxCost ?? 5000, ignoreIntrospection: true, onReject },
    // tokens: useTokenLimit (graphql-js's own cap, sized by the batch limit)
    maxTokens: { enabled: false },
    maxDirectives: { n: limits.maxDirectives ?? 50, onReject },
    blockFieldSuggestion: { enabled: true },
  }) as Plugin;
  // brackets may nest as deep as the deepest selection or an inline event's deepest JSON value, plus their wrapping
  const tokens = useTokenLimit({ ...limits, maxNesting: limits.maxNesting ?? (limits.maxDepth ?? 10) + MAX_JSON_DEPTH + 16 });
  return {
    onPluginInit({ addPlugin }) {
      addPlugin(tokens);
      addPlugin(armor);
    },
  };
}
