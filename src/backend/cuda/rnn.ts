/**
 * The launchers of the fused recurrences (any RnnCellDef: LSTM, GRU, Elman, sLSTM, a user's) on
 * the path rnn-plan.ts picks, each path's kernels rendered for the cell (render.ts) on first use:
 * the fused persistent kernels (2 launches a sequence), the cooperative grid kernels, or the
 * alternating path (per step one strided-batched GEMM over the heads and one pointwise launch).
 * Layouts as the cell contract (src/backend/pointwise/rnn-cell.ts): `saved` = hist [S, N, T + 1, B, d]
 * then gates [T, N, B, Gs, d]; dR (one GEMM over all steps) and db (column sums) run on cuBLAS for every path.
 */
import type { BackendBuffer, DType, RnnCellDef, RnnDims } from '../backend.js';
import { rnnSavedLength } from '../pointwise/rnn-cell.js';
import { buf } from './device.js';
import { check } from './ffi.js';
import { ELEM_BYTES, SUFFIX } from './kernels/common.js';
import { accType, floatType, i32, i64, ptr, type Launcher } from './launch.js';
import { fill } from './ops.js';
import { rnnFusedSource } from './kernels/rnn-fused.js';
import { rnnGridSource } from './kernels/rnn-grid.js';
import { rnnSource } from './kernels/rnn.js';
import type { ModuleName } from './modules.js';
import { cellTag, paddedGates, recurrentBiasGates } from './render.js';
import { rnnPath, type RnnDeviceLimits, type RnnKernelChoice } from './rnn-plan.js';

type RnnPathKind = 'alternating' | 'fused' | 'grid';
const SOURCES: Record<RnnPathKind, (cell: RnnCellDef) => string> = { alternating: rnnSource, fused: rnnFusedSource, grid: rnnGridSource };

/** The module of one path's kernels for one cell (rendered and compiled on first use). */
function rnnModule(k: Launcher, path: RnnPathKind, cell: RnnCellDef): ModuleName {
  return k.modules.define({ name: `rendered:rnn-${path}-${cellTag(cell)}`, source: () => SOURCES[path](cell), largeSharedMemory: path !== 'alternating' });
}

function rnnCheck(what: string, b: BackendBuffer, n: number, dtype: DType): void {
  const c = buf(b);
  if (c.length !== n) throw new Error(`cuda rnn: ${what} has ${c.length} elements, expected ${n}`);
  if (c.dtype !== dtype) throw new Error(`cuda rnn: ${what} is ${c.dtype}, expected ${dtype}`);
}

export function rnnDeviceLimits(k: Launcher): RnnDeviceLimits {
  return { multiprocessors: k.device.info.multiprocessors, sharedMemoryOptin: k.device.sharedMemoryOptin() };
}

/** A cooperative launch of a grid kernel with a freshly zeroed barrier word pair (between args and tail). */
function rnnGridLaunch(k: Launcher, module: ModuleName, name: string, blocks: number, threads: number, smem: number, args: ArrayBufferView[], tail: ArrayBufferView[]): void {
  const bar = k.temp(2, 'i32');
  check(k.device.drv.cuMemsetD8(bar.ptr, 0, 8), 'cuMemsetD8(grid barrier)');
  k.launchCooperative(module, name, blocks, threads, smem, [...args, ptr(bar), ...tail]);
  k.free(bar);
}

/** The grid barrier alone (of `cell`'s grid module): `steps` barriers of `blocks` × `threads` (bench/gpu-rnn.ts's barrier cost). */
export function rnnGridBarrierTest(k: Launcher, cell: RnnCellDef, blocks: number, threads: number, steps: number): void {
  rnnGridLaunch(k, rnnModule(k, 'grid', cell), 'rnng_barrier', blocks, threads, 0, [], [i64(steps)]);
}

