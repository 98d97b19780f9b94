/**
 * Messages between the page (app.ts, main thread) and the training worker (worker.ts). Training,
 * evaluation, generation, saving and loading all run in the worker, so the page never blocks.
 */
import type { DevicePreference, PageSettings } from './settings.js';

/** A file handed to the worker: its name and bytes. */
export interface NamedBytes {
  name: string;
  bytes: ArrayBuffer;
}

/** The text a run trains or evaluates on; `bytes` are its UTF-8 bytes as read (hashed as `recur train` hashes a file). */
export interface TextSource {
  name: string;
  bytes: ArrayBuffer;
}

/** A download for the user, or a copy kept with the run in IndexedDB. */
export type SavePurpose = 'download' | 'store';

export type ToWorker =
  | { type: 'init'; device: DevicePreference; threads: number }
  | { type: 'train'; settings: PageSettings; text: TextSource }
  | { type: 'resume'; steps: number }
  | { type: 'stop' }
  | { type: 'generate'; prompt: string; temperature: number; maxTokens: number; seed: number }
  | { type: 'save'; purpose: SavePurpose }
  | { type: 'load'; files: NamedBytes[]; text: TextSource };

/** What the page shows about the model in the worker. */
export interface ModelInfo {
  model: string;
  dim: number;
  depth: number;
  parameters: number;
  vocabSize: number;
  /** Steps trained so far and the run's target. */
  step: number;
  steps: number;
  /** Whether training can continue (a run started here, or a checkpoint with its optimizer state and the same text). */
  resumable: boolean;
}

export type FromWorker =
  | { type: 'device'; label: string; threads: number; notice: string | null; models: string[] }
  | { type: 'model'; info: ModelInfo; notice: string | null }
  | { type: 'step'; step: number; loss: number; tokensPerSec: number }
  | { type: 'eval'; step: number; loss: number; accuracy: number }
  | { type: 'running'; running: boolean; step: number; steps: number }
  | { type: 'token'; text: string }
  | { type: 'generated'; tokens: number; tokensPerSec: number }
  | { type: 'saved'; purpose: SavePurpose; fileName: string; bytes: ArrayBuffer; step: number }
  | { type: 'error'; message: string };
