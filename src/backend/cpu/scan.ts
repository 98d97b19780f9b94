/**
 * The first-order linear scan h_t = a_t·h_{t−1} + b_t on the CPU, in real and log space, with its
 * reverse-scan backward. Sequential in t, vectorised over the inner axis (the batch of channels):
 * on a CPU the recurrence is memory-bound and a parallel-prefix formulation would only add work.
 */
import type { AxisLayout, HostArray } from '../backend.js';
import { logaddexp } from './reduce.js';

export function scan(a: HostArray, b: HostArray, h0: HostArray | null, out: HostArray,
                     { outer, size, inner }: AxisLayout, logSpace: boolean): void {
  for (let o = 0; o < outer; o++) {
    const base = o * size * inner;
    for (let t = 0; t < size; t++) {
      const row = base + t * inner;
      const prev = row - inner;
      if (t === 0) {
        for (let i = 0; i < inner; i++) {
          const init = h0 ? h0[o * inner + i] : logSpace ? -Infinity : 0;
          out[row + i] = logSpace ? logaddexp(a[row + i] + init, b[row + i]) : a[row + i] * init + b[row + i];
        }
      } else if (logSpace) {
        for (let i = 0; i < inner; i++) out[row + i] = logaddexp(a[row + i] + out[prev + i], b[row + i]);
      } else {
        for (let i = 0; i < inner; i++) out[row + i] = a[row + i] * out[prev + i] + b[row + i];
      }
    }
  }
}

/**
 * Real space: g_t = dh_t + a_{t+1} g_{t+1}; da_t = g_t h_{t−1}; db_t = g_t; dh0 = a_1 g_1.
 * Log space (L = log h): w_t = e^{a_t + L_{t−1} − L_t} = ∂L_t/∂L_{t−1}, ∂L_t/∂b_t = e^{b_t − L_t};
 * g_t = dL_t + w_{t+1} g_{t+1}; da_t = g_t w_t; db_t = g_t e^{b_t − L_t}; dL0 = w_1 g_1.
 */
export function scanGrad(a: HostArray, b: HostArray, h: HostArray, h0: HostArray | null, dh: HostArray,
                         da: HostArray, db: HostArray, dh0: HostArray | null,
                         { outer, size, inner }: AxisLayout, logSpace: boolean): void {
  const carry = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    const base = o * size * inner;
    carry.fill(0);
    for (let t = size - 1; t >= 0; t--) {
      const row = base + t * inner;
      for (let i = 0; i < inner; i++) {
        const g = dh[row + i] + carry[i];
        const prev = t > 0 ? h[row - inner + i] : h0 ? h0[o * inner + i] : logSpace ? -Infinity : 0;
        if (logSpace) {
          const L = h[row + i];
          // L = −∞ only when both terms are −∞: nothing flows through either.
          const w = prev === -Infinity || L === -Infinity ? 0 : Math.exp(a[row + i] + prev - L);
          da[row + i] = g * w;
          db[row + i] = b[row + i] === -Infinity || L === -Infinity ? 0 : g * Math.exp(b[row + i] - L);
          carry[i] = g * w;
        } else {
          da[row + i] = g * prev;
          db[row + i] = g;
          carry[i] = g * a[row + i];
        }
      }
    }
    if (dh0) for (let i = 0; i < inner; i++) dh0[o * inner + i] = carry[i];
  }
}
