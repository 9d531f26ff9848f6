/**
 * GraphiQL as keyflow serves it: every asset (scripts, styles, editor workers, fonts) inlined by
 * `@graphql-yoga/render-graphiql`, so the page works offline, air-gapped and under a CSP that
 * allows no third-party origin (yoga's built-in page loads GraphiQL from a public CDN). It opens
 * with the README walk-through's operations as tabs and speaks graphql-ws on the same path.
 */
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import type { GraphiQLOptions } from 'graphql-yoga';

/** The README walk-through, one tab each. */
export const EXAMPLE_OPERATIONS: readonly { title: string; query: string }[] = [
  {
    title: 'publish an event',
    query: `# Publish one event (the server assigns an eventId when you leave it out)
mutation PublishOne {
  publishEvent(input: {
    eventType: "iot.sensor", deviceId: "sensor-1", timestamp: "2026-01-15T10:00:02.000Z",
    payload: { value: 21.5, unit: "C" }
  }) { status eventId topic partition offset }
}
`,
  },
  {
    title: 'publish a batch',
    query: `# All or nothing: one invalid event rejects the batch
mutation PublishBatch {
  publishEvents(inputs: [
    { eventType: "iot.sensor", deviceId: "sensor-1", timestamp: "2026-01-15T10:00:40.000Z", payload: { value: 23 } },
    { eventType: "transaction", userId: "u-7", timestamp: "2026-01-15T10:00:41.000Z", payload: { amount: 99.5, currency: "EUR" } }
  ]) { status topic partition offset }
}
`,
  },
  {
    title: 'windows of a key',
    query: `# One actor's windows (its key is deviceId ?? userId ?? eventId)
query Windows {
  windows(eventType: "iot.sensor", key: "sensor-1", window: "tumbling-1m") {
    window windowStart windowEnd count sum avg min max distinctUsers final revision
  }
  keyState(eventType: "iot.sensor", key: "sensor-1") { partition watermark eventsProcessed openWindows }
}
`,
  },
  {
    title: 'subscribe: window results',
    query: `# Live window results of one key (graphql-ws on /graphql); snapshot: current values first
subscription WindowResults {
  windowResults(eventType: "iot.sensor", key: "sensor-1", snapshot: true) { window windowStart count avg final cursor }
}
`,
  },
  {
    title: 'rollups across keys',
    query: `# Per event type and tumbling/sliding window: every key's events together, with the top keys
query Rollups {
  rollups(eventType: "iot.sensor", window: "tumbling-1m", top: 3, by: SUM) {
    windowStart count distinctKeys distinctUsers sum avg min max final topKeys { key count sum }
  }
}
`,
  },
  {
    title: 'subscribe: events (resumable)',
    query: `# Every event of a topic after a cursor (from the query eventsCursor, or the last message you got),
# then live: reconnect with the last cursor and nothing is missed or repeated
subscription Events($after: String) {
  events(topic: "events.iot.sensors", after: $after) { eventId key partition offset payload cursor }
}
`,
  },
  {
    title: 'latest events, dead letters',
    query: `# Newest first, a page at a time (pass pageInfo.endCursor as after:)
query Reads {
  latestEvents(topic: "events.iot.sensors", limit: 10) { eventId key timestamp partition offset }
  deadLetters(limit: 10) { id errorType errorMessage sourceTopic }
}
`,
  },
];

/** yoga's `graphiql` option for keyflow's page. */
export function graphiqlOptions(): GraphiQLOptions {
  return {
    title: 'keyflow GraphiQL',
    subscriptionsProtocol: 'WS',
    defaultQuery: EXAMPLE_OPERATIONS[0]!.query,
    defaultTabs: EXAMPLE_OPERATIONS.map((o) => ({ query: o.query })),
  };
}

/** The page, every asset inline. */
export function renderOfflineGraphiQL(opts?: GraphiQLOptions): string {
  return renderGraphiQL(opts);
}
