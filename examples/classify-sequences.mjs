// Sequence classification: a deep LRU reads short ListOps expressions ([MAX 2 [MIN 4 7 ] 0 ] → 4)
// and predicts their value (10 classes), with padding masked out of the pooling.
// About 5 s of CPU; prints held-out accuracy against the majority-class rate.
//   node examples/classify-sequences.mjs
import {
  DeepLRU, AdamW, lruParamGroups, generateListOps, listOpsBatch, listOpsMajority,
  LISTOPS_VOCAB_SIZE, LISTOPS_CLASSES, Rng, fromHost, scope, crossEntropy, clipGradNorm, argmax,
} from 'recur-rnn';

const config = { maxDepth: 3, maxArgs: 4, minLength: 3, maxLength: 20 };
const examples = generateListOps(3500, config, new Rng(1));
const train = examples.slice(0, 3000), heldOut = examples.slice(3000);
console.log(`e.g. ${train[0].source} = ${train[0].label}`);

const model = new DeepLRU(
  { vocabSize: LISTOPS_VOCAB_SIZE, dModel: 32, dState: 32, depth: 2, numClasses: LISTOPS_CLASSES, dropout: 0, rMin: 0.5, rMax: 0.99 },
  { rng: new Rng(2) },
);
const lr = 3e-3;
// The LRU's recurrent parameters (ν, θ, γ, B) train at a smaller rate without weight decay, as in the paper.
const optimizer = new AdamW(lruParamGroups(model, { lr }), { lr, weightDecay: 0.01 });

function tensors(batch) {
  const b = listOpsBatch(batch);
  return { ids: fromHost(b.inputs, [b.batch, b.length]), mask: fromHost(b.mask, [b.batch, b.length]), labels: b.labels };
}

const rng = new Rng(3);
for (let step = 1; step <= 300; step++) {
  const loss = scope(() => {
    const { ids, mask, labels } = tensors(Array.from({ length: 32 }, () => train[rng.int(train.length)]));
    optimizer.zeroGrad();
    const l = crossEntropy(model.forward(ids, mask), fromHost(labels, [labels.length]));
    l.backward();
    clipGradNorm(model.parameters(), 1);
    optimizer.step();
    return l.dataSync()[0];
  });
  if (step % 100 === 0) console.log(`step ${step}: loss ${loss.toFixed(3)}`);
}

model.eval();
const correct = scope(() => {
  const { ids, mask, labels } = tensors(heldOut);
  const predicted = argmax(model.forward(ids, mask), -1).dataSync();
  return labels.reduce((n, label, i) => n + (predicted[i] === label ? 1 : 0), 0);
});
console.log(`held-out accuracy ${(100 * correct / heldOut.length).toFixed(1)}% (majority class ${(100 * listOpsMajority(heldOut).accuracy).toFixed(1)}%)`);
model.dispose();
