import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, promises as fs, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../src/default-backend.js';
import { writeSafetensors } from '../../src/io/files.js';
import { fromHost } from '../../src/tensor/creation.js';
import { Tensor } from '../../src/tensor/tensor.js';
import {
  CheckpointError, disposeTensorTree, flattenTensorTree, loadCheckpoint, locateCheckpoint, saveCheckpoint, unflattenTensorTree,
  type CheckpointIO,
} from '../../src/train/checkpoint.js';
import { LMTrainer, DEFAULT_TRAIN_ARGS, type TrainArgs } from '../../src/train/lm-trainer.js';
import { modelFromCheckpoint } from '../../src/train/model-kinds.js';

const text = 'the quick brown fox jumps over the lazy dog. '.repeat(30);
const textInfo = { path: 'mem', chars: text.length, sha256: 'x' };
const args: TrainArgs = { ...DEFAULT_TRAIN_ARGS, dim: 8, depth: 1, batch: 2, seq: 8, steps: 100, valWindows: 2, dropout: 0.1 };

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'recur-ckpt-'));
}

const values = (t: Tensor) => Array.from(t.dataSync());

async function weightsOf(trainer: LMTrainer): Promise<Record<string, number[]>> {
  return Object.fromEntries(trainer.model.namedParameters().map(([k, p]) => [k, values(p)]));
}

test('tensor trees (model states) flatten to safetensors keys and back', () => {
  const a = fromHost(Float32Array.of(1, 2), [2]), b = fromHost(Float32Array.of(3), [1]), c = fromHost(Float32Array.of(4), [1]);
  const tree = [{ conv: null, cell: a }, { conv: b, cell: [c, a] }];
  const { tensors, layout } = flattenTensorTree(tree);
  assert.deepEqual(Object.keys(tensors).sort(), ['0.cell', '1.cell.0', '1.cell.1', '1.conv']);
  const back = unflattenTensorTree(JSON.parse(JSON.stringify(layout)), tensors) as typeof tree;
  assert.equal(back[0]!.conv, null);
  assert.equal(back[0]!.cell, a);
  assert.deepEqual((back[1]!.cell as Tensor[]).map(values), [[4], [1, 2]]);
  assert.throws(() => unflattenTensorTree({ $tensor: 'nope' }, tensors), /'nope', which is missing/);
  disposeTensorTree(tree);
});

