/**
 * Worker of the browser CPU pool (started by threads-browser.ts as a module worker; not imported
 * by anything): waits for its init message, then runs the shared helper loop of wasm/worker-loop.ts
 * (it never returns to the event loop until told to exit).
 */
import { runWorker, type WorkerInit } from './wasm/worker-loop.js';

addEventListener('message', (e: MessageEvent<WorkerInit>) => runWorker(e.data), { once: true });
