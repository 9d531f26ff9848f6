/**
 * The two binary payload formats: Avro (avsc) and Protobuf (protobufjs). Each schema text is
 * parsed once into a {@link SchemaCodec}: its canonical form (what makes two registrations "the
 * same schema"), a decoder from the binary body to JSON data (the form windows and enrichment read,
 * exactly like a JSON payload), an encoder (tests, the API's checks) and the backward
 * compatibility check of a new version against the previous one.
 */
import avro from 'avsc';
import protobuf from 'protobufjs';
import { ErrorCode, KeyflowError } from '../model/index.ts';

/** Confluent's `schemaType` (absent means AVRO). */
export type SchemaType = 'AVRO' | 'PROTOBUF';
export const SCHEMA_TYPES: readonly SchemaType[] = ['AVRO', 'PROTOBUF'];

export interface SchemaCodec {
  readonly schemaType: SchemaType;
  /** Canonical text: equal for two schema texts that describe the same schema. */
  readonly canonical: string;
  /**
   * The payload of a binary body as JSON data (bytes as base64, enums as their names, 64-bit
   * integers as numbers). `messageIndexes`: Protobuf's path to the message type in the file
   * (`[0]`: the first message). Throws SCHEMA_VALIDATION_FAILED naming what is wrong.
   */
  decode(body: Uint8Array, messageIndexes?: readonly number[]): Record<string, unknown>;
  /** The binary body of a payload; throws SCHEMA_VALIDATION_FAILED with the failing path. */
  encode(payload: Record<string, unknown>, messageIndexes?: readonly number[]): Uint8Array;
  /** Why a reader of this schema cannot read data written with `previous`, or undefined when it can. */
  backwardProblem(previous: SchemaCodec): string | undefined;
}

function invalid(message: string, path: string, cause?: unknown): KeyflowError {
  return new KeyflowError(ErrorCode.SCHEMA_VALIDATION_FAILED, message, { cause, details: { issues: [{ path, message }] } });
}

