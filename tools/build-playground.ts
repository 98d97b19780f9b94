/**
 * Builds the playground (src/playground) into dist/playground: three ES-module bundles (the page,
 * app.js, its training worker, worker.js, and the CPU backend's helper threads,
 * cpu-worker-browser.js) and the static files (index.html, style.css, the
 * bundled sample text). The result is plain files: `recur playground` serves them, and any static
 * host can (see src/cli/playground.ts for the headers that enable CPU threads).
 *
 *   node dist/tools/build-playground.js [--out DIR]     (run by `npm run build` after tsc)
 *
 * It bundles tsc's output (dist/src/playground/*.js). The page reuses the CLI's trainer, whose
 * modules also write files; their Node imports resolve to stand-ins (see nodeStubs below).
 * The bundles must not contain eval or new Function (pages with a strict CSP forbid them): the
 * build fails if they do.
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const COMPILED = join(ROOT, 'dist/src/playground');
const SOURCES = join(ROOT, 'src/playground');
/** Files copied as they are. */
export const STATIC_FILES = ['index.html', 'style.css', 'sample.txt'];
/** Node modules the page needs working stand-ins for (src/playground/node-stubs). */
const NODE_STUBS: Record<string, string> = { 'node:path': 'path.js', 'node:os': 'os.js' };

/**
 * Any other `node:` module becomes a module with the same export names whose values throw when
 * used ("fs.appendFileSync is not available in the browser"): the trainer's file writing is
 * never reached from the page, and a Node import added to the library later does not break the
 * build. The names come from the real module, so every named import resolves.
 */
async function unavailableModule(specifier: string): Promise<string> {
  const names = Object.keys(await import(specifier)).filter((n) => n !== 'default' && /^[A-Za-z_$][\w$]*$/.test(n));
  const base = specifier.slice('node:'.length);
  return [
    'const unavailable = (name) => new Proxy(() => { throw new Error(`${name} is not available in the browser`); }, { get: (_t, key) => unavailable(`${name}.${String(key)}`) });',
    ...names.map((n) => `export const ${n} = /* @__PURE__ */ unavailable(${JSON.stringify(`${base}.${n}`)});`),
    `export default /* @__PURE__ */ unavailable(${JSON.stringify(base)});`,
  ].join('\n');
}

const nodeStubs: esbuild.Plugin = {
  name: 'recur-node-stubs',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) => {
      const stub = NODE_STUBS[args.path];
      return stub ? { path: join(COMPILED, 'node-stubs', stub) } : { path: args.path, namespace: 'node-unavailable' };
    });
    build.onLoad({ filter: /.*/, namespace: 'node-unavailable' }, async (args) => ({ contents: await unavailableModule(args.path), loader: 'js' }));
  },
};

/**
 * Forbidden in what ships to the browser: a call of the global eval (not `x.eval()`, Module's
 * switch to evaluation mode, nor its definition `eval(){`) and the Function constructor.
 */
export const DYNAMIC_CODE = [/(?<![.\w$])eval\s*\((?!\s*\)\s*\{)/, /\bnew\s+Function\s*\(/, /(?<![.\w$])Function\s*\(\s*["'`]/];

export async function buildPlayground(outDir = join(ROOT, 'dist/playground')): Promise<string[]> {
  mkdirSync(outDir, { recursive: true });
  const result = await esbuild.build({
    // The CPU backend's thread pool loads its worker script from next to the module that starts it
    // (new URL('./cpu-worker-browser.js', import.meta.url)): here, next to worker.js.
    entryPoints: { app: join(COMPILED, 'app.js'), worker: join(COMPILED, 'worker.js'), 'cpu-worker-browser': join(COMPILED, '../backend/cpu/cpu-worker-browser.js') },
    outdir: outDir, bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true,
    legalComments: 'none', logLevel: 'warning', plugins: [nodeStubs], metafile: true,
    // Settings read from the environment in Node (RECUR_MEMORY_LIMIT, …) have no source in a page.
    define: { 'process.env': '{}' },
  });
  const outputs = Object.keys(result.metafile.outputs);
  for (const file of outputs) {
    const code = readFileSync(resolve(ROOT, file), 'utf8');
    const hit = DYNAMIC_CODE.find((re) => re.test(code));
    if (hit) throw new Error(`${file} contains ${hit.source}: the playground bundle must not evaluate strings as code`);
  }
  for (const f of STATIC_FILES) copyFileSync(join(SOURCES, f), join(outDir, f));
  return [...outputs.map((f) => resolve(ROOT, f)), ...STATIC_FILES.map((f) => join(outDir, f))];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--out');
  const files = await buildPlayground(i > 0 ? resolve(process.argv[i + 1]!) : undefined);
  console.log(`playground: ${files.length} files in ${dirname(files[0]!)}`);
}