test('a checkpoint round-trips weights, optimizer state and trainer state; readers take the run or the ckpt directory', async () => {
  const dir = tmp();
  const trainer = LMTrainer.create({ args, text, textInfo });
  try {
    for (let i = 0; i < 3; i++) await trainer.trainStep();
    const ckptDir = await trainer.save(dir, 123);
    assert.equal(ckptDir, join(dir, 'ckpt-000003'));
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')), { format: 'recur-run', version: 1, checkpoint: 'ckpt-000003', step: 3 });
    assert.equal(await locateCheckpoint(dir), ckptDir);
    assert.equal(await locateCheckpoint(ckptDir), ckptDir);
    const ck = await loadCheckpoint(dir, { training: true });
    assert.equal(ck.config.format, 'recur-checkpoint');
    assert.equal(ck.config.version, 1);
    assert.deepEqual(ck.config.model, trainer.spec);
    assert.deepEqual(ck.config.tokenizer, trainer.tokenizer.toJSON());
    assert.equal(ck.trainer!.step, 3);
    assert.equal(ck.trainer!.logBytes, 123);
    assert.equal(ck.trainer!.data, null);
    assert.equal(ck.optimizer!.meta.type, 'AdamW');
    assert.deepEqual(ck.optimizer!.meta.steps, trainer.optimizer.stateDict().meta.steps);
    const model = modelFromCheckpoint(ck);
    assert.deepEqual(Object.fromEntries(model.namedParameters().map(([k, p]) => [k, values(p)])), await weightsOf(trainer));
    model.dispose();
    disposeTensorTree([ck.weights, ck.optimizer!.tensors]);
  } finally {
    trainer.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a save that fails midway, or dies before latest.json moves, leaves the previous checkpoint loadable', async () => {
  const dir = tmp();
  const trainer = LMTrainer.create({ args, text, textInfo });
  try {
    await trainer.trainStep();
    await trainer.trainStep();
    await trainer.save(dir, 0);
    const before = await weightsOf(trainer);
    await trainer.trainStep();
    await trainer.trainStep();

    // 1. The second file is torn (garbage, then the "disk" fails).
    let n = 0;
    const tornIO: CheckpointIO = {
      writeFile: (p, d) => fs.writeFile(p, d),
      writeSafetensors: async (p, t, m) => {
        if (n++ === 1) {
          await fs.writeFile(p, 'partial');
          throw new Error('simulated crash: no space left on device');
        }
        await writeSafetensors(p, t, m);
      },
    };
    const opt = trainer.optimizer.stateDict();
    const files = {
      json: { 'config.json': trainer.checkpointConfig(), 'trainer.json': { step: 4 } },
      tensors: { 'model.safetensors': { tensors: trainer.model.stateDict() }, 'optimizer.safetensors': { tensors: opt.tensors } },
    };
    await assert.rejects(saveCheckpoint(dir, 4, files, tornIO), /simulated crash/);
    assert.deepEqual(readdirSync(dir).sort(), ['ckpt-000002', 'latest.json'], 'no temporary directory left behind');

    // 2. Everything written and renamed, but the process dies before latest.json is replaced.
    const noPointerIO: CheckpointIO = {
      writeFile: async (p, d) => {
        if (p.endsWith('latest.json')) throw new Error('simulated crash before the pointer moved');
        await fs.writeFile(p, d);
      },
      writeSafetensors: (p, t, m) => writeSafetensors(p, t, m),
    };
    await assert.rejects(saveCheckpoint(dir, 4, files, noPointerIO), /before the pointer moved/);
    assert.ok(existsSync(join(dir, 'ckpt-000004')));

    for (const ck of [await loadCheckpoint(dir, { training: true })]) {
      assert.equal(ck.trainer!.step, 2, 'latest.json still names the previous checkpoint');
      const model = modelFromCheckpoint(ck);
      assert.deepEqual(Object.fromEntries(model.namedParameters().map(([k, p]) => [k, values(p)])), before);
      model.dispose();
      disposeTensorTree([ck.weights, ck.optimizer!.tensors]);
    }
    // The next good save replaces the leftover and removes the old checkpoint.
    await trainer.save(dir, 0);
    assert.deepEqual(readdirSync(dir).sort(), ['ckpt-000004', 'latest.json']);
    assert.equal((await loadCheckpoint(dir)).config.format, 'recur-checkpoint');
    disposeTensorTree([files.tensors['model.safetensors'].tensors, opt.tensors]);
  } finally {
    trainer.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('unreadable checkpoints are CheckpointErrors naming the file and the problem', async () => {
  const dir = tmp();
  const trainer = LMTrainer.create({ args, text, textInfo });
  try {
    await trainer.trainStep();
    const good = await trainer.save(join(dir, 'run'), 0);
    const variant = async (name: string, edit: (d: string) => void) => {
      const d = join(dir, name);
      await fs.cp(good, d, { recursive: true });
      edit(d);
      return d;
    };
    const cases: [string, RegExp][] = [
      [join(dir, 'nowhere'), /does not exist/],
      [await variant('empty', (d) => { for (const f of readdirSync(d)) rmSync(join(d, f)); }), /holds no checkpoint/],
      [await variant('nomodel', (d) => rmSync(join(d, 'model.safetensors'))), /is missing model\.safetensors/],
      [await variant('badjson', (d) => writeFileSync(join(d, 'config.json'), '{"format": "recur-')), /config\.json' is not valid JSON/],
      [await variant('v99', (d) => {
        const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
        writeFileSync(join(d, 'config.json'), JSON.stringify({ ...c, version: 99 }));
      }), /format version 99; this recur reads version 1/],
      [await variant('truncated', (d) => {
        const b = readFileSync(join(d, 'model.safetensors'));
        writeFileSync(join(d, 'model.safetensors'), b.subarray(0, b.length - 10));
      }), /model\.safetensors.*extend past the end/],
    ];
    for (const [path, pattern] of cases) {
      await assert.rejects(loadCheckpoint(path), (e: unknown) => e instanceof CheckpointError && pattern.test(e.message), path);
    }
    const noOpt = await variant('noopt', (d) => rmSync(join(d, 'optimizer.safetensors')));
    await assert.doesNotReject(loadCheckpoint(noOpt).then((c) => disposeTensorTree(c.weights)), 'generation needs no optimizer');
    await assert.rejects(loadCheckpoint(noOpt, { training: true }), /missing optimizer\.safetensors/);
    const wrongCell = await variant('cell', (d) => {
      const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
      c.model.config.cell = 'no-such-cell';
      writeFileSync(join(d, 'config.json'), JSON.stringify(c));
    });
    const ck = await loadCheckpoint(wrongCell);
    assert.throws(() => modelFromCheckpoint(ck), (e: unknown) => e instanceof CheckpointError && /cannot be built: unknown cell 'no-such-cell'/.test(e.message));
    disposeTensorTree(ck.weights);
  } finally {
    trainer.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('checkpoint folders and files are created with the user umask (not 0700)', async () => {
  const dir = tmp();
  const previous = process.umask(0o027);
  try {
    const weights = { w: fromHost(new Float32Array([1, 2]), [2]) };
    const ckpt = await saveCheckpoint(dir, 1, { json: { 'config.json': { step: 1 } }, tensors: { 'model.safetensors': { tensors: weights } } });
    disposeTensorTree(weights);
    assert.equal((await fs.stat(ckpt)).mode & 0o777, 0o750, 'folder: 0777 less the umask');
    assert.equal((await fs.stat(join(ckpt, 'model.safetensors'))).mode & 0o777, 0o640, 'file: 0666 less the umask');
  } finally {
    process.umask(previous);
    rmSync(dir, { recursive: true, force: true });
  }
});
