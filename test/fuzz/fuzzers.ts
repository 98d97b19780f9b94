/**
 * The three robustness fuzzers of docs/reliability.md, seeded so that a failure reproduces:
 *
 *  - checkpoint files: a real run's model.safetensors mutated (bit flips, truncation, header
 *    edits, nesting, sizes, dtypes, NaN/Inf payloads) and loaded as `recur generate` loads it: only
 *    CheckpointError may escape, and whatever loads is finite, floating point and the model's;
 *  - CLI flags: every numeric flag of every command given 0, negative, fractional, huge, NaN and
 *    text values: exit 0, or a non-zero exit with one `recur: …` sentence and no stack trace, within
 *    the time limit;
 *  - run directories: each file of a run missing, empty, a directory, with wrong JSON types, a wrong
 *    version or paths outside the run, then resumed, generated from and evaluated: the same rule.
 *
 * `npm run fuzz -- --cases N [--seed S] [--only safetensors|flags|rundir]` runs them longer
 * (test/fuzz/main.ts); test/fuzz/fuzz.test.ts runs a few cases of each with a fixed seed in CI.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../src/default-backend.js';
import { Rng } from '../../src/tensor/random.js';
import { CheckpointError, disposeTensorTree, loadCheckpoint } from '../../src/train/checkpoint.js';
import { modelFromCheckpoint } from '../../src/train/model-kinds.js';
import { recur, type Run } from '../helpers/cli.js';

export interface FuzzReport {
  name: string;
  tried: number;
  clean: number;
  /** One line per case that broke the rule (empty when all were clean). */
  failures: string[];
  slowestMs: number;
}

/** A small finished run to mutate: `recur train` for 2 steps on a short text (reused across fuzzers). */
export async function makeRun(dir: string): Promise<{ run: string; text: string }> {
  const text = join(dir, 'text.txt');
  writeFileSync(text, 'to be or not to be, that is the question. '.repeat(40));
  const run = join(dir, 'run');
  const r = await recur(['train', '--text', text, '--dim', '8', '--depth', '1', '--batch', '2', '--seq', '8', '--steps', '2', '--eval-every', '2', '--val-windows', '2', '--out', run]);
  if (r.code !== 0) throw new Error(`fuzz setup: training the run failed: ${r.stderr}`);
  return { run, text };
}

/** The rule for a CLI run: success, or one 'recur: …' line with a non-zero exit, no stack, within the limit. */
function cliProblem(r: Run, ms: number, limitMs: number): string | null {
  if (r.signal) return `killed by ${r.signal} after ${ms.toFixed(0)} ms (the limit is ${limitMs} ms)`;
  if (ms > limitMs) return `took ${ms.toFixed(0)} ms (the limit is ${limitMs} ms)`;
  if (r.code === 0) return null;
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('recur: --out') && !/^(train|step) /.test(l));
  if (/^\s+at /m.test(r.stderr) || /unexpected error/.test(r.stderr)) return `a stack trace: ${r.stderr.split('\n').slice(0, 2).join(' | ')}`;
  if (lines.length !== 1 || !lines[0]!.startsWith('recur: ')) return `exit ${r.code} with ${lines.length} stderr lines: ${r.stderr.slice(0, 200)}`;
  return null;
}

async function timed(args: string[], limitMs: number): Promise<{ r: Run; ms: number }> {
  const t0 = performance.now();
  const r = await recur(args, { timeoutMs: limitMs * 3 });
  return { r, ms: performance.now() - t0 };
}

// ---------------------------------------------------------------------------------------------
// 1. Checkpoint files

type Mutation = (bytes: Buffer, rng: Rng) => Buffer;

/** The header JSON and the data section of a safetensors file. */
function split(bytes: Buffer): { header: Record<string, unknown>; data: Buffer } {
  const n = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>, data: bytes.subarray(8 + n) };
}

