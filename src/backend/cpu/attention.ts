/**
 * Causal attention on the CPU, FlashAttention-style: the forward runs an online softmax along each
 * query row (running maximum, running sum, rescaled accumulator) and keeps only the row's
 * log-sum-exp; the backward recomputes each probability from it, so neither pass holds a
 * queries × keys matrix. Layouts in Backend.attention (src/backend/backend.ts). Sums in f64
 * whatever the storage.
 */
import type { AttentionDims, HostArray } from '../backend.js';

/** The kv head that query head h reads: contiguous groups of heads/kvHeads heads share one. */
const kvHeadOf = (h: number, { heads, kvHeads }: AttentionDims): number => Math.floor((h * kvHeads) / heads);

export function attention(q: HostArray, k: HostArray, v: HostArray, out: HostArray, lse: HostArray, dims: AttentionDims): void {
  const { batch, heads, kvHeads, queries: Tq, keys: Tk, headDim: D, scale } = dims;
  const acc = new Float64Array(D);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const kvBase = (b * kvHeads + kvHeadOf(h, dims)) * Tk * D;
      for (let i = 0; i < Tq; i++) {
        const row = (b * heads + h) * Tq + i;
        const qi = row * D;
        const last = Tk - Tq + i;
        let m = -Infinity, l = 0;
        acc.fill(0);
        for (let j = 0; j <= last; j++) {
          const kj = kvBase + j * D;
          let s = 0;
          for (let c = 0; c < D; c++) s += q[qi + c] * k[kj + c];
          s *= scale;
          if (s > m) {
            // a new maximum: rescale what was summed against the old one
            const r = Math.exp(m - s);
            l *= r;
            for (let c = 0; c < D; c++) acc[c] *= r;
            m = s;
          }
          const p = Math.exp(s - m);
          l += p;
          for (let c = 0; c < D; c++) acc[c] += p * v[kj + c];
        }
        for (let c = 0; c < D; c++) out[qi + c] = acc[c] / l;
        lse[row] = m + Math.log(l);
      }
    }
  }
}

/**
 * With P_ij = exp(scale·q_i·k_j − lse_i) and Δ_i = Σ_c dO_ic·O_ic:
 * dS_ij = P_ij (dO_i·v_j − Δ_i); dq_i = scale Σ_j dS_ij k_j; dk_j = scale Σ_i dS_ij q_i; dv_j = Σ_i P_ij dO_i,
 * dk and dv summed over the heads of a kv group.
 */
export function attentionGrad(q: HostArray, k: HostArray, v: HostArray, out: HostArray, lse: HostArray, dout: HostArray,
                              dq: HostArray, dk: HostArray, dv: HostArray, dims: AttentionDims): void {
  const { batch, heads, kvHeads, queries: Tq, keys: Tk, headDim: D, scale } = dims;
  const dkAcc = new Float64Array(Tk * D), dvAcc = new Float64Array(Tk * D), dqAcc = new Float64Array(D);
  for (let b = 0; b < batch; b++) {
    for (let g = 0; g < kvHeads; g++) {
      const kvBase = (b * kvHeads + g) * Tk * D;
      dkAcc.fill(0); dvAcc.fill(0);
      for (let h = 0; h < heads; h++) {
        if (kvHeadOf(h, dims) !== g) continue;
        for (let i = 0; i < Tq; i++) {
          const row = (b * heads + h) * Tq + i;
          const qi = row * D;
          let delta = 0;
          for (let c = 0; c < D; c++) delta += dout[qi + c] * out[qi + c];
          dqAcc.fill(0);
          const last = Tk - Tq + i;
          for (let j = 0; j <= last; j++) {
            const kj = kvBase + j * D, aj = j * D;
            let s = 0, dp = 0;
            for (let c = 0; c < D; c++) { s += q[qi + c] * k[kj + c]; dp += dout[qi + c] * v[kj + c]; }
            const p = Math.exp(s * scale - lse[row]);
            const ds = p * (dp - delta) * scale;
            for (let c = 0; c < D; c++) {
              dqAcc[c] += ds * k[kj + c];
              dkAcc[aj + c] += ds * q[qi + c];
              dvAcc[aj + c] += p * dout[qi + c];
            }
          }
          for (let c = 0; c < D; c++) dq[qi + c] = dqAcc[c];
        }
      }
      for (let x = 0; x < Tk * D; x++) { dk[kvBase + x] = dkAcc[x]; dv[kvBase + x] = dvAcc[x]; }
    }
  }
}
