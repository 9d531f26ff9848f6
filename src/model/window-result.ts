/** Window results and late policies: the vocabulary shared by the window logic, actors, sinks and the API. */
import { z } from 'zod';
import { field, fieldsOf } from './shape.ts';

/**
 * One window's aggregate as emitted and queried: the one declaration of the shape. Times are epoch
 * ms (UTC). The bus validates with it; the sinks' columns and the GraphQL `WindowResult` type map
 * over {@link WINDOW_RESULT_FIELDS}. The processing path does not validate with it.
 */
export const windowResultSchema = z.object({
  eventType: field.string(),
  key: field.string(),
  window: field.string('Window spec name, e.g. tumbling-1m, sliding-5m-1m, session-30m.'),
  windowStart: field.epochMs('Inclusive.'),
  windowEnd: field.epochMs('Exclusive.'),
  count: field.int('Events in the window.'),
  valueCount: field.int('Events in the window whose value field held a finite number.'),
  sum: field.float('Sum, average, minimum and maximum of those values; null when valueCount is 0. avg = sum / valueCount.').nullable(),
  avg: field.float().nullable(),
  min: field.float().nullable(),
  max: field.float().nullable(),
  distinctUsers: field.int("Distinct non-null userId values among the window's events."),
  final: field.boolean(
    'True once the watermark has passed windowEnd + allowed lateness: the result will not change again (except under the UPDATE late policy, which raises revision).',
  ),
  revision: field.int('0 for the first emitted result of this window, +1 each time a changed result is emitted after it became final.'),
});

/** One window's aggregate as emitted and queried. Times are epoch ms (UTC). */
export type WindowResult = z.infer<typeof windowResultSchema>;

/** The fields of {@link windowResultSchema}, in declaration order. */
export const WINDOW_RESULT_FIELDS = fieldsOf(windowResultSchema);

/** The field names of {@link windowResultSchema}, in order: e.g. a `JSON.stringify` replacer that writes exactly the shape. */
export const WINDOW_RESULT_KEYS: readonly (keyof WindowResult)[] = WINDOW_RESULT_FIELDS.map((f) => f.name);

/** The fields that identify a window: every sink keeps one row per identity (the newest revision). */
export const WINDOW_IDENTITY_FIELDS = ['eventType', 'key', 'window', 'windowStart'] as const satisfies readonly (keyof WindowResult)[];

/** The identity of a result's window as one string (a map key). */
export function windowIdentity(r: Pick<WindowResult, (typeof WINDOW_IDENTITY_FIELDS)[number]>): string {
  return `${r.eventType}\u0000${r.key}\u0000${r.window}\u0000${r.windowStart}`;
}

export type LatePolicy = 'drop' | 'side-output' | 'update';

/** What the actor for a key holds now (the contract's KeyState): the one declaration of the shape. */
export const keyStateSchema = z.object({
  eventType: field.string(),
  key: field.string(),
  topic: field.string(),
  partition: field.int(),
  /** Partition watermark, epoch ms; null before the first event. */
  watermark: field.epochMs("The partition's current watermark, null before the first event.").nullable(),
  lastEventTime: field.epochMs().nullable(),
  eventsProcessed: field.int(),
  openWindows: field.int(),
});

/** What the actor for a key holds now (the contract's KeyState). Times are epoch ms (UTC). */
export type KeyStateView = z.infer<typeof keyStateSchema>;

/** The fields of {@link keyStateSchema}, in declaration order. */
export const KEY_STATE_FIELDS = fieldsOf(keyStateSchema);

export interface WindowQuery {
  eventType: string;
  key: string;
  /** One spec name, or every spec when undefined. */
  window?: string | undefined;
  /** Only windows with windowStart >= from (epoch ms). */
  from?: number | undefined;
  /** Only windows with windowStart < to (epoch ms). */
  to?: number | undefined;
  finalOnly?: boolean | undefined;
}

/** Read-only view of window state for the API. Only the PartitionHost writes. */
export interface WindowReader {
  /** Oldest windowStart first. */
  windows(q: WindowQuery): Promise<WindowResult[]>;
  keyState(eventType: string, key: string): Promise<KeyStateView | null>;
}
