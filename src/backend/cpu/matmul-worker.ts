/**
 * Worker thread of the Node CPU pool (spawned by threads-node.ts; not imported by anything): the
 * shared helper loop of wasm/worker-loop.ts on the init data it was started with.
 */
import { workerData } from 'node:worker_threads';
import { runWorker, type WorkerInit } from './wasm/worker-loop.js';

runWorker(workerData as WorkerInit);
