/**
 * Where a consumer resumes a partition, checked against what the log still holds. A checkpoint
 * below the log's first retained offset means retention removed records the state never counted
 * (for instance after a damaged checkpoint fell back to an older one): the replay would undercount
 * silently. A checkpoint past the log's end means the log lost records the state already counted
 * (a truncated segment, a recreated topic). Both are reported loudly — an error line naming the
 * partition and the range (`log.replay_gap`) and `keyflow_replay_gap_records_total` — since
 * neither can be repaired from here.
 */
import { LifecycleEvent, type Metrics } from '../core/index.ts';
import type { EventLog } from './port.ts';

export interface ResumeReport {
  /** pino-compatible */
  logger: { error(obj: Record<string, unknown>, msg: string): void; warn(obj: Record<string, unknown>, msg: string): void };
  metrics?: Pick<Metrics, 'replayGap'>;
}

/**
 * The offset to resume `topic`/`partition` from: the checkpoint's next offset, or the log's first
 * retained offset when there is no checkpoint. A checkpoint is checked against the log in the
 * background ({@link checkResumeOffset}): the check only reports, so it does not delay the
 * assignment by a round trip to the log per partition.
 *
 * @example
 * const begin = await resumeOffset(log, 'events.iot.sensors', 3, checkpoint?.nextOffset, { logger, metrics });
 */
export async function resumeOffset(log: EventLog, topic: string, partition: number, checkpointed: number | undefined, report: ResumeReport): Promise<number> {
  if (checkpointed === undefined) return (await log.beginOffsets(topic))[partition] ?? 0;
  checkResumeOffset(log, topic, partition, checkpointed, report).catch((e: unknown) =>
    report.logger.warn({ topic, partition, err: e }, `could not check the checkpoint of ${topic}/${partition} against the log`),
  );
  return checkpointed;
}

/** Reports a checkpoint the log cannot serve (see the module comment); resolves when checked. */
export async function checkResumeOffset(log: EventLog, topic: string, partition: number, checkpointed: number, report: ResumeReport): Promise<void> {
  const [begins, ends] = await Promise.all([log.beginOffsets(topic), log.endOffsets(topic)]);
  const begin = begins[partition] ?? 0;
  const end = ends[partition] ?? 0;
  const labels = { topic, partition: String(partition) };
  if (checkpointed < begin) {
    report.metrics?.replayGap.inc({ ...labels, reason: 'below_log_start' }, begin - checkpointed);
    report.logger.error(
      { event: LifecycleEvent.logReplayGap, topic, partition, checkpointOffset: checkpointed, logStart: begin, missingFrom: checkpointed, missingTo: begin - 1 },
      `${topic}/${partition} resumes from its checkpoint at offset ${checkpointed}, but the log now starts at ${begin} (retention removed the segments): records ${checkpointed}..${begin - 1} are not counted in its windows`,
    );
  } else if (checkpointed > end) {
    report.metrics?.replayGap.inc({ ...labels, reason: 'beyond_log_end' }, checkpointed - end);
    report.logger.error(
      { event: LifecycleEvent.logReplayGap, topic, partition, checkpointOffset: checkpointed, logEnd: end, missingFrom: end, missingTo: checkpointed - 1 },
      `the checkpoint of ${topic}/${partition} is ahead of the log: offsets ${end}..${checkpointed - 1}, which the state has counted, are missing from the log (lost log data); records appended at those offsets again will not be processed`,
    );
  }
}
