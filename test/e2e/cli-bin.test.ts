/**
 * `keyflow start` through the installed entry point (bin/keyflow.js, what `npx keyflow start` and
 * `npm start` run): it serves /ready on the embedded defaults, and SIGTERM or SIGINT stops it
 * gracefully with exit code 0 — the signal reaches the platform, not just a wrapper process. Under
 * `npx keyflow start` a SIGTERM to npm (whose shell does not pass it on) still stops the node.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, childEnv, freePort } from '../helpers/e2e.ts';
import { waitFor } from '../helpers/wait.ts';

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function ready(node: { child: ChildProcess; port: number; output: () => string }): Promise<void> {
  await waitFor(
    async () => {
      if (node.child.exitCode !== null) throw new Error(`keyflow start exited early:\n${node.output()}`);
      const res = await fetch(`http://127.0.0.1:${node.port}/ready`).catch(() => undefined);
      return res?.status === 200;
    },
    { timeoutMs: 90_000, intervalMs: 200 },
  );
}

async function startViaBin(
  via: 'node' | 'npx' = 'node',
): Promise<{ child: ChildProcess; port: number; output: () => string; exit: Promise<number | null> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyflow-bin-'));
  dirs.push(dataDir);
  const port = await freePort();
  const [cmd, args] = via === 'npx' ? ['npx', ['--no-install', 'keyflow', 'start']] : [process.execPath, [join(REPO_ROOT, 'bin/keyflow.js'), 'start']];
  const child = spawn(cmd, args, {
    cwd: via === 'npx' ? REPO_ROOT : dataDir,
    env: childEnv({ KEYFLOW_DATA_DIR: dataDir, KEYFLOW_PORT: String(port), KEYFLOW_HOST: '127.0.0.1', KEYFLOW_LOG_LEVEL: 'info' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, port, output: () => out, exit };
}

describe('bin/keyflow.js start', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('is ready on the embedded defaults and exits 0 on %s', async (signal) => {
    const node = await startViaBin();
    await ready(node);
    node.child.kill(signal);
    expect(await node.exit, node.output()).toBe(0);
  }, 120_000);

  it('stops gracefully when the npm process of `npx keyflow start` gets SIGTERM', async () => {
    const node = await startViaBin('npx');
    await ready(node);
    node.child.kill('SIGTERM');
    await node.exit;
    // The node below npm's shell notices that npm is gone, shuts down and frees its port.
    await waitFor(async () => (await fetch(`http://127.0.0.1:${node.port}/ready`).catch(() => 'closed')) === 'closed', {
      timeoutMs: 30_000,
      intervalMs: 200,
      message: `keyflow kept running after npm was stopped:\n${node.output()}`,
    });
    expect(node.output()).toContain('"event":"node.stopping"');
  }, 120_000);
});
