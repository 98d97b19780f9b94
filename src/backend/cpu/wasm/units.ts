/**
 * "Unit" jobs: a kernel called once per (batch row, block of channel vectors), the shape of the
 * fused cell kernels (sequential in time, independent across batch × channels). The job
 * descriptor (gemm.ts's J, kind KIND_UNITS) names the kernel by its export index and points to a
 * table in wasm memory with, per kernel argument, (base, per-row step, per-block step): argument
 * i of unit (r, k) is base_i + r·row_i + k·block_i, except the count argument, which gets the
 * number of vectors in the block (the last block of a row may be short).
 * No Node or DOM imports: loaded by the calling thread and by the workers.
 */
export const UJ = { kernel: 1, nargs: 2, table: 3, blocks: 4, rowVectors: 5, blockVectors: 6, countArg: 7, rows: 8 } as const;

type Kernel = (...args: number[]) => void;

/** Runs units claimed from the job's counter (word `nextUnit`) until none is left; returns how many. */
export function runUnitsShare(kernel: Kernel, job: Int32Array, heap: Int32Array, nextUnit: number): number {
  const nargs = job[UJ.nargs]!, table = job[UJ.table]! >> 2;
  const blocks = job[UJ.blocks]!, rowVectors = job[UJ.rowVectors]!, blockVectors = job[UJ.blockVectors]!;
  const countArg = job[UJ.countArg]!, units = job[UJ.rows]! * blocks;
  const args = new Array<number>(nargs).fill(0);
  let done = 0;
  for (let u = Atomics.add(job, nextUnit, 1); u < units; u = Atomics.add(job, nextUnit, 1)) {
    const r = Math.floor(u / blocks), k = u - r * blocks;
    for (let i = 0; i < nargs; i++) args[i] = heap[table + 3 * i]! + r * heap[table + 3 * i + 1]! + k * heap[table + 3 * i + 2]!;
    args[countArg] = Math.min(blockVectors, rowVectors - k * blockVectors);
    kernel(...args);
    done++;
  }
  return done;
}
