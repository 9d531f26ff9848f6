/**
 * The Confluent wire format of a record value: magic byte 0, the schema id as a 4-byte big-endian
 * integer, for Protobuf the message-index list (zigzag varints: count, then each index; a single
 * 0 byte means `[0]`, the first message), then the Avro / Protobuf binary body.
 */
import { ErrorCode, KeyflowError } from '../model/index.ts';

export const WIRE_MAGIC = 0;

export interface WireValue {
  schemaId: number;
  /** Protobuf only: the path to the message type (`[0]` when absent). */
  messageIndexes: number[];
  body: Uint8Array;
}

function malformed(message: string): KeyflowError {
  return new KeyflowError(ErrorCode.SCHEMA_VALIDATION_FAILED, `not a Confluent wire-format value: ${message}`, { details: { issues: [{ path: 'value', message }] } });
}

/** Whether a record value starts like a wire-format value (JSON never starts with a zero byte). */
export function isWireValue(value: Uint8Array): boolean {
  return value.length >= 5 && value[0] === WIRE_MAGIC;
}

function readZigzag(b: Uint8Array, at: { i: number }): number {
  let shift = 0;
  let n = 0;
  for (;;) {
    if (at.i >= b.length) throw malformed('the message-index list ends early');
    const byte = b[at.i++]!;
    n += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) break;
    shift += 7;
    if (shift > 28) throw malformed('a message index is too long');
  }
  return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
}

/** Splits a wire-format value. `protobuf`: whether a message-index list follows the id. Throws SCHEMA_VALIDATION_FAILED. */
export function parseWireValue(value: Uint8Array, protobuf: boolean): WireValue {
  if (value.length < 5) throw malformed(`${value.length} bytes, fewer than the 5-byte header`);
  if (value[0] !== WIRE_MAGIC) throw malformed(`magic byte ${value[0]} (expected 0)`);
  const schemaId = ((value[1]! << 24) | (value[2]! << 16) | (value[3]! << 8) | value[4]!) >>> 0;
  if (!protobuf) return { schemaId, messageIndexes: [0], body: value.subarray(5) };
  const at = { i: 5 };
  const count = readZigzag(value, at);
  if (count < 0 || count > 100) throw malformed(`message-index count ${count}`);
  const messageIndexes: number[] = [];
  for (let k = 0; k < count; k++) {
    const i = readZigzag(value, at);
    if (i < 0) throw malformed(`negative message index ${i}`);
    messageIndexes.push(i);
  }
  return { schemaId, messageIndexes: count === 0 ? [0] : messageIndexes, body: value.subarray(at.i) };
}

function zigzag(n: number): number[] {
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  const out: number[] = [];
  while (z >= 0x80) {
    out.push((z & 0x7f) | 0x80);
    z = Math.floor(z / 128);
  }
  out.push(z);
  return out;
}

/** A wire-format value (what a Confluent serializer writes). `messageIndexes` only for Protobuf. */
export function encodeWireValue(schemaId: number, body: Uint8Array, messageIndexes?: readonly number[]): Uint8Array {
  const idx = messageIndexes === undefined ? [] : messageIndexes.length === 1 && messageIndexes[0] === 0 ? [0] : [...zigzag(messageIndexes.length), ...messageIndexes.flatMap(zigzag)];
  const out = new Uint8Array(5 + idx.length + body.length);
  out[0] = WIRE_MAGIC;
  new DataView(out.buffer).setUint32(1, schemaId >>> 0, false);
  out.set(idx, 5);
  out.set(body, 5 + idx.length);
  return out;
}
