/**
 * Child processes for the benchmarks: a server or processor runs in its own process (its own
 * event loop, its own CPU) and talks to the bench over the Node IPC channel.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** A message from a child: `{ type, ...fields }`. */
export interface ChildMessage {
  type: string;
  [field: string]: unknown;
}

export interface Child {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Resolves with the next message of this type (or rejects when the child exits first / times out). */
  next(type: string, timeoutMs?: number): Promise<ChildMessage>;
  /** The most recent message of this type, if any. */
  latest(type: string): ChildMessage | undefined;
  send(message: ChildMessage): void;
  /** Resolves with the exit code (or signal name) once the child has exited. */
  readonly exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

export interface SpawnOptions {
  /** Extra environment (merged over process.env). */
  env?: Record<string, string>;
  /** Extra node flags, e.g. --expose-gc, --cpu-prof. */
  nodeArgs?: string[];
  args?: string[];
  /** Prefix for the child's stdout/stderr lines; 'ignore' drops them. @default inherit */
  output?: 'inherit' | 'ignore';
}

/** Spawns `bench/children/<name>.ts` under tsx with an IPC channel. */
export function spawnChild(name: string, o: SpawnOptions = {}): Child {
  const script = join(REPO, 'bench/children', `${name}.ts`);
  const out = o.output ?? 'inherit';
  const proc = spawn(process.execPath, [...(o.nodeArgs ?? []), '--import', 'tsx', script, ...(o.args ?? [])], {
    cwd: REPO,
    env: { ...process.env, ...o.env },
    stdio: ['ignore', out, out, 'ipc'],
  });
  const latestByType = new Map<string, ChildMessage>();
  const waiters = new Map<string, ((m: ChildMessage) => void)[]>();
  let exitReason: string | undefined;
  const exitListeners: ((why: string) => void)[] = [];
  proc.on('message', (raw) => {
    const m = raw as ChildMessage;
    latestByType.set(m.type, m);
    const ws = waiters.get(m.type);
    if (ws?.length) {
      waiters.set(m.type, []);
      for (const w of ws) w(m);
    }
  });
  const exited = new Promise<number | string>((res) => {
    proc.on('exit', (code, signal) => {
      exitReason = `exited (${signal ?? code})`;
      for (const l of exitListeners) l(exitReason);
      res(signal ?? code ?? 0);
    });
  });
  return {
    proc,
    pid: proc.pid ?? -1,
    exited,
    latest: (type) => latestByType.get(type),
    next(type, timeoutMs = 120_000) {
      return new Promise((res, rej) => {
        if (exitReason) {
          rej(new Error(`child ${name} ${exitReason}`));
          return;
        }
        const timer = setTimeout(() => rej(new Error(`child ${name}: no "${type}" message within ${timeoutMs} ms`)), timeoutMs);
        const list = waiters.get(type) ?? [];
        list.push((m) => {
          clearTimeout(timer);
          res(m);
        });
        waiters.set(type, list);
        exitListeners.push((why) => {
          clearTimeout(timer);
          rej(new Error(`child ${name} ${why} before "${type}"`));
        });
      });
    },
    send(message) {
      if (proc.connected) proc.send(message);
    },
    kill(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
  };
}

/** Asks a child to stop cleanly ({type:'stop'}), SIGKILLs it after `graceMs`. */
export async function stopChild(c: Child, graceMs = 15_000): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.send({ type: 'stop' });
  const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
  await c.exited;
  clearTimeout(timer);
}

/**
 * Now on the system-wide monotonic clock (CLOCK_MONOTONIC), ms with sub-ms precision: the same in
 * every process of the machine, so a time stamped by one child is measured against by another.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** In a child: sends a message to the parent bench (no-op without IPC). */
export function tell(m: ChildMessage): void {
  if (process.connected) process.send?.(m);
}

/** In a child: runs `onStop` when the parent asks, or when the IPC channel closes (parent died). */
export function onParentStop(onStop: () => Promise<void>): void {
  let stopping = false;
  const run = () => {
    if (stopping) return;
    stopping = true;
    onStop().then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`stop failed: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('message', (m) => {
    if ((m as ChildMessage).type === 'stop') run();
  });
  process.on('disconnect', run);
}
