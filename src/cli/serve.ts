/** Runs a node with the given roles until SIGINT/SIGTERM (start, gateway and processor differ only in their roles). */
import { type Role, buildApp, detectPlatform, loadConfig } from '../app/index.ts';

/**
 * Builds and starts the node, waits for the shutdown signal, stops it; resolves to exit code 0.
 * The signal handler is installed first: /ready may answer before `start` resolves, and a signal
 * that arrives while the node is still starting must stop it gracefully, not kill it.
 */
export async function serve(roles: Role[], options: { demo: boolean }): Promise<number> {
  const config = loadConfig();
  const platform = detectPlatform();
  let signalled = false;
  const shutdown = new Promise<void>((resolve) => {
    platform.onShutdownSignal(() => {
      signalled = true;
      resolve();
    });
  });
  const app = await buildApp(config, { roles, platform, demo: options.demo });
  if (signalled) return 0;
  await app.start();
  await shutdown;
  await app.stop();
  return 0;
}
