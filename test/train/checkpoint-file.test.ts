/**
 * A checkpoint's model.safetensors carries config.json (less the training section) in its
 * metadata, so that file alone loads for inference (the playground downloads such files); resuming still needs the run directory,
 * and a weights file without the config, or with a damaged one, is a CheckpointError naming it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../src/default-backend.js';
import { readSafetensorsWithMetadata, writeSafetensors } from '../../src/io/files.js';
import { fromHost } from '../../src/tensor/creation.js';
import { CONFIG_METADATA_KEY, CheckpointError, disposeTensorTree, loadCheckpoint } from '../../src/train/checkpoint.js';
import { DEFAULT_TRAIN_ARGS, LMTrainer, type TrainArgs } from '../../src/train/lm-trainer.js';
import { modelFromCheckpoint } from '../../src/train/model-kinds.js';

const text = 'the quick brown fox jumps over the lazy dog. '.repeat(30);
const args: TrainArgs = { ...DEFAULT_TRAIN_ARGS, dim: 8, depth: 1, batch: 2, seq: 8, steps: 3, valWindows: 2 };

test('model.safetensors alone is a checkpoint: same config and weights as its directory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'recur-ckpt-file-'));
  try {
    const trainer = LMTrainer.create({ args, text, textInfo: { path: 'mem', chars: text.length, sha256: 'x' } });
    await trainer.trainStep();
    const ckptDir = await trainer.save(dir, 0);
    trainer.dispose();
    const file = join(ckptDir, 'model.safetensors');
    assert.ok(readdirSync(ckptDir).includes('config.json'));
    const [fromDir, fromFile] = await Promise.all([loadCheckpoint(dir), loadCheckpoint(file)]);
    assert.equal(fromFile.dir, file);
    const { training, ...inference } = fromDir.config;
    assert.ok(training, 'config.json has the training section');
    assert.deepEqual(fromFile.config, inference, 'the file carries config.json less its training section');
    const a = modelFromCheckpoint(fromDir), b = modelFromCheckpoint(fromFile);
    for (const [[ka, pa], [kb, pb]] of a.namedParameters().map((x, i) => [x, b.namedParameters()[i]!] as const)) {
      assert.equal(ka, kb);
      assert.deepEqual(Array.from(pa.dataSync()), Array.from(pb.dataSync()), ka);
    }
    for (const x of [a, b]) x.dispose();
    disposeTensorTree(fromDir.weights);
    disposeTensorTree(fromFile.weights);
    await assert.rejects(loadCheckpoint(file, { training: true }), (e: Error) => e instanceof CheckpointError && /weights file; resuming needs the run directory/.test(e.message));

    // A file without the config, and one whose config is damaged.
    const { tensors, metadata } = await readSafetensorsWithMetadata(file);
    const bare = join(dir, 'bare.safetensors'), broken = join(dir, 'broken.safetensors');
    await writeSafetensors(bare, tensors);
    await writeSafetensors(broken, tensors, { ...metadata, [CONFIG_METADATA_KEY]: '{"format": "something else"' });
    disposeTensorTree(tensors);
    await assert.rejects(loadCheckpoint(bare), (e: Error) => e instanceof CheckpointError && e.message.includes(bare) && /no "config" in its metadata/.test(e.message));
    await assert.rejects(loadCheckpoint(broken), (e: Error) => e instanceof CheckpointError && /not valid JSON/.test(e.message));
    const wrong = join(dir, 'wrong.safetensors');
    const t = fromHost(Float32Array.of(1), [1]);
    await writeSafetensors(wrong, { x: t }, { [CONFIG_METADATA_KEY]: '{"format": "other"}' });
    t.dispose();
    await assert.rejects(loadCheckpoint(wrong), (e: Error) => e instanceof CheckpointError && /is not a recur checkpoint config/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
