/**
 * The installed entry point, spawned for real (`node bin/keyflow.js …`, as `npx keyflow` runs it):
 * every command answers --help with its usage and exit 0, and rejects an unknown option or a bad
 * value with exit 2 and the usage on stderr.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/keyflow.js', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function keyflow(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const COMMANDS: [string, string][] = [
  ['start', 'Usage: keyflow start [--demo]'],
  ['gateway', 'Usage: keyflow gateway'],
  ['processor', 'Usage: keyflow processor'],
  ['produce', 'Usage: keyflow produce [options]'],
  ['replay', 'Usage: keyflow replay --sink'],
  ['redrive', 'Usage: keyflow redrive'],
  ['schema', 'Usage: keyflow schema'],
];

describe('bin/keyflow.js', () => {
  it('is executable and starts with a node shebang', () => {
    expect(() => accessSync(BIN, constants.X_OK)).not.toThrow();
  });

  it('keyflow --help, -h and help list every command and exit 0', async () => {
    const runs = await Promise.all([keyflow('--help'), keyflow('-h'), keyflow('help')]);
    for (const run of runs) {
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain('Usage: keyflow <command>');
      for (const [name] of COMMANDS) expect(run.stdout).toMatch(new RegExp(`^ {2}${name} `, 'm'));
    }
  });

  it.each(COMMANDS)('keyflow %s --help prints its usage and exits 0', async (name, usage) => {
    const run = await keyflow(name, '--help');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.startsWith(usage)).toBe(true);
    expect(run.stdout).toContain('-h, --help');
    expect(run.stderr).toBe('');
  });

  it('-h and `keyflow help <command>` print the same usage as --help', async () => {
    const [long, short, viaHelp] = await Promise.all([keyflow('produce', '--help'), keyflow('produce', '-h'), keyflow('help', 'produce')]);
    expect(short).toEqual(long);
    expect(viaHelp).toEqual(long);
  });

  it.each(COMMANDS)('keyflow %s --no-such-option exits 2 with the usage on stderr', async (name, usage) => {
    const run = await keyflow(name, '--no-such-option');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`keyflow ${name}: unknown option --no-such-option`);
    expect(run.stderr).toContain(usage);
    expect(run.stdout).toBe('');
  });

  it('exits 2 on a positional argument, a bad value and an unknown command', async () => {
    const [positional, badValue, missingSink, unknown] = await Promise.all([
      keyflow('start', 'now'),
      keyflow('produce', '--batch', '0'),
      keyflow('replay'),
      keyflow('deploy'),
    ]);
    expect(positional).toMatchObject({ code: 2 });
    expect(positional.stderr).toContain('unexpected argument "now"');
    expect(badValue).toMatchObject({ code: 2 });
    expect(badValue.stderr).toContain('--batch must be between 1 and 10000');
    expect(missingSink).toMatchObject({ code: 2 });
    expect(missingSink.stderr).toContain('--sink must be data-lake, postgres, aggregated');
    expect(unknown).toMatchObject({ code: 2 });
    expect(unknown.stderr).toContain('unknown command "deploy"');
  });

  it('keyflow schema prints the SDL', async () => {
    const run = await keyflow('schema');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('type Mutation {');
    expect(run.stdout).toContain('publishEvent(');
  });
});
