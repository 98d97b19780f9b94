// Load weights that PyTorch saved (safetensors) into Recur layers of the same architecture, by
// PyTorch's own parameter names, and compare with the outputs PyTorch computed. The files are the
// test fixtures made by tools/make_fixtures.py; with your own model, save its state_dict with
// safetensors.torch.save_file(model.state_dict(), 'model.safetensors').
//   node examples/load-pytorch-weights.mjs
import { fileURLToPath } from 'node:url';
import { LSTM, GRU, MinGRU, readSafetensors, reshape, sub, abs, max, scope } from 'recur-rnn';

const fixture = (name) => fileURLToPath(new URL(`../test/fixtures/${name}.safetensors`, import.meta.url));
const maxDifference = (a, b) => scope(() => max(abs(sub(a, b))).dataSync()[0]);

// nn.LSTM(5, 6) and nn.GRU(5, 6), batch_first: the state dicts are stored under 'lstm.' and 'gru.'.
const torch = await readSafetensors(fixture('rnn_torch'));
const weightsOf = (prefix) => Object.fromEntries(
  ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0'].map((k) => [k, torch[`${prefix}.${k}`]]));
const [B, , D] = torch.x.shape;

const lstm = new LSTM({ inputSize: D, hiddenSize: 6 });
lstm.loadStateDict(weightsOf('lstm'));
// PyTorch's states are [num_layers, B, H]; Recur's are [B, H] (h and c for the LSTM).
const lstmState = [reshape(torch['lstm.h0'], [B, 6]), reshape(torch['lstm.c0'], [B, 6])];
console.log(`nn.LSTM → LSTM: max |difference| ${maxDifference(lstm.forward(torch.x, lstmState).output, torch['lstm.out']).toExponential(1)}`);

const gru = new GRU({ inputSize: D, hiddenSize: 6 });
gru.loadStateDict(weightsOf('gru'));
console.log(`nn.GRU  → GRU:  max |difference| ${maxDifference(gru.forward(torch.x, reshape(torch['gru.h0'], [B, 6])).output, torch['gru.out']).toExponential(1)}`);

// minGRU-pytorch's minGRU(dim 8, expansion_factor 2): to_hidden_and_gate.weight, to_out.weight.
const mingru = await readSafetensors(fixture('mingru_expand'));
const layer = new MinGRU({ dim: 8, expansionFactor: 2 });
const { missingKeys, unexpectedKeys } = layer.loadStateDict(mingru, { strict: false }); // the file also holds inputs and outputs
console.log(`minGRU-pytorch → MinGRU: loaded ${Object.keys(layer.stateDict()).join(', ')} (${missingKeys.length} missing, ${unexpectedKeys.length} other tensors in the file)`);
console.log(`  max |difference| ${maxDifference(layer.forward(mingru.x).output, mingru.out_no_state).toExponential(1)}`);
