/** A whole HTTP response carrying one contract error, for plugins that refuse a request before GraphQL runs. */
import type { KeyflowError } from '../../model/index.ts';
import { contractCode, httpStatusFor, toContractError } from '../errors.ts';

export function errorResponse(
  fetchAPI: { Response: typeof Response },
  error: KeyflowError,
  requestId: string,
  headers: Record<string, string> = {},
  status: number = httpStatusFor(contractCode(error.code)),
): Response {
  const body = JSON.stringify({ errors: [toContractError(error, requestId).toJSON()] });
  return new fetchAPI.Response(body, { status, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers } });
}
