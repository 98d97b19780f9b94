/** How page settings become `recur train` arguments (the worker trains with them; tests rerun them in the CLI). */
import { DEFAULT_TRAIN_ARGS, type TrainArgs } from '../train/lm-trainer.js';
import type { PageSettings } from './settings.js';

/** The CLI's defaults with the page's settings; a page-sized cell expansion and validation set. */
export function trainArgs(s: PageSettings): TrainArgs {
  return {
    ...DEFAULT_TRAIN_ARGS,
    model: s.model, dim: s.dim, depth: s.depth, steps: s.steps, batch: s.batch, seq: s.seq, lr: s.lr,
    evalEvery: s.evalEvery, seed: s.seed, expansion: 1.5, valWindows: 32,
  };
}
