/**
 * The element-wise f32 kernels in WebAssembly SIMD (wasm/elementwise.ts), called from the CPU
 * backend: operands are staged into the wasm memory, the kernel runs there (on worker threads too
 * when the work is large), results are copied back.
 *
 * Why copies: the backend's arrays live in the JS heap, where wasm cannot see them. Copying costs
 * about one memcpy per operand (≈ 0.1–0.2 ns/element each way on the development machine), which
 * is small beside a transcendental function in scalar JavaScript (4–15 ns/element) but as large as
 * a whole add or multiply: so the ops routed here are those with transcendental math (and the
 * optimizer's sqrt/div), while plain arithmetic stays in JavaScript. BENCHMARKS.md has the
 * measurements behind this choice.
 *
 * Every function returns false when it did not run (no wasm SIMD, a tiny array, memory could not
 * grow); the caller then runs its scalar loop. f64 never comes here: it keeps exact double math.
 */
import type { AdamWHyper, UnaryOp } from '../backend.js';
import { kernelThreads, runKernelJob, wasmKernelHost } from './matmul.js';
import { ADAMW_HYPER_PTR, SIMD_UNARY, kernelId } from './wasm/elementwise.js';

/** Below this many elements the scalar loop is used (staging and the call cost more than they save). */
export const SIMD_MIN_ELEMENTS = 64;
/** From this many elements on, helper threads join (a wake-up costs tens of µs). */
export const SIMD_THREAD_MIN_ELEMENTS = 1 << 16;

const region = (n: number): number => Math.ceil((n * 4) / 64) * 64;

let enabled = true;
/** Testing and measuring hook: route everything to the scalar loops (false) or back (true). */
export function setSimdKernels(on: boolean): void {
  enabled = on;
}

/** Whether op has an f32x4 kernel. */
export function hasSimdUnary(op: UnaryOp): boolean {
  return SIMD_UNARY[op] !== undefined;
}

function stageAndRun(name: string, inputs: readonly Float32Array[], outputs: readonly (Float32Array | null)[], n: number): boolean {
  if (!enabled || n < SIMD_MIN_ELEMENTS) return false;
  const R = region(n);
  const slots = 4;
  const host = wasmKernelHost(slots * R);
  if (!host) return false;
  const { heap, base } = host;
  const ptr = [base, base + R, base + 2 * R, base + 3 * R];
  for (let i = 0; i < inputs.length; i++) heap.set(inputs[i]!.length === n ? inputs[i]! : inputs[i]!.subarray(0, n), ptr[i]! >> 2);
  const T = kernelThreads(n, SIMD_THREAD_MIN_ELEMENTS);
  runKernelJob(kernelId(name), ptr[0]!, ptr[1]!, ptr[2]!, ptr[3]!, Math.ceil(n / 4), T);
  for (let i = 0; i < outputs.length; i++) {
    const o = outputs[i];
    if (o) o.set(heap.subarray(ptr[i]! >> 2, (ptr[i]! >> 2) + n));
  }
  return true;
}

/** out = op(x) for f32 arrays. */
export function unarySimd(op: UnaryOp, x: Float32Array, out: Float32Array): boolean {
  if (!hasSimdUnary(op)) return false;
  // x in slot 0, result in slot 1
  return stageAndRun(`unary_${op}`, [x], [null, out], out.length);
}

/** out = dy·op'(x) (y = op(x)) for f32 arrays. */
export function unaryGradSimd(op: UnaryOp, x: Float32Array, y: Float32Array, dy: Float32Array, out: Float32Array): boolean {
  if (!hasSimdUnary(op)) return false;
  return stageAndRun(`unaryGrad_${op}`, [x, y, dy], [null, null, null, out], out.length);
}

/** The AdamW update in place on f32 param, m, v. */
export function adamwSimd(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, h: AdamWHyper): boolean {
  const n = p.length;
  if (!enabled || n < SIMD_MIN_ELEMENTS) return false;
  const host = wasmKernelHost(4 * region(n));
  if (!host) return false;
  const hyper = host.heap.subarray(ADAMW_HYPER_PTR >> 2, (ADAMW_HYPER_PTR >> 2) + 8);
  hyper[0] = h.beta1; hyper[1] = 1 - h.beta1; hyper[2] = h.beta2; hyper[3] = 1 - h.beta2;
  hyper[4] = 1 - h.lr * h.weightDecay; hyper[5] = h.lr / h.correction1; hyper[6] = 1 / Math.sqrt(h.correction2); hyper[7] = h.eps;
  return stageAndRun('adamw', [p, g, m, v], [p, null, m, v], n);
}
