/**
 * End-to-end harness: runs keyflow as a child process (Node or Deno) on a free port and a fresh
 * data dir, waits for `/ready`, and can kill (SIGKILL/SIGTERM) and restart it on the same data dir
 * and port. The child's stdout/stderr are captured so a failing test can show them
 * (`server.output()`); every child still alive is killed by `stopAllServers()` and, as a last
 * resort, when the test worker exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export type Runtime = 'node' | 'deno';

/** The command line that starts keyflow on a runtime (arguments after `main.ts` are appended). */
export function commandFor(runtime: Runtime): { cmd: string; args: string[] } {
  return runtime === 'deno'
    ? { cmd: join(REPO_ROOT, 'node_modules/.bin/deno'), args: ['run', '-A', '--node-modules-dir=manual', 'src/cli/main.ts'] }
    : { cmd: process.execPath, args: ['--import', 'tsx', 'src/cli/main.ts'] };
}

/** A port nobody listens on right now: bind port 0, read it, close. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

/**
 * The child's environment: this process's environment without anything that would switch keyflow
 * to distributed mode or leak settings in (vitest's global setup exports KAFKA_BROKERS), plus `env`.
 */
export function childEnv(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  const leaky = /^(KEYFLOW_|KAFKA_|REDIS_|NATS_|DATABASE_URL$|OTEL_)/;
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !leaky.test(k)) out[k] = v;
  // Deno prints a prompt or warnings otherwise; colours would clutter captured output.
  out.NO_COLOR = '1';
  return { ...out, ...env };
}

const MAX_OUTPUT = 200_000;
const alive = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of alive) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartOptions {
  /** @default 'node' */
  runtime?: Runtime;
  /** Extra environment (KEYFLOW_* settings). KEYFLOW_DATA_DIR and KEYFLOW_PORT are set by the harness unless given. */
  env?: Record<string, string>;
  /** Arguments after `main.ts`. @default ['start'] */
  args?: string[];
  /** How long to wait for `/ready`, ms. Start-up of tsx/Deno is slow on a loaded 2-core machine. @default 120000 */
  readyTimeoutMs?: number;
}

export interface E2eServer {
  readonly runtime: Runtime;
  /** `http://127.0.0.1:<port>/graphql` */
  readonly url: string;
  /** `http://127.0.0.1:<port>` */
  readonly baseUrl: string;
  /** `ws://127.0.0.1:<port>/graphql` */
  readonly wsUrl: string;
  readonly port: number;
  readonly dataDir: string;
  /** Pid of the current child, undefined while stopped. */
  readonly pid: number | undefined;
  /** Captured stdout+stderr of every incarnation so far (the tail, when long). */
  output(): string;
  /** Sends `signal` (default SIGKILL) and resolves when the child has exited. */
  kill(signal?: NodeJS.Signals): Promise<ExitInfo>;
  /** Starts the server again on the same data dir and port and waits for `/ready`. */
  restart(): Promise<void>;
  /** SIGTERM (graceful stop), SIGKILL after a grace period; removes the data dir unless `keepData`. */
  stop(options?: { keepData?: boolean }): Promise<ExitInfo | undefined>;
}

/** Servers started and not yet stopped, for `stopAllServers`. */
const servers = new Set<E2eServer>();

/** Stops every server this worker started (use in afterAll). */
export async function stopAllServers(): Promise<void> {
  await Promise.all([...servers].map((s) => s.stop().catch(() => undefined)));
}

/** Runs keyflow to completion (for commands that should exit by themselves), with a timeout. */
export function runToExit(options: StartOptions & { timeoutMs?: number }): Promise<ExitInfo & { output: string }> {
  installExitHook();
  const { cmd, args } = commandFor(options.runtime ?? 'node');
  const child = spawn(cmd, [...args, ...(options.args ?? ['start'])], {
    cwd: REPO_ROOT,
    env: childEnv(options.env ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  alive.add(child);
  let output = '';
  const onData = (d: Buffer) => {
    output += d.toString('utf8');
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return new Promise((resolveExit, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`keyflow ${options.args?.join(' ') ?? 'start'} did not exit within ${options.timeoutMs ?? 60_000} ms; output:\n${output}`));
    }, options.timeoutMs ?? 60_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      alive.delete(child);
      resolveExit({ code, signal, output });
    });
  });
}

