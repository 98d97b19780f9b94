// Streaming generation: characters are printed as they are sampled, one `step` per character with
// constant memory. With a run directory of `recur train` it samples from that checkpoint;
// without one it first trains a small model for a few seconds.
//   node examples/stream-generation.mjs [runs/NAME] [prompt]
import {
  RecurrentLM, CharTokenizer, AdamW, trainStep, fromHost, manualSeed, Rng, randomWindows, scope, argmax,
  loadCheckpoint, modelFromCheckpoint, tokenizerFromCheckpoint, disposeTensorTree, disposeState,
} from 'recur-rnn';

async function quickModel() {
  const text = 'Row, row, row your boat, gently down the stream. Merrily, merrily, merrily, merrily, life is but a dream. '.repeat(20);
  manualSeed(0);
  const tokenizer = CharTokenizer.fromText(text);
  const ids = tokenizer.encode(text);
  const model = new RecurrentLM({ vocabSize: tokenizer.vocabSize, dim: 32, depth: 2, cell: 'mingru', scan: 'real' });
  const optimizer = new AdamW(model.parameters(), { lr: 1e-2 });
  const rng = new Rng(2);
  for (let step = 0; step < 80; step++) {
    const batch = randomWindows(ids, 8, 48, rng);
    await trainStep(model, optimizer, () => model.loss(fromHost(batch, [8, 49])).loss, { clip: 1 });
  }
  return { model, tokenizer };
}

async function fromRun(dir) {
  const ckpt = await loadCheckpoint(dir);
  const model = modelFromCheckpoint(ckpt);
  disposeTensorTree(ckpt.weights);
  return { model, tokenizer: tokenizerFromCheckpoint(ckpt) };
}

const [runDir, promptArg] = process.argv.slice(2);
const { model, tokenizer } = runDir ? await fromRun(runDir) : await quickModel();
const prompt = promptArg ?? (runDir ? '\n' : 'Merrily, ');

// 1. The high-level way: an async iterator of token ids.
process.stdout.write(`sampled:  ${prompt}`);
for await (const id of model.generate(tokenizer.encode(prompt), { maxTokens: 60, temperature: 0.7, seed: 1 })) {
  process.stdout.write(tokenizer.decode([id]));
}
process.stdout.write('\n');

// 2. What generate does inside: read the prompt in parallel, then step with the carried state.
let { logits, state } = scope(() => {
  const r = model.forward(fromHost(Int32Array.from(tokenizer.encode(prompt)), [1, prompt.length]));
  return { logits: r.logits, state: r.state };
});
process.stdout.write(`greedy:   ${prompt}`);
for (let i = 0; i < 60; i++) {
  const best = argmax(logits, -1);                  // [1, T] after the prompt, [1] after a step
  const next = (await best.data()).at(-1);
  best.dispose();
  process.stdout.write(tokenizer.decode([next]));
  const previous = { logits, state };
  ({ logits, state } = scope(() => model.step(fromHost(Int32Array.of(next), [1]), previous.state)));
  previous.logits.dispose();
  disposeState(previous.state);
}
process.stdout.write('\n');
logits.dispose();
disposeState(state);
model.dispose();
