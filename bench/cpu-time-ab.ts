/**
 * Before/after on a shared machine: CPU time (process.cpuUsage, not wall time) of the fused
 * recurrences in two builds, alternating, so that other load on the machine hurts both sides
 * alike. Each build is a compiled checkout (its dist/ folder).
 *
 *   node dist/bench/cpu-time-ab.js <before dist> <after dist> [--cells lstm,gru,elman,slstm] [--heads 4]
 *
 * Per cell: rnn(wx, r, b, { cell }) forward + backward at B 16, T 256, hidden 256, f32, median of
 * 5 after one warm-up; then one MinGRU(128) layer forward + backward at B 32, T 256.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const builds = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')));
if (builds.length !== 2) {
  process.stderr.write('usage: node dist/bench/cpu-time-ab.js <before dist> <after dist> [--cells lstm,gru] [--heads 4]\n');
  process.exit(2);
}
const cells = option('--cells', 'lstm,gru,elman,slstm').split(',');
const heads = Number(option('--heads', '4'));

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- two builds of possibly different APIs
type Mod = Record<string, any>;
type Importer = (p: string) => Promise<Mod>;
async function load(dist: string): Promise<Importer> {
  const root = isAbsolute(dist) ? dist : resolve(dist);
  const imp = (p: string) => import(pathToFileURL(`${root}/${p}`).href) as Promise<Mod>;
  await imp('src/default-backend.js').catch(() => undefined); // builds before the layer split register on import
  return imp;
}

/** Median CPU ms of fn over 5 runs after one warm-up. */
function cpuMs(fn: () => void): number {
  const t: number[] = [];
  for (let i = 0; i < 6; i++) {
    const c0 = process.cpuUsage();
    fn();
    const c = process.cpuUsage(c0);
    t.push((c.user + c.system) / 1000);
  }
  t.shift();
  t.sort((a, b) => a - b);
  return t[2];
}

async function rnnStep(imp: Importer, cell: string): Promise<() => void> {
  const { rnn, RNN_CELLS } = await imp('src/cells/rnn.js');
  const { randn } = await imp('src/tensor/creation.js');
  const { scope } = await imp('src/tensor/tensor.js');
  const { sum } = await imp('src/tensor/ops.js');
  const B = 16, T = 256, d = 256 / heads, G = RNN_CELLS[cell].gates, Gb = RNN_CELLS[cell].biases;
  return () => scope(() => {
    const wx = randn([B, T, G, heads, d]), r = randn([G, heads, d, d], { std: 0.1 }), b = randn([Gb, heads, d]);
    for (const t of [wx, r, b]) t.requiresGrad = true;
    sum(rnn(wx, r, b, { cell }).outputs).backward();
  });
}

async function minGruStep(imp: Importer): Promise<() => void> {
  const { MinGRU } = await imp('src/cells/min-rnn.js');
  const { randn } = await imp('src/tensor/creation.js');
  const { scope } = await imp('src/tensor/tensor.js');
  const { mul, sum } = await imp('src/tensor/ops.js');
  const layer = new MinGRU({ dim: 128 });
  return () => {
    scope(() => {
      const x = randn([32, 256, 128]);
      x.requiresGrad = true;
      const { output } = layer.forward(x);
      sum(mul(output, output)).backward();
    });
    layer.zeroGrad();
  };
}

const sides = await Promise.all(builds.map(load));
const rows: string[] = ['| step | before CPU ms | after CPU ms | after / before |', '| --- | ---: | ---: | ---: |'];
const jobs: Array<[string, (imp: Importer) => Promise<() => void>]> = [
  ...cells.map((c): [string, (imp: Importer) => Promise<() => void>] => [`rnn ${c} ${heads} heads fwd+bwd`, (imp) => rnnStep(imp, c)]),
  ['MinGRU(128) layer fwd+bwd B 32 T 256', minGruStep],
];
for (const [name, make] of jobs) {
  const [before, after] = [cpuMs(await make(sides[0])), cpuMs(await make(sides[1]))];
  rows.push(`| ${name} | ${before.toFixed(1)} | ${after.toFixed(1)} | ${(after / before).toFixed(2)} |`);
}
process.stdout.write(`${rows.join('\n')}\n`);
