/**
 * The keyflow command line. It only parses arguments and calls `buildApp`; everything else lives
 * in src/runtime.
 *
 *   keyflow start [--demo]   all roles in one process (the default)
 *   keyflow gateway          GraphQL API only (distributed mode)
 *   keyflow processor        consumer-group member running the actors (distributed mode)
 *   keyflow produce …        load generator publishing through the GraphQL API
 *   keyflow replay …         rebuild a sink from the log
 */
import { isKeyflowError } from '../model/index.ts';
import { type Role, buildApp } from '../app/index.ts';
import { loadConfig } from '../app/index.ts';
import { detectPlatform } from '../app/index.ts';
import { createLogger } from '../core/index.ts';
import { runProduceCli } from '../loadgen/index.ts';
import { parseReplayArgs, runReplay } from './replay.ts';

const USAGE = `usage: keyflow <command> [options]

commands:
  start [--demo]   run every role in one process (embedded defaults: no servers needed)
  gateway          serve the GraphQL API (needs KAFKA_BROKERS, REDIS_URL, NATS_URL)
  processor        run the actors as a member of the Kafka consumer group
  produce          publish generated events: --rate N --duration S --batch B --types a,b --url U
  replay           rebuild a sink from the log: --sink data-lake|postgres|aggregated [--types a,b]
  help             this text

configuration comes from environment variables; see README.md.`;

async function main(argv: string[]): Promise<number> {
  const [command = 'start', ...rest] = argv;
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command === 'produce') {
    return runProduceCli(rest);
  }
  if (command === 'replay') {
    const options = parseReplayArgs(rest);
    const config = loadConfig();
    const stats = await runReplay(config, options, createLogger({ level: config.KEYFLOW_LOG_LEVEL, base: { command: 'replay' } }));
    process.stdout.write(`${JSON.stringify(stats)}\n`);
    return 0;
  }
  const roles: Record<string, Role[]> = {
    start: ['gateway', 'processor'],
    gateway: ['gateway'],
    processor: ['processor'],
  };
  const selected = roles[command];
  if (!selected) {
    process.stderr.write(`keyflow: unknown command "${command}"\n${USAGE}\n`);
    return 2;
  }
  const demo = rest.includes('--demo');
  const unknown = rest.filter((a) => a !== '--demo');
  if (unknown.length > 0) {
    process.stderr.write(`keyflow: unknown option ${unknown.join(' ')}\n${USAGE}\n`);
    return 2;
  }
  const config = loadConfig();
  const platform = detectPlatform();
  const app = await buildApp(config, { roles: selected, platform, demo });
  await app.start();
  await new Promise<void>((resolve) => {
    platform.onShutdownSignal(async () => {
      await app.stop();
      resolve();
    });
  });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (isKeyflowError(error)) {
      process.stderr.write(`keyflow: ${error.code}: ${error.message}\n`);
    } else {
      process.stderr.write(`keyflow: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    }
    process.exit(1);
  },
);
