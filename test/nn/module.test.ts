/** Module: dotted names, ownership, stateDict / loadStateDict (with its errors), train / eval, init. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { getBackend } from '../../src/tensor/engine.js';
import { fromHost, ones, randn } from '../../src/tensor/creation.js';
import { sum } from '../../src/tensor/ops.js';
import { Rng } from '../../src/tensor/random.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { Module, ModuleList, type LayerOptions } from '../../src/nn/module.js';
import { Dropout, FeedForward, Linear } from '../../src/nn/layers.js';
import { RMSNorm } from '../../src/nn/norm.js';
import { CausalConv1d } from '../../src/nn/conv.js';

class Block extends Module {
  readonly conv: CausalConv1d;
  readonly norm: RMSNorm;
  readonly ff: FeedForward;
  constructor(o: LayerOptions) {
    super();
    this.conv = this.module('conv', new CausalConv1d({ ...o, channels: 4, kernelSize: 3 }));
    this.norm = this.module('norm1', new RMSNorm({ ...o, dim: 4 }));
    this.ff = this.module('ff', new FeedForward({ ...o, dim: 4, mult: 2, dropout: 0.5 }));
  }
}

class Model extends Module {
  readonly layers: ModuleList<Block>;
  readonly out: Linear;
  readonly scale: Tensor;
  constructor(o: LayerOptions = {}) {
    super();
    this.scale = this.param('scale', ones([1], o));
    this.layers = this.module('layers', new ModuleList([new Block(o), new Block(o)]));
    this.out = this.module('to_logits', new Linear({ ...o, inFeatures: 4, outFeatures: 5, bias: false }));
  }
}

const KEYS = [
  'scale',
  ...[0, 1].flatMap((i) => ['conv.weight', 'conv.bias', 'norm1.weight', 'ff.0.weight', 'ff.0.bias', 'ff.2.weight', 'ff.2.bias'].map((k) => `layers.${i}.${k}`)),
  'to_logits.weight',
];

const values = (t: Tensor): number[] => Array.from(t.dataSync());

test('namedParameters: PyTorch dotted paths; parameters are named, kept and require grad', () => {
  const live = getBackend().liveBuffers();
  const m = scope(() => new Model({ rng: new Rng(1) })); // the scope must not free parameters
  assert.deepEqual(m.namedParameters().map(([k]) => k), KEYS);
  for (const [k, p] of m.namedParameters()) {
    assert.equal(p.name, k);
    assert.equal(p.requiresGrad, true);
    assert.equal(p.isDisposed, false);
  }
  assert.deepEqual(m.layers.at(1).ff.down.weight.shape, [4, 8]);
  assert.equal(m.numParameters(), 1 + 2 * (12 + 4 + 4 + 32 + 8 + 32 + 4) + 20);
  assert.equal(m.parameters().length, KEYS.length);
  m.dispose();
  assert.equal(getBackend().liveBuffers(), live, 'dispose frees every parameter');
});

test('init is reproducible under a seed, and within PyTorch bounds', () => {
  const a = new Model({ rng: new Rng(42) }), b = new Model({ rng: new Rng(42) }), c = new Model({ rng: new Rng(43) });
  assert.deepEqual(values(a.out.weight), values(b.out.weight));
  assert.notDeepEqual(values(a.out.weight), values(c.out.weight));
  const bound = (t: Tensor, k: number) => values(t).every((v) => Math.abs(v) <= 1 / Math.sqrt(k));
  assert.ok(bound(a.out.weight, 4) && bound(a.layers.at(0).ff.down.weight, 8) && bound(a.layers.at(0).ff.down.bias!, 8));
  assert.ok(bound(a.layers.at(0).conv.weight, 3) && bound(a.layers.at(0).conv.bias!, 3));
  assert.deepEqual(values(a.layers.at(0).norm.weight), [1, 1, 1, 1]);
  for (const m of [a, b, c]) m.dispose();
});

test('stateDict round-trip: copies out, loads into another model, independent of later changes', () => {
  const live = getBackend().liveBuffers();
  const a = new Model({ rng: new Rng(1) }), b = new Model({ rng: new Rng(2) });
  scope(() => {
    const sd = a.stateDict();
    assert.deepEqual(Object.keys(sd), KEYS);
    assert.notDeepEqual(values(b.out.weight), values(a.out.weight));
    b.loadStateDict(sd);
    for (const [k, p] of b.namedParameters()) assert.deepEqual(values(p), values(sd[k]), k);
    // b's parameters are its own: replacing them leaves the dict (and a) alone
    const before = values(sd['to_logits.weight']);
    b.out.weight.assign(randn([5, 4]));
    assert.deepEqual(values(sd['to_logits.weight']), before);
    assert.deepEqual(values(a.out.weight), before);
    assert.equal(b.out.weight.name, 'to_logits.weight');
    assert.equal(b.out.weight.requiresGrad, true);
  });
  a.dispose();
  b.dispose();
  assert.equal(getBackend().liveBuffers(), live);
});

test('loadStateDict casts f64 sources to the f32 parameters', () => scope(() => {
  const lin = new Linear({ inFeatures: 2, outFeatures: 2 });
  lin.loadStateDict({
    weight: fromHost(Float64Array.of(0.1, 0.2, 0.3, 0.4), [2, 2]),
    bias: fromHost(Float64Array.of(1 / 3, -1), [2]),
  });
  assert.equal(lin.weight.dtype, 'f32');
  assert.deepEqual(values(lin.weight), Array.from(Float32Array.of(0.1, 0.2, 0.3, 0.4)));
  assert.deepEqual(values(lin.bias!), Array.from(Float32Array.of(1 / 3, -1)));
  lin.dispose();
}));

test('loadStateDict lists every missing key, unexpected key and shape mismatch in one error, and copies nothing', () => scope(() => {
  const m = new Model({ rng: new Rng(1) });
  const other = new Model({ rng: new Rng(2) });
  const sd = other.stateDict();
  other.dispose();
  delete sd['layers.1.ff.0.bias'];
  delete sd['scale'];
  sd['layers.0.extra.weight'] = randn([2]);
  sd['layers.0.conv.weight'] = randn([4, 1, 4]);
  sd['to_logits.weight'] = randn([4, 5]);
  const before = values(m.out.weight);
  assert.throws(() => m.loadStateDict(sd), (e: Error) => {
    for (const part of [
      'missing keys: scale, layers.1.ff.0.bias',
      'unexpected keys: layers.0.extra.weight',
      'layers.0.conv.weight: expected [4, 1, 3], got [4, 1, 4]',
      'to_logits.weight: expected [5, 4], got [4, 5]',
    ]) assert.ok(e.message.includes(part), `message lacks '${part}':\n${e.message}`);
    return true;
  });
  assert.deepEqual(values(m.out.weight), before, 'nothing copied on error');

  // strict: false tolerates missing / unexpected keys and reports them; shape mismatches still throw
  assert.throws(() => m.loadStateDict(sd, { strict: false }), /shape mismatches/);
  sd['layers.0.conv.weight'] = randn([4, 1, 3]);
  sd['to_logits.weight'] = randn([5, 4]);
  const r = m.loadStateDict(sd, { strict: false });
  assert.deepEqual(r, { missingKeys: ['scale', 'layers.1.ff.0.bias'], unexpectedKeys: ['layers.0.extra.weight'] });
  assert.deepEqual(values(m.out.weight), values(sd['to_logits.weight']));
  m.dispose();
}));

test('train() / eval() are recursive and switch Dropout', () => scope(() => {
  const m = new Model();
  const drop = m.layers.at(1).ff.drop;
  assert.equal(drop.training, true);
  m.eval();
  assert.equal(drop.training, false);
  assert.equal(m.layers.training, false);
  m.train();
  assert.equal(drop.training, true);
  m.dispose();

  const d = new Dropout({ p: 0.5, rng: new Rng(3) });
  const x = ones([1000]);
  const y = values(d.forward(x));
  const zeros = y.filter((v) => v === 0).length;
  assert.ok(zeros > 400 && zeros < 600, `${zeros} zeros of 1000`);
  assert.ok(y.every((v) => v === 0 || v === 2), 'kept values scaled by 1/(1 − p)');
  d.eval();
  const z = d.forward(x);
  assert.deepEqual(values(z), values(x));
  // eval-mode dropout passes gradients straight through
  const xg = ones([3], { requiresGrad: true });
  sum(d.forward(xg)).backward();
  assert.deepEqual(values(xg.grad!), [1, 1, 1]);
  xg.dispose();
}));

test('zeroGrad drops gradients; registration errors are clear', () => {
  const lin = new Linear({ inFeatures: 3, outFeatures: 2 });
  const live = getBackend().liveBuffers();
  scope(() => sum(lin.forward(ones([4, 3]))).backward());
  assert.ok(lin.weight.grad && lin.bias!.grad);
  assert.equal(getBackend().liveBuffers(), live + 2, 'the two gradients are owned by the parameters');
  lin.zeroGrad();
  assert.equal(lin.weight.grad, null);
  assert.equal(getBackend().liveBuffers(), live);
  lin.dispose();

  class Bad extends Module {
    constructor(name: string, twice = false) {
      super();
      this.param(name, ones([1]));
      if (twice) this.param(name, ones([1]));
    }
  }
  assert.throws(() => new Bad('a.b'), /must be non-empty and contain no '.'/);
  assert.throws(() => new Bad('w', true), /'w' is already registered/);
});
