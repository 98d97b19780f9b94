/**
 * Test helper for the WebGPU backend: the CUDA tests' comparison (test/backend/cuda/compare.ts:
 * the same op through src/tensor/ops.ts on the device and on the CPU backend in f64 from the very
 * same input values, outputs and the input gradients of L = Σ y ⊙ w), with asynchronous readback.
 *
 * Tolerances (stated once here): an element passes when |gpu − ref| ≤ rtol·|ref| + atol·max|ref|,
 * f32: rtol 1e-4, atol 1e-5. Looser than CUDA's 2e-5 / 2e-6 because WGSL's exp, log, sin and cos
 * are only specified to a few ulp (and over a range for sin/cos), and SwiftShader uses those
 * approximations; sums differ from the CPU's order as well.
 *
 * Dawn in Node runs here on the SwiftShader Vulkan driver of Debian's chromium package: when
 * VK_ICD_FILENAMES is unset and that driver exists, it is selected for this process.
 * Every check also asserts that the device's live buffer count is back to where it was.
 */
import assert from 'node:assert/strict';
import '../../../src/default-backend.js';
import { existsSync } from 'node:fs';
import type { Backend, DType, HostArray } from '../../../src/backend/backend.js';
import type { WebGPUBackend } from '../../../src/backend/webgpu/webgpu.js';
import { initWebGPU } from '../../../src/register-webgpu.js';
import { backend } from '../../../src/tensor/engine.js';
import { fromHost } from '../../../src/tensor/creation.js';
import { Rng } from '../../../src/tensor/random.js';
import { mul, sum } from '../../../src/tensor/ops.js';
import { Tensor, scope, formatShape, sizeOf, type Shape } from '../../../src/tensor/tensor.js';
import { assertNear, makeValues, type InputSpec, type Tolerance } from '../cuda/compare.js';

export { assertNear, type InputSpec, type Tolerance };

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;

let device: WebGPUBackend | null = null;
let reason: string | false = false;
try {
  device = await initWebGPU();
} catch (e) {
  reason = `no WebGPU adapter here (${(e as Error).message})`;
  // CI installs SwiftShader (.ci/run): there, no adapter is a failure, not a skip
  if (process.env.CI === 'true') throw new Error(`CI: ${reason}`);
}

/** false when a WebGPU device is usable, else the reason to skip (node:test `skip`). */
export const skipReason: string | false = reason;

export function gpu(): WebGPUBackend {
  if (!device) throw new Error(String(skipReason));
  return device;
}
export const cpu = (): Backend => backend('cpu');

export const TOL_F32: Tolerance = { rtol: 1e-4, atol: 1e-5 };

export interface CompareOptions {
  grad?: boolean;
  seed?: number;
  tol?: Tolerance;
}

const asF32 = (v: Float64Array): Float64Array => Float64Array.from(Float32Array.from(v));

interface Run { out: HostArray[]; grads: (HostArray | null)[]; shapes: Shape[] }

/** Runs fn on backend b; reads outputs and gradients back after the scope (asynchronously). */
async function runOn(b: Backend, dtype: DType, values: Float64Array[], specs: InputSpec[], weights: Float64Array[] | null,
                     fn: (...xs: Tensor[]) => Tensor | Tensor[], wantGrad: boolean): Promise<Run> {
  const kept: Tensor[] = [];
  const { outs, grads, shapes } = scope(() => {
    const xs = values.map((v, i) => {
      const isInt = specs[i].int !== undefined;
      const t = fromHost(isInt ? Int32Array.from(v) : v, specs[i].shape, { backend: b, dtype: isInt ? 'i32' : dtype });
      if (wantGrad && !isInt && specs[i].grad !== false) t.requiresGrad = true;
      return t;
    });
    const ys = [fn(...xs)].flat();
    let gs: (Tensor | null)[] = [];
    if (wantGrad && weights) {
      let loss: Tensor | null = null;
      ys.forEach((y, i) => {
        if (y.dtype === 'i32' || !y.requiresGrad) return;
        const w = fromHost(weights[i], y.shape, { backend: b, dtype });
        const part = sum(mul(y, w));
        loss = loss ? loss.add(part) : part;
      });
      if (loss) (loss as Tensor).backward();
      gs = xs.map((x) => (x.grad ? x.grad.detach() : null));
    }
    const outs = ys;
    kept.push(...outs, ...gs.filter((g): g is Tensor => g !== null));
    return { outs, grads: gs, shapes: ys.map((y) => y.shape) };
  });
  try {
    return {
      out: await Promise.all(outs.map((y) => y.data())),
      grads: await Promise.all(grads.map((g) => (g ? g.data() : null))),
      shapes,
    };
  } finally {
    for (const t of kept) t.dispose();
  }
}

/**
 * Runs fn on the WebGPU device and on the CPU (f64 reference) from the same f32 inputs and
 * compares outputs and gradients; asserts that no device buffer leaked.
 */
export async function compareOp(name: string, specs: InputSpec[], fn: (...xs: Tensor[]) => Tensor | Tensor[], opts: CompareOptions = {}): Promise<void> {
  const tol = opts.tol ?? TOL_F32;
  const rng = new Rng(opts.seed ?? 1234);
  const values = specs.map((s) => makeValues(s, rng));
  const stored = values.map((v, i) => (specs[i].int !== undefined ? v : asF32(v)));
  const g = gpu();
  const before = g.liveBuffers();
  const wantGrad = opts.grad ?? true;
  const probe = await runOn(cpu(), 'f64', stored, specs, null, fn, false);
  const weights = probe.shapes.map((s) => asF32(makeValues({ shape: s, kind: 'uniform' }, rng)));
  const ref = await runOn(cpu(), 'f64', stored, specs, weights, fn, wantGrad);
  const got = await runOn(g, 'f32', stored, specs, weights, fn, wantGrad);
  assert.equal(g.liveBuffers(), before, `${name}: device buffers leaked`);
  ref.out.forEach((r, i) => {
    if (r instanceof Int32Array) assert.deepEqual([...got.out[i]], [...r], `${name}: output ${i} (${formatShape(probe.shapes[i])})`);
    else assertNear(got.out[i], r, tol, `${name}: output ${i} ${formatShape(probe.shapes[i])}`);
  });
  ref.grads.forEach((r, i) => {
    if (!r) { assert.equal(got.grads[i], null, `${name}: gradient ${i} exists only on the device`); return; }
    assert.ok(got.grads[i], `${name}: no device gradient for input ${i}`);
    assertNear(got.grads[i]!, r, tol, `${name}: d/d input ${i}`);
  });
}
