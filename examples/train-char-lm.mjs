// Train a character language model through the API: a 90/10 split, AdamW with warm-up and cosine
// decay, validation loss, then the weights saved to safetensors and read back.
//   node examples/train-char-lm.mjs [text-file]        (default: a built-in verse, ~20 s on 2 cores)
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  RecurrentLM, CharTokenizer, AdamW, warmupCosineSchedule, trainStep, fromHost, manualSeed, Rng,
  randomWindows, splitTrainVal, validationWindows, noGrad, scope, writeSafetensors, readSafetensors,
} from 'recur-rnn';

const VERSE = `Tyger Tyger, burning bright, In the forests of the night;
What immortal hand or eye, Could frame thy fearful symmetry?
In what distant deeps or skies. Burnt the fire of thine eyes?
On what wings dare he aspire? What the hand, dare seize the fire?
`.repeat(12);

const text = process.argv[2] ? await readFile(process.argv[2], 'utf8') : VERSE;
manualSeed(0);
const tokenizer = CharTokenizer.fromText(text);
const { train, val } = splitTrainVal(tokenizer.encode(text), 0.9);

const model = new RecurrentLM({ vocabSize: tokenizer.vocabSize, dim: 48, depth: 2, cell: 'mingru', convKernel: 3, scan: 'real' });
const steps = 150, B = 16, T = 48;
const optimizer = new AdamW(model.parameters(), { lr: 5e-3, weightDecay: 0.1 });
const schedule = warmupCosineSchedule({ warmupSteps: 10, totalSteps: steps, minFactor: 0.1 });
const rng = new Rng(1);

function validationLoss() {
  const windows = validationWindows(val, T, 8);
  return noGrad(() => scope(() => model.loss(fromHost(windows.tokens, [windows.count, T + 1])).loss.dataSync()[0]));
}

console.log(`${model.parameters().reduce((n, p) => n + p.size, 0)} parameters, ${train.length} training characters`);
for (let step = 0; step < steps; step++) {
  optimizer.lr = 5e-3 * schedule(step);
  const batch = randomWindows(train, B, T, rng);
  const { loss } = await trainStep(model, optimizer, () => model.loss(fromHost(batch, [B, T + 1])).loss, { clip: 1 });
  if ((step + 1) % 50 === 0) console.log(`step ${step + 1}: train loss ${loss.toFixed(3)}, validation loss ${validationLoss().toFixed(3)} nats/char`);
}

const dir = await mkdtemp(join(tmpdir(), 'recur-example-'));
await writeSafetensors(join(dir, 'model.safetensors'), model.stateDict());
const copy = new RecurrentLM(model.config);
copy.loadStateDict(await readSafetensors(join(dir, 'model.safetensors')));
console.log(`saved and reloaded: ${Object.keys(copy.stateDict()).length} tensors`);
await rm(dir, { recursive: true });
