/**
 * Prints the logits a Recur language-model checkpoint gives for token ids, as JSON
 * {"shape": [1, T, vocab], "logits": [...]}, for tools/export_torch.py to compare with PyTorch's.
 *
 *   node dist/tools/recur-logits.js CHECKPOINT "[3, 1, 4, 1, 5]"
 */
import { disposeTensorTree, fromHost, loadCheckpoint, modelFromCheckpoint, setBackend } from '../src/index.js';

async function main(): Promise<void> {
  const [path, idsJson] = process.argv.slice(2);
  if (!path || !idsJson) throw new Error('usage: node dist/tools/recur-logits.js CHECKPOINT "[id, id, …]"');
  setBackend('cpu');
  const ckpt = await loadCheckpoint(path);
  const model = modelFromCheckpoint(ckpt);
  disposeTensorTree(ckpt.weights);
  const ids = Int32Array.from(JSON.parse(idsJson) as number[]);
  const { logits } = model.forward(fromHost(ids, [1, ids.length]));
  process.stdout.write(`${JSON.stringify({ shape: logits.shape, logits: Array.from(await logits.data()) })}\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`recur-logits: ${e.message}\n`);
  process.exit(1);
});
