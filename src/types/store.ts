/**
 * Where event-type registrations are kept, durably and shared by every node: a JSON file in the
 * data dir (embedded mode: one process owns the data dir) or a compacted single-partition topic
 * (Kafka: one record per registration). A registration is a claim on the type's next version: the
 * first claim of a version wins and later claims of the same or an older version are ignored by
 * every reader, so two nodes registering one type at the same instant read back the same winner
 * (the catalog's claim-and-read-back). Both pass `test/contract/event-type-store.contract.ts`.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inFileOrder, writeFileAtomic } from '../core/index.ts';
import type { EventLog } from '../log/index.ts';
import { ErrorCode, EVENT_TYPES_TOPIC, type EventTypeDefinition, KeyflowError } from '../model/index.ts';

/** One registration: the type's definition with its version (1, 2, … per accepted change). */
export interface StoredEventType {
  definition: EventTypeDefinition;
  version: number;
  /** ISO-8601 time of the registration. */
  registeredAt: string;
}

export interface EventTypeStore {
  readonly kind: 'file' | 'log';
  /** Every stored type, its latest registration each (picks up what other nodes registered). */
  load(): Promise<StoredEventType[]>;
  /**
   * Claims a registration durably. It replaces the type's registration only when its version is
   * higher than the stored one's; a claim of a version already taken is ignored (read back with
   * `load` to learn which claim won).
   */
  put(entry: StoredEventType): Promise<void>;
}

/**
 * Embedded mode: `<dataDir>/event-types.json`, replaced atomically on every change. One process
 * owns a data dir (the embedded log locks it), and its writes to the file are serialised.
 */
export function createFileEventTypeStore(options: { dataDir: string; fileName?: string }): EventTypeStore {
  const path = join(options.dataDir, options.fileName ?? 'event-types.json');

  async function read(): Promise<Map<string, StoredEventType>> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return new Map();
      throw e;
    }
    let doc: { types?: StoredEventType[] };
    try {
      doc = JSON.parse(text) as { types?: StoredEventType[] };
    } catch (cause) {
      // never silently start without the registered types: their topics would no longer be read
      throw new KeyflowError(ErrorCode.INVALID_CONFIG, `${path} is damaged (not JSON); restore it from a backup or remove it to start with the default types only`, { cause });
    }
    return new Map((doc.types ?? []).map((t) => [t.definition.name, t]));
  }

  return {
    kind: 'file',
    load: async () => [...(await read()).values()],
    put(entry) {
      return inFileOrder(path, async () => {
        const all = await read();
        const prev = all.get(entry.definition.name);
        if (prev && prev.version >= entry.version) return; // that version was claimed first
        all.set(entry.definition.name, entry);
        await writeFileAtomic(path, `${JSON.stringify({ types: [...all.values()] }, null, 2)}\n`);
      });
    },
  };
}

const decoder = new TextDecoder();

/**
 * Kafka: the compacted topic {@link EVENT_TYPES_TOPIC} (one partition), read incrementally. Each
 * claim has its own key (`<name>@<version>@<random>`), so compaction never drops the first claim
 * of a version in favour of a later one; every reader keeps, per type, the first claim of each
 * higher version in log order.
 */
export function createLogEventTypeStore(options: { log: EventLog; topic?: string; readBatch?: number }): EventTypeStore {
  const { log } = options;
  const topic = options.topic ?? EVENT_TYPES_TOPIC;
  const readBatch = options.readBatch ?? 500;
  const latest = new Map<string, StoredEventType>();
  let next = 0;
  let ensured = false;

  async function ensure(): Promise<void> {
    if (ensured) return;
    await log.ensureTopics([{ name: topic, partitions: 1, compacted: true }]);
    ensured = true;
  }

  return {
    kind: 'log',
    async load() {
      await ensure();
      const [begin = 0] = await log.beginOffsets(topic);
      if (next < begin) next = begin;
      for (;;) {
        const records = await log.read(topic, 0, next, readBatch);
        if (records.length === 0) break;
        for (const r of records) {
          next = r.offset + 1;
          try {
            const entry = JSON.parse(decoder.decode(r.value)) as StoredEventType;
            const prev = entry?.definition?.name ? latest.get(entry.definition.name) : undefined;
            if (entry?.definition?.name && (!prev || entry.version > prev.version)) latest.set(entry.definition.name, entry);
          } catch {
            // a record some other writer put here; the catalog logs nothing for it, it is simply not a type
          }
        }
      }
      return [...latest.values()];
    },
    async put(entry) {
      await ensure();
      await log.append(topic, [{ key: `${entry.definition.name}@${entry.version}@${randomUUID()}`, value: JSON.stringify(entry), partition: 0 }], { sync: true });
    },
  };
}
