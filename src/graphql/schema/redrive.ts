/** Dead-letter redrive: the admin mutation `redriveDeadLetters` and each dead letter's `redrive` record. */
import { ErrorCode, KeyflowError } from '../../model/index.ts';
import type { RedriveItem, RedriveReport, RedriveState } from '../../redrive/index.ts';
import type { GraphQLContext } from './builder.ts';
import { builder } from './builder.ts';
import './scalars.ts';
import { DeadLetterRef } from './types.ts';

const RedriveOutcomeEnum = builder.enumType('RedriveOutcome', {
  description:
    'REDRIVEN: appended to its type\'s topic now; WOULD_REDRIVE: dry run; ALREADY_REDRIVEN: an earlier run did (never twice); CLAIMED: an earlier run claimed it and recorded no outcome; STILL_INVALID: its event still fails today\'s checks (reason); FAILED: the append failed (reason), a later run may try again.',
  values: ['REDRIVEN', 'WOULD_REDRIVE', 'ALREADY_REDRIVEN', 'CLAIMED', 'STILL_INVALID', 'FAILED'] as const,
});

const RedriveTargetRef = builder.objectRef<{ topic: string; partition: number; offset?: number }>('RedriveTarget').implement({
  fields: (t) => ({
    topic: t.exposeString('topic'),
    partition: t.exposeInt('partition'),
    offset: t.string({ nullable: true, description: 'Offset of the redriven record (int64 as a decimal string); null in a dry run.', resolve: (r) => (r.offset === undefined ? null : String(r.offset)) }),
  }),
});

const RedriveItemRef = builder.objectRef<RedriveItem>('RedriveItem').implement({
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The dead letter.' }),
    sourceTopic: t.exposeString('sourceTopic'),
    errorType: t.exposeString('errorType'),
    outcome: t.field({ type: RedriveOutcomeEnum, resolve: (i) => i.outcome }),
    reason: t.string({ nullable: true, resolve: (i) => i.reason ?? null }),
    target: t.field({ type: RedriveTargetRef, nullable: true, resolve: (i) => i.target ?? null }),
    redrivenAt: t.field({ type: 'DateTime', nullable: true, resolve: (i) => (i.redrivenAt ? Date.parse(i.redrivenAt) : null) }),
  }),
});

const RedriveReportRef = builder.objectRef<RedriveReport>('RedriveReport').implement({
  fields: (t) => ({
    dryRun: t.exposeBoolean('dryRun'),
    runId: t.exposeString('runId'),
    matched: t.exposeInt('matched', { description: 'Dead letters the filter selected.' }),
    redriven: t.int({ resolve: (r) => r.items.filter((i) => i.outcome === 'REDRIVEN').length }),
    items: t.field({ type: [RedriveItemRef], resolve: (r) => r.items }),
  }),
});

const RedriveFilterRef = builder.inputType('DeadLetterFilter', {
  description: 'Which dead letters to redrive; every given field must match (none: all).',
  fields: (t) => ({
    topics: t.stringList({ description: 'Source topics.' }),
    errorTypes: t.stringList({ description: 'Error types, e.g. UNKNOWN_EVENT_TYPE, SCHEMA_VALIDATION_FAILED.' }),
    from: t.field({ type: 'DateTime', description: 'Dead-lettered at or after (last attempt).' }),
    to: t.field({ type: 'DateTime', description: 'Dead-lettered before.' }),
    ids: t.idList({ description: 'Dead-letter ids.' }),
  }),
});

const RedriveStateRef = builder.objectRef<RedriveState>('DeadLetterRedrive').implement({
  description: 'What a redrive did with a dead letter.',
  fields: (t) => ({
    state: t.string({ description: 'DONE (appended, target says where), FAILED (the append failed; may be redriven again) or CLAIMED (a run claimed it and recorded no outcome).', resolve: (s) => s.state }),
    runId: t.exposeString('runId'),
    at: t.field({ type: 'DateTime', resolve: (s) => Date.parse(s.at) }),
    target: t.field({ type: RedriveTargetRef, nullable: true, resolve: (s) => s.target ?? null }),
    reason: t.string({ nullable: true, resolve: (s) => s.reason ?? null }),
  }),
});

/** The ledger, read once per request however many dead letters the answer holds. */
const statesOf = new WeakMap<GraphQLContext, Promise<Map<string, RedriveState>>>();

builder.objectField(DeadLetterRef, 'redrive', (t) =>
  t.field({
    type: RedriveStateRef,
    nullable: true,
    description: 'The redrive of this dead letter, if any.',
    resolve: async (d, _a, ctx) => {
      const r = ctx.services.redrive;
      if (!r) return null;
      let states = statesOf.get(ctx);
      if (!states) {
        states = r.states();
        statesOf.set(ctx, states);
      }
      return (await states).get(d.id) ?? null;
    },
  }),
);

builder.mutationField('redriveDeadLetters', (t) =>
  t.field({
    type: RedriveReportRef,
    description:
      "Re-sends dead letters to their event type's topic (admin), each at most once however often it is run; one whose event still fails today's checks stays (STILL_INVALID). dryRun: report only.",
    args: { filter: t.arg({ type: RedriveFilterRef }), dryRun: t.arg.boolean({ defaultValue: false }) },
    resolve: async (_r, a, ctx) => {
      const r = ctx.services.redrive;
      if (!r) throw new KeyflowError(ErrorCode.BAD_USER_INPUT, 'dead letters cannot be redriven on this node');
      const f = a.filter;
      return r.run(
        {
          ...(f?.topics ? { topics: f.topics } : {}),
          ...(f?.errorTypes ? { errorTypes: f.errorTypes } : {}),
          ...(f?.from != null ? { from: f.from } : {}),
          ...(f?.to != null ? { to: f.to } : {}),
          ...(f?.ids ? { ids: f.ids } : {}),
        },
        a.dryRun ?? false,
      );
    },
  }),
);
