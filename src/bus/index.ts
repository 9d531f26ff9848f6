export type { LiveBus, Unsubscribe } from './port.ts';
export { subjects } from './port.ts';
export { createInProcessBus, createInProcessHub } from './in-process/in-process-bus.ts';
export type { BusLogger, InProcessBusOptions, InProcessHub } from './in-process/in-process-bus.ts';
export { createNatsBus } from './nats/nats-bus.ts';
export type { NatsBusOptions } from './nats/nats-bus.ts';
export * from './messages.ts';
