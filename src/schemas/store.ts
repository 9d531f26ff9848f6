/**
 * Where Avro / Protobuf schema registrations are kept, durably and shared by every node: an
 * append-only list. Each registration is a claim appended at a position (the data-dir file's index,
 * the log topic's offset); every node folds the same list in the same order with the same rules
 * ({@link createSchemaRegistry}), so two nodes registering at the same instant cannot diverge:
 * the earlier claim wins, and the id of a schema is fixed by the position of its first claim.
 * Both adapters pass `test/contract/schema-store.contract.ts`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterFileWrites, inFileOrder, writeFileAtomic } from '../core/index.ts';
import type { EventLog } from '../log/index.ts';
import { ErrorCode, KeyflowError } from '../model/index.ts';
import type { SchemaType } from './formats.ts';

/** Kafka: the topic of schema registrations (one partition; every record has its own key, so compaction keeps them all). */
export const SCHEMAS_TOPIC = 'keyflow.schemas';

/** One registration claim. */
export interface SchemaClaim {
  subject: string;
  schemaType: SchemaType;
  /** The schema text as registered (Avro JSON / .proto source). */
  schema: string;
  /** Unique per claim (the log record's key). */
  claimId: string;
  /** ISO-8601 time of the claim. */
  claimedAt: string;
}

export interface PositionedClaim {
  position: number;
  claim: SchemaClaim;
}

export interface SchemaStore {
  readonly kind: 'file' | 'log';
  /** The claims at `from` and after, in position order. */
  readFrom(from: number): Promise<PositionedClaim[]>;
  /** Appends a claim durably; returns its position. */
  append(claim: SchemaClaim): Promise<number>;
}

/** Embedded mode: `<dataDir>/schemas.json`, replaced atomically on every append (one process owns a data dir). */
export function createFileSchemaStore(options: { dataDir: string; fileName?: string }): SchemaStore {
  const path = join(options.dataDir, options.fileName ?? 'schemas.json');

  async function read(): Promise<SchemaClaim[]> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return [];
      throw e;
    }
    try {
      return (JSON.parse(text) as { claims?: SchemaClaim[] }).claims ?? [];
    } catch (cause) {
      // never start without the registered schemas: records written with their ids would be dead-lettered
      throw new KeyflowError(ErrorCode.INVALID_CONFIG, `${path} is damaged (not JSON); restore it from a backup`, { cause });
    }
  }

  return {
    kind: 'file',
    async readFrom(from) {
      const all = await afterFileWrites(path).then(read);
      return all.slice(from).map((claim, i) => ({ position: from + i, claim }));
    },
    append(claim) {
      return inFileOrder(path, async () => {
        const all = await read();
        all.push(claim);
        await writeFileAtomic(path, `${JSON.stringify({ claims: all }, null, 2)}\n`);
        return all.length - 1;
      });
    },
  };
}

const decoder = new TextDecoder();

/** Kafka (or any event log): the single-partition topic {@link SCHEMAS_TOPIC}, offsets as positions. */
export function createLogSchemaStore(options: { log: EventLog; topic?: string; readBatch?: number }): SchemaStore {
  const { log } = options;
  const topic = options.topic ?? SCHEMAS_TOPIC;
  const readBatch = options.readBatch ?? 500;
  let ensured = false;

  async function ensure(): Promise<void> {
    if (ensured) return;
    await log.ensureTopics([{ name: topic, partitions: 1, compacted: true }]);
    ensured = true;
  }

  return {
    kind: 'log',
    async readFrom(from) {
      await ensure();
      const out: PositionedClaim[] = [];
      let next = from;
      for (;;) {
        const records = await log.read(topic, 0, next, readBatch);
        if (records.length === 0) break;
        for (const r of records) {
          next = r.offset + 1;
          try {
            const claim = JSON.parse(decoder.decode(r.value)) as SchemaClaim;
            if (typeof claim?.subject === 'string' && typeof claim.schema === 'string') out.push({ position: r.offset, claim });
          } catch {
            // not a claim (another writer): skipped by every node alike
          }
        }
      }
      return out;
    },
    async append(claim) {
      await ensure();
      const [r] = await log.append(topic, [{ key: claim.claimId, value: JSON.stringify(claim), partition: 0 }], { sync: true });
      return r!.offset;
    },
  };
}
