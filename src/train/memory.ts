/**
 * What a configuration will cost, known before anything large is allocated: a run whose weights,
 * optimizer state and activations cannot fit is refused with the figure and what the machine has,
 * instead of dying minutes later in `RangeError: Invalid typed array length` or swapping.
 *
 * Parameters are counted without building the model: every model here has, per block, a parameter
 * count that is a quadratic polynomial in its width (the projections are width², the gains and
 * biases width), so models of one and two blocks at three tiny widths give the polynomials exactly,
 * whatever the cell: per block (two blocks minus one) and the part that does not repeat
 * (embedding, head: one block minus the per-block part).
 */
import { freemem, totalmem } from 'node:os';
import type { Module } from '../nn/module.js';
import { TrainConfigError } from './args.js';

/** Bytes per parameter in training: f32 weight, gradient and AdamW's two moments. */
const TRAINING_BYTES_PER_PARAM = 16;
/**
 * f32 values kept per (sequence position × width × block) for the backward pass: the block's
 * norms, projections, gates, scan states and feed-forward activations, with room for the cell's
 * expansion. Deliberately generous: the check refuses what cannot fit, not what barely fits.
 */
const ACTIVATION_FLOATS_PER_POSITION = 48;

/**
 * The parameter count of a model at width `dim` and `depth` blocks: `build(width, blocks)` makes
 * a small instance (blocks 1 or 2; disposed here). `step` is the width granularity the model
 * accepts (a multiple of its heads).
 */
export function countParameters(build: (width: number, blocks: number) => Module, dim: number, depth: number, step = 1): number {
  const count = (w: number, blocks: number) => {
    const m = build(w, blocks);
    try {
      return m.numParameters();
    } finally {
      m.dispose();
    }
  };
  const ws = [4 * step, 8 * step, 12 * step];
  const one = ws.map((w) => count(w, 1)), two = ws.map((w) => count(w, 2));
  const perBlock = ws.map((_, i) => two[i]! - one[i]!);
  const fixed = ws.map((_, i) => one[i]! - perBlock[i]!);
  return quadratic(ws, fixed, dim) + depth * quadratic(ws, perBlock, dim);
}

/** The value at x of the quadratic through three points (Lagrange form; exact for integer polynomials). */
function quadratic(xs: readonly number[], ys: readonly number[], x: number): number {
  const [x0, x1, x2] = xs as [number, number, number];
  const [y0, y1, y2] = ys as [number, number, number];
  const v = y0 * ((x - x1) * (x - x2)) / ((x0 - x1) * (x0 - x2)) + y1 * ((x - x0) * (x - x2)) / ((x1 - x0) * (x1 - x2)) + y2 * ((x - x0) * (x - x1)) / ((x2 - x0) * (x2 - x1));
  return Math.max(0, Math.round(v));
}

export interface MemoryEstimate {
  parameters: number;
  bytes: number;
}

/** Training memory: parameters with gradients and AdamW moments, and the activations of one batch. */
export function trainingMemory(parameters: number, positionsPerBatch: number, dim: number, depth: number): MemoryEstimate {
  const activations = positionsPerBatch * dim * Math.max(depth, 1) * ACTIVATION_FLOATS_PER_POSITION * 4;
  return { parameters, bytes: parameters * TRAINING_BYTES_PER_PARAM + activations };
}

export const formatBytes = (b: number): string => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(1)} GiB` : `${Math.ceil(b / 2 ** 20)} MiB`);
export const formatCount = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} billion` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} million` : n.toLocaleString('en-US'));

/** The most a run may plan to use: RECUR_MEMORY_LIMIT bytes when set, else the machine's memory. */
export function memoryBudget(env: NodeJS.ProcessEnv = process.env): { bytes: number; what: string } {
  const limit = Number(env.RECUR_MEMORY_LIMIT);
  if (Number.isFinite(limit) && limit > 0) return { bytes: limit, what: `RECUR_MEMORY_LIMIT (${formatBytes(limit)})` };
  const total = totalmem();
  return { bytes: total, what: `this machine's ${formatBytes(total)} (${formatBytes(freemem())} free)` };
}

/** Refuses (TrainConfigError with the figures) an estimate above the budget. */
export function checkMemory(e: MemoryEstimate, what: string, hint: string): void {
  const budget = memoryBudget();
  // JavaScript typed arrays hold at most 2^32 elements on the CPU backend: no tensor may exceed it.
  if (e.bytes > budget.bytes) {
    throw new TrainConfigError(`${what} needs about ${formatBytes(e.bytes)} (${formatCount(e.parameters)} parameters), more than ${budget.what}; ${hint}`);
  }
}
