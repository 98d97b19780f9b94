/**
 * Runs the code that README.md, docs/*.md and examples/ show to users, the way a user would:
 * JavaScript/TypeScript blocks as ES modules that import the package by its name, shell blocks
 * line by line in one scratch directory per document (so a `train --out runs/x` feeds the next
 * block's `generate --checkpoint runs/x`).
 *
 * Shell lines run as written except for the sizes: each `recur` command gets the flags of
 * SHORT_RUN appended (commander keeps an option's last value), so a documented 2000-step run
 * takes 2 steps here. Text files a document names (input.txt, …) are stand-ins made of a short
 * English text. Lines that are CI itself (`npm install`, `npm test`) or need what CI lacks (Python)
 * are checked for what can be checked: the npm script or file they name exists. A `--device cuda`
 * train, eval or generate runs on the CPU as the same short run (CI has no GPU).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

export interface CodeBlock { file: string; line: number; lang: string; code: string }

/** Fenced blocks of a Markdown file whose language is js, ts or sh (others are prose or output). */
export function codeBlocks(file: string): CodeBlock[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const blocks: CodeBlock[] = [];
  const fence = /^```(\w*)[^\n]*\n([\s\S]*?)^```/gm;
  for (let m = fence.exec(text); m; m = fence.exec(text)) {
    const lang = ({ javascript: 'js', typescript: 'ts', bash: 'sh', shell: 'sh' } as Record<string, string>)[m[1]!] ?? m[1]!;
    if (['js', 'ts', 'sh'].includes(lang)) blocks.push({ file, line: text.slice(0, m.index).split('\n').length, lang, code: m[2]! });
  }
  return blocks;
}

/** The flags that make each documented command a short run (appended; later values win). */
const SHORT_RUN: [RegExp, string[]][] = [
  [/^demo\b/, ['--steps', '3', '--examples', '1']],
  [/^train\b.*--resume/, ['--steps', '6', '--eval-every', '3']],
  [/^train\b.*(--task listops|--preset listops)/, ['--steps', '2', '--eval-every', '2', '--dim', '8', '--depth', '1', '--batch', '2', '--min-length', '5', '--max-length', '40', '--val-examples', '4', '--test-examples', '4']],
  [/^train\b.*(--task (selective-copy|recall)|--preset (selective-copy|recall))/, ['--steps', '2', '--eval-every', '2', '--dim', '8', '--depth', '1', '--batch', '2', '--seq', '64', '--val-examples', '4', '--test-examples', '4', '--dtype', 'f32']],
  [/^train\b/, ['--steps', '4', '--eval-every', '2', '--val-windows', '2', '--dim', '16', '--depth', '1', '--batch', '2', '--seq', '16']],
  [/^generate\b/, ['--tokens', '5']],
  [/^bench cpu\b/, ['--quick']],
  [/^bench selective-copy\b/, ['--steps', '2', '--eval-every', '2', '--out', 'bench-out']],
  // The server runs until Ctrl-C: a documented `recur playground` writes the page's files instead.
  [/^playground\b/, ['--export', 'playground-out']],
  [/^bench lm\b/, ['--models', 'bigram,mingru', '--params', '5k', '--epochs', '1', '--epoch-chars', '512', '--batch', '2', '--seq', '16', '--out', 'bench-out']],
];

const STAND_IN_TEXT = 'ROMEO: But soft, what light through yonder window breaks?\nJULIET: O Romeo, Romeo.\n'.repeat(40);

export interface RunResult { ok: boolean; what: string; output: string }

/** A scratch directory inside the package (so `import … from 'recur-rnn'` resolves to it). */
export function scratchDir(): string {
  mkdirSync(join(ROOT, 'dist', 'docs-scratch'), { recursive: true });
  return mkdtempSync(join(ROOT, 'dist', 'docs-scratch', 'run-'));
}

