/**
 * `recur playground`: the server sends the page's files (and nothing else) with the cross-origin
 * isolation headers, prints its URL and stops on Ctrl-C; --export writes plain files with a
 * _headers file; a busy port or a bad flag is one user-error line.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPlayground } from '../../tools/build-playground.js';
import { ISOLATION_HEADERS, servePlayground } from '../../src/cli/playground.js';
import { MAIN, assertUserError, recur } from '../helpers/cli.js';

let work: string;
before(async () => {
  await buildPlayground();
  work = mkdtempSync(join(tmpdir(), 'recur-playground-cli-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

test('the server sends the built files with COOP/COEP, and nothing outside them', async () => {
  const { server, url } = await servePlayground({ port: 0, host: '127.0.0.1' });
  try {
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    for (const [k, v] of Object.entries(ISOLATION_HEADERS)) assert.equal(page.headers.get(k), v, k);
    assert.match(await page.text(), /data-testid="train"/);
    const js = await fetch(new URL('worker.js', url));
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal(js.headers.get('cross-origin-resource-policy'), 'same-origin');
    await js.arrayBuffer();
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/node-stubs/fs.js', '/nope.js', '/%zz']) {
      const r = await fetch(new URL(path, url));
      assert.equal(r.status, 404, path);
      await r.text();
    }
    const post = await fetch(url, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    await post.text();
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('recur playground prints its URL, serves the page and stops on SIGINT', async () => {
  const child = spawn(process.execPath, [MAIN, 'playground', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed: ${stdout}`)), 20_000);
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      const m = /recur playground: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    });
    child.on('exit', () => reject(new Error(`exited early: ${stdout}`)));
  });
  const r = await fetch(url);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('cross-origin-embedder-policy'), 'require-corp');
  await r.text();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  assert.equal(await exited, 0);
});

test('recur playground --export writes the page as plain files with its headers', async () => {
  const out = join(work, 'site');
  const r = await recur(['playground', '--export', out]);
  assert.equal(r.code, 0, r.stderr);
  for (const f of ['index.html', 'app.js', 'worker.js', 'style.css', 'sample.txt']) assert.ok(existsSync(join(out, f)), f);
  const headers = readFileSync(join(out, '_headers'), 'utf8');
  assert.match(headers, /Cross-Origin-Opener-Policy: same-origin/);
  assert.match(headers, /Cross-Origin-Embedder-Policy: require-corp/);
});

test('a busy port and bad flags are one-line user errors', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    assertUserError(await recur(['playground', '--port', String(port)]), new RegExp(`port ${port} .*is in use`), 'busy port');
  } finally {
    blocker.close();
  }
  assertUserError(await recur(['playground', '--port', '70000']), /--port must be at most 65535/, 'port range');
  assertUserError(await recur(['playground', '--port', 'x']), /--port/, 'port not a number');
  assertUserError(await recur(['playground', '--host', 'no-such-host.invalid', '--port', '0']), /cannot listen on host/, 'bad host');
});
