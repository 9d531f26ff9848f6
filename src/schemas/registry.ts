/**
 * The schema registry: subjects with versioned Avro / Protobuf schemas, each distinct schema with a
 * global integer id (Confluent's model). Its state is a fold of the store's claims in position
 * order, the same on every node:
 *  - a claim whose schema does not parse is skipped;
 *  - a claim of a schema the subject already has is skipped (registering is idempotent);
 *  - a claim the subject's latest version refuses (another schema type, or not backward
 *    compatible: a reader of the new version must read data written with the previous one) is
 *    skipped;
 *  - otherwise the schema becomes the subject's next version; its id is the id that schema text
 *    already has in another subject, else its claim's position + 1.
 * Registering is claim-and-read-back: append the claim, read the store up to it, and answer what
 * the fold made of it — two nodes registering different schemas at the same instant both learn
 * the one outcome every node computes.
 */
import { randomUUID } from 'node:crypto';
import type { Clock, Logger, Timer } from '../core/index.ts';
import { ErrorCode, KeyflowError } from '../model/index.ts';
import { parseSchema, SCHEMA_TYPES, type SchemaCodec, type SchemaType } from './formats.ts';
import type { PositionedClaim, SchemaClaim, SchemaStore } from './store.ts';

export interface RegisteredSchema {
  readonly id: number;
  readonly subject: string;
  readonly version: number;
  readonly schemaType: SchemaType;
  /** The schema text of the claim that made this version. */
  readonly schema: string;
  readonly codec: SchemaCodec;
}

export interface SchemaInput {
  schema: string;
  /** @default 'AVRO' */
  schemaType?: SchemaType;
}

export interface SchemaRegistry {
  start(): Promise<void>;
  close(): Promise<void>;
  /** Reads the claims appended since the last read (other nodes' registrations) and folds them in. */
  refresh(): Promise<void>;
  /**
   * Registers a schema under a subject, or returns the version it already is (same id).
   * Throws SCHEMA_VALIDATION_FAILED (not a valid schema), SCHEMA_INCOMPATIBLE (`details.reason`).
   */
  register(subject: string, input: SchemaInput): Promise<RegisteredSchema>;
  /** Why `input` cannot become the subject's next version, or undefined when it can (Confluent's compatibility check). Throws SCHEMA_VALIDATION_FAILED. */
  compatibilityProblem(subject: string, input: SchemaInput): string | undefined;
  /** The version of the subject this schema is, or undefined. Throws SCHEMA_VALIDATION_FAILED. */
  find(subject: string, input: SchemaInput): RegisteredSchema | undefined;
  /** The schema with this id, as this node knows it now (no I/O: the processor's decode path). */
  byId(id: number): RegisteredSchema | undefined;
  /** The schema with this id, reading the store first when this node does not know it yet. */
  lookup(id: number): Promise<RegisteredSchema | undefined>;
  /** A subject's versions, oldest first (empty when unknown). */
  versions(subject: string): readonly RegisteredSchema[];
  subjects(): string[];
}

export interface SchemaRegistryOptions {
  store: SchemaStore;
  clock: Clock;
  logger: Logger;
  /** How often the store is read for other nodes' registrations, ms. @default 1000 */
  pollMs?: number;
}

const SUBJECT = /^[^\s/\\]{1,255}$/;

function checkSubject(subject: string): void {
  if (!SUBJECT.test(subject)) {
    throw new KeyflowError(ErrorCode.SCHEMA_VALIDATION_FAILED, `subject '${subject.slice(0, 100)}' is not a valid subject name (1–255 characters, no spaces or slashes)`, {
      details: { issues: [{ path: 'subject', message: 'invalid subject name' }] },
    });
  }
}

function schemaTypeOf(t: unknown): SchemaType {
  if (t === undefined || t === null) return 'AVRO';
  if (SCHEMA_TYPES.includes(t as SchemaType)) return t as SchemaType;
  throw new KeyflowError(ErrorCode.SCHEMA_VALIDATION_FAILED, `schemaType '${String(t)}' is not supported (AVRO or PROTOBUF)`, {
    details: { issues: [{ path: 'schemaType', message: 'AVRO or PROTOBUF' }] },
  });
}

