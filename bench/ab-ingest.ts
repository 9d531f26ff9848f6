/**
 * Interleaved A/B of the ingest path of two checkouts, for a shared, loaded machine where two
 * benches run minutes apart differ by 2× on their own. Both checkouts' `keyflow start` nodes
 * (gateway + processor, each built by its own bench/embedded.ts `startServer`) run side by side;
 * short closed-loop bursts alternate A,B then B,A each round: 1,500 `publishEvent` requests
 * (16 in flight), then 12 `publishEvents` of 500 (4 in flight). A burst's server CPU is counted
 * from its node's processor having caught up before it to its having caught up after it, so it
 * holds the processing and checkpoints of those events too.
 *
 *   npx tsx bench/ab-ingest.ts <checkout A> <checkout B> [rounds=6]
 */
import { Agent } from 'node:http';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EventInput } from '../src/model/event.ts';
import type { Child } from './lib/child.ts';
import { post } from './lib/http.ts';
import { sleep } from './lib/pace.ts';
import { iotInputs } from './lib/records.ts';
import { fmtInt } from './lib/stats.ts';

const [aDir, bDir, roundsArg] = process.argv.slice(2);
if (!aDir || !bDir) throw new Error('usage: npx tsx bench/ab-ingest.ts <checkout A> <checkout B> [rounds]');
const rounds = Number(roundsArg ?? 6);
const ONE = 'mutation BenchOne($input: EventInput!) { publishEvent(input: $input) { status } }';
const MANY = 'mutation BenchMany($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { status } }';

interface Node {
  label: string;
  child: Child;
  url: URL;
  cleanup: () => Promise<void>;
  /** Events sent to it so far (its processor has caught up when it processed as many). */
  sent: number;
  one: { n: number; cpuS: number };
  many: { n: number; cpuS: number };
}

type StartServer = (ctx: { quick: boolean; childNodeArgs: string[] }, label: string) => Promise<{ child: Child; url: URL; cleanup: () => Promise<void> }>;

async function caughtUp(node: Node): Promise<number> {
  const until = performance.now() + 60_000;
  for (;;) {
    const m = await node.child.next('stats', 5000);
    if (Number(m.processed) >= node.sent || performance.now() > until) return Number(m.cpuUs);
    await sleep(50);
  }
}

let seq = 0;
function inputs(n: number): EventInput[] {
  const run = `ab${Date.now().toString(36)}-${seq++}`;
  return iotInputs(n, 10_000, 100 + seq).map((e, i) => ({ ...e, eventId: `${run}-${i}` }));
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

async function burst(node: Node, bodies: string[], inFlight: number, events: number): Promise<{ n: number; cpuS: number }> {
  const c0 = await caughtUp(node);
  let i = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (i < bodies.length) await post(agent, node.url, bodies[i++]!);
    }),
  );
  node.sent += events;
  return { n: events, cpuS: ((await caughtUp(node)) - c0) / 1e6 };
}

const oneBodies = (n: number) => inputs(n).map((input) => JSON.stringify({ query: ONE, variables: { input } }));
function manyBodies(requests: number): string[] {
  const all = inputs(requests * 500);
  return Array.from({ length: requests }, (_, r) => JSON.stringify({ query: MANY, variables: { inputs: all.slice(r * 500, r * 500 + 500) } }));
}

const nodes: Node[] = [];
for (const [label, dir] of [
  ['A', aDir],
  ['B', bDir],
] as const) {
  const { startServer } = (await import(pathToFileURL(resolve(dir, 'bench/embedded.ts')).href)) as { startServer: StartServer };
  const s = await startServer({ quick: false, childNodeArgs: [] }, `ab${label}`);
  nodes.push({ label: `${label} (${dir})`, ...s, sent: 0, one: { n: 0, cpuS: 0 }, many: { n: 0, cpuS: 0 } });
}
try {
  for (const node of nodes) {
    await burst(node, oneBodies(3000), 16, 3000);
    await burst(node, manyBodies(10), 4, 5000);
  }
  for (let r = 0; r < rounds; r++) {
    for (const node of r % 2 === 0 ? nodes : [...nodes].reverse()) {
      const o = await burst(node, oneBodies(1500), 16, 1500);
      const m = await burst(node, manyBodies(12), 4, 6000);
      node.one.n += o.n;
      node.one.cpuS += o.cpuS;
      node.many.n += m.n;
      node.many.cpuS += m.cpuS;
      process.stdout.write(`round ${r} ${node.label.slice(0, 1)}: publishEvent ${fmtInt(o.n / o.cpuS)} req per CPU-second, publishEvents ${fmtInt(m.n / m.cpuS)} events per CPU-second\n`);
    }
  }
  for (const n of nodes) {
    process.stdout.write(
      `${n.label}: publishEvent ${fmtInt(n.one.n / n.one.cpuS)} req per server CPU-second (${fmtInt((n.one.cpuS / n.one.n) * 1e6)} µs each); ` +
        `publishEvents ${fmtInt(n.many.n / n.many.cpuS)} events per server CPU-second\n`,
    );
  }
  const [a, b] = nodes as [Node, Node];
  process.stdout.write(`B/A: publishEvent ${(b.one.n / b.one.cpuS / (a.one.n / a.one.cpuS)).toFixed(2)}x, publishEvents ${(b.many.n / b.many.cpuS / (a.many.n / a.many.cpuS)).toFixed(2)}x per CPU-second\n`);
} finally {
  for (const n of nodes) await n.cleanup();
  agent.destroy();
}
