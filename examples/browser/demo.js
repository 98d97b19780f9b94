// The browser example's model code: only `recur-rnn/browser` (no Node APIs), values read with
// `await` (the form that works on every backend). index.html calls run() and shows what it prints;
// test/docs/examples.test.ts bundles this file for the browser and runs it in Node.
import { RecurrentLM, CharTokenizer, AdamW, trainStep, fromHost, manualSeed } from 'recur-rnn/browser';

export async function run(print) {
  manualSeed(0);
  const text = 'twinkle twinkle little star, how I wonder what you are. '.repeat(20);
  const tokenizer = CharTokenizer.fromText(text);
  const ids = tokenizer.encode(text);
  const model = new RecurrentLM({ vocabSize: tokenizer.vocabSize, dim: 32, depth: 2, cell: 'mingru', scan: 'real' });
  const optimizer = new AdamW(model.parameters(), { lr: 1e-2 });
  const B = 8, T = 32;
  for (let step = 1; step <= 60; step++) {
    const windows = new Int32Array(B * (T + 1));
    for (let b = 0; b < B; b++) {
      const start = (step * 89 + b * 53) % (ids.length - T - 1);
      windows.set(ids.subarray(start, start + T + 1), b * (T + 1));
    }
    const { loss } = await trainStep(model, optimizer, () => model.loss(fromHost(windows, [B, T + 1])).loss, { clip: 1 });
    if (step % 20 === 0) print(`step ${step}: loss ${loss.toFixed(3)}`);
  }
  let line = 'twinkle ';
  for await (const id of model.generate(tokenizer.encode(line), { maxTokens: 40, temperature: 0 })) {
    line += tokenizer.decode([id]);
  }
  print(line);
  model.dispose();
  return line;
}