function runNode(args: string[], cwd: string, timeoutMs: number): RunResult {
  const { RECUR_DEBUG: _, RECUR_DEVICE: __, ...env } = process.env;
  const r = spawnSync(process.execPath, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  return { ok: r.status === 0, what: `node ${args.join(' ')}`, output: r.error ? `${r.error.message}\n${output}` : output };
}

/** Runs one JS/TS module: TypeScript is stripped of its types by esbuild first, as a bundler would. */
export async function runModule(code: string, lang: string, dir: string, timeoutMs = 120_000): Promise<RunResult> {
  const js = lang === 'ts' ? (await esbuild.transform(code, { loader: 'ts', format: 'esm', target: 'es2022' })).code : code;
  const file = join(dir, `block-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, js);
  return runNode([file], dir, timeoutMs);
}

/** Splits a shell block into commands (comments dropped, `\` continuations joined, quotes kept). */
export function shellCommands(code: string): string[][] {
  const joined = code.replace(/\\\n/g, ' ');
  const commands: string[][] = [];
  for (const rawLine of joined.split('\n')) {
    for (const part of rawLine.split('&&')) {
      const words: string[] = [];
      const re = /"([^"]*)"|'([^']*)'|(#.*$)|(\S+)/g;
      for (let m = re.exec(part); m; m = re.exec(part)) {
        if (m[3] !== undefined) break;
        words.push(m[1] ?? m[2] ?? m[4]!);
      }
      if (words.length) commands.push(words);
    }
  }
  return commands;
}

/** Runs (or, for CI's own and device-only commands, checks) one shell command in dir. */
export function runShellCommand(words: string[], dir: string): RunResult {
  const [head, ...rest] = words as [string, ...string[]];
  const line = words.join(' ');
  const checked = (ok: boolean, why: string): RunResult => ({ ok, what: line, output: why });
  if (head === 'npm' && (rest[0] === 'install' || rest[0] === 'i' || rest[0] === 'test' || rest[0] === 'pack' || rest[0] === 'ci')) {
    return checked(true, 'what CI itself runs');
  }
  if (head === 'npm' && rest[0] === 'run') {
    const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
    return checked(rest[1]! in scripts, `package.json has the script '${rest[1]}'`);
  }
  if (head === 'python3' || head === 'pip' || head === 'apt-get' || head === 'git') {
    const path = rest.find((w) => /\.(py|txt)$/.test(w) && w.includes('/'));
    return checked(path === undefined || existsSync(join(ROOT, path)), `not run in CI; ${path ?? 'no file'} exists`);
  }
  if (head === 'node') return runNode(rest.map((w) => (w.startsWith('examples/') || w.startsWith('dist/') ? join(ROOT, w) : w)), dir, 120_000);
  let args: string[];
  if (head === 'npx' && (rest[0] === 'recur' || rest[0] === 'recur-rnn')) args = rest.slice(1);
  else if (head === 'recur') args = rest;
  else if (/^[A-Z_]+=/.test(head)) return checked(false, `set environment variables in prose, not in a runnable line: ${line}`);
  else return checked(false, `the docs test does not know how to run '${head}'`);
  return runRecur(args, dir);
}

function runRecur(args: string[], dir: string): RunResult {
  const globals: string[] = [];
  let gpu = false;
  while (args[0]?.startsWith('--')) {
    const option = args.splice(0, args[0].includes('=') ? 1 : 2);
    if (option.join(' ') === '--device cuda') gpu = true;
    else globals.push(...option);
  }
  // CI has no GPU: a GPU train/eval/generate runs as the same short run on the CPU, so its preset
  // and flags are still checked; bf16 (a GPU storage type) becomes the CPU's f32. A GPU benchmark
  // has fixed GPU sizes and is left to `npm run bench:gpu`.
  if (gpu && !['train', 'eval', 'generate'].includes(args[0] ?? '')) return { ok: true, what: args.join(' '), output: 'a GPU benchmark: run by npm run bench:gpu' };
  if (gpu) args = args.filter((w, i) => !(w === '--dtype' && args[i + 1] === 'bf16') && !(w === 'bf16' && args[i - 1] === '--dtype'));
  const sub = args.join(' ');
  const short = SHORT_RUN.find(([re]) => re.test(sub))?.[1] ?? [];
  const isHelp = args.includes('--help') || args.includes('-h') || args.length === 0;
  for (const f of args.filter((w) => /\.txt$/.test(w))) if (!existsSync(join(dir, f))) writeFileSync(join(dir, f), STAND_IN_TEXT);
  return runNode([CLI, '--threads', '1', ...globals, ...args, ...(isHelp ? [] : short)], dir, 180_000);
}