export function createSchemaRegistry(options: SchemaRegistryOptions): SchemaRegistry {
  const { store, clock, logger } = options;
  const pollMs = options.pollMs ?? 1000;
  const byId = new Map<number, RegisteredSchema>();
  /** `<type>:<canonical>` → id, across subjects. */
  const idOf = new Map<string, number>();
  const subjects = new Map<string, RegisteredSchema[]>();
  let next = 0;
  let timer: Timer | undefined;
  let reading: Promise<void> | null = null;

  function problemAgainst(versions: readonly RegisteredSchema[] | undefined, codec: SchemaCodec): string | undefined {
    const latest = versions?.at(-1);
    if (!latest) return undefined;
    if (latest.schemaType !== codec.schemaType) return `the subject holds ${latest.schemaType} schemas, not ${codec.schemaType}`;
    const p = codec.backwardProblem(latest.codec);
    return p === undefined ? undefined : `not backward compatible with version ${latest.version} (id ${latest.id}): ${p}`;
  }

  function apply({ position, claim }: PositionedClaim): void {
    let codec: SchemaCodec;
    try {
      codec = parseSchema(claim.schemaType, claim.schema);
    } catch {
      return; // refused when it was claimed; a claim nobody checked is skipped alike by every node
    }
    const versions = subjects.get(claim.subject) ?? [];
    if (versions.some((v) => v.codec.canonical === codec.canonical)) return;
    const problem = problemAgainst(versions, codec);
    if (problem !== undefined) {
      logger.warn({ event: 'schema.claim_refused', subject: claim.subject, position, reason: problem }, `schema claim for '${claim.subject}' refused: ${problem}`);
      return;
    }
    const key = `${codec.schemaType}:${codec.canonical}`;
    const id = idOf.get(key) ?? position + 1;
    idOf.set(key, id);
    const reg: RegisteredSchema = { id, subject: claim.subject, version: versions.length + 1, schemaType: codec.schemaType, schema: claim.schema, codec };
    versions.push(reg);
    subjects.set(claim.subject, versions);
    if (!byId.has(id)) byId.set(id, reg);
  }

  function refresh(): Promise<void> {
    if (reading) return reading;
    reading = (async () => {
      for (const c of await store.readFrom(next)) {
        apply(c);
        next = c.position + 1;
      }
    })().finally(() => {
      reading = null;
    });
    return reading;
  }

  /** Reads until the claim at `position` is folded in (a read in flight may have started before it). */
  async function readPast(position: number): Promise<void> {
    while (next <= position) await refresh();
  }

  function parse(subject: string, input: SchemaInput): SchemaCodec {
    checkSubject(subject);
    if (typeof input.schema !== 'string' || input.schema.length === 0) {
      throw new KeyflowError(ErrorCode.SCHEMA_VALIDATION_FAILED, 'schema: a non-empty schema text is required', { details: { issues: [{ path: 'schema', message: 'required' }] } });
    }
    return parseSchema(schemaTypeOf(input.schemaType), input.schema);
  }

  const existing = (subject: string, codec: SchemaCodec) => subjects.get(subject)?.find((v) => v.codec.canonical === codec.canonical);

  function incompatible(subject: string, reason: string): KeyflowError {
    return new KeyflowError(ErrorCode.SCHEMA_INCOMPATIBLE, `schema for subject '${subject}' refused: ${reason}; register it under a new subject or make the change compatible`, {
      details: { subject, reason },
    });
  }

  return {
    async start() {
      await refresh();
      timer = clock.every(pollMs, () => {
        refresh().catch((err: unknown) => logger.warn({ event: 'schema.poll_failed', err }, 'reading the schema store failed; retrying'));
      });
    },
    async close() {
      timer?.cancel();
      timer = undefined;
      await reading?.catch(() => undefined);
    },
    refresh,
    async register(subject, input) {
      const codec = parse(subject, input);
      await refresh();
      const known = existing(subject, codec);
      if (known) return known;
      const problem = problemAgainst(subjects.get(subject), codec);
      if (problem !== undefined) throw incompatible(subject, problem);
      const claim: SchemaClaim = { subject, schemaType: codec.schemaType, schema: input.schema, claimId: randomUUID(), claimedAt: new Date(clock.now()).toISOString() };
      const position = await store.append(claim);
      await readPast(position);
      const mine = existing(subject, codec);
      if (mine) {
        logger.info({ event: 'schema.registered', subject, id: mine.id, version: mine.version }, `schema id ${mine.id} is version ${mine.version} of '${subject}'`);
        return mine;
      }
      // another node's claim came first and this one no longer fits after it
      throw incompatible(subject, problemAgainst(subjects.get(subject), codec) ?? 'a concurrent registration came first');
    },
    compatibilityProblem(subject, input) {
      const codec = parse(subject, input);
      if (existing(subject, codec)) return undefined;
      return problemAgainst(subjects.get(subject), codec);
    },
    find: (subject, input) => existing(subject, parse(subject, input)),
    byId: (id) => byId.get(id),
    async lookup(id) {
      const known = byId.get(id);
      if (known) return known;
      await refresh();
      return byId.get(id);
    },
    versions: (subject) => subjects.get(subject) ?? [],
    subjects: () => [...subjects.keys()],
  };
}
