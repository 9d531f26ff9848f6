/** The composition root: configuration, adapter selection, the roles (gateway, processor) wired together. */
export * from './adapters.ts';
export * from './app.ts';
export * from './config.ts';
export * from './platform.ts';
