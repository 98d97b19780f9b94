/**
 * The minGRU training step's CPU time (user + system, all threads of the process) next to its wall
 * time, for Recur on one thread, jax-js and PyTorch on one thread: `node dist/bench/cpu-time-step.js`.
 * On a shared, oversubscribed machine wall times stretch with the load while the CPU time a step
 * needs stays close to its quiet-machine value, so this is the comparison that survives a busy
 * machine (single-threaded runs; jax-js counts whatever threads it starts).
 */
import '../src/default-backend.js';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setMatmulThreading } from '../src/backend/cpu/matmul.js';
import { cpuThreadsReady, enableCpuThreads } from '../src/backend/cpu/threads-node.js';
import { median } from '../src/bench/report.js';
import { trainStep } from '../src/bench/train-step.js';
import { jaxMinGruStep } from './jaxjs-step.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const runs = 7;

async function timeSteps(step: () => unknown): Promise<{ wallMs: number; cpuMs: number }> {
  for (let i = 0; i < 2; i++) await step();
  const wall: number[] = [], cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage(), t0 = performance.now();
    await step();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { wallMs: median(wall), cpuMs: median(cpu) };
}

enableCpuThreads(2);
await cpuThreadsReady();
setMatmulThreading(false);
const rows: Record<string, { wallMs: number; cpuMs: number }> = {};
for (const cell of ['mingru', 'minlstm']) {
  const s = trainStep(cell, 32, 256, 128);
  rows[`Recur ${cell} (1 thread)`] = await timeSteps(s.step);
  s.dispose();
}
const jax = await jaxMinGruStep(32, 256, 128);
rows['jax-js minGRU'] = await timeSteps(() => jax.step());
jax.dispose();
const py = spawnSync(process.env.RECUR_BENCH_PYTHON ?? '/usr/bin/python3', [join(HERE, '..', '..', 'bench', 'torch_step.py'), String(runs), '2', '1'], { encoding: 'utf8' });
if (py.status === 0) {
  const out = JSON.parse(py.stdout) as { torch: string; ms: Record<string, number>; cpu_ms: Record<string, number> };
  rows[`PyTorch ${out.torch} minGRU (1 thread)`] = { wallMs: out.ms['1']!, cpuMs: out.cpu_ms['1']! };
}
process.stdout.write(JSON.stringify(rows, null, 1) + '\n');
process.exit(0);
