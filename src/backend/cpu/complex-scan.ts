/**
 * The complex first-order linear scan x_t = λ_t ⊙ x_{t−1} + u_t on the CPU, complex numbers as
 * separate real/imaginary arrays, with its reverse-scan backward. Sequential in t, vectorised over
 * the inner axis, as the real scan in ./scan.ts.
 *
 * Output layout: `out` holds x_re (all of it, in the inputs' layout) followed by x_im.
 */
import type { AxisLayout, HostArray } from '../backend.js';

export function complexScan(lr: HostArray, li: HostArray, ur: HostArray, ui: HostArray,
                            x0r: HostArray | null, x0i: HostArray | null, out: HostArray,
                            { outer, size, inner }: AxisLayout): void {
  const n = outer * size * inner;
  for (let o = 0; o < outer; o++) {
    const base = o * size * inner;
    for (let t = 0; t < size; t++) {
      const row = base + t * inner;
      for (let i = 0; i < inner; i++) {
        const k = row + i;
        let pr: number, pi: number;
        if (t > 0) { pr = out[k - inner]; pi = out[n + k - inner]; } else { pr = x0r ? x0r[o * inner + i] : 0; pi = x0i ? x0i[o * inner + i] : 0; }
        const ar = lr[k], ai = li[k];
        out[k] = ar * pr - ai * pi + ur[k];
        out[n + k] = ar * pi + ai * pr + ui[k];
      }
    }
  }
}

/**
 * With g = ∂L/∂Re + i ∂L/∂Im for a real loss L: G_t = dx_t + conj(λ_{t+1}) G_{t+1};
 * du_t = G_t; dλ_t = G_t conj(x_{t−1}); dx0 = conj(λ_1) G_1. `x` and `dx` are in `out`'s layout.
 */
export function complexScanGrad(lr: HostArray, li: HostArray, x: HostArray, x0r: HostArray | null, x0i: HostArray | null,
                                dx: HostArray, dlr: HostArray, dli: HostArray, dur: HostArray, dui: HostArray,
                                dx0r: HostArray | null, dx0i: HostArray | null, { outer, size, inner }: AxisLayout): void {
  const n = outer * size * inner;
  // carry = conj(λ_{t+1}) G_{t+1}, per channel
  const cr = new Float64Array(inner), ci = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    const base = o * size * inner;
    cr.fill(0); ci.fill(0);
    for (let t = size - 1; t >= 0; t--) {
      const row = base + t * inner;
      for (let i = 0; i < inner; i++) {
        const k = row + i;
        const gr = dx[k] + cr[i], gi = dx[n + k] + ci[i];
        dur[k] = gr; dui[k] = gi;
        let pr: number, pi: number;
        if (t > 0) { pr = x[k - inner]; pi = x[n + k - inner]; } else { pr = x0r ? x0r[o * inner + i] : 0; pi = x0i ? x0i[o * inner + i] : 0; }
        // G · conj(x_{t−1})
        dlr[k] = gr * pr + gi * pi;
        dli[k] = gi * pr - gr * pi;
        // conj(λ_t) · G
        const ar = lr[k], ai = li[k];
        cr[i] = ar * gr + ai * gi;
        ci[i] = ar * gi - ai * gr;
      }
    }
    for (let i = 0; i < inner; i++) {
      if (dx0r) dx0r[o * inner + i] = cr[i];
      if (dx0i) dx0i[o * inner + i] = ci[i];
    }
  }
}