export function rnnForward(k: Launcher, choice: RnnKernelChoice, def: RnnCellDef, wx: BackendBuffer, r: BackendBuffer, b: BackendBuffer,
                           state0: BackendBuffer | null, out: BackendBuffer, saved: BackendBuffer | null, dims: RnnDims): void {
  const L = def;
  const { batch: B, time: T, heads: N, headDim: d } = dims;
  const G = L.gates, S = L.states, H = N * d;
  const o = buf(out), dt = floatType(o.dtype, 'rnnForward'), s = SUFFIX[dt];
  rnnCheck('wx', wx, B * T * G * H, dt);
  rnnCheck('r', r, G * N * d * d, dt);
  rnnCheck('b', b, L.biases * H, dt);
  if (state0) rnnCheck('state0', state0, S * B * H, dt);
  rnnCheck('out', out, (T + S) * B * H, dt);
  if (saved) rnnCheck('saved', saved, rnnSavedLength(def, dims), dt);
  if (B * H === 0) return;
  const route = rnnPath(choice, def, dims, dt, rnnDeviceLimits(k));
  const mod = rnnModule(k, route.path, def);
  if (route.path === 'fused') {
    const { plan } = route;
    k.launch(mod, `rnnf_fwd_${s}`, [N, plan.tiles], plan.threads, [
      ptr(wx), ptr(r), ptr(b), ptr(state0), ptr(o), ptr(saved), i64(B), i64(T), i64(N), i32(d),
    ], plan.smem);
    return;
  }
  if (route.path === 'grid') {
    const grid = route.plan;
    const hx = k.temp(2 * N * grid.b4 * d, 'f32');
    rnnGridLaunch(k, mod, `rnng_fwd_${s}`, grid.blocks, grid.threads, grid.smemFwd,
      [ptr(wx), ptr(r), ptr(b), ptr(state0), ptr(o), ptr(saved), ptr(hx)],
      [i64(B), i64(T), i64(N), i32(d), i32(grid.units), i32(grid.slices), i32(grid.wpu)]);
    k.free(hx);
    return;
  }
  const es = ELEM_BYTES[dt];
  const slots = saved ? T + 1 : 2;
  const hist = saved ? buf(saved) : k.temp(S * N * slots * B * d, dt);
  const rp = k.temp(G * N * d * d, dt), rh = k.temp(N * B * G * d, dt);
  const NBd = N * B * d, sBlocks = k.blocks(S * NBd);
  k.launch('rnnHelpers', `rnn_init_hist_${s}`, [sBlocks], 256, [ptr(state0), ptr(hist), i64(S), i64(B), i64(N), i64(d), i64(slots)]);
  k.launch('rnnHelpers', `rnn_permute_r_${s}`, [k.blocks(rp.length)], 256, [ptr(r), ptr(rp), i64(G), i64(N), i64(d), i32(1)]);
  const gates = saved && L.saved > 0 ? saved : null;
  const gatesOff = S * N * slots * B * d;
  const name = `rnn_fwd_${s}`, blocks = k.blocks(NBd);
  for (let t = 0; t < T; t++) {
    const prev = saved ? t : t & 1, next = saved ? t + 1 : (t + 1) & 1;
    k.gemm('rnn', dt, false, true, B, G * d, d, hist.ptr + prev * B * d * es, d, slots * B * d, rp.ptr, d, G * d * d,
      rh.ptr, G * d, B * G * d, N, false);
    k.launch(mod, name, [blocks], 256, [
      ptr(wx), ptr(b), ptr(rh), ptr(hist), ptr(o), ptr(gates), i64(B), i64(T), i64(N), i64(d), i64(slots), i64(t), i64(prev), i64(next), i64(gatesOff),
    ]);
  }
  const last = saved ? T : T & 1;
  k.launch('rnnHelpers', `rnn_last_states_${s}`, [sBlocks], 256, [ptr(hist), ptr(o), i64(S), i64(B), i64(T), i64(N), i64(d), i64(slots), i64(last)]);
  k.free(rp);
  k.free(rh);
  if (!saved) k.free(hist);
}

/**
 * BPTT. Alternating path: per step from the last, one pointwise kernel (gate gradients into dwx
 * and dRh, the carry of the states) and one GEMM dh_{t−1}[n] = dRh_t[n]·Rp[n]; the fused and grid
 * kernels produce dwx and dRh for all steps in one launch. Then for every path one GEMM over all
 * steps for dR and column sums (GEMMs with a ones vector) for db.
 */
