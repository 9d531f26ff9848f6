/**
 * Test hook of the crash tests (KEYFLOW_TEST_HOOKS only, never in production): a publish of an
 * eventId containing {@link HANG_AFTER_APPEND_MARKER} appends its record and then never stores
 * its receipt (the request hangs), so a test can SIGKILL the gateway exactly between the append
 * and `complete` and check that a retry elsewhere resolves the claim it left pending.
 */
import type { Dedupe } from './port.ts';

export const HANG_AFTER_APPEND_MARKER = '__keyflowHangAfterAppend';

export function withHangAfterAppendHook(dedupe: Dedupe): Dedupe {
  return {
    kind: dedupe.kind,
    ...(dedupe.start ? { start: () => dedupe.start!() } : {}),
    claim: (eventId, where) => dedupe.claim(eventId, where),
    complete: (eventId, receipt) => (eventId.includes(HANG_AFTER_APPEND_MARKER) ? new Promise<void>(() => {}) : dedupe.complete(eventId, receipt)),
    release: (eventId) => dedupe.release(eventId),
    close: () => dedupe.close(),
  };
}
