/** Gives every HTTP request an id: the client's `x-request-id` when it is sane, else a new one; echoed in the response. */
import type { Plugin } from 'graphql-yoga';

export interface RequestIdOptions {
  /** Request and response header carrying the id. @default 'x-request-id' */
  header?: string;
  /** Makes a new id. @default `req_` + a random UUID */
  generate?: () => string;
}

/** A client-sent request id is kept only when it looks like this. */
export const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const ids = new WeakMap<Request, string>();

export function newRequestId(): string {
  return `req_${globalThis.crypto.randomUUID()}`;
}

/** The id of a request seen by {@link useRequestId}; a new one for a request it did not see. */
export function requestIdOf(request: Request | undefined): string {
  if (!request) return newRequestId();
  let id = ids.get(request);
  if (id === undefined) ids.set(request, (id = newRequestId()));
  return id;
}

export function useRequestId(options: RequestIdOptions = {}): Plugin {
  const header = options.header ?? 'x-request-id';
  const generate = options.generate ?? newRequestId;
  return {
    onRequest({ request }) {
      const given = request.headers.get(header);
      ids.set(request, given !== null && SANE_REQUEST_ID.test(given) ? given : generate());
    },
    onResponse({ request, response }) {
      response.headers.set(header, requestIdOf(request));
    },
  };
}
