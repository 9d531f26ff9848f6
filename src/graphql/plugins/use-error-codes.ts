/**
 * Puts every HTTP GraphQL error in contract form (see ../errors.ts): `extensions { code,
 * requestId, timestamp, details? }`, internal errors masked. For a request error (a response
 * without `data`) it also picks the HTTP status: 400 for bad input (malformed JSON body included),
 * 401 UNAUTHENTICATED, 413 PAYLOAD_TOO_LARGE, 503 BROKER_UNAVAILABLE, 500 INTERNAL. Field errors
 * (with `data`, possibly null) keep 200, as GraphQL over HTTP prescribes. A request the parser
 * cannot read (a GET whose `variables` is not JSON) is bad input too.
 */
import { type ExecutionResult, GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../../core/index.ts';
import { httpStatusFor, toContractError } from '../errors.ts';
import { requestIdOf } from './use-request-id.ts';

export interface ErrorCodesOptions {
  /** Where internal errors are logged with their stack. */
  logger?: Logger | undefined;
  /** Called once per request error (a response without data), with its contract code: counts rejected requests. */
  onRequestError?: ((code: string, request: Request) => void) | undefined;
}

function isAsyncIterable(x: unknown): x is AsyncIterable<ExecutionResult> {
  return typeof x === 'object' && x !== null && Symbol.asyncIterator in x;
}

/** Maps the errors of one result; `request` says whether it is a whole response (status applies). */
export function mapResultErrors(result: ExecutionResult, requestId: string, logger: Logger | undefined, request: boolean): ExecutionResult {
  if (!result.errors?.length) return result;
  const errors = result.errors.map((e) => {
    const mapped = toContractError(e, requestId, logger);
    const ext = mapped.extensions as Record<string, unknown>;
    const http = ext.http as { status?: number; headers?: Record<string, string> } | undefined;
    if (!request || 'data' in result) {
      delete ext.http;
    } else {
      // `spec: true` would make yoga answer 200 to application/json clients; we want the status.
      ext.http = {
        status: http?.status ?? httpStatusFor(ext.code as Parameters<typeof httpStatusFor>[0]),
        ...(http?.headers ? { headers: http.headers } : {}),
      };
    }
    return mapped;
  });
  return { ...result, errors: errors as GraphQLError[] };
}

function mapStream(source: AsyncIterable<ExecutionResult>, requestId: string, logger: Logger | undefined): AsyncIterableIterator<ExecutionResult> {
  const it = source[Symbol.asyncIterator]();
  const out: AsyncIterableIterator<ExecutionResult> = {
    async next() {
      const r = await it.next();
      return r.done ? r : { done: false, value: mapResultErrors(r.value, requestId, logger, false) };
    },
    async return() {
      return (await it.return?.()) ?? { done: true, value: undefined };
    },
    async throw(e) {
      if (it.throw) return it.throw(e);
      throw e;
    },
    [Symbol.asyncIterator]() {
      return out;
    },
  };
  return out;
}

export function useErrorCodes(options: ErrorCodesOptions = {}): Plugin {
  const { logger, onRequestError } = options;
  return {
    onRequestParse({ requestParser, setRequestParser }) {
      if (!requestParser) return;
      // Yoga's parsers throw plain errors for some malformed requests (a GET whose `variables` or
      // `extensions` is not JSON): they are bad input (400), not internal errors.
      setRequestParser(async (req) => {
        try {
          return await requestParser(req);
        } catch (e) {
          if (e instanceof GraphQLError) throw e;
          throw new GraphQLError(`the request is malformed: ${e instanceof Error ? e.message : String(e)}`, { extensions: { http: { status: 400 } } });
        }
      });
    },
    onResultProcess({ request, result, setResult }) {
      const requestId = requestIdOf(request);
      if (Array.isArray(result)) setResult(result.map((r) => mapResultErrors(r, requestId, logger, false)));
      else if (isAsyncIterable(result)) setResult(mapStream(result, requestId, logger));
      else {
        const mapped = mapResultErrors(result as ExecutionResult, requestId, logger, true);
        const first = mapped.errors?.[0];
        if (onRequestError && first && !('data' in mapped)) onRequestError(String(first.extensions?.code), request);
        setResult(mapped);
      }
    },
  };
}
