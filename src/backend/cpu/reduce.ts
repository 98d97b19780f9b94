/** CPU kernels along one axis in (outer, size, inner) layout: reductions, cumulative ops, softmax, gather. */
import type { AxisLayout, HostArray, ReduceOp } from '../backend.js';

export function reduce(op: ReduceOp, x: HostArray, out: HostArray, { outer, size, inner }: AxisLayout): void {
  const init = op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity;
  for (let o = 0; o < outer; o++) {
    const base = o * size * inner;
    const ob = o * inner;
    for (let i = 0; i < inner; i++) out[ob + i] = init;
    for (let s = 0; s < size; s++) {
      const row = base + s * inner;
      if (op === 'sum') for (let i = 0; i < inner; i++) out[ob + i] += x[row + i];
      else if (op === 'max') for (let i = 0; i < inner; i++) { const v = x[row + i]; if (v > out[ob + i] || Number.isNaN(v)) out[ob + i] = v; }
      else for (let i = 0; i < inner; i++) { const v = x[row + i]; if (v < out[ob + i] || Number.isNaN(v)) out[ob + i] = v; }
    }
  }
}

export function argmax(x: HostArray, out: HostArray, { outer, size, inner }: AxisLayout): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let best = -Infinity, at = 0;
      for (let s = 0; s < size; s++) {
        const v = x[(o * size + s) * inner + i];
        if (v > best) { best = v; at = s; }
      }
      out[o * inner + i] = at;
    }
  }
}

export function cumsum(x: HostArray, out: HostArray, { outer, size, inner }: AxisLayout, reverse: boolean): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = 0;
      for (let j = 0; j < size; j++) {
        const s = reverse ? size - 1 - j : j;
        const at = (o * size + s) * inner + i;
        acc += x[at];
        out[at] = acc;
      }
    }
  }
}

/** log(e^a + e^b), exact at ±∞. */
export function logaddexp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}

export function logcumsumexp(x: HostArray, out: HostArray, { outer, size, inner }: AxisLayout): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = -Infinity;
      for (let s = 0; s < size; s++) {
        const at = (o * size + s) * inner + i;
        acc = logaddexp(acc, x[at]);
        out[at] = acc;
      }
    }
  }
}

export function softmax(x: HostArray, out: HostArray, rows: number, cols: number, log: boolean): void {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let max = -Infinity;
    for (let c = 0; c < cols; c++) if (x[base + c] > max) max = x[base + c];
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += Math.exp(x[base + c] - max);
    if (log) {
      const lse = max + Math.log(sum);
      for (let c = 0; c < cols; c++) out[base + c] = x[base + c] - lse;
    } else {
      const inv = 1 / sum;
      for (let c = 0; c < cols; c++) out[base + c] = Math.exp(x[base + c] - max) * inv;
    }
  }
}

export function softmaxGrad(y: HostArray, dy: HostArray, out: HostArray, rows: number, cols: number, log: boolean): void {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let dot = 0;
    if (log) {
      for (let c = 0; c < cols; c++) dot += dy[base + c];
      for (let c = 0; c < cols; c++) out[base + c] = dy[base + c] - Math.exp(y[base + c]) * dot;
    } else {
      for (let c = 0; c < cols; c++) dot += dy[base + c] * y[base + c];
      for (let c = 0; c < cols; c++) out[base + c] = y[base + c] * (dy[base + c] - dot);
    }
  }
}

function rowLogSumExp(x: HostArray, base: number, cols: number): number {
  let max = -Infinity;
  for (let c = 0; c < cols; c++) if (x[base + c] > max) max = x[base + c];
  let sum = 0;
  for (let c = 0; c < cols; c++) sum += Math.exp(x[base + c] - max);
  return max + Math.log(sum);
}

export function crossEntropy(logits: HostArray, targets: HostArray, out: HostArray, rows: number, cols: number, ignoreIndex: number): void {
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    if (t === ignoreIndex) { out[r] = 0; continue; }
    if (t < 0 || t >= cols) throw new RangeError(`crossEntropy: target ${t} at row ${r} is outside [0, ${cols})`);
    out[r] = rowLogSumExp(logits, r * cols, cols) - logits[r * cols + t];
  }
}

export function crossEntropyGrad(logits: HostArray, targets: HostArray, dloss: HostArray, out: HostArray, rows: number, cols: number, ignoreIndex: number): void {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    const t = targets[r];
    if (t === ignoreIndex) { out.fill(0, base, base + cols); continue; }
    const lse = rowLogSumExp(logits, base, cols);
    const g = dloss[r];
    for (let c = 0; c < cols; c++) out[base + c] = g * Math.exp(logits[base + c] - lse);
    out[base + t] -= g;
  }
}

function checkIndex(v: number, size: number): void {
  if (!(v >= 0 && v < size)) throw new RangeError(`index ${v} is out of range [0, ${size})`);
}

export function gather(x: HostArray, index: HostArray, out: HostArray, { outer, size, inner }: AxisLayout, k: number, indexOuterStride: number): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < k; j++) {
      const s = index[o * indexOuterStride + j];
      checkIndex(s, size);
      const src = (o * size + s) * inner;
      const dst = (o * k + j) * inner;
      if (inner === 1) out[dst] = x[src];
      else out.set(x.subarray(src, src + inner), dst);
    }
  }
}

export function scatterAdd(src: HostArray, index: HostArray, out: HostArray, { outer, size, inner }: AxisLayout, k: number, indexOuterStride: number): void {
  out.fill(0);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < k; j++) {
      const s = index[o * indexOuterStride + j];
      checkIndex(s, size);
      const dst = (o * size + s) * inner;
      const from = (o * k + j) * inner;
      for (let i = 0; i < inner; i++) out[dst + i] += src[from + i];
    }
  }
}
