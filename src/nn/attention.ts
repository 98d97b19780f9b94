/**
 * Causal scaled dot-product attention as one differentiable op, and the position codes of the
 * Transformer baselines (docs/models.md#transformer).
 *
 * causalAttention(q, k, v): q [B, H, Tq, hd], k and v [B, Hkv, Tk, hd] with Hkv dividing H (grouped
 * keys: heads h·Hkv/H share a kv head), scale 1/√hd by default. Query i sits at position
 * Tk − Tq + i, so Tq = Tk is the ordinary causal mask and Tq = 1 with a KV cache is a streaming step.
 * Where the backend offers attention/attentionGrad (CPU: src/backend/cpu/attention.ts) it is one
 * kernel each way that keeps only the log-sum-exp of each row for the backward; elsewhere the
 * composite in ordinary ops (matmul, masked softmax, matmul), which is also the tests' reference.
 */
import type { AttentionDims, Backend } from '../backend/backend.js';
import { isGradEnabled } from '../tensor/engine.js';
import { add, concat, expand, matmul, mul, reshape, slice, softmax, sub, unsqueeze, where } from '../tensor/ops.js';
import { fromHost } from '../tensor/creation.js';
import { Tensor, describe, result } from '../tensor/tensor.js';

export interface AttentionOptions {
  /** Multiplies q·kᵀ; default 1/√hd. */
  scale?: number;
  /** Set false to force the composite path (tests, debugging). */
  fused?: boolean;
}

/** Whether b runs causal attention as one kernel each way. */
export function hasFusedAttention(b: Backend): boolean {
  return typeof b.attention === 'function' && typeof b.attentionGrad === 'function';
}

function attentionDims(q: Tensor, k: Tensor, v: Tensor, scale: number | undefined): AttentionDims {
  const what = 'causalAttention';
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) throw new Error(`${what}: q ${describe(q)}, k ${describe(k)} and v ${describe(v)} must all be [B, heads, T, headDim]`);
  const [batch, heads, queries, headDim] = q.shape;
  const [kb, kvHeads, keys, kd] = k.shape;
  if (kb !== batch || kd !== headDim || v.shape.join() !== k.shape.join()) {
    throw new Error(`${what}: k ${describe(k)} and v ${describe(v)} must be [${batch}, kvHeads, T, ${headDim}] for q ${describe(q)}`);
  }
  if (kvHeads === 0 || heads % kvHeads !== 0) throw new Error(`${what}: the ${kvHeads} kv heads of k ${describe(k)} must divide the ${heads} heads of q ${describe(q)}`);
  if (queries > keys) throw new Error(`${what}: q ${describe(q)} has more positions than k ${describe(k)} (queries are the last of the keys' positions)`);
  for (const t of [k, v]) {
    if (t.dtype !== q.dtype) throw new Error(`${what}: ${describe(t)} and q ${describe(q)} differ in dtype`);
    if (t.backend !== q.backend) throw new Error(`${what}: ${describe(t)} is on ${t.backend.name}, q on ${q.backend.name}`);
  }
  if (q.dtype === 'i32') throw new Error(`${what}: q ${describe(q)} must be a float tensor`);
  return { batch, heads, kvHeads, queries, keys, headDim, scale: scale ?? 1 / Math.sqrt(headDim) };
}

/** softmax(scale·q·kᵀ + causal mask)·v, differentiable w.r.t. q, k and v. */
export function causalAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const dims = attentionDims(q, k, v, opts.scale);
  const b = q.backend;
  if (opts.fused === false || !hasFusedAttention(b) || dims.queries === 0) return compositeAttention(q, k, v, dims);
  const inputs = [q, k, v];
  const lse = Tensor.fromBuffer(b, b.alloc(dims.batch * dims.heads * dims.queries, q.dtype), [dims.batch, dims.heads, dims.queries]);
  const out = b.alloc(q.size, q.dtype);
  b.attention!(q.buffer, k.buffer, v.buffer, out, lse.buffer, dims);
  const needsGrad = isGradEnabled() && inputs.some((t) => t.requiresGrad);
  if (!needsGrad) lse.dispose();
  const y: Tensor = result(b, out, q.shape, 'causalAttention', inputs, needsGrad ? (g) => {
    const dq = b.alloc(q.size, q.dtype), dk = b.alloc(k.size, k.dtype), dv = b.alloc(v.size, v.dtype);
    b.attentionGrad!(q.buffer, k.buffer, v.buffer, y.buffer, lse.buffer, g.buffer, dq, dk, dv, dims);
    return [Tensor.fromBuffer(b, dq, q.shape), Tensor.fromBuffer(b, dk, k.shape), Tensor.fromBuffer(b, dv, v.shape)];
  } : null);
  return y;
}

