/** Elman (PyTorch's nn.RNN with tanh, docs/models.md#lstm-gru-elman-slstm): h' = tanh(x + R h). Nothing saved: tanh' comes from h'. */
import { add, mul, oneMinusSquare, tanh } from '../../backend/pointwise/expr.js';
import { defineRnnCell } from '../../backend/pointwise/rnn-cell.js';

/** The Elman step as expressions: h' = tanh(g). */
export const elmanDefinition = defineRnnCell({
  name: 'elman',
  gates: 1,
  states: 1,
  forward: ({ x: [x], r: [r] }) => ({ states: [tanh(add(x, r))], saved: [] }),
  backward: ({ n: [h], d: [dh] }) => ({ dx: [mul(dh, oneMinusSquare(h))], dp: [0] }),
});
