/**
 * How the CLI fails. Two kinds of failure, told apart by type:
 *
 *  - user errors (bad flags, unknown commands, missing files, invalid configs): one line
 *    `recur: <message>` on stderr and exit code 2, never a stack trace;
 *  - anything else is a bug: the stack trace on stderr and exit code 1.
 *
 * Commands throw `UserError` for what the user can fix. Commander's own parse errors (it runs
 * with exitOverride, see main.ts) and file-system errors on a named path (ENOENT, EACCES, ...)
 * are treated as user errors too, and so is a device that runs out of memory (DeviceMemoryError:
 * the settings or other programs ask too much of it). `RECUR_DEBUG=1` (any level >= 1) prints stacks always.
 */
import { DeviceMemoryError } from '../backend/backend.js';
import { CommanderError } from 'commander';

/** An error the user can fix; the message is shown as is, on one line, without a stack. */
export class UserError extends Error {
  override name = 'UserError';
}

/** Exit code for user errors (the shell convention for misuse). */
export const EXIT_USAGE = 2;
/** Exit code for unexpected errors. */
export const EXIT_BUG = 1;

/** The RECUR_DEBUG level: 0 when unset or not a number, else the number (`RECUR_DEBUG=1`). */
export function debugLevel(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.RECUR_DEBUG ?? 0);
  return Number.isFinite(v) ? v : 0;
}

const FS_USER_CODES = new Set(['ENOENT', 'EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'EEXIST']);

/** Whether err is a file-system error about a path the user named (not a bug in Recur). */
function isFsUserError(err: unknown): err is NodeJS.ErrnoException & { path: string } {
  const e = err as NodeJS.ErrnoException;
  return err instanceof Error && typeof e.code === 'string' && FS_USER_CODES.has(e.code) && typeof e.path === 'string';
}

/** What the handler decided for an error: the exit code and the text for stderr ('' for none). */
export interface ErrorReport {
  exitCode: number;
  text: string;
}

/**
 * Maps an error to its exit code and stderr text. Pure (no I/O), so it is testable; the CLI calls
 * reportError(), which writes and sets the exit code.
 */
export function describeError(err: unknown, debug = debugLevel()): ErrorReport {
  if (err instanceof CommanderError) {
    // --help and --version end through here too (exitCode 0) and have printed already; so has
    // the help that commander shows for a command group called without a subcommand.
    if (err.exitCode === 0) return { exitCode: 0, text: '' };
    if (err.code === 'commander.help' || err.code === 'commander.helpDisplayed') return { exitCode: EXIT_USAGE, text: '' };
    const message = err.message.replace(/^error:\s*/, '');
    return { exitCode: EXIT_USAGE, text: userLine(message, err, debug) };
  }
  if (err instanceof UserError) return { exitCode: EXIT_USAGE, text: userLine(err.message, err, debug) };
  if (err instanceof DeviceMemoryError) {
    return { exitCode: EXIT_USAGE, text: userLine(`${err.message}; use a smaller --batch, --seq, --dim or --depth, or free the device`, err, debug) };
  }
  if (isFsUserError(err)) {
    const what: Record<string, string> = {
      ENOENT: 'no such file or directory',
      EACCES: 'permission denied',
      EPERM: 'operation not permitted',
      EISDIR: 'is a directory',
      ENOTDIR: 'not a directory',
      EEXIST: 'already exists',
    };
    return { exitCode: EXIT_USAGE, text: userLine(`${err.path}: ${what[err.code!]}`, err, debug) };
  }
  const stack = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : `non-Error thrown: ${String(err)}`;
  return { exitCode: EXIT_BUG, text: `recur: unexpected error (a bug in recur; please report it with this trace)\n${stack}\n` };
}

function userLine(message: string, err: Error, debug: number): string {
  const line = `recur: ${message.replace(/\s*\n\s*/g, ' ').trim()}\n`;
  return debug >= 1 && err.stack ? `${line}${err.stack}\n` : line;
}

/** Writes the report for err to stderr and sets process.exitCode; returns the code. */
export function reportError(err: unknown): number {
  const { exitCode, text } = describeError(err);
  if (text) process.stderr.write(text);
  process.exitCode = exitCode;
  return exitCode;
}

/**
 * Runs the CLI's main function under the top-level handler, then exits once stdout and stderr
 * are flushed (explicitly, so that helper threads or timers left behind cannot keep the process
 * alive after the command is done).
 */
export async function runCli(main: () => Promise<void>): Promise<never> {
  let code = 0;
  try {
    await main();
    code = typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    code = reportError(err);
  }
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  await new Promise<void>((resolve) => process.stderr.write('', () => resolve()));
  process.exit(code);
}

/** A commander argParser for positive integer flags: `--runs <n>` with a UserError for bad values. */
export function positiveInt(flag: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 1) throw new UserError(`${flag} must be a positive integer, got '${value}'`);
    return n;
  };
}
