/**
 * LSTM in FlashRNN's layout (docs/models.md#lstm-gru-elman-slstm): gates i, f, z, o (PyTorch's
 * i, f, g, o), states [h, c]:  c' = σ(f) c + σ(i) tanh(z),  h' = σ(o) tanh(c').
 * Saved for the backward: σ(i), σ(f), tanh(z), σ(o).
 */
import { add, mul, oneMinusSquare, sigmoid, sub, tanh } from '../../backend/pointwise/expr.js';
import { defineRnnCell } from '../../backend/pointwise/rnn-cell.js';

/** The LSTM step as expressions (gates i, f, z, o; states h, c). */
export const lstmDefinition = defineRnnCell({
  name: 'lstm',
  gates: 4,
  states: 2,
  forward: ({ x, r, s: [, c] }) => {
    const [i, f, z, o] = [sigmoid(add(x[0], r[0])), sigmoid(add(x[1], r[1])), tanh(add(x[2], r[2])), sigmoid(add(x[3], r[3]))];
    const cNext = add(mul(f, c), mul(i, z));
    return { states: [mul(o, tanh(cNext)), cNext], saved: [i, f, z, o] };
  },
  backward: ({ g: [i, f, z, o], s: [, c], n: [, cNext], d: [dh, dcNext] }) => {
    const tc = tanh(cNext);
    const dc = add(dcNext, mul(mul(dh, o), oneMinusSquare(tc)));
    const di = mul(mul(mul(dc, z), i), sub(1, i));
    const df = mul(mul(mul(dc, c), f), sub(1, f));
    const dz = mul(mul(dc, i), oneMinusSquare(z));
    const dout = mul(mul(mul(dh, tc), o), sub(1, o));
    return { dx: [di, df, dz, dout], dp: [0, mul(dc, f)] };
  },
});
