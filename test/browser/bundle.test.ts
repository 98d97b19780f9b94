/**
 * The portable core (src/browser.ts) must run in a browser: it bundles for esbuild's browser
 * platform (which rejects Node built-ins, checked below with a snippet that imports one), and the
 * bundle runs in a fresh VM context without require, process or Buffer, where it computes a
 * matmul, a sum and their gradients.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';
import vm from 'node:vm';
import * as esbuild from 'esbuild';

const ENTRY = fileURLToPath(new URL('../../src/browser.js', import.meta.url));

const browserOptions = { bundle: true, platform: 'browser', format: 'esm', target: 'es2022', write: false, logLevel: 'silent', metafile: true } as const;

async function bundleBrowserCore(): Promise<{ code: string; inputs: string[] }> {
  const result = await esbuild.build({ ...browserOptions, entryPoints: [ENTRY] });
  assert.equal(result.errors.length, 0);
  return { code: result.outputFiles[0]!.text, inputs: Object.keys(result.metafile.inputs) };
}

test('the browser platform rejects Node built-ins (so the bundle check below can fail)', async () => {
  for (const mod of ['node:fs', 'worker_threads']) {
    await assert.rejects(
      esbuild.build({
        ...browserOptions,
        stdin: { contents: `import * as m from '${mod}'; export const x = m;`, resolveDir: dirname(ENTRY), loader: 'js' },
      }),
      (err: Error & { errors?: { text: string }[] }) => {
        assert.ok(err.errors?.some((e) => e.text.includes(mod)), `error names ${mod}: ${err.message}`);
        return true;
      },
    );
  }
});

test('dist/src/browser.js bundles for the browser with no Node built-ins', async () => {
  const { code, inputs } = await bundleBrowserCore();
  assert.ok(code.length > 10_000, 'a real bundle');
  assert.ok(inputs.some((p) => p.endsWith('src/backend/cpu/matmul.js')), 'the CPU kernels are in it');
  assert.deepEqual(inputs.filter((p) => p.startsWith('node:') || p.includes('threads-node') || p.includes('/cuda/')), []);
});

test('the bundle computes matmul, sum and gradients in a context without Node globals', async () => {
  const { code } = await bundleBrowserCore();
  // The same bundle as a script that puts its exports on globalThis.Recur.
  const { code: script } = await esbuild.transform(code, { format: 'iife', globalName: 'Recur', target: 'es2022' });

  // Standard globals a browser has (WebAssembly, typed arrays, etc. are part of every V8 context).
  const context = vm.createContext({ console, TextEncoder, TextDecoder, performance, queueMicrotask, setTimeout, clearTimeout });
  vm.runInContext(script, context, { filename: 'recur-browser-bundle.js' });

  const out = vm.runInContext(`(() => {
    if (typeof require !== 'undefined' || typeof process !== 'undefined' || typeof Buffer !== 'undefined') throw new Error('Node globals leaked into the context');
    const { tensor, matmul, sum } = Recur;
    // 2x2: small enough for the plain TypeScript kernel.
    const a = tensor([[1, 2], [3, 4]], undefined, { requiresGrad: true });
    const b = tensor([[5, 6], [7, 8]], undefined, { requiresGrad: true });
    const c = matmul(a, b);
    const s = sum(c);
    s.backward();
    // 24x40 @ 40x16: large enough for the WebAssembly kernel.
    const M = 24, K = 40, N = 16;
    const x = tensor(Float32Array.from({ length: M * K }, (_, i) => ((i * 7) % 11) - 5), [M, K], { requiresGrad: true });
    const w = tensor(Float32Array.from({ length: K * N }, (_, i) => ((i * 5) % 13) - 6), [K, N]);
    const y = matmul(x, w);
    sum(y).backward();
    return JSON.stringify({
      c: Array.from(c.dataSync()), s: s.dataSync()[0], da: Array.from(a.grad.dataSync()), db: Array.from(b.grad.dataSync()),
      x: Array.from(x.dataSync()), w: Array.from(w.dataSync()), y: Array.from(y.dataSync()), dx: Array.from(x.grad.dataSync()),
      M, K, N,
    });
  })()`, context) as string;
  const r = JSON.parse(out) as Record<string, number[]> & { s: number; M: number; K: number; N: number };

  assert.deepEqual(r.c, [19, 22, 43, 50]);
  assert.equal(r.s, 134);
  assert.deepEqual(r.da, [11, 15, 11, 15]); // d sum(AB)/dA = 1 · Bᵀ: row sums of B
  assert.deepEqual(r.db, [4, 4, 6, 6]); // Aᵀ · 1: column sums of A

  const { M, K, N } = r;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += r.x[i * K + k]! * r.w[k * N + j]!;
      assert.equal(r.y[i * N + j], acc, `y[${i}, ${j}]`); // small integers: exact in f32
    }
    for (let k = 0; k < K; k++) {
      let rowSum = 0;
      for (let j = 0; j < N; j++) rowSum += r.w[k * N + j]!;
      assert.equal(r.dx[i * K + k], rowSum, `dx[${i}, ${k}]`);
    }
  }
});