/** Plain JSON data of a decoded value: Buffers → base64, class instances → plain objects, Longs → numbers. */
function toJsonData(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return typeof v === 'bigint' ? Number(v) : v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  if (Array.isArray(v)) return v.map(toJsonData);
  if (v instanceof Date) return v.toISOString();
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const x = (v as Record<string, unknown>)[k];
    if (x !== undefined) out[k] = toJsonData(x);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Avro

function avroCodec(text: string): SchemaCodec {
  let type: avro.Type;
  try {
    type = avro.Type.forSchema(JSON.parse(text) as avro.Schema, { wrapUnions: 'auto' });
  } catch (cause) {
    throw invalid(`not a valid Avro schema: ${(cause as Error).message}`, 'schema', cause);
  }
  if (type.typeName !== 'record') throw invalid(`an Avro payload schema must be a record (got '${type.typeName}')`, 'schema');
  const canonical = JSON.stringify(type.schema());
  return {
    schemaType: 'AVRO',
    canonical,
    decode(body) {
      const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
      let value: unknown;
      try {
        const r = type.decode(buf, 0);
        if (r.offset < 0) throw new Error('the bytes end before the record does (truncated)');
        if (r.offset !== buf.length) throw new Error(`${buf.length - r.offset} bytes left after the record`);
        value = r.value;
      } catch (cause) {
        throw invalid(`malformed Avro bytes for ${type.name ?? 'the record'}: ${(cause as Error).message}`, 'payload', cause);
      }
      return toJsonData(value) as Record<string, unknown>;
    },
    encode(payload) {
      const issues: { path: string; message: string }[] = [];
      const ok = type.isValid(payload, {
        errorHook: (path, val, t) => issues.push({ path: ['payload', ...path].join('.'), message: `expected ${t.typeName}, got ${JSON.stringify(val) ?? 'undefined'}` }),
      });
      if (!ok) {
        throw new KeyflowError(ErrorCode.SCHEMA_VALIDATION_FAILED, `payload does not match the Avro schema: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, {
          details: { issues: issues.slice(0, 10) },
        });
      }
      return type.toBuffer(payload);
    },
    backwardProblem(previous) {
      if (previous.schemaType !== 'AVRO') return `the previous version is ${previous.schemaType}, not AVRO`;
      try {
        type.createResolver(avro.Type.forSchema(JSON.parse(previous.canonical) as avro.Schema, { wrapUnions: 'auto' }));
        return undefined;
      } catch (e) {
        return (e as Error).message;
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Protobuf

/** The message types declared at one level, in declaration order (Confluent's message indexes count them). */
function messagesIn(ns: protobuf.NamespaceBase): protobuf.Type[] {
  return ns.nestedArray.filter((n): n is protobuf.Type => n instanceof protobuf.Type);
}

/** Every message type of the file by full name (nested ones too). */
function allMessages(ns: protobuf.NamespaceBase, out = new Map<string, protobuf.Type>()): Map<string, protobuf.Type> {
  for (const n of ns.nestedArray) {
    if (n instanceof protobuf.Type) out.set(n.fullName, n);
    if (n instanceof protobuf.Namespace || n instanceof protobuf.Type) allMessages(n, out);
  }
  return out;
}

function protobufCodec(text: string): SchemaCodec {
  let root: protobuf.Root;
  let top: protobuf.NamespaceBase;
  try {
    const parsed = protobuf.parse(text, { keepCase: true, alternateCommentMode: true });
    root = parsed.root;
    root.resolveAll();
    top = parsed.package ? (root.lookup(parsed.package) as protobuf.Namespace) : root;
  } catch (cause) {
    throw invalid(`not a valid Protobuf schema: ${(cause as Error).message}`, 'schema', cause);
  }
  if (messagesIn(top).length === 0) throw invalid('a Protobuf payload schema must declare at least one message', 'schema');
  const canonical = JSON.stringify(root.toJSON({ keepComments: false }));

  function messageAt(indexes: readonly number[] = [0]): protobuf.Type {
    let ns: protobuf.NamespaceBase = top;
    let t: protobuf.Type | undefined;
    for (const i of indexes.length === 0 ? [0] : indexes) {
      t = messagesIn(ns)[i];
      if (!t) throw invalid(`message index [${indexes.join(', ')}] names no message of the schema`, 'payload');
      ns = t;
    }
    return t!;
  }

  return {
    schemaType: 'PROTOBUF',
    canonical,
    decode(body, indexes) {
      const t = messageAt(indexes);
      let msg: protobuf.Message;
      try {
        msg = t.decode(body);
      } catch (cause) {
        throw invalid(`malformed Protobuf bytes for ${t.name}: ${(cause as Error).message}`, 'payload', cause);
      }
      const problem = t.verify(msg);
      if (problem) throw invalid(`Protobuf ${t.name}: ${problem}`, `payload.${problem.split(':')[0]}`);
      return toJsonData(t.toObject(msg, { longs: Number, enums: String, bytes: String, defaults: true })) as Record<string, unknown>;
    },
    encode(payload, indexes) {
      const t = messageAt(indexes);
      const msg = t.fromObject(payload); // enums by name, 64-bit integers as numbers or strings
      const problem = t.verify(msg);
      if (problem) throw invalid(`payload does not match the Protobuf message ${t.name}: ${problem}`, `payload.${problem.split(':')[0]}`);
      return t.encode(msg).finish();
    },
    backwardProblem(previous) {
      if (previous.schemaType !== 'PROTOBUF') return `the previous version is ${previous.schemaType}, not PROTOBUF`;
      const before = allMessages(protobufCodecRoot(previous.canonical));
      const after = allMessages(root);
      for (const [name, next] of after) {
        const prev = before.get(name);
        for (const f of next.fieldsArray) {
          const old = prev?.fieldsById[f.id];
          if (!old) {
            if (f.required) return `${name}.${f.name}: a required field was added`;
            continue;
          }
          if (old.type !== f.type) return `${name}: field number ${f.id} was ${old.type} '${old.name}', is now ${f.type} '${f.name}' (a field number is never reused with another type)`;
          if (old.repeated !== f.repeated) return `${name}: field number ${f.id} changed between repeated and single`;
          if (f.required && !old.required) return `${name}.${f.name}: became required`;
        }
      }
      for (const [name] of before) if (!after.has(name)) return `message ${name} was removed`;
      return undefined;
    },
  };
}

function protobufCodecRoot(canonical: string): protobuf.Root {
  const root = protobuf.Root.fromJSON(JSON.parse(canonical) as protobuf.INamespace);
  root.resolveAll();
  return root;
}

/** Parses a schema text once. Throws SCHEMA_VALIDATION_FAILED (issue path `schema`) when it is not a valid schema of its type. */
export function parseSchema(schemaType: SchemaType, text: string): SchemaCodec {
  return schemaType === 'AVRO' ? avroCodec(text) : protobufCodec(text);
}
