/**
 * Export to PyTorch: tools/export_torch.py (run by tools/make_fixtures.py) loaded each Recur
 * checkpoint of test/fixtures/export/ into the matching PyTorch module (minLM blocks; nn.LSTM,
 * nn.GRU, nn.RNN for the classic cells) and stored the logits PyTorch computed. Recur, loading the
 * same checkpoint today, must give those logits: the PyTorch side is only valid while it does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import '../../src/default-backend.js';
import { readSafetensors } from '../../src/io/files.js';
import { disposeTensorTree, loadCheckpoint } from '../../src/train/checkpoint.js';
import { modelFromCheckpoint } from '../../src/train/model-kinds.js';
import { fromHost } from '../../src/tensor/creation.js';
import { mul } from '../../src/tensor/ops.js';
import type { Tensor } from '../../src/tensor/tensor.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const CELLS = ['mingru', 'minlstm', 'lstm', 'gru', 'elman'];
const TOLERANCE = 1e-4; // tools/export_torch.py's, relative to max(1, |logit|)

/** Largest |recur − torch| over the max(1, |torch|) scale. */
async function relativeGap(weights: Record<string, Tensor> | null, cell: string, torch: Record<string, Tensor>): Promise<number> {
  const ckpt = await loadCheckpoint(`${FIXTURES}export/${cell}`);
  if (weights) for (const [k, v] of Object.entries(weights)) { ckpt.weights[k]!.dispose(); ckpt.weights[k] = v; }
  const model = modelFromCheckpoint(ckpt);
  disposeTensorTree(ckpt.weights);
  const ids = torch[`${cell}.tokens`]!.dataSync() as Int32Array;
  const { logits, state } = model.forward(fromHost(Int32Array.from(ids), [1, ids.length]));
  disposeTensorTree(state as never);
  const ours = logits.dataSync(), theirs = torch[`${cell}.logits`]!.dataSync();
  assert.equal(ours.length, theirs.length, `${cell}: logits size`);
  let gap = 0, scale = 1;
  for (let i = 0; i < ours.length; i++) { gap = Math.max(gap, Math.abs(ours[i]! - theirs[i]!)); scale = Math.max(scale, Math.abs(theirs[i]!)); }
  logits.dispose();
  model.dispose();
  return gap / scale;
}

test('Recur checkpoints give the logits PyTorch computed after export (5 cells)', async () => {
  const torch = await readSafetensors(`${FIXTURES}export_torch.safetensors`);
  for (const cell of CELLS) {
    const gap = await relativeGap(null, cell, torch);
    assert.ok(gap <= TOLERANCE, `${cell}: Recur vs PyTorch logits differ by ${gap.toExponential(2)} (relative)`);
  }
  disposeTensorTree(torch);
});

test('the comparison notices a change: one norm weight scaled by 1.05 breaks agreement', async () => {
  const torch = await readSafetensors(`${FIXTURES}export_torch.safetensors`);
  const ckpt = await loadCheckpoint(`${FIXTURES}export/mingru`);
  const changed = mul(ckpt.weights['norm.weight']!, 1.05);
  disposeTensorTree(ckpt.weights);
  const gap = await relativeGap({ 'norm.weight': changed }, 'mingru', torch);
  assert.ok(gap > TOLERANCE, `a changed model must disagree with PyTorch's logits (gap ${gap})`);
  disposeTensorTree(torch);
});
