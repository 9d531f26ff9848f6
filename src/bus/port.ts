/**
 * The live-bus port: fan-out of events and window results to every gateway's subscriptions,
 * and request/reply for queries that must reach the node owning a partition. In-process in
 * embedded mode, NATS in distributed mode; both pass `test/contract/live-bus.contract.ts`.
 *
 * Interest: a bus knows which subjects some subscriber (on any node) listens to, and `publish`
 * drops a message nobody wants before it leaves the process; `wants` lets a publisher skip
 * building it at all. The in-process bus knows its subscribers; the NATS bus learns them from the
 * announcements every NATS bus makes of its own subscriptions (see `nats/interest.ts`).
 */

export type Unsubscribe = () => void;

export interface LiveBus {
  readonly kind: 'in-process' | 'nats';
  start(): Promise<void>;
  close(): Promise<void>;
  /**
   * Fire-and-forget fan-out to every subscriber of the subject, on every node. Dropped at once,
   * without being sent, when {@link LiveBus.wants} is false.
   */
  publish(subject: string, message: unknown): void;
  /**
   * Whether some subscriber on some node listens to the subject (exactly or by wildcard), as far
   * as this bus knows: true while unsure (just started), false once every subscriber left or its
   * node stopped announcing. Cheap: publishers call it per message.
   */
  wants(subject: string): boolean;
  /** Receives messages published on the subject from now on, in publish order per publisher. */
  subscribe(subject: string, handler: (message: unknown) => void): Unsubscribe;
  /** Answers requests on the subject (one responder per request; several may be registered for load sharing). */
  respond(subject: string, handler: (request: unknown) => Promise<unknown>): Unsubscribe;
  /** Sends a request and waits for one answer; rejects with TIMEOUT when none comes in time. */
  request(subject: string, request: unknown, timeoutMs: number): Promise<unknown>;
  healthy(): Promise<{ connected: boolean; detail?: string }>;
}

/**
 * Subject naming, shared by publishers and subscribers. Tokens are sanitised for NATS (names that
 * differ only in other characters share a subject, so subscribers also check the names in the
 * message).
 */
export const subjects = {
  events: (topic: string) => `keyflow.events.${token(topic)}`,
  /**
   * Window results of one event type and one window spec. A subject per window lets a gateway whose
   * subscribers watch one window (a dashboard's `tumbling-1m`) receive, decode and be sent that
   * window only, and a processor skip building the messages of windows nobody watches.
   */
  windowResults: (eventType: string, window: string) => `keyflow.windows.${token(eventType)}.${token(window)}`,
  /** The pattern (subscribe only) of every window's results of one event type. */
  allWindowResults: (eventType: string) => `keyflow.windows.${token(eventType)}.*`,
  query: (topic: string, partition: number) => `keyflow.query.${token(topic)}.${partition}`,
};

function token(s: string): string {
  return s === '' ? '_' : s.replace(/[^a-zA-Z0-9_-]/g, '_');
}
