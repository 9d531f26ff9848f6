/**
 * Argument parsing shared by the commands: `node:util` parseArgs in strict mode, with its errors
 * turned into INVALID_CONFIG naming the flag (`details.flag`), plus value checks for numbers,
 * durations and URLs.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { DURATION_EXAMPLES, parseDuration } from '../core/index.ts';
import { ErrorCode, KeyflowError } from '../model/index.ts';

type FlagsConfig = NonNullable<ParseArgsConfig['options']>;

/** `-h` / `--help`, which every command accepts. */
export const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const satisfies FlagsConfig;

export function invalidFlag(flag: string, message: string): KeyflowError {
  return new KeyflowError(ErrorCode.INVALID_CONFIG, `--${flag} ${message}`, { details: { flag: `--${flag}` } });
}

/** The first quoted word of a parseArgs error message: the option or argument it is about. */
const QUOTED = /'([^'\s,]+)/;

function fromParseArgsError(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : '';
  const subject = QUOTED.exec(message)?.[1] ?? '';
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new KeyflowError(ErrorCode.INVALID_CONFIG, `unknown option ${subject}`, { details: { flag: subject } });
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new KeyflowError(ErrorCode.INVALID_CONFIG, `unexpected argument "${subject}"`, { details: { argument: subject } });
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const takesNone = message.includes('does not take an argument');
      return new KeyflowError(
        ErrorCode.INVALID_CONFIG,
        takesNone ? `${subject} takes no value` : `${subject} needs a value (write ${subject}=<value> for one that starts with "-")`,
        { details: { flag: subject } },
      );
    }
    default:
      return error;
  }
}

/**
 * Strict parseArgs over `argv`: unknown options, positionals, a missing value or a value given
 * to a boolean flag throw INVALID_CONFIG.
 * @example parseFlags(['--sink', 'postgres'], { sink: { type: 'string' }, ...HELP_OPTION })
 */
export function parseFlags<const T extends FlagsConfig>(argv: readonly string[], options: T) {
  try {
    return parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: false }>({
      args: [...argv],
      options,
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    throw fromParseArgsError(e);
  }
}

/** A number within [min, max] (and whole when `integer`). */
export function numberFlag(flag: string, raw: string, min: number, max: number, integer: boolean): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) throw invalidFlag(flag, `expects a number, got "${raw}"`);
  if (integer && !Number.isInteger(v)) throw invalidFlag(flag, `expects a whole number, got "${raw}"`);
  if (v < min || v > max) throw invalidFlag(flag, `must be between ${min} and ${max}, got ${raw}`);
  return v;
}

const SECONDS = /^\d+(?:\.\d+)?$/;

/** `30` (seconds, fractions allowed) or core's duration grammar (`500ms`, `30s`, `5m`, `1h`, `1d`) → milliseconds. */
export function durationFlag(flag: string, raw: string, allowZero: boolean): number {
  const text = raw.trim();
  const ms = SECONDS.test(text) ? Math.round(Number(text) * 1000) : parseDuration(text);
  if (ms === undefined) throw invalidFlag(flag, `expects a duration such as 30, ${DURATION_EXAMPLES}, got "${raw}"`);
  if (!allowZero && ms <= 0) throw invalidFlag(flag, `must be greater than 0, got "${raw}"`);
  return ms;
}

/** An http(s) URL, normalised. */
export function httpUrlFlag(flag: string, raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw invalidFlag(flag, `expects an http(s) URL such as http://localhost:4000/graphql, got "${raw}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw invalidFlag(flag, `expects an http(s) URL, got "${raw}"`);
  return u.toString();
}
