/**
 * Vectorised transcendental functions for f32x4, as inline emitters: each pops one v128 (four f32
 * lanes) from the wasm operand stack and pushes the result, using fresh locals of the function
 * being built. Kernels (elementwise, optimizer, fused cells) inline them where they need them.
 *
 * Algorithms (Cody–Waite range reduction + minimax polynomials, the classic Cephes single
 * precision set): exp reduces x = n·ln2 + r, |r| ≤ ln2/2, and scales by 2^n in two halves so
 * results down to the smallest subnormal come out right; log splits x = m·2^e with
 * m ∈ [√½, √2) (subnormal inputs rescaled by 2^23 first). The others are built from these two:
 *  - sigmoid(x) = 1/(1 + e) or e/(1 + e) with e = exp(−|x|) (no overflow, exact tails);
 *  - tanh(x) = sign(x)·(a + a³·P(a²)) for a = |x| < 0.625, else sign(x)·(1 − 2/(exp(2a) + 1));
 *  - log1p(u) = u·log(w)/(w − 1) with w = 1 + u (the rounding of w cancels), u where w = 1;
 *  - softplus(x) = max(x, 0) + log1p(exp(−|x|)); logSigmoid(x) = −softplus(−x).
 * Stated maximum errors (test/backend/cpu/math.test.ts checks them on 2 million inputs spread
 * over the whole f32 range, plus ±0, ±Inf, NaN, subnormals and the overflow edges), measured
 * against the double-precision Math.* value: exp, log, sigmoid, softplus, log1p, logSigmoid
 * ≤ MATH_MAX_ULP ulp where the result is a normal f32; tanh too; where the exact result is
 * subnormal the absolute error is at most 2^-149 · MATH_MAX_ULP. Special values follow Math.*.
 */
import type { Code } from './emitter.js';
import { V128 } from './emitter.js';

/** The error bound in units in the last place of the f32 result (see the file comment). */
export const MATH_MAX_ULP = 3;

const LOG2E = 1.4426950408889634;
// ln 2 = C1 + C2 with C1 exact in few bits, so n·C1 is exact for |n| ≤ 2^9 (Cody–Waite).
const LN2_HI = 0.693359375;
const LN2_LO = -2.12194440e-4;

/** Horner evaluation of Σ coef[i]·z^(n−1−i) with z in a local; leaves the value on the stack. */
function horner(c: Code, z: number, coefs: readonly number[]): void {
  c.f32x4Const(coefs[0]!);
  for (let i = 1; i < coefs.length; i++) c.get(z).f32x4Mul().f32x4Const(coefs[i]!).f32x4Add();
}

/** exp(x). Pops x, pushes e^x. */
export function exp(c: Code): void {
  const x = c.local(V128), n = c.local(V128), r = c.local(V128), p = c.local(V128), k = c.local(V128);
  // Clamp (NaN passes through min/max): below −104 the result rounds to 0, above 89 it is ∞.
  c.f32x4Const(-104).f32x4Max().f32x4Const(89).f32x4Min().set(x);
  c.get(x).f32x4Const(LOG2E).f32x4Mul().f32x4Nearest().set(n);
  c.get(x).get(n).f32x4Const(LN2_HI).f32x4Mul().f32x4Sub().get(n).f32x4Const(LN2_LO).f32x4Mul().f32x4Sub().set(r);
  // e^r ≈ 1 + r + r²·P(r) on |r| ≤ ln2/2
  horner(c, r, [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]);
  c.get(r).get(r).f32x4Mul().f32x4Mul().get(r).f32x4Add().f32x4Const(1).f32x4Add().set(p);
  // 2^n = 2^(n>>1) · 2^(n − (n>>1)): both halves are normal floats for n ∈ [−150, 128].
  c.get(n).i32x4TruncSatF32x4S().set(k);
  const half = c.local(V128);
  c.get(k).i32Const(1).i32x4ShrS().set(half);
  c.get(p);
  c.get(half).i32x4Const(127).i32x4Add().i32Const(23).i32x4Shl().f32x4Mul();
  c.get(k).get(half).i32x4Sub().i32x4Const(127).i32x4Add().i32Const(23).i32x4Shl().f32x4Mul();
}

