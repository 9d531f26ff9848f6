/** Runs a node with the given roles until SIGINT/SIGTERM (start, gateway and processor differ only in their roles). */
import { type Role, buildApp, detectPlatform, loadConfig } from '../app/index.ts';

/** Builds and starts the node, waits for the shutdown signal, stops it; resolves to exit code 0. */
export async function serve(roles: Role[], options: { demo: boolean }): Promise<number> {
  const config = loadConfig();
  const platform = detectPlatform();
  const app = await buildApp(config, { roles, platform, demo: options.demo });
  await app.start();
  await new Promise<void>((resolve) => {
    platform.onShutdownSignal(async () => {
      await app.stop();
      resolve();
    });
  });
  return 0;
}
