/**
 * The complex diagonal linear scan x_t = λ ⊙ x_{t−1} + u_t on the CPU (the LRU's recurrence), with
 * its reverse-scan backward. Packed layout (see Backend.complexScan): u, x [outer, time, 2, C],
 * λ [2, C], x0 [outer, 2, C]; element (o, t, part, c) at ((o·time + t)·2 + part)·C + c.
 * Sequential in t, a plain loop over the channels of a step (contiguous re and im rows).
 */
import type { ComplexScanDims, HostArray } from '../backend.js';

export function complexScan(lambda: HostArray, u: HostArray, x0: HostArray | null, out: HostArray,
                            { outer, time, channels: C }: ComplexScanDims): void {
  for (let o = 0; o < outer; o++) {
    for (let t = 0; t < time; t++) {
      const row = (o * time + t) * 2 * C;
      // the previous state's re row: the step before, or x0
      const prev = t > 0 ? out : x0;
      const prevRow = t > 0 ? row - 2 * C : o * 2 * C;
      for (let c = 0; c < C; c++) {
        const pr = prev ? prev[prevRow + c] : 0, pi = prev ? prev[prevRow + C + c] : 0;
        const ar = lambda[c], ai = lambda[C + c];
        out[row + c] = ar * pr - ai * pi + u[row + c];
        out[row + C + c] = ar * pi + ai * pr + u[row + C + c];
      }
    }
  }
}

/**
 * With g = ∂L/∂Re + i ∂L/∂Im for a real loss L: G_t = dx_t + conj(λ) G_{t+1}; du_t = G_t;
 * dλ = Σ_{o,t} G_t conj(x_{t−1}); dx0 = conj(λ) G_1. Sums in f64 whatever the storage.
 */
export function complexScanGrad(lambda: HostArray, x: HostArray, x0: HostArray | null, dx: HostArray, du: HostArray,
                                dLambda: HostArray, dx0: HostArray | null, { outer, time, channels: C }: ComplexScanDims): void {
  const sumR = new Float64Array(C), sumI = new Float64Array(C);
  // carry = conj(λ) G_{t+1}, per channel
  const cr = new Float64Array(C), ci = new Float64Array(C);
  for (let o = 0; o < outer; o++) {
    cr.fill(0); ci.fill(0);
    for (let t = time - 1; t >= 0; t--) {
      const row = (o * time + t) * 2 * C;
      const prev = t > 0 ? x : x0;
      const prevRow = t > 0 ? row - 2 * C : o * 2 * C;
      for (let c = 0; c < C; c++) {
        const gr = dx[row + c] + cr[c], gi = dx[row + C + c] + ci[c];
        du[row + c] = gr; du[row + C + c] = gi;
        const pr = prev ? prev[prevRow + c] : 0, pi = prev ? prev[prevRow + C + c] : 0;
        sumR[c] += gr * pr + gi * pi;
        sumI[c] += gi * pr - gr * pi;
        const ar = lambda[c], ai = lambda[C + c];
        cr[c] = ar * gr + ai * gi;
        ci[c] = ar * gi - ai * gr;
      }
    }
    if (dx0) for (let c = 0; c < C; c++) { dx0[o * 2 * C + c] = cr[c]; dx0[o * 2 * C + C + c] = ci[c]; }
  }
  for (let c = 0; c < C; c++) { dLambda[c] = sumR[c]; dLambda[C + c] = sumI[c]; }
}
