/**
 * `npm run bench:browser`: the training step of one minGRU layer + Linear(128→128), MSE, Adam
 * (B 32, T 256, D 128) in headless Chromium, in Recur on the CPU backend and in TensorFlow.js
 * (GRU layer, wasm and cpu backends) in the same run and page, served cross-origin isolated (so
 * TF.js wasm may use its threads). Writes bench/results/browser.{json,md}.
 *
 *   node dist/bench/browser.js [--quick]      (--quick: small shapes, a smoke run)
 */
import { mkdtempSync, copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import * as esbuild from 'esbuild';
import { servePlayground } from '../src/cli/playground.js';
import { CHROMIUM, launchBrowser } from '../tools/chromium.js';
import type { RunOptions, Samples, Shape } from './browser-page.js';
import { createReport, isMainModule, median, rowFromThroughput, toMarkdown, writeReport, type BenchRow, type Reference } from '../src/bench/report.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const RESULTS = join(HERE, '../../bench/results');

interface BrowserBench {
  recur(shape: Shape, opts: RunOptions, threads: number): Promise<Samples>;
  tfjs(backend: 'wasm' | 'cpu', shape: Shape, opts: RunOptions, wasmThreads?: number): Promise<Samples>;
}

/** The page: index.html, the bundle and TF.js's wasm binaries, in a temporary directory. */
async function buildPage(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'recur-bench-browser-'));
  await esbuild.build({
    // The CPU backend's helper threads load cpu-worker-browser.js from beside the bundle.
    entryPoints: { bench: join(HERE, 'browser-page.js'), 'cpu-worker-browser': join(HERE, '../src/backend/cpu/cpu-worker-browser.js') }, outdir: dir, bundle: true, format: 'esm',
    platform: 'browser', target: 'es2022', logLevel: 'warning',
  });
  const wasmDir = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));
  for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) copyFileSync(join(wasmDir, f), join(dir, f));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>recur browser bench</title><script type="module" src="bench.js"></script>\n');
  return dir;
}

function row(name: string, shape: Shape, s: Samples, references: Reference[]): BenchRow {
  const medianMs = median(s.samplesMs);
  const tokensPerSec = (shape.B * shape.T) / (medianMs / 1000);
  return rowFromThroughput(
    { section: 'train step in Chromium', name, shapes: `B=${shape.B}, T=${shape.T}, D=${shape.D} f32`, unit: 'tokens/s', references, notes: s.info },
    medianMs, tokensPerSec, { minMs: Math.min(...s.samplesMs), runs: s.samplesMs.length },
  );
}

export async function runBrowserBench(quick: boolean): Promise<ReturnType<typeof createReport>> {
  const shape: Shape = quick ? { B: 4, T: 32, D: 32 } : { B: 32, T: 256, D: 128 };
  const fast: RunOptions = quick ? { runs: 2, warmup: 1 } : { runs: 7, warmup: 2 };
  // TF.js's plain-JavaScript backend takes ~20 s a step at full size: fewer runs.
  const slow: RunOptions = quick ? { runs: 1, warmup: 0 } : { runs: 3, warmup: 1 };
  const dir = await buildPage();
  const { server, url } = await servePlayground({ port: 0, host: '127.0.0.1', dir });
  const browser = await launchBrowser();
  try {
    const errors: string[] = [];
    /** A fresh page per measurement: TF.js's wasm thread count is fixed once its backend started. */
    const call = async <K extends keyof BrowserBench>(fn: K, ...args: Parameters<BrowserBench[K]>): Promise<Samples> => {
      const page = await browser.context.newPage();
      page.setDefaultTimeout(0);
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(url);
      await page.waitForFunction(() => 'recurBench' in globalThis);
      try {
        return await page.evaluate(([f, a]) => ((globalThis as unknown as { recurBench: Record<string, (...x: unknown[]) => Promise<Samples>> }).recurBench[f]!)(...a), [fn, args] as [string, unknown[]]);
      } finally {
        await page.close();
        if (errors.length) throw new Error(`the bench page failed: ${errors.join('; ')}`);
      }
    };
    const tfWasm1 = await call('tfjs', 'wasm', shape, fast, 1);
    const tfWasm2 = await call('tfjs', 'wasm', shape, fast, 2);
    const tfCpu = await call('tfjs', 'cpu', shape, slow);
    const recur1 = await call('recur', shape, fast, 1);
    const recur2 = await call('recur', shape, fast, 2);
    const sameRun = (label: string, s: Samples): Reference => ({
      label, value: (shape.B * shape.T) / (median(s.samplesMs) / 1000), source: `${s.info}, GRU(${shape.D}) + Dense(${shape.D}), Adam, MSE; measured in this run`,
    });
    const references = [sameRun('TF.js wasm GRU, 1 thread', tfWasm1), sameRun('TF.js wasm GRU, 2 threads', tfWasm2), sameRun('TF.js cpu GRU', tfCpu)];
    const version = browser.context.browser()?.version();
    const rows = [
      row('Recur minGRU (real scan) + Linear, Adam, 1 thread', shape, recur1, references),
      row('Recur minGRU (real scan) + Linear, Adam, 2 threads', shape, recur2, references),
      row('TF.js GRU + Dense, Adam (wasm, 1 thread)', shape, tfWasm1, []),
      row('TF.js GRU + Dense, Adam (wasm, 2 threads)', shape, tfWasm2, []),
      row('TF.js GRU + Dense, Adam (cpu)', shape, tfCpu, []),
    ];
    return createReport(quick ? 'browser-quick' : 'browser', rows, [
      `browser: ${CHROMIUM} ${version ?? ''} headless (playwright-core), one fresh page per row, served with COOP/COEP (crossOriginIsolated)`,
      `runs: median of ${fast.runs} after ${fast.warmup} warm-up (TF.js cpu: ${slow.runs} after ${slow.warmup}); tokens/s = B·T / median step time`,
"TF.js wasm on 2 threads: its thread pool is sized from navigator.hardwareConcurrency / 2, so the page reports 4 cores to it (the machine has 2)",
    ]);
  } finally {
    await browser.close();
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (isMainModule(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const report = await runBrowserBench(quick);
  process.stdout.write(toMarkdown(report));
  // A quick run is a smoke test of the harness: its numbers are not kept.
  if (!quick) process.stdout.write(`\nwritten: ${writeReport(report, RESULTS).md}\n`);
}
