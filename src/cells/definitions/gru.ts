/**
 * GRU, PyTorch's "reset after" form in FlashRNN's layout (docs/models.md#lstm-gru-elman-slstm):
 * gates r, z, n; b = [b_r, b_z, b_n, b_rn] where b_rn (the candidate's recurrent bias) is the one
 * recurrent-only bias, inside the reset product:
 *   r = σ(x_r + R_r h), z = σ(x_z + R_z h), n = tanh(x_n + r (R_n h + b_rn)), h' = n + z (h − n).
 * Saved: r, z, n and R_n h + b_rn.
 */
import { add, mul, oneMinusSquare, sigmoid, sub, tanh } from '../../backend/pointwise/expr.js';
import { defineRnnCell } from '../../backend/pointwise/rnn-cell.js';

/** The GRU step as expressions (PyTorch's gate order r, z, n; reset after the matmul). */
export const gruDefinition = defineRnnCell({
  name: 'gru',
  gates: 3,
  biases: 4,
  states: 1,
  forward: ({ x, r: rh, rb: [bRn], s: [h] }) => {
    const r = sigmoid(add(x[0], rh[0]));
    const z = sigmoid(add(x[1], rh[1]));
    const hr = add(rh[2], bRn);
    const n = tanh(add(x[2], mul(r, hr)));
    return { states: [add(n, mul(z, sub(h, n)))], saved: [r, z, n, hr] };
  },
  backward: ({ g: [r, z, n, hr], s: [h], d: [dh] }) => {
    const dn = mul(mul(dh, sub(1, z)), oneMinusSquare(n));
    const dr = mul(mul(mul(dn, hr), r), sub(1, r));
    const dz = mul(mul(mul(dh, sub(h, n)), z), sub(1, z));
    const dhr = mul(dn, r);
    return { dx: [dr, dz, dn], dr: [dr, dz, dhr], drb: [dhr], dp: [mul(dh, z)] };
  },
});
