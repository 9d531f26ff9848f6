/**
 * A keyflow node in its own process, for the benchmarks: `node --import tsx bench/children/node.ts
 * <start|gateway|processor>`. Configuration comes from the environment (loadConfig), exactly as
 * `keyflow <role>` would read it. Tells the parent `{type:'ready', url}` once started and, every
 * 100 ms, `{type:'stats', processed, cpBytes, owned, cpuUs}` (events processed by this node's actors,
 * bytes of its checkpoint commits, partitions owned), so the bench needs no HTTP listener on a processor-only node.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Role } from '../../src/app/app.ts';
import { buildApp } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/config.ts';
import { onParentStop, tell } from '../lib/child.ts';

const command = process.argv[2] ?? 'start';
const roles: Role[] = command === 'gateway' ? ['gateway'] : command === 'processor' ? ['processor'] : ['gateway', 'processor'];
const app = await buildApp(loadConfig(process.env), { roles });
await app.start();

/** Bytes of every checkpoint commit so far (the keyflow_checkpoint_bytes histogram's sum). */
async function checkpointBytes(): Promise<number> {
  const m = await app.metrics.checkpointBytes.get();
  let n = 0;
  for (const v of m.values) if (v.metricName?.endsWith('_sum')) n += v.value;
  return n;
}

async function processed(): Promise<number> {
  const m = await app.metrics.eventsProcessed.get();
  let n = 0;
  for (const v of m.values) n += v.value;
  return n;
}

/** CPU time (user + system) this process has used so far, µs. */
function cpuUs(): number {
  const c = process.cpuUsage();
  return c.user + c.system;
}

/** The event loop's delay since the parent's last `{type:'loop-reset'}` (or the start), ms. */
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
process.on('message', (m) => {
  if ((m as { type?: string }).type === 'loop-reset') loopDelay.reset();
});
const ms = (ns: number) => (Number.isFinite(ns) ? ns / 1e6 : 0);

const timer = setInterval(() => {
  Promise.all([processed(), checkpointBytes()]).then(
    ([n, cpBytes]) =>
      tell({
        type: 'stats',
        processed: n,
        cpBytes,
        owned: app.processor?.owned().length ?? 0,
        at: Date.now(),
        cpuUs: cpuUs(),
        loopP50: ms(loopDelay.percentile(50)),
        loopP99: ms(loopDelay.percentile(99)),
        loopP999: ms(loopDelay.percentile(99.9)),
        loopMax: ms(loopDelay.max),
      }),
    () => {},
  );
}, 100);
onParentStop(async () => {
  clearInterval(timer);
  await app.stop();
});
tell({ type: 'ready', url: app.url, pid: process.pid });
