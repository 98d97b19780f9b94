/**
 * The portable core of Recur: tensors, autograd, the CPU backend, layers, cells, models and
 * optimizers. Nothing here imports Node APIs, so it bundles for browsers; `recur` (index.ts)
 * re-exports all of it and adds the Node-only pieces (files, worker threads, CUDA).
 */
import './default-backend.js';
export type { Backend, BackendBuffer, DType, HostArray } from './backend/backend.js';
export { CpuBackend } from './backend/cpu/cpu.js';
export { ready } from './backend/cpu/ready.js';
export type { CpuReadyInfo } from './backend/cpu/ready.js';
export { enableBrowserThreads, cpuThreadNotice } from './backend/cpu/threads-browser.js';
export { registerBackend, setBackend, getBackend, backend, noGrad, isGradEnabled } from './tensor/engine.js';
export { Tensor, scope, describe, formatShape, sizeOf } from './tensor/tensor.js';
export type { Shape, NestedArray, GradNode } from './tensor/tensor.js';
export { tensor, fromHost, full, zeros, ones, zerosLike, onesLike, arange, randn, rand } from './tensor/creation.js';
export type { CreateOptions, RandomOptions } from './tensor/creation.js';
export { Rng, manualSeed, globalRng } from './tensor/random.js';
/** Every tensor operation under one name (`ops.add`, `ops.linearScan`, …); the common ones are also exported individually. */
export * as ops from './tensor/ops.js';
export {
  add, sub, mul, div, pow, neg, exp, log, sqrt, square, abs, sigmoid, tanh, relu, gelu, silu, softplus,
  maximum, minimum, where, sum, mean, max, min, logsumexp, argmax, reshape, permute, transpose, slice,
  concat, stack, pad, matmul, softmax, logSoftmax, crossEntropy, embedding, cumsum, logcumsumexp,
  linearScan, logScan, dropout, cast,
} from './tensor/ops.js';
export {
  parseSafetensors, serializeSafetensors, serializeSafetensorsAsync, safetensorsChunks, parseSafetensorsHeader,
  parseHeaderLength, decodeTensorData, MAX_HEADER_BYTES,
} from './io/safetensors.js';
export type {
  ParsedSafetensors, ParseOptions, SerializeOptions, SafetensorsEntry, SafetensorsHeader, SafetensorsDtype,
} from './io/safetensors.js';
export {
  Module, ModuleList, Linear, Embedding, Dropout, FeedForward, GLU, RMSNorm, LayerNorm, CausalConv1d,
  linear, rmsNorm, layerNorm, glu, causalConv1d, causalConv1dStep,
} from './nn/index.js';
export type {
  LayerOptions, LoadStateDictOptions, LoadStateDictResult, LinearOptions, EmbeddingOptions, DropoutOptions,
  FeedForwardOptions, GLUOptions, NormOptions, CausalConv1dOptions, ConvResult,
} from './nn/index.js';
export { Optimizer, AdamW, Adam, SGD, constantSchedule, warmupCosineSchedule, clipGradNorm } from './optim/index.js';
export type {
  ParamGroup, Params, OptimizerState, OptimizerMeta, AdamWOptions, SGDOptions, Schedule, WarmupCosineOptions,
} from './optim/index.js';
export { MinGRU, MinLSTM } from './cells/min-rnn.js';
export type { MinRnnOptions } from './cells/min-rnn.js';
export type { RecurrentCell, CellState, CellOutput, ScanMode } from './cells/cell.js';
export { createCell, registerCell, cellNames, cellEntry, cellOptions, checkCellOptions } from './cells/registry.js';
export type { CellConfig, CellEntry } from './cells/registry.js';
export { EXPANSION_OPTION, SCAN_OPTION, HEADS_OPTION, describeValid, optionProblem, parseOptionText, resolveOptions } from './cells/options.js';
export type { OptionSpec, OptionValue } from './cells/options.js';
export { RecurrentLM, resolveLMConfig, disposeState, sampleToken } from './models/recurrent-lm.js';
export type { RecurrentLMConfig, ResolvedLMConfig, LMState, BlockState, GenerateOptions } from './models/recurrent-lm.js';
export { CharTokenizer, ByteTokenizer, tokenizerFromJSON } from './data/tokenizer.js';
export type { Tokenizer, TokenizerJSON } from './data/tokenizer.js';
export { selectiveCopyBatch, checkSelectiveCopyConfig, IGNORE_INDEX } from './data/selective-copy.js';
export type { SelectiveCopyConfig, SelectiveCopyBatch } from './data/selective-copy.js';
export { trainStep, NonFiniteError } from './train/step.js';
export type { StepOptions, StepResult } from './train/step.js';
export { trainSelectiveCopy, evaluateSelectiveCopy } from './train/selective-copy.js';
export type { SelectiveCopyRunConfig, SelectiveCopyResult, StepInfo, EvalInfo } from './train/selective-copy.js';
export { parameterSummary } from './nn/summary.js';
export { rnn, RNN_CELLS, TorchRnn, hasFusedRnn } from './cells/rnn.js';
export type { RnnCellName, RnnOptions, RnnResult, TorchRnnOptions } from './cells/rnn.js';
export { lstmDefinition, gruDefinition, elmanDefinition, slstmDefinition, minGruDefinition, minLstmDefinition } from './cells/definitions/index.js';
export { defineRnnCell } from './backend/pointwise/rnn-cell.js';
export type { RnnCellDef, RnnCellSpec, RnnForwardInputs, RnnBackwardInputs, RnnDims } from './backend/pointwise/rnn-cell.js';
export { defineLinearScanCell } from './backend/pointwise/linear-scan-cell.js';
export type { LinearScanCellDef, LinearScanCellSpec } from './backend/pointwise/linear-scan-cell.js';
/** The expression language of cell definitions (add, mul, sigmoid, select, …). */
export * as expr from './backend/pointwise/expr.js';
export { evaluateTensors } from './cells/pointwise.js';
export { LSTM } from './cells/lstm.js';
export type { LSTMOptions, LSTMState } from './cells/lstm.js';
export { GRU } from './cells/gru.js';
export type { GRUOptions } from './cells/gru.js';
export { SMR, MSMR, smr, msmr, smrUpdate, msmrUpdate, SMR_OFFSET } from './cells/smr.js';
export type { SmrOptions, MsmrOptions, MsmrState, SmrResult } from './cells/smr.js';
export { BigramLM } from './models/bigram.js';
export type { BigramConfig } from './models/bigram.js';
export { splitTrainVal, randomWindows, StreamBatcher, validationWindows, consecutiveWindows } from './data/text.js';
export type { TextSplit, StreamPosition, Windows } from './data/text.js';
export { figureSvg, chartSvg, niceTicks, formatTick, escapeXml, PALETTE } from './train/plot.js';
export type { Series, ChartSpec, FigureOptions } from './train/plot.js';
export { Elman } from './cells/elman.js';
export type { ElmanOptions } from './cells/elman.js';
export { SLSTM } from './cells/slstm.js';
export type { SLSTMOptions, SLSTMState } from './cells/slstm.js';
export { cellScan, scanCoefficients, hasFusedCellScan } from './cells/linear-scan.js';
export { Bidirectional, LearnedInitialState } from './cells/bidirectional.js';
export type { BidirectionalOptions, LearnedInitialStateOptions, SequenceCell } from './cells/bidirectional.js';
export type { Lengths, SequenceOptions } from './cells/sequence.js';
export { parseJsonl, parseCsv, fitNormalisation, padBatch, SequenceDataError } from './data/sequences.js';
export type { SequenceRecord, SequenceSet, TargetKind, CsvOptions, Normalisation, PaddedBatch } from './data/sequences.js';
export type { CellScanOptions, ScanCoefficients } from './cells/linear-scan.js';
export { norm, addNorm, hasFusedNorm } from './nn/fused-norm.js';
export type { NormKind, NormOpOptions } from './nn/fused-norm.js';
export { LRU } from './cells/lru.js';
export type { LruOptions, LruState } from './cells/lru.js';
export { MesaLayer, mesaAttention } from './cells/mesa.js';
export type { MesaOptions, MesaState, MesaCgInit, MesaMode, MesaAttentionOptions, MesaAttentionResult } from './cells/mesa.js';
export { complexScan, complexMul, hasComplexScan } from './tensor/complex-scan.js';
export type { ComplexScanOptions } from './tensor/complex-scan.js';
export { DeepLRU, SequenceClassifier, lruParamGroups, classifierParamGroups, LRU_RECURRENT_PARAMS } from './models/deep-lru.js';
export type { DeepLruConfig, SequenceClassifierConfig, LruParamGroupOptions, ClassifierParamGroupOptions } from './models/deep-lru.js';
export {
  generateListOps, generateTree, evaluateTree, evaluateListOps, treeToString, tokenizeListOps, detokenizeListOps, listOpsBatch,
  listOpsMajority, LISTOPS_VOCAB, LISTOPS_VOCAB_SIZE, LISTOPS_PAD, LISTOPS_CLASSES, LISTOPS_OPERATORS,
} from './data/listops.js';
export type { ListOp, ListOpsTree, ListOpsConfig, ListOpsExample, ListOpsBatch } from './data/listops.js';
export { WebGPUBackend } from './backend/webgpu/webgpu.js';
export { initWebGPU, registerWebGPUBackend } from './register-webgpu.js';
export type { WebGPUOptions, AdapterDescription } from './backend/webgpu/webgpu.js';

// In a page, the CPU backend uses every core where the page is cross-origin isolated, else one
// thread with a one-line notice (Node: src/index.ts starts its worker threads instead).
import { enableBrowserThreads as startBrowserThreads, cpuThreadNotice as browserThreadNotice } from './backend/cpu/threads-browser.js';
if (typeof process === 'undefined' || !(process as { versions?: { node?: string } }).versions?.node) {
  try {
    if (startBrowserThreads() === 1) {
      const notice = browserThreadNotice();
      if (notice) console.info(notice);
    }
  } catch (e) {
    console.info(`recur: the CPU backend runs on one thread (${(e as Error).message})`);
  }
}
