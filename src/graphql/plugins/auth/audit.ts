/**
 * The audit trail: one structured log line per admin action and per refused request, with the
 * caller's identity and address. Event names are stable (`audit.admin_action`,
 * `audit.request_rejected`) so a log pipeline can route them.
 */
import type { Logger } from '../../../core/index.ts';

export const AuditEvent = {
  adminAction: 'audit.admin_action',
  requestRejected: 'audit.request_rejected',
} as const;

export type Transport = 'http' | 'sse' | 'ws';

export interface Rejection {
  /** Contract code: UNAUTHENTICATED, FORBIDDEN, RATE_LIMITED, … */
  code: string;
  /** Machine-readable cause: `expired`, `missing_scope`, `origin`, … */
  reason: string;
  transport: Transport;
  address: string;
  sub?: string | undefined;
  requestId?: string | undefined;
  /** Root fields of the operation, when it was parsed. */
  fields?: string[] | undefined;
}

export interface AdminAction {
  sub: string;
  fields: string[];
  transport: Transport;
  address: string;
  requestId: string;
}

export interface AuditLog {
  rejected(r: Rejection): void;
  admin(a: AdminAction): void;
}

/** @example const audit = createAuditLog(logger.child({ component: 'audit' })); */
export function createAuditLog(logger: Logger, onRejected?: (r: Rejection) => void): AuditLog {
  return {
    rejected(r) {
      onRejected?.(r);
      logger.warn({ event: AuditEvent.requestRejected, ...r }, `request rejected: ${r.code} (${r.reason})`);
    },
    admin(a) {
      logger.info({ event: AuditEvent.adminAction, ...a }, `admin action by ${a.sub}: ${a.fields.join(', ')}`);
    },
  };
}
