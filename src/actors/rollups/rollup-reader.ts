/**
 * Rollup queries for the API: asks every partition of the event type's topic for its partial —
 * this node when it owns the partition, else the owner over the live bus (request/reply), else
 * (ownership moving, no owner answers in time) the partition's latest checkpoint — and merges them.
 */
import type { Logger } from 'pino';
import type { LiveBus } from '../../bus/index.ts';
import type { Clock } from '../../core/index.ts';
import type { EventTypeRegistry } from '../../model/index.ts';
import { ErrorCode, KeyflowError } from '../../model/index.ts';
import type { CheckpointStore } from '../../state/index.ts';
import { askOwner, checkpointHost, type LocalReader, type SharedHostOptions } from '../processor/query-router.ts';
import { parseWindowSpec } from '../windows/spec.ts';
import { mergeRollups } from './merge.ts';
import { isRollupId } from './rollup-state.ts';
import type { RollupPartial, RollupQuery, RollupReader } from './rollup-types.ts';
import { ROLLUP_ORDERS } from './rollup-types.ts';

/** Longest top-keys list a query may ask for. */
export const MAX_ROLLUP_TOP = 100;

export interface RollupReaderOptions {
  registry: EventTypeRegistry;
  /** The configured window spec names (a type may have its own). */
  windowNames: readonly string[];
  local?: LocalReader | undefined;
  bus: LiveBus;
  checkpoints: CheckpointStore;
  host: SharedHostOptions;
  clock: Clock;
  /** How long to wait for a partition's owner, ms. @default 2000 */
  timeoutMs?: number;
  logger: Logger;
}

export function createRollupReader(options: RollupReaderOptions): RollupReader {
  const { registry, local, bus, checkpoints, logger } = options;
  const timeoutMs = options.timeoutMs ?? 2000;

  /** Rebuilds the partition's rollups from its last checkpoint. */
  async function fromCheckpoint(topic: string, partition: number, q: RollupQuery): Promise<RollupPartial[]> {
    const [cp, actors] = await Promise.all([checkpoints.load(topic, partition), checkpoints.loadActors(topic, partition)]);
    const host = checkpointHost(options, topic, partition, { rollups: true });
    host.restore(cp, new Map([...actors].filter(([id]) => isRollupId(id))));
    logger.debug({ topic, partition, eventType: q.eventType }, 'rollup partial read from the latest checkpoint (owner not reachable)');
    return host.rollups(q);
  }

  async function partial(topic: string, partition: number, q: RollupQuery): Promise<RollupPartial[]> {
    if (local?.owns(topic, partition)) {
      const r = await local.rollups(topic, partition, q);
      if (r) return r;
    }
    const answer = await askOwner<RollupPartial[]>(bus, topic, partition, { op: 'rollups', q }, timeoutMs);
    return answer ? answer.value : fromCheckpoint(topic, partition, q);
  }

  return {
    async rollups(q) {
      const spec = registry.resolve(q.eventType);
      if (!spec) throw new KeyflowError(ErrorCode.UNKNOWN_EVENT_TYPE, `unknown event type "${q.eventType}"`);
      const names = spec.windows ?? options.windowNames;
      const ws = parseWindowSpec(q.window);
      if (!names.includes(ws.name) || ws.kind === 'session') {
        throw new KeyflowError(
          ErrorCode.UNKNOWN_WINDOW,
          `window "${q.window}" has no rollups for ${q.eventType}; rollups exist for its tumbling and sliding windows: ${names.filter((n) => !n.startsWith('session')).join(', ')}`,
          { details: { window: q.window } },
        );
      }
      const top = q.top ?? 10;
      if (!Number.isInteger(top) || top < 0 || top > MAX_ROLLUP_TOP) {
        throw new KeyflowError(ErrorCode.BAD_USER_INPUT, `top must be an integer from 0 to ${MAX_ROLLUP_TOP}, got ${top}`, { details: { argument: 'top' } });
      }
      const by = q.by ?? 'count';
      if (!ROLLUP_ORDERS.includes(by)) {
        throw new KeyflowError(ErrorCode.BAD_USER_INPUT, `by must be one of ${ROLLUP_ORDERS.join(', ')}, got ${String(by)}`, { details: { argument: 'by' } });
      }
      const query: RollupQuery = { eventType: q.eventType, window: ws.name, from: q.from ?? null, to: q.to ?? null, top, by };
      const parts = await Promise.all(Array.from({ length: spec.partitions }, (_, p) => partial(spec.topic, p, query)));
      return mergeRollups(parts, top, by);
    },
  };
}
