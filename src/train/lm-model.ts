/**
 * The model side of a language-model run, shared by the trainers whose model is a CharLM (the
 * text trainer, lm-trainer.ts; the token tasks, token-task-trainer.ts): the spec from the
 * arguments (or a checkpoint), a memory check, the model with master weights, bf16 working copies
 * for --dtype bf16, and AdamW with nanoGPT's grouping.
 */
import type { DType } from '../backend/backend.js';
import { AdamW } from '../optim/adamw.js';
import { getBackend } from '../tensor/engine.js';
import type { Rng } from '../tensor/random.js';
import { CheckpointError, type ModelSpec } from './checkpoint.js';
import { TrainConfigError } from './args.js';
import { checkMemory, trainingMemory } from './memory.js';
import { createModel, kindForName, kindOfSpec, type CharLM, type ModelArgs } from './model-kinds.js';
import { MixedPrecision, precisionUnsupported, type TrainDtype } from './precision.js';

/** What buildLMParts needs besides the architecture: optimizer settings, precision, batch shape. */
export interface LMPartsArgs extends ModelArgs {
  lr: number;
  weightDecay: number;
  batch: number;
  dtype?: TrainDtype;
}

/** A model ready to train: its spec, master weights, working copies (bf16 runs) and optimizer. */
export interface LMParts {
  spec: ModelSpec;
  /** The model with the master weights: what the optimizer updates, validation and checkpoints use. */
  model: CharLM;
  /** bf16 working copies of the master weights (with --dtype bf16), null in f32 runs. */
  precision: MixedPrecision | null;
  optimizer: AdamW;
}

/**
 * Builds the model of `args` (or of a stored `spec`) from `modelRng`, after checking the precision
 * and that `positions` per step fit in memory (`what` and `hint` word the refusal). TrainConfigErrors
 * say what the user can change.
 */
export function buildLMParts(args: LMPartsArgs, vocabSize: number, spec: ModelSpec | null, modelRng: Rng, positions: number, hint: string): LMParts {
  const unsupported = precisionUnsupported(args.dtype ?? 'f32', getBackend().name);
  if (unsupported) throw new TrainConfigError(unsupported);
  const made = spec ?? kindForName(args.model).spec(args, vocabSize);
  const parameters = kindOfSpec(made)?.parameterCount?.(made.config);
  if (parameters !== undefined) {
    checkMemory(trainingMemory(parameters, args.batch * positions, args.dim, args.depth), `--model ${args.model} at dim ${args.dim}, depth ${args.depth}, batch ${args.batch} × ${positions} positions`, hint);
  }
  let model: CharLM;
  try {
    model = spec ? createModel(spec, modelRng) : kindForName(args.model).create(made.config, modelRng, 'f32');
  } catch (e) {
    if (e instanceof TrainConfigError || e instanceof CheckpointError) throw e;
    throw new TrainConfigError(`the model cannot be built: ${e instanceof Error ? e.message : String(e)}`);
  }
  let precision: MixedPrecision | null;
  try {
    precision = args.dtype === 'bf16' ? workingCopies(made, model, modelRng, 'bf16') : null;
  } catch (e) {
    model.dispose();
    throw e;
  }
  // nanoGPT's grouping: weight decay on matrices (and embeddings), none on gains and biases.
  const params = model.parameters();
  const optimizer = new AdamW([
    { params: params.filter((p) => p.rank >= 2), weightDecay: args.weightDecay },
    { params: params.filter((p) => p.rank < 2), weightDecay: 0 },
  ], { lr: args.lr, weightDecay: args.weightDecay });
  return { spec: made, model, precision, optimizer };
}

/**
 * The working model of a mixed-precision run: the same architecture in `dtype`, built with the
 * model generator (its dropouts draw from it, as the master's would in an f32 run) whose state
 * is put back afterwards, so initialisation and masks match the f32 run's.
 */
function workingCopies(spec: ModelSpec, master: CharLM, modelRng: Rng, dtype: DType): MixedPrecision {
  const rngState = modelRng.getState();
  const working = createModel(spec, modelRng, dtype);
  modelRng.setState(rngState);
  if (working.parameters().some((p) => p.dtype !== dtype)) {
    working.dispose();
    throw new TrainConfigError(`the '${spec.kind}' model does not build with ${dtype} parameters, so it cannot train with --dtype ${dtype}`);
  }
  return new MixedPrecision(master, working);
}