export function rnnBackward(k: Launcher, choice: RnnKernelChoice, def: RnnCellDef, r: BackendBuffer, saved: BackendBuffer, dout: BackendBuffer,
                            dwx: BackendBuffer, dr: BackendBuffer, db: BackendBuffer, dstate0: BackendBuffer | null, dims: RnnDims): void {
  const L = def;
  const { batch: B, time: T, heads: N, headDim: d } = dims;
  const G = L.gates, S = L.states, H = N * d, NBd = N * B * d;
  const w = buf(dwx), dt = floatType(w.dtype, 'rnnBackward'), s = SUFFIX[dt], acc = accType(dt);
  rnnCheck('r', r, G * N * d * d, dt);
  rnnCheck('saved', saved, rnnSavedLength(def, dims), dt);
  rnnCheck('dout', dout, (T + S) * B * H, dt);
  rnnCheck('dwx', dwx, B * T * G * H, dt);
  rnnCheck('dr', dr, G * N * d * d, dt);
  rnnCheck('db', db, L.biases * H, dt);
  if (dstate0) rnnCheck('dstate0', dstate0, S * B * H, dt);
  const biasGates = recurrentBiasGates(def);
  if (T * B === 0 || H === 0) {
    fill(k, dr, 0); fill(k, db, 0); if (w.length) fill(k, dwx, 0);
    if (dstate0 && buf(dstate0).length) fill(k, dstate0, 0); // T = 0 with states: dstate0 = dout's tail (rare; not exercised)
    return;
  }
  const es = ELEM_BYTES[dt];
  const slots = T + 1, hist = buf(saved);
  const rp = k.temp(G * N * d * d, dt);
  const dRh = k.temp(N * T * B * G * d, dt);
  const route = rnnPath(choice, def, dims, dt, rnnDeviceLimits(k));
  const mod = rnnModule(k, route.path, def);
  if (route.path === 'fused') {
    const { plan } = route;
    k.launch(mod, `rnnf_bwd_${s}`, [N, plan.tiles], plan.threads, [
      ptr(r), ptr(hist), ptr(dout), ptr(w), ptr(dRh), ptr(dstate0), i64(B), i64(T), i64(N), i32(d),
    ], plan.smem);
  } else if (route.path === 'grid') {
    const grid = route.plan;
    const ex = k.temp(2 * N * grid.b4 * d * paddedGates(G), 'f32');
    rnnGridLaunch(k, mod, `rnng_bwd_${s}`, grid.blocks, grid.threads, grid.smemBwd,
      [ptr(r), ptr(hist), ptr(dout), ptr(w), ptr(dRh), ptr(dstate0), ptr(ex)],
      [i64(B), i64(T), i64(N), i32(d), i32(grid.units), i32(grid.slices), i32(grid.wpu), i32(grid.cr)]);
    k.free(ex);
  } else {
    const carry = k.temp(S * NBd, acc), dhRec = k.temp(NBd, dt);
    k.launch('rnnHelpers', `rnn_permute_r_${s}`, [k.blocks(rp.length)], 256, [ptr(r), ptr(rp), i64(G), i64(N), i64(d), i32(1)]);
    const sBlocks = k.blocks(S * NBd);
    k.launch('rnnHelpers', `rnn_init_carry_${s}`, [sBlocks], 256, [ptr(dout), ptr(carry), i64(S), i64(B), i64(T), i64(N), i64(d)]);
    fill(k, dhRec, 0);
    const gatesOff = S * N * slots * B * d;
    const name = `rnn_bwd_${s}`, blocks = k.blocks(NBd);
    for (let t = T - 1; t >= 0; t--) {
      k.launch(mod, name, [blocks], 256, [
        ptr(hist), ptr(hist), ptr(dout), ptr(dhRec), ptr(carry), ptr(w), ptr(dRh), i64(B), i64(T), i64(N), i64(d), i64(slots), i64(t), i64(gatesOff),
      ]);
      if (t > 0 || dstate0) {
        k.gemm('rnn', dt, false, false, B, d, G * d, dRh.ptr + t * B * G * d * es, G * d, T * B * G * d, rp.ptr, d, G * d * d,
          dhRec.ptr, d, B * d, N, false);
      }
    }
    if (dstate0) {
      k.launch('rnnHelpers', `rnn_dstate0_${s}`, [sBlocks], 256, [ptr(carry), ptr(dhRec), ptr(dstate0), i64(S), i64(B), i64(N), i64(d)]);
    }
    k.free(carry);
    k.free(dhRec);
  }
  // dRp[n] [G·d, d] = dRh[n]ᵀ [G·d, T·B] · h[n] (hist slots 0..T−1) [T·B, d]; rp is reused for it
  k.gemm('rnn', dt, true, false, G * d, d, T * B, dRh.ptr, G * d, T * B * G * d, hist.ptr, d, slots * B * d,
    rp.ptr, d, G * d * d, N, false);
  k.launch('rnnHelpers', `rnn_permute_r_${s}`, [k.blocks(rp.length)], 256, [ptr(rp), ptr(dr), i64(G), i64(N), i64(d), i32(0)]);
  // db rows 0..G−1 = column sums of dwx [B·T, G·N·d]; a recurrent-only bias row (GRU's b_rn) =
  // column sums of the dRh gate whose expression is its gradient
  const ones = k.temp(T * B, dt);
  fill(k, ones, 1);
  const dbb = buf(db);
  k.gemm('rnn', dt, false, false, 1, G * H, T * B, ones.ptr, T * B, 0, w.ptr, G * H, 0, dbb.ptr, G * H, 0, 1, false);
  biasGates.forEach((g, i) => {
    k.gemm('rnn', dt, false, false, 1, d, T * B, ones.ptr, T * B, 0, dRh.ptr + g * d * es, G * d, T * B * G * d,
      dbb.ptr + (G + i) * H * es, d, d, N, false);
  });
  for (const t of [rp, dRh, ones]) k.free(t);
}
