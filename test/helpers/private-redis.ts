/**
 * A private redis-server for fault tests that kill it (never the shared one): AOF with fsync on
 * every write, so what it acknowledged survives a SIGKILL, as a production Redis set up for
 * checkpoints would keep it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './cluster.ts';
import { assertReachable } from './services.ts';
import { waitFor } from './wait.ts';

export interface PrivateRedis {
  readonly port: number;
  /** Starts (or restarts, on the same data directory) and waits until it answers. */
  start(): Promise<void>;
  /** SIGKILL; resolves when the process is gone. */
  kill(): Promise<void>;
  /** Kills it and removes its data directory. */
  close(): Promise<void>;
}

export async function createPrivateRedis(): Promise<PrivateRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'keyflow-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const kill = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };
  return {
    port,
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir], {
        stdio: 'ignore',
      });
      await waitFor(() => assertReachable('redis', `127.0.0.1:${port}`, 500).then(() => true), { timeoutMs: 15_000, intervalMs: 100, message: 'private redis up' });
    },
    kill,
    async close() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