/**
 * Starts keyflow and waits until `GET /ready` answers 200.
 *
 * @example
 * const server = await startServer({ env: { KEYFLOW_CHECKPOINT_INTERVAL_MS: '100' } });
 * await gql(server.url, '{ health { status } }');
 * await server.kill('SIGKILL'); await server.restart();
 */
export async function startServer(options: StartOptions = {}): Promise<E2eServer> {
  installExitHook();
  const runtime = options.runtime ?? 'node';
  const ownDir = options.env?.KEYFLOW_DATA_DIR === undefined;
  const dataDir = options.env?.KEYFLOW_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'keyflow-e2e-'));
  const port = options.env?.KEYFLOW_PORT !== undefined ? Number(options.env.KEYFLOW_PORT) : await freePort();
  const env = childEnv({ KEYFLOW_HOST: '127.0.0.1', KEYFLOW_LOG_LEVEL: 'info', KEYFLOW_TEST_HOOKS: 'true', ...options.env, KEYFLOW_DATA_DIR: dataDir, KEYFLOW_PORT: String(port) });
  const { cmd, args } = commandFor(runtime);
  const argv = [...args, ...(options.args ?? ['start'])];
  const baseUrl = `http://127.0.0.1:${port}`;
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;

  let out = '';
  let child: ChildProcess | undefined;
  let exited: Promise<ExitInfo> = Promise.resolve({ code: null, signal: null });
  let incarnation = 0;

  const append = (s: string) => {
    out += s;
    if (out.length > MAX_OUTPUT) out = out.slice(out.length - MAX_OUTPUT);
  };

  async function launch(): Promise<void> {
    incarnation++;
    append(`\n--- [harness] ${runtime} incarnation ${incarnation}: ${argv.join(' ')} (cwd ${REPO_ROOT}, port ${port}, data ${dataDir})\n`);
    const c = spawn(cmd, argv, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    alive.add(c);
    c.stdout?.on('data', (d: Buffer) => append(d.toString('utf8')));
    c.stderr?.on('data', (d: Buffer) => append(d.toString('utf8')));
    exited = new Promise<ExitInfo>((resolveExit) => {
      c.once('error', (e) => {
        append(`\n--- [harness] spawn error: ${e.message}\n`);
        alive.delete(c);
        resolveExit({ code: null, signal: null });
      });
      c.once('exit', (code, signal) => {
        alive.delete(c);
        append(`\n--- [harness] exited code=${code} signal=${signal}\n`);
        resolveExit({ code, signal });
      });
    });
    let gone: ExitInfo | undefined;
    void exited.then((e) => {
      gone = e;
    });
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (gone) throw new Error(`keyflow (${runtime}) exited before it was ready (code ${gone.code}, signal ${gone.signal}); output:\n${out}`);
      try {
        const res = await fetch(`${baseUrl}/ready`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`keyflow (${runtime}) was not ready within ${readyTimeoutMs} ms; output:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<ExitInfo> {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return exited;
    c.kill(signal);
    const info = await exited;
    child = undefined;
    return info;
  }

  const server: E2eServer = {
    runtime,
    url: `${baseUrl}/graphql`,
    baseUrl,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    port,
    dataDir,
    get pid() {
      return child?.pid;
    },
    output: () => out,
    kill,
    async restart() {
      if (child) await kill('SIGKILL');
      // a server stopped with keepData and started again is running again: stopAllServers must
      // stop it (otherwise it outlives the test run, orphaned)
      servers.add(server);
      await launch();
    },
    async stop(opts = {}) {
      servers.delete(server);
      let info: ExitInfo | undefined;
      const c = child;
      if (c && c.exitCode === null && c.signalCode === null) {
        c.kill('SIGTERM');
        const grace = setTimeout(() => c.kill('SIGKILL'), 15_000);
        info = await exited;
        clearTimeout(grace);
      }
      child = undefined;
      if (ownDir && !opts.keepData) rmSync(dataDir, { recursive: true, force: true });
      return info;
    },
  };
  servers.add(server);
  try {
    await launch();
  } catch (e) {
    servers.delete(server);
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  return server;
}
