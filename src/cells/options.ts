/**
 * Declared options: a name, a type, a default, a help text and the range a value must be in. One
 * declaration serves every way a value arrives — a CLI flag (text), an API call or a stored
 * config.json (values) — so each is checked by the same rule and reported in the same words.
 * Cells declare their options with these (cells/registry.ts), and so do the trainers' arguments
 * (train/args.ts); the CLI builds its flags from them.
 */

export type OptionValue = number | string | boolean;

/** One option of a cell: name, type, default, help and range; the CLI makes a flag of it. */
export interface OptionSpec {
  /** The key in configs and APIs (camelCase); the flag is its kebab-case form (`--r-min`). */
  name: string;
  type: 'int' | 'number' | 'choice' | 'boolean';
  /** Absent: the option is optional and its user decides what absence means. */
  default?: OptionValue;
  help: string;
  /** Inclusive bounds unless `exclusive` names them. */
  min?: number;
  max?: number;
  exclusive?: 'min' | 'max' | 'both';
  choices?: readonly string[];
}

/** `--kebab-case` of a camelCase option name. */
export function flagOf(name: string): string {
  return `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** What a valid value is, in words ('a positive integer', 'a number in [0, 1)', 'log or real'). */
export function describeValid(s: OptionSpec): string {
  if (s.type === 'boolean') return 'true or false';
  if (s.type === 'choice') return (s.choices ?? []).join(' or ');
  const loX = s.exclusive === 'min' || s.exclusive === 'both', hiX = s.exclusive === 'max' || s.exclusive === 'both';
  const noun = s.type === 'int' ? 'integer' : 'number';
  const cap = s.max === undefined ? '' : ` ${hiX ? '<' : '≤'} ${s.max}`;
  if (s.min === 0 && loX) return `a positive ${noun}${cap}`;
  if (s.min === 1 && s.type === 'int' && !loX) return `a positive integer${cap}`;
  if (s.min === 0 && (s.max === undefined || s.type === 'int')) return `a non-negative ${noun}${cap}`;
  if (s.min !== undefined && s.max !== undefined) return `a${noun === 'integer' ? 'n' : ''} ${noun} in ${loX ? '(' : '['}${s.min}, ${s.max}${hiX ? ')' : ']'}`;
  if (s.min !== undefined) return `a${noun === 'integer' ? 'n' : ''} ${noun} ${loX ? '>' : '≥'} ${s.min}`;
  if (s.max !== undefined) return `a${noun === 'integer' ? 'n' : ''} ${noun} ${hiX ? '<' : '≤'} ${s.max}`;
  return `a${noun === 'integer' ? 'n' : ''} ${noun}`;
}

/** Whether a value satisfies its declaration (integers must be safe integers, numbers finite). */
export function isValid(s: OptionSpec, v: unknown): boolean {
  switch (s.type) {
    case 'boolean': return typeof v === 'boolean';
    case 'choice': return typeof v === 'string' && (s.choices ?? []).includes(v);
    case 'int':
    case 'number': {
      if (typeof v !== 'number' || !Number.isFinite(v)) return false;
      if (s.type === 'int' && !Number.isSafeInteger(v)) return false;
      const loX = s.exclusive === 'min' || s.exclusive === 'both', hiX = s.exclusive === 'max' || s.exclusive === 'both';
      if (s.min !== undefined && (loX ? !(v > s.min) : !(v >= s.min))) return false;
      if (s.max !== undefined && (hiX ? !(v < s.max) : !(v <= s.max))) return false;
      return true;
    }
  }
}

/** A value's problem as one phrase ('dim must be a positive integer, got 0'), or null when it is valid. */
export function optionProblem(s: OptionSpec, v: unknown, label: string = s.name): string | null {
  if (isValid(s, v)) return null;
  const shown = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  return `${label} must be ${describeValid(s)}, got ${shown}`;
}

/** Parses a flag's text into a value; the problem (in the flag's words) when it is not valid. */
export function parseOptionText(s: OptionSpec, text: string, flag: string = flagOf(s.name)): { value: OptionValue } | { problem: string } {
  let v: OptionValue;
  if (s.type === 'int' || s.type === 'number') {
    v = text.trim() === '' ? NaN : Number(text);
  } else if (s.type === 'boolean') {
    v = text === 'true' ? true : text === 'false' ? false : text;
  } else {
    v = text;
  }
  return isValid(s, v) ? { value: v } : { problem: `${flag} must be ${describeValid(s)}, got '${text}'` };
}

/**
 * The values of the declared options: each given value checked, absent ones filled with their
 * defaults (options without a default stay absent). Keys not declared are left out. Throws an
 * Error naming the first bad value, prefixed with `where`.
 */
export function resolveOptions(specs: readonly OptionSpec[], given: Readonly<Record<string, unknown>>, where: string): Record<string, OptionValue> {
  const out: Record<string, OptionValue> = {};
  for (const s of specs) {
    const v = given[s.name] ?? s.default;
    if (v === undefined) continue;
    const problem = optionProblem(s, v);
    if (problem) throw new Error(`${where}: ${problem}`);
    out[s.name] = v as OptionValue;
  }
  return out;
}

// Options several cells share, declared once.

/** The expansion factor option shared by the cells that have one. */
export const EXPANSION_OPTION: OptionSpec = {
  name: 'expansion', type: 'number', default: 1, min: 0, max: 64, exclusive: 'min',
  help: 'cell expansion factor: inner width = expansion × dim',
};
/** The scan mode option (log or real) of minGRU and minLSTM. */
export const SCAN_OPTION: OptionSpec = {
  name: 'scan', type: 'choice', default: 'log', choices: ['log', 'real'],
  help: 'linear-recurrence scan: log (reference) or real (faster)',
};
/** The heads option of the block-diagonal classic cells. */
export const HEADS_OPTION: OptionSpec = {
  name: 'heads', type: 'int', default: 1, min: 1, max: 4096,
  help: 'heads of the block-diagonal recurrence (dim must divide)',
};
