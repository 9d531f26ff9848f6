/**
 * The dead-letter message format (`DLQMessage`, the format partners already consume), as JSON on `events.dlq`.
 * `originalMessage` is the source record's value as text, or base64 when it was not valid UTF-8
 * (then `originalEncoding` is `base64`).
 */
import { z } from 'zod';

export const deadLetterSchema = z.object({
  originalMessage: z.string(),
  originalEncoding: z.enum(['utf8', 'base64']),
  originalKey: z.string().nullable(),
  errorType: z.string(),
  errorMessage: z.string(),
  retryCount: z.number().int().min(0),
  /** ISO-8601 UTC. */
  firstAttemptTime: z.string(),
  lastAttemptTime: z.string(),
  sourceTopic: z.string(),
  sourcePartition: z.number().int().min(0),
  /** int64 as a decimal string. */
  sourceOffset: z.string(),
});
export type DeadLetterMessage = z.infer<typeof deadLetterSchema>;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The record value as DLQ text: UTF-8 when it decodes, base64 otherwise. */
export function originalMessageText(value: Uint8Array): { text: string; encoding: 'utf8' | 'base64' } {
  try {
    return { text: strictUtf8.decode(value), encoding: 'utf8' };
  } catch {
    return { text: Buffer.from(value).toString('base64'), encoding: 'base64' };
  }
}
