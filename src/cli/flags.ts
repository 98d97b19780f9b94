/**
 * Flags from declarations: every numeric or choice flag of the CLI is parsed by the same rule that
 * checks the value in an API call or a stored config (cells/options.ts), and a bad value is one
 * UserError sentence ('--dim must be a positive integer ≤ 65536, got '1e9'').
 */
import { Option } from 'commander';
import { flagOf, parseOptionText, type OptionSpec } from '../cells/options.js';
import { UserError } from './errors.js';

/** The commander parser of a declared option: the value, or a UserError in the flag's words. */
export function specParser(spec: OptionSpec, flag: string = flagOf(spec.name)): (text: string) => number | string | boolean {
  return (text: string) => {
    const r = parseOptionText(spec, text, flag);
    if ('problem' in r) throw new UserError(r.problem);
    return r.value;
  };
}

/** A commander Option of a declared option: `--kebab <value>` (or a switch for booleans), parsed by specParser. */
export function specOption(spec: OptionSpec, help: string = spec.help, flag: string = flagOf(spec.name)): Option {
  if (spec.type === 'boolean') return new Option(flag, help);
  const placeholder = spec.type === 'int' ? '<n>' : spec.type === 'number' ? '<x>' : '<value>';
  const o = new Option(`${flag} ${placeholder}`, help);
  return spec.type === 'choice' ? o.choices([...(spec.choices ?? [])]) : o.argParser(specParser(spec, flag));
}

const numeric = (type: 'int' | 'number', min: number, exclusive?: 'min' | 'max', max?: number): OptionSpec => ({
  name: '', type, min, help: '', ...(exclusive ? { exclusive } : {}), ...(max === undefined ? {} : { max }),
});

// Parsers of numeric flags that no declaration covers (generate, eval, bench): integers must be safe.
export const positiveIntFlag = (flag: string) => specParser(numeric('int', 1), flag) as (v: string) => number;
export const nonNegativeIntFlag = (flag: string) => specParser(numeric('int', 0), flag) as (v: string) => number;
export const positiveNumberFlag = (flag: string) => specParser(numeric('number', 0, 'min'), flag) as (v: string) => number;
export const nonNegativeNumberFlag = (flag: string) => specParser(numeric('number', 0), flag) as (v: string) => number;
export const fractionFlag = (flag: string) => specParser(numeric('number', 0, 'max', 1), flag) as (v: string) => number;

/**
 * Old flag names that still work: each alias (camelCase, as commander stores it) fills in its
 * flag's value. Giving both with different values is a UserError.
 */
export function applyAliases(opts: Record<string, unknown>, aliases: Readonly<Record<string, string>>): void {
  for (const [alias, key] of Object.entries(aliases)) {
    if (opts[alias] === undefined) continue;
    if (opts[key] !== undefined && opts[key] !== opts[alias]) throw new UserError(`${flagOf(alias)} is another name of ${flagOf(key)}: give one of them`);
    opts[key] = opts[alias];
    delete opts[alias];
  }
}

/** The most a duration flag may say: a week (a budget beyond it is a typo, not a plan). */
const MAX_DURATION_SECONDS = 7 * 24 * 3600;

/**
 * Parses a duration flag: seconds as a plain number ('540'), or units h, m, s in that order
 * ('9m', '90s', '1h30m', '2.5m'). Returns seconds; a UserError names the flag otherwise.
 */
export function durationFlag(flag: string): (text: string) => number {
  return (text: string) => {
    const m = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$/.exec(text.trim());
    const seconds = m && text.trim() !== '' ? 3600 * Number(m[1] ?? 0) + 60 * Number(m[2] ?? 0) + Number(m[3] ?? 0) : NaN;
    if (!(seconds > 0) || seconds > MAX_DURATION_SECONDS) {
      throw new UserError(`${flag} must be a duration above 0 and at most a week, like 540, 90s, 9m or 1h30m; got '${text}'`);
    }
    return seconds;
  };
}