function join8(headerText: string, data: Buffer): Buffer {
  const h = Buffer.from(headerText, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

const tensorNames = (h: Record<string, unknown>) => Object.keys(h).filter((k) => k !== '__metadata__');
const pick = <T>(xs: readonly T[], rng: Rng): T => xs[rng.int(xs.length)]!;

const MUTATIONS: Record<string, Mutation> = {
  'bit flip': (b, rng) => {
    const c = Buffer.from(b);
    for (let i = 0, n = 1 + rng.int(8); i < n; i++) {
      const at = rng.int(c.length);
      c[at] = c[at]! ^ (1 << rng.int(8));
    }
    return c;
  },
  truncation: (b, rng) => b.subarray(0, rng.int(b.length)),
  'header length': (b, rng) => {
    const c = Buffer.from(b);
    c.writeBigUInt64LE(BigInt(pick([0, 1, 7, 2 ** 31, 2 ** 40, c.length, Number(c.readBigUInt64LE(0)) + 1 + rng.int(5)], rng)));
    return c;
  },
  'dtype edit': (b, rng) => {
    const { header, data } = split(b);
    const name = pick(tensorNames(header), rng);
    (header[name] as Record<string, unknown>).dtype = pick(['I32', 'I64', 'U8', 'BOOL', 'F16', 'F64', 'U16', 'X', 7, null], rng);
    return join8(JSON.stringify(header), data);
  },
  'shape edit': (b, rng) => {
    const { header, data } = split(b);
    const name = pick(tensorNames(header), rng);
    const e = header[name] as { shape: unknown };
    e.shape = pick([[], [-1], [2 ** 53], [1e9, 1e9], Array.from({ length: 200 }, () => 1), 'x', [1.5], [0]], rng);
    return join8(JSON.stringify(header), data);
  },
  'offset edit': (b, rng) => {
    const { header, data } = split(b);
    const name = pick(tensorNames(header), rng);
    const e = header[name] as { data_offsets: number[] };
    e.data_offsets = pick([[0, 2 ** 40], [e.data_offsets[1]!, e.data_offsets[0]!], [0, 0], [-4, 4], [1, e.data_offsets[1]! + 1]], rng);
    return join8(JSON.stringify(header), data);
  },
  'extra tensor': (b, rng) => {
    const { header, data } = split(b);
    const size = 4 * (1 + rng.int(64));
    header[`extra_${rng.int(1000)}`] = { dtype: 'F32', shape: [size / 4], data_offsets: [data.length, data.length + size] };
    return join8(JSON.stringify(header), Buffer.concat([data, Buffer.alloc(size)]));
  },
  'missing tensor': (b, rng) => {
    const { header, data } = split(b);
    delete header[pick(tensorNames(header), rng)];
    return join8(JSON.stringify(header), data);
  },
  nesting: (b, rng) => {
    const { header, data } = split(b);
    const depth = pick([8, 1000, 100_000], rng);
    const name = pick(tensorNames(header), rng);
    const text = JSON.stringify(header).replace(`"${name}":`, `"${name}":${'['.repeat(depth)}${']'.repeat(depth)},"${name}_":`);
    return join8(text, data);
  },
  'NaN/Inf payload': (b, rng) => {
    const c = Buffer.from(b);
    const { header } = split(b);
    const n = Number(c.readBigUInt64LE(0));
    const e = header[pick(tensorNames(header), rng)] as { data_offsets: number[] };
    const at = 8 + n + e.data_offsets[0]! + 4 * rng.int((e.data_offsets[1]! - e.data_offsets[0]!) / 4);
    c.writeFloatLE(pick([NaN, Infinity, -Infinity], rng), at);
    return c;
  },
  'metadata edit': (b, rng) => {
    const { header, data } = split(b);
    header.__metadata__ = pick([null, 5, { a: 1 }, [], { format: 'x'.repeat(10_000) }], rng);
    return join8(JSON.stringify(header), data);
  },
};

/**
 * Mutates the run's model.safetensors `cases` times and loads each as `recur generate` does. The
 * rule: only CheckpointError escapes; a load that succeeds has finite weights the model accepted.
 */
export async function fuzzCheckpointFiles(run: string, seed: number, cases: number): Promise<FuzzReport> {
  const rng = new Rng(seed);
  const ckpt = join(run, readdirSync(run).find((d) => d.startsWith('ckpt-'))!);
  const original = readFileSync(join(ckpt, 'model.safetensors'));
  const work = mkdtempSync(join(tmpdir(), 'recur-fuzz-st-'));
  const report: FuzzReport = { name: 'checkpoint files (safetensors mutation)', tried: 0, clean: 0, failures: [], slowestMs: 0 };
  const kinds = Object.keys(MUTATIONS);
  try {
    for (let i = 0; i < cases; i++) {
      const kind = kinds[i % kinds.length]!;
      const dir = join(work, `c${i}`);
      cpSync(ckpt, dir, { recursive: true });
      let mutated: Buffer;
      try {
        mutated = MUTATIONS[kind]!(original, rng);
      } catch {
        mutated = original.subarray(0, 7);
      }
      writeFileSync(join(dir, 'model.safetensors'), mutated);
      report.tried++;
      const t0 = performance.now();
      let problem: string | null = null;
      try {
        const loaded = await loadCheckpoint(dir);
        try {
          const model = modelFromCheckpoint(loaded);
          for (const [name, p] of model.namedParameters()) {
            const v = p.dataSync();
            for (let j = 0; j < v.length; j++) if (!Number.isFinite(v[j]!)) { problem = `loaded a non-finite weight '${name}'`; break; }
          }
          model.dispose();
        } finally {
          disposeTensorTree(loaded.weights);
        }
      } catch (e) {
        if (!(e instanceof CheckpointError)) problem = `${e instanceof Error ? e.constructor.name : typeof e} escaped: ${String(e instanceof Error ? e.message : e).slice(0, 160)}`;
        else if (e.message.includes('\n')) problem = `a message of several lines: ${e.message.slice(0, 160)}`;
      }
      const ms = performance.now() - t0;
      report.slowestMs = Math.max(report.slowestMs, ms);
      if (!problem && ms > 5000) problem = `took ${ms.toFixed(0)} ms`;
      if (problem) report.failures.push(`case ${i} (${kind}, seed ${seed}): ${problem}`);
      else report.clean++;
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return report;
}

// ---------------------------------------------------------------------------------------------
// 2. CLI flags

const BAD_VALUES = ['0', '-1', '0.5', '-0.5', '1e30', '1e308', 'NaN', 'Infinity', 'abc', '', '99999999999999999999', '0x10', '1e-9', '4294967297'];

/** Every command with its numeric flags, and the arguments that make the rest of the call valid and quick. */
function flagCases(run: string, text: string): { base: string[]; flags: string[] }[] {
  const quick = ['--steps', '1', '--dim', '8', '--depth', '1', '--batch', '2', '--seq', '8', '--val-windows', '2'];
  return [
    {
      base: ['train', '--text', text, ...quick, '--out', '@OUT'],
      flags: ['--dim', '--depth', '--expansion', '--conv', '--ff-mult', '--dropout', '--lr', '--weight-decay', '--warmup', '--clip', '--batch', '--seq', '--steps', '--seed', '--eval-every', '--save-every', '--log-every', '--val-windows'],
    },
    {
      base: ['train', '--task', 'listops', '--min-length', '3', '--max-length', '8', '--max-depth', '2', '--val-examples', '4', '--test-examples', '4', '--dim', '8', '--depth', '1', '--batch', '2', '--steps', '1', '--out', '@OUT'],
      flags: ['--min-length', '--max-length', '--max-depth', '--max-args', '--val-examples', '--test-examples', '--data-seed', '--recurrent-lr-factor', '--r-min', '--r-max', '--dim', '--expansion'],
    },
    { base: ['generate', '--checkpoint', run, '--tokens', '3'], flags: ['--tokens', '--temperature', '--top-k', '--seed'] },
    { base: ['eval', '--checkpoint', run, '--text', text], flags: ['--seq'] },
    { base: ['demo', '--steps', '1', '--dim', '8', '--depth', '1', '--batch', '2', '--examples', '1', '--seq', '12', '--letters', '2'], flags: ['--steps', '--seq', '--letters', '--dim', '--depth', '--batch', '--lr', '--seed', '--examples'] },
    { base: ['bench', 'selective-copy', '--steps', '1', '--out', '@OUT'], flags: ['--steps', '--seed', '--lr', '--eval-every'] },
    { base: ['bench', 'lm', '--text', text, '--models', 'bigram', '--epochs', '1', '--out', '@OUT'], flags: ['--params', '--epochs', '--epoch-chars', '--depth', '--batch', '--seq', '--lr', '--seed'] },
  ];
}

/** `cases` seeded (command, flag, value) triples through the built CLI. */
export async function fuzzFlags(run: string, text: string, seed: number, cases: number, limitMs: number): Promise<FuzzReport> {
  const rng = new Rng(seed);
  const all = flagCases(run, text).flatMap((c) => c.flags.flatMap((flag) => BAD_VALUES.map((value) => ({ base: c.base, flag, value }))));
  const work = mkdtempSync(join(tmpdir(), 'recur-fuzz-flags-'));
  const report: FuzzReport = { name: 'CLI flags', tried: 0, clean: 0, failures: [], slowestMs: 0 };
  try {
    for (let i = 0; i < cases; i++) {
      const c = all[rng.int(all.length)]!;
      const out = join(work, `o${i}`);
      const base = c.base.map((a) => (a === '@OUT' ? out : a));
      // The fuzzed flag replaces the base's value of the same flag.
      const at = base.indexOf(c.flag);
      const args = at >= 0 ? [...base.slice(0, at), c.flag, c.value, ...base.slice(at + 2)] : [...base, c.flag, c.value];
      const { r, ms } = await timed(args, limitMs);
      report.tried++;
      report.slowestMs = Math.max(report.slowestMs, ms);
      const problem = cliProblem(r, ms, limitMs);
      if (problem) report.failures.push(`recur ${args.join(' ')}: ${problem}`);
      else report.clean++;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return report;
}

// ---------------------------------------------------------------------------------------------
// 3. Run directories

type Tamper = (runDir: string, ckptDir: string, rng: Rng) => void;

const editJson = (path: string, f: (j: Record<string, unknown>) => unknown) => writeFileSync(path, JSON.stringify(f(JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>)));
const WRONG = ['x', -1, 1e6, 1e300, null, [], {}, true, 0.5, '/dev/zero'];

const TAMPERS: Record<string, Tamper> = {
  'file missing': (_r, c, rng) => rmSync(join(c, pick(readdirSync(c), rng)), { force: true }),
  'file empty': (_r, c, rng) => writeFileSync(join(c, pick(readdirSync(c), rng)), ''),
  'file a directory': (_r, c, rng) => {
    const f = join(c, pick(readdirSync(c), rng));
    rmSync(f, { force: true });
    mkdirSync(f);
  },
  'latest.json null, a directory, newer': (r, _c, rng) => {
    const p = join(r, 'latest.json');
    const v = pick(['null', 'dir', 'newer', '[]', '{"format":"recur-run","checkpoint":"../../etc","step":1}'], rng);
    if (v === 'dir') {
      rmSync(p);
      mkdirSync(p);
    } else if (v === 'newer') {
      editJson(p, (j) => ({ ...j, version: 99 }));
    } else {
      writeFileSync(p, v);
    }
  },
  'config.json wrong types': (_r, c, rng) => editJson(join(c, 'config.json'), (j) => {
    const training = j.training as { args: Record<string, unknown> };
    const key = pick(Object.keys(training.args), rng);
    training.args[key] = pick(WRONG, rng);
    return j;
  }),
  'model config wrong types': (_r, c, rng) => editJson(join(c, 'config.json'), (j) => {
    const m = (j.model as { config: Record<string, unknown> }).config;
    m[pick(Object.keys(m), rng)] = pick(WRONG, rng);
    return j;
  }),
  'config.json wrong version': (_r, c, rng) => editJson(join(c, 'config.json'), (j) => ({ ...j, version: pick([0, 2, 99, '1', null], rng) })),
  'text path outside the run': (_r, c, rng) => editJson(join(c, 'config.json'), (j) => {
    (j.training as { text: Record<string, unknown> }).text.path = pick(['/dev/zero', '/etc/passwd', '/proc/self/mem', '/', '../../../../etc/hostname'], rng);
    return j;
  }),
  'trainer.json wrong types': (_r, c, rng) => editJson(join(c, 'trainer.json'), (j) => {
    j[pick(Object.keys(j), rng)] = pick(WRONG, rng);
    return j;
  }),
  'stale temp files': (r) => {
    writeFileSync(join(r, '.latest.json.123.abcdef.tmp'), '{"format":');
    mkdirSync(join(r, '.tmp-ckpt-ckpt-000009-x'));
  },
};

/** `cases` seeded tamperings of a copy of the run, each resumed, generated from and evaluated. */
export async function fuzzRunDirectories(run: string, text: string, seed: number, cases: number, limitMs: number): Promise<FuzzReport> {
  const rng = new Rng(seed);
  const work = mkdtempSync(join(tmpdir(), 'recur-fuzz-run-'));
  const report: FuzzReport = { name: 'run directories (tampering)', tried: 0, clean: 0, failures: [], slowestMs: 0 };
  const kinds = Object.keys(TAMPERS);
  try {
    for (let i = 0; i < cases; i++) {
      const kind = kinds[i % kinds.length]!;
      const dir = join(work, `r${i}`);
      cpSync(run, dir, { recursive: true });
      const ckpt = join(dir, readdirSync(dir).find((d) => d.startsWith('ckpt-'))!);
      TAMPERS[kind]!(dir, ckpt, rng);
      const command = pick([
        ['train', '--resume', dir, '--steps', '3'],
        ['generate', '--checkpoint', dir, '--tokens', '3'],
        ['eval', '--checkpoint', dir, '--text', text],
      ], rng);
      const { r, ms } = await timed(command, limitMs);
      report.tried++;
      report.slowestMs = Math.max(report.slowestMs, ms);
      let problem = cliProblem(r, ms, limitMs);
      if (!problem && kind === 'stale temp files' && command[0] === 'train' && r.code === 0 && readdirSync(dir).some((f) => f.startsWith('.latest.json.'))) problem = 'a stale .latest.json temp file was left';
      if (problem) report.failures.push(`case ${i} (${kind}): recur ${command.join(' ')}: ${problem}`);
      else report.clean++;
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return report;
}
