/**
 * The Kafka Streams peer (bench/peers/kstreams, a Maven project): built on first use and whenever a
 * source is newer than the jar, then run as `java … dev.keyflow.peer.Main load|run …`. Each run
 * prints one JSON line on stdout, which is returned parsed; its logs (warnings) go to stderr.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './child.ts';

export const PEER_DIR = join(REPO, 'bench/peers/kstreams');
const JAR = join(PEER_DIR, 'target/kstreams-peer-1.jar');
const DEPS = join(PEER_DIR, 'target/dependency');

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds the peer with Maven unless target/ holds a jar newer than pom.xml and every source. */
export function ensurePeerBuilt(): void {
  const sourcesAt = Math.max(statSync(join(PEER_DIR, 'pom.xml')).mtimeMs, newestSource(join(PEER_DIR, 'src')));
  if (existsSync(JAR) && existsSync(DEPS) && statSync(JAR).mtimeMs >= sourcesAt) return;
  process.stdout.write('  (building the Kafka Streams peer: mvn -q package dependency:copy-dependencies -DskipTests in bench/peers/kstreams)\n');
  const r = spawnSync('mvn', ['-q', '-B', '-Dstyle.color=never', 'package', 'dependency:copy-dependencies', '-DskipTests'], {
    cwd: PEER_DIR,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.error) throw new Error(`cannot run mvn (Maven is needed to build the Kafka Streams peer): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`building the Kafka Streams peer failed: mvn exited ${r.status}`);
}

/** One JSON result line of the peer. */
export interface PeerResult {
  system: string;
  records: number;
  seconds: number;
  eventsPerSec: number;
  guarantee?: string;
  startupSeconds?: number;
  committedSeconds?: number | null;
}

/** Runs `Main <args>` in a JVM and resolves with its JSON line; rejects when it exits non-zero or prints none. */
export function runPeer(args: readonly string[], jvmArgs: readonly string[] = []): Promise<PeerResult> {
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin/java') : 'java';
  const cp = `${JAR}:${DEPS}/*`;
  const proc = spawn(java, ['-Xms512m', '-Xmx1g', '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn', ...jvmArgs, '-cp', cp, 'dev.keyflow.peer.Main', ...args], {
    cwd: PEER_DIR,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (s: string) => {
    out += s;
  });
  return new Promise((resolve, reject) => {
    proc.on('error', (e) => reject(new Error(`cannot start java for the Kafka Streams peer: ${e.message}`)));
    proc.on('exit', (code, signal) => {
      if (code !== 0) {
        reject(new Error(`Kafka Streams peer "${args[0]}" exited ${signal ?? code}${out ? `; stdout: ${out.slice(-500)}` : ''}`));
        return;
      }
      const line = out
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('{"system"'));
      if (!line) {
        reject(new Error(`Kafka Streams peer "${args[0]}" printed no result line; stdout: ${out.slice(-500)}`));
        return;
      }
      resolve(JSON.parse(line) as PeerResult);
    });
  });
}
