/**
 * The request body size limit (KEYFLOW_MAX_REQUEST_BYTES), in place of graphql-yoga's own
 * `maxRequestBodySize`. Yoga's plugin pipes every request body through a TransformStream that
 * counts bytes, even when the request has a Content-Length within the limit; that stream, its
 * `pipeline` and the AbortController the pipeline aborts (one DOMException) at its end cost
 * ~9 % of a single-event publishEvent's CPU. Node's HTTP parser never delivers more body bytes
 * than a valid Content-Length announces (and rejects a request with both Content-Length and
 * chunked encoding), so a request with a valid Content-Length is decided from the header alone;
 * only a body without one (chunked) is counted as it is read. Errors are the same as yoga's:
 * 413 REQUEST_ENTITY_TOO_LARGE, 400 BAD_REQUEST for a malformed Content-Length.
 */
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/** Only a single non-negative integer is a valid Content-Length (no lists, signs or spaces). */
const CONTENT_LENGTH = /^\d+$/;

function tooLarge(): GraphQLError {
  return new GraphQLError('Request body too large', { extensions: { http: { status: 413 }, code: 'REQUEST_ENTITY_TOO_LARGE' } });
}

function badContentLength(): GraphQLError {
  return new GraphQLError('Content-Length header is invalid.', { extensions: { http: { status: 400 }, code: 'BAD_REQUEST' } });
}

/** `request` with its body cut off by a 413 once more than `limit` bytes have been read. */
function countedBody(request: Request, limit: number, fetchAPI: { Request: typeof Request; TransformStream: typeof TransformStream }): Request {
  const body = request.body;
  if (body === null) return request;
  // a native body needs the native TransformStream (graphql-yoga#4583); a ponyfill body the ponyfill
  const Transform = body instanceof ReadableStream ? globalThis.TransformStream : fetchAPI.TransformStream;
  let read = 0;
  const counted = body.pipeThrough(
    new Transform({
      transform(chunk: Uint8Array, controller) {
        read += chunk.byteLength;
        if (read > limit) controller.error(tooLarge());
        else controller.enqueue(chunk);
      },
    }),
  );
  return new fetchAPI.Request(request.url, { method: request.method, headers: request.headers, signal: request.signal, body: counted, duplex: 'half' } as RequestInit);
}

/**
 * Rejects request bodies over `limit` bytes. Give yoga `maxRequestBodySize: false` and this
 * plugin instead (it must come after yoga's request parsers, i.e. among the user plugins).
 */
export function useRequestBodyLimit(limit: number): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      const length = request.headers.get('content-length');
      if (length !== null) {
        if (!CONTENT_LENGTH.test(length)) throw badContentLength();
        if (Number(length) > limit) throw tooLarge();
        return; // the HTTP parser delivers at most `length` bytes
      }
      if (requestParser == null || request.body == null) return;
      const parse = requestParser;
      setRequestParser((req) => parse(countedBody(req, limit, fetchAPI)));
    },
  };
}
