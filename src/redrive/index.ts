/** Dead-letter redrive: re-sends dead letters after a fix, once each, recording each redrive and its result in a ledger topic. */
export * from './redrive.ts';
