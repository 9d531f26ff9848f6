/**
 * What differs between Node.js and Deno, in one place. Deno 2 runs node:http, ws and the npm
 * packages through its Node compatibility layer, so only identification and signal wiring remain.
 */
import { hostname } from 'node:os';

declare const Deno: { version: { deno: string } } | undefined;

export interface Platform {
  /** `node` or `deno`, with its version. */
  readonly runtime: 'node' | 'deno';
  readonly version: string;
  /** Calls `fn` once on SIGINT or SIGTERM. */
  onShutdownSignal(fn: (signal: string) => void): void;
  defaultNodeId(): string;
}

export function detectPlatform(): Platform {
  const isDeno = typeof Deno !== 'undefined';
  return {
    runtime: isDeno ? 'deno' : 'node',
    version: isDeno ? Deno!.version.deno : process.versions.node,
    onShutdownSignal(fn) {
      let fired = false;
      const once = (signal: string) => {
        if (fired) return;
        fired = true;
        fn(signal);
      };
      process.once('SIGINT', () => once('SIGINT'));
      process.once('SIGTERM', () => once('SIGTERM'));
    },
    defaultNodeId: () => `${hostname()}-${process.pid}`,
  };
}