/** The same function in ordinary ops: kv heads repeated for their groups, a [Tq, Tk] mask, softmax. */
function compositeAttention(q: Tensor, k: Tensor, v: Tensor, dims: AttentionDims): Tensor {
  const { batch, heads, kvHeads, queries, keys, headDim } = dims;
  const group = heads / kvHeads;
  const repeat = (t: Tensor) => group === 1 ? t
    : reshape(expand(unsqueeze(t, 2), [batch, kvHeads, group, keys, headDim]), [batch, heads, keys, headDim]);
  const scores = mul(matmul(q, repeat(k), { transB: true }), dims.scale);
  const visible = new Float64Array(queries * keys);
  for (let i = 0; i < queries; i++) for (let j = 0; j <= keys - queries + i; j++) visible[i * keys + j] = 1;
  const mask = fromHost(visible, [queries, keys], { dtype: q.dtype, backend: q.backend });
  return matmul(softmax(where(mask, scores, -Infinity), -1), repeat(v));
}

/**
 * Rotary position code (RoPE, rotate-half form): x [B, H, T, hd], positions offset..offset+T−1;
 * channel pairs (c, c + ⌊hd/2⌋) rotate by position · base^(−2c/hd). An odd head width leaves its
 * last channel unrotated.
 */
export function rope(x: Tensor, offset: number, base = 10000): Tensor {
  if (x.rank !== 4) throw new Error(`rope: x ${describe(x)} must be [B, heads, T, headDim]`);
  const [, , T, hd] = x.shape;
  const half = Math.floor(hd / 2);
  if (half === 0) return x;
  const cos = new Float64Array(T * half), sin = new Float64Array(T * half);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < half; c++) {
      const angle = (offset + t) * base ** (-2 * c / hd);
      cos[t * half + c] = Math.cos(angle);
      sin[t * half + c] = Math.sin(angle);
    }
  }
  const o = { dtype: x.dtype, backend: x.backend };
  const C = fromHost(cos, [T, half], o), S = fromHost(sin, [T, half], o);
  const x1 = slice(x, 3, 0, half), x2 = slice(x, 3, half, 2 * half);
  const rotated = [sub(mul(x1, C), mul(x2, S)), add(mul(x2, C), mul(x1, S))];
  return concat(hd % 2 ? [...rotated, slice(x, 3, hd - 1, hd)] : rotated, 3);
}

/** The fixed sinusoidal code of positions offset..offset+T−1 as a [T, dim] tensor (sin on even channels, cos on odd). */
export function sinusoidalCode(T: number, dim: number, offset: number, like: Tensor): Tensor {
  const code = new Float64Array(T * dim);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < dim; c++) {
      const angle = (offset + t) / 10000 ** ((c - (c % 2)) / dim);
      code[t * dim + c] = c % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return fromHost(code, [T, dim], { dtype: like.dtype, backend: like.backend });
}

/** The SMR seed's linear code: x [B, T, D] → [B, T, D + 1] with (offset + t)/length as the extra channel. */
export function appendLinearCode(x: Tensor, offset: number, length: number): Tensor {
  const [B, T] = x.shape;
  const ramp = new Float64Array(T);
  for (let t = 0; t < T; t++) ramp[t] = (offset + t) / length;
  const code = expand(fromHost(ramp, [1, T, 1], { dtype: x.dtype, backend: x.backend }), [B, T, 1]);
  return concat([x, code], 2);
}