/** log(x): −∞ at ±0, NaN below 0 and for NaN, ∞ at ∞. Pops x, pushes ln x. */
export function log(c: Code): void {
  const x = c.local(V128), xs = c.local(V128), sub = c.local(V128), e = c.local(V128), m = c.local(V128);
  const small = c.local(V128), z = c.local(V128), y = c.local(V128);
  c.set(x);
  // subnormal inputs: scale by 2^23 (exactly) and take 23 off the exponent
  c.get(x).f32x4Const(1.1754943508222875e-38).f32x4Lt().set(sub);
  c.get(x).f32x4Const(8388608).f32x4Mul().get(x).get(sub).v128Bitselect().set(xs);
  // e = exponent + 1, m ∈ [0.5, 1)
  c.get(xs).i32Const(23).i32x4ShrU().i32x4Const(126).i32x4Sub()
    .i32x4Const(23).get(sub).v128And().i32x4Sub().f32x4ConvertI32x4S().set(e);
  c.get(xs).i32x4Const(0x007fffff).v128And().i32x4Const(0x3f000000).v128Or().set(m);
  // m < √½: m = 2m − 1, e −= 1; else m = m − 1
  c.get(m).f32x4Const(0.707106781186547524).f32x4Lt().set(small);
  c.get(e).f32x4Const(1).get(small).v128And().f32x4Sub().set(e);
  c.get(m).get(m).get(small).v128And().f32x4Add().f32x4Const(1).f32x4Sub().set(m);
  c.get(m).get(m).f32x4Mul().set(z);
  horner(c, m, [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
    -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1]);
  c.get(m).f32x4Mul().get(z).f32x4Mul();
  c.get(e).f32x4Const(LN2_LO).f32x4Mul().f32x4Add();
  c.get(z).f32x4Const(0.5).f32x4Mul().f32x4Sub();
  c.get(m).f32x4Add().get(e).f32x4Const(LN2_HI).f32x4Mul().f32x4Add().set(y);
  // specials: x = 0 → −∞; x < 0 or NaN → NaN; x = ∞ → ∞ (bitselect takes a where the mask is set)
  c.f32x4Const(-Infinity).get(y).get(x).f32x4Const(0).f32x4Eq().v128Bitselect().set(y);
  c.f32x4Const(Infinity).get(y).get(x).f32x4Const(Infinity).f32x4Eq().v128Bitselect().set(y);
  c.get(y).f32x4Const(NaN).get(x).f32x4Const(0).f32x4Ge().v128Bitselect();
}

/** log(1 + u) for u ≥ −1, accurate for small u. Pops u, pushes log1p(u). */
export function log1p(c: Code): void {
  const u = c.local(V128), w = c.local(V128), d = c.local(V128), y = c.local(V128);
  c.set(u);
  c.get(u).f32x4Const(1).f32x4Add().tee(w);
  log(c);
  // log(w)·u/(w − 1): the rounding error of w cancels between log(w) and w − 1 (u/(w − 1) ≈ 1 first: no overflow)
  c.get(u).get(w).f32x4Const(1).f32x4Sub().tee(d).f32x4Div().f32x4Mul().set(y);
  // w = 1 (|u| below half an ulp of 1): log1p(u) = u; w = ∞: ∞
  c.get(u).get(y).get(d).f32x4Const(0).f32x4Eq().v128Bitselect().set(y);
  c.f32x4Const(Infinity).get(y).get(w).f32x4Const(Infinity).f32x4Eq().v128Bitselect();
}

/** σ(x) = 1/(1 + e^−x). Pops x, pushes σ(x). */
export function sigmoid(c: Code): void {
  const x = c.local(V128), e = c.local(V128), r = c.local(V128);
  c.tee(x).f32x4Abs().f32x4Neg();
  exp(c);
  c.tee(e).f32x4Const(1).f32x4Add().set(r);
  c.f32x4Const(1).get(r).f32x4Div().tee(r); // 1/(1 + e)
  c.get(e).get(r).f32x4Mul(); // e/(1 + e)
  c.get(x).f32x4Const(0).f32x4Ge().v128Bitselect();
  // NaN lanes: bitselect picked e/(1+e), which is NaN already
}

/** tanh(x). Pops x, pushes tanh(x). */
export function tanh(c: Code): void {
  const x = c.local(V128), a = c.local(V128), z = c.local(V128), big = c.local(V128);
  c.tee(x).f32x4Abs().set(a);
  // |x| ≥ 0.625: 1 − 2/(e^{2|x|} + 1), sign from x
  c.f32x4Const(1).f32x4Const(2);
  c.get(a).get(a).f32x4Add();
  exp(c);
  c.f32x4Const(1).f32x4Add().f32x4Div().f32x4Sub().set(big);
  // |x| < 0.625: |x| + |x|·z·P(z), z = x²
  c.get(a).get(a).f32x4Mul().set(z);
  horner(c, z, [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1]);
  c.get(z).f32x4Mul().get(a).f32x4Mul().get(a).f32x4Add();
  c.get(big);
  c.get(a).f32x4Const(0.625).f32x4Lt().v128Bitselect();
  // the sign of x (tanh is odd; keeps −0 and NaN's payload aside)
  c.get(x).i32x4Const(0x7fffffff).v128Bitselect();
}

/** softplus(x) = log(1 + e^x) without overflow. Pops x, pushes softplus(x). */
export function softplus(c: Code): void {
  const x = c.local(V128);
  c.tee(x).f32x4Const(0).f32x4Max(); // NaN propagates
  c.get(x).f32x4Abs().f32x4Neg();
  exp(c);
  log1p(c);
  c.f32x4Add();
}

/** log σ(x) = −softplus(−x). Pops x, pushes log σ(x). */
export function logSigmoid(c: Code): void {
  c.f32x4Neg();
  softplus(c);
  c.f32x4Neg();
}
