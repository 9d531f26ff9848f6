/**
 * The token limit of a GraphQL document, sized by the batch limit so the two never contradict
 * each other: a document may have `maxQueryTokens` lexical tokens of its own, plus
 * `maxTokensPerEvent` for each event it may write inline (`publishEvents(inputs: [ … ])`, up to
 * `maxBatch` of them). So an inline batch of `maxBatch` events of at most `maxTokensPerEvent`
 * tokens each always passes, and one event more reaches the resolver and gets BATCH_TOO_LARGE;
 * every other document keeps the small limit. A rejection is QUERY_TOO_COMPLEX.
 *
 * Parsing uses graphql-js's own token cap (`parse(source, { maxTokens })`, at the total limit) so
 * the parser stops early on a token bomb; the document's own tokens (all but those of inline
 * event values) are counted afterwards from the token list the parser kept.
 */
import { type DocumentNode, GraphQLError, Kind, parse, type Token, TokenKind, type ValueNode, visit } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { markComplexityError } from '../errors.ts';

export interface TokenLimits {
  /** Tokens a document may have besides its inline events. @default 2000 */
  maxQueryTokens?: number;
  /** Tokens allowed per inline event (up to `maxBatch` events). @default 200 */
  maxTokensPerEvent?: number;
  /** Most events in one publishEvents. @default 1000 */
  maxBatch?: number;
  /** Deepest nesting of brackets in a document (selections, arguments, lists, objects). @default 64 */
  maxNesting?: number;
}

/** Room for the JSON depth limit (32) inside the brackets around an inline event, and for selection depth. */
export const DEFAULT_MAX_NESTING = 64;

export const DEFAULT_MAX_QUERY_TOKENS = 2000;
export const DEFAULT_MAX_TOKENS_PER_EVENT = 200;

/** The most tokens any document may have: its own allowance plus `maxBatch` inline events'. */
export function tokenLimit(limits: TokenLimits): number {
  return (limits.maxQueryTokens ?? DEFAULT_MAX_QUERY_TOKENS) + (limits.maxBatch ?? 1000) * (limits.maxTokensPerEvent ?? DEFAULT_MAX_TOKENS_PER_EVENT);
}

function tooComplex(message: string): GraphQLError {
  const e = new GraphQLError(message);
  markComplexityError(e);
  return e;
}

/** Tokens from `from` to `to` inclusive, comments not counted (as the parser counts them). */
function tokensBetween(from: Token, to: Token): number {
  let n = 0;
  for (let t: Token | null = from; t !== null; t = t.next) {
    if (t.kind !== TokenKind.COMMENT && t.kind !== TokenKind.SOF && t.kind !== TokenKind.EOF) n++;
    if (t === to) break;
  }
  return n;
}

/** Tokens of the event values written inline in publishEvent(input:) / publishEvents(inputs:) fields. */
function inlineEventTokens(document: DocumentNode): number {
  let n = 0;
  visit(document, {
    Field(node) {
      const argName = node.name.value === 'publishEvents' ? 'inputs' : node.name.value === 'publishEvent' ? 'input' : null;
      if (argName === null) return;
      const arg = node.arguments?.find((a) => a.name.value === argName);
      const value: ValueNode | undefined = arg?.value;
      if (value && (value.kind === Kind.LIST || value.kind === Kind.OBJECT) && value.loc) n += tokensBetween(value.loc.startToken, value.loc.endToken);
    },
  });
  return n;
}

/**
 * Whether brackets (`{`, `[`, `(`) nest deeper than `max` anywhere in the source, outside strings
 * and comments. The parser recurses once per level: without this bound the token budget of a
 * large inline batch would let one deep value overflow its stack.
 */
export function nestsDeeperThan(source: string, max: number): boolean {
  let depth = 0;
  const n = source.length;
  for (let i = 0; i < n; i++) {
    const c = source.charCodeAt(i);
    if (c === 0x7b || c === 0x5b || c === 0x28) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d || c === 0x29) {
      depth--;
    } else if (c === 0x23) {
      // comment to the end of the line
      while (i + 1 < n && source.charCodeAt(i + 1) !== 0x0a && source.charCodeAt(i + 1) !== 0x0d) i++;
    } else if (c === 0x22) {
      if (source.startsWith('"""', i)) {
        // block string: ends at the next """ not escaped as \"""
        i += 3;
        while (i < n && !(source.startsWith('"""', i) && source.charCodeAt(i - 1) !== 0x5c)) i++;
        i += 2;
      } else {
        i++;
        while (i < n) {
          const d = source.charCodeAt(i);
          if (d === 0x5c) i += 2;
          else if (d === 0x22 || d === 0x0a || d === 0x0d) break;
          else i++;
        }
      }
    }
  }
  return false;
}

/** Parses `source` under the limits; throws a QUERY_TOO_COMPLEX-marked GraphQLError past them. */
export function parseWithTokenLimits(source: string, limits: TokenLimits = {}): DocumentNode {
  const total = tokenLimit(limits);
  const own = limits.maxQueryTokens ?? DEFAULT_MAX_QUERY_TOKENS;
  const maxNesting = limits.maxNesting ?? DEFAULT_MAX_NESTING;
  // a document within the small limit cannot nest deep enough to matter
  if (source.length > own && nestsDeeperThan(source, maxNesting)) {
    throw tooComplex(`The document nests brackets more than ${maxNesting} levels deep.`);
  }
  let document: DocumentNode;
  try {
    document = parse(source, { maxTokens: total });
  } catch (e) {
    if (e instanceof GraphQLError && /contains more tha[nt] \d+ tokens/.test(e.message)) {
      throw tooComplex(`Token limit of ${total} exceeded (${own} for the document plus ${limits.maxTokensPerEvent ?? DEFAULT_MAX_TOKENS_PER_EVENT} per inline event, at most ${limits.maxBatch ?? 1000} events); send large batches through variables.`);
    }
    throw e;
  }
  const loc = document.loc;
  // A document of at most `own` tokens in all needs no second look.
  if (loc && loc.endToken.prev !== null) {
    const all = tokensBetween(loc.startToken, loc.endToken);
    if (all > own) {
      const mine = all - inlineEventTokens(document);
      if (mine > own) throw tooComplex(`Token limit of ${own} exceeded: the document has ${mine} tokens besides its inline events.`);
    }
  }
  return document;
}

/** An envelop plugin: every document (HTTP and WebSocket) is parsed under the token limits. */
export function useTokenLimit(limits: TokenLimits = {}): Plugin {
  return {
    onParse({ setParseFn }) {
      setParseFn((source) => parseWithTokenLimits(typeof source === 'string' ? source : source.body, limits));
    },
  };
}
