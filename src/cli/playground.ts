/**
 * `recur playground`: serves the in-browser training playground (built by `npm run build` into
 * dist/playground) on http://127.0.0.1:PORT/, or with --export copies it as plain files to host
 * anywhere.
 *
 * Every response carries the cross-origin isolation headers (COOP same-origin, COEP require-corp):
 * only an isolated page gets SharedArrayBuffer, which the CPU backend's threads need. A static host
 * must send the same two headers for threads; --export writes them in the `_headers` format that
 * Netlify and Cloudflare Pages read. Without them the page still works on one thread.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { copyFileSync, existsSync, mkdirSync, promises as fs, readdirSync, writeFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { UserError } from './errors.js';
import { nonNegativeIntFlag } from './flags.js';

/** dist/playground, next to dist/src. */
export const PLAYGROUND_DIR = fileURLToPath(new URL('../../playground/', import.meta.url));

/** What makes the page cross-origin isolated (SharedArrayBuffer, so CPU threads). */
export const ISOLATION_HEADERS: Record<string, string> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml',
};

function builtFiles(dir: string): string[] {
  if (!existsSync(nodePath.join(dir, 'index.html'))) {
    throw new UserError(`the playground is not built ('${dir}' has no index.html); run 'npm run build' in the recur package`);
  }
  return readdirSync(dir).filter((f) => CONTENT_TYPES[nodePath.extname(f)] !== undefined);
}

async function respond(dir: string, files: ReadonlySet<string>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const headers = { ...ISOLATION_HEADERS, 'Cross-Origin-Resource-Policy': 'same-origin', 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache' };
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { ...headers, Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
    return;
  }
  let name: string;
  try {
    name = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname).replace(/^\/+/, '') || 'index.html';
  } catch {
    name = '';
  }
  // Only the build's own files, by exact name: no path ever reaches the file system unchecked.
  if (!files.has(name)) {
    res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found\n');
    return;
  }
  const body = await fs.readFile(nodePath.join(dir, name));
  res.writeHead(200, { ...headers, 'Content-Type': CONTENT_TYPES[nodePath.extname(name)]!, 'Content-Length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Starts the server; resolves with it and its URL once it listens. */
export async function servePlayground(opts: { port: number; host: string; dir?: string }): Promise<{ server: Server; url: string }> {
  const dir = opts.dir ?? PLAYGROUND_DIR;
  const files = new Set(builtFiles(dir));
  const server = createServer((req, res) => {
    respond(dir, files, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('internal error\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') reject(new UserError(`port ${opts.port} on ${opts.host} is in use; choose another with --port`));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') reject(new UserError(`cannot listen on host '${opts.host}' (${e.code}); give an address of this machine with --host`));
      else if (e.code === 'EACCES') reject(new UserError(`no permission to listen on port ${opts.port}; use a port above 1023`));
      else reject(e);
    });
    server.listen(opts.port, opts.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const shownHost = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return { server, url: `http://${shownHost}:${port}/` };
}

/** Copies the built page to `outDir` with a `_headers` file; returns the files written. */
export function exportPlayground(outDir: string, dir = PLAYGROUND_DIR): string[] {
  const files = builtFiles(dir);
  mkdirSync(outDir, { recursive: true });
  for (const f of files) copyFileSync(nodePath.join(dir, f), nodePath.join(outDir, f));
  const headers = Object.entries(ISOLATION_HEADERS).map(([k, v]) => `  ${k}: ${v}`).join('\n');
  writeFileSync(nodePath.join(outDir, '_headers'), `/*\n${headers}\n`);
  return [...files, '_headers'];
}

interface PlaygroundFlags {
  port: number;
  host: string;
  export?: string;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export function registerPlayground(program: Command): void {
  program
    .command('playground')
    .description('serve the in-browser training playground (pick a cell, train on a text, watch the curves, generate, save and load checkpoints)')
    .option('--port <n>', 'port to listen on, 0 = any free port', nonNegativeIntFlag('--port'), 8420)
    .option('--host <address>', 'address to listen on (other than localhost, the page is reachable from the network)', '127.0.0.1')
    .option('--export <dir>', 'write the page as plain files to <dir> (with a _headers file for COOP/COEP) instead of serving it')
    .action(async (f: PlaygroundFlags) => {
      if (f.port > 65535) throw new UserError(`--port must be at most 65535, got ${f.port}`);
      if (f.export !== undefined) {
        const written = exportPlayground(f.export);
        process.stdout.write(`recur playground: wrote ${written.length} files to ${nodePath.resolve(f.export)}; serve them with the headers in _headers (${Object.keys(ISOLATION_HEADERS).join(', ')}) for CPU threads\n`);
        return;
      }
      const { server, url } = await servePlayground({ port: f.port, host: f.host });
      process.stdout.write(`recur playground: ${url}  (Ctrl-C stops the server)\n`);
      if (!LOOPBACK.has(f.host)) process.stderr.write(`recur playground: listening on ${f.host}: the page is reachable from other machines\n`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          server.close(() => resolve());
          server.closeAllConnections(); // open keep-alive connections would hold close() back
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
