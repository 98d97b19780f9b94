/**
 * The playground end to end in headless Chromium (CPU backend): the page loads without console
 * errors and says why it does not use WebGPU; a run of 30 steps, stopped and resumed midway,
 * computes what `recur train` computes with the same arguments (train and validation loss), the
 * loss falls and a sample appears; the page's .safetensors download loads in `recur eval` with the
 * CLI run's numbers; a `recur train` checkpoint loads in the page with the CLI's validation loss
 * and continues training there as `recur train --resume` does. Screenshots (desktop and phone
 * width) go to test-artifacts/playground/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { buildPlayground } from '../../tools/build-playground.js';
import { PLAYGROUND_DIR } from '../../src/cli/playground.js';
import { trainArgs } from '../../src/playground/run-args.js';
import { PAGE_DEFAULTS, formatSettings, type PageSettings } from '../../src/playground/settings.js';
import { DEFAULT_TRAIN_ARGS, type TrainArgs } from '../../src/train/lm-trainer.js';
import { recur } from '../helpers/cli.js';
import {
  artifactPath, browserMissing, byTestId, launchBrowser, numberOf, startPlayground, textOf, waitForStep, watchErrors, type Browser,
} from './browser.js';

const skip = browserMissing();
/** A CPU run (the comparisons with the CLI are exact there). */
const SETTINGS: PageSettings = { ...PAGE_DEFAULTS, dim: 32, depth: 1, steps: 30, batch: 8, seq: 64, evalEvery: 10, device: 'cpu' };
/** Page and CLI run the same f32 kernels; what may differ is the JavaScript engine's Math.exp/log. */
const SAME = 1e-5;

function assertSame(actual: number, expected: number, what: string): void {
  assert.ok(Number.isFinite(actual) && Math.abs(actual - expected) <= SAME, `${what}: ${actual} vs ${expected}`);
  if (process.env.RECUR_DEBUG) console.log(`${what}: ${actual} vs ${expected} (difference ${actual - expected})`);
}

/** `recur train` flags for the arguments a page run uses. */
function cliFlags(args: TrainArgs): string[] {
  const flags: string[] = [];
  for (const [key, value] of Object.entries(args) as [keyof TrainArgs, unknown][]) {
    if (value === DEFAULT_TRAIN_ARGS[key] && key !== 'model') continue;
    flags.push(`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(value));
  }
  return flags;
}

interface LogLine { type: string; step: number; loss: number }
function readLog(dir: string): LogLine[] {
  return readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as LogLine);
}
const lossAt = (log: LogLine[], type: 'train' | 'val', step: number): number => {
  const line = log.find((l) => l.type === type && l.step === step);
  assert.ok(line, `the CLI log has a ${type} line at step ${step}`);
  return line.loss;
};

/** The runs the page kept in IndexedDB (the curves of each run). */
function keptRuns(page: Page): Promise<{ step: number; train: [number, number][]; val: [number, number, number][] }[]> {
  return page.evaluate(() => new Promise((resolve, reject) => {
    const open = indexedDB.open('recur-playground');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const get = open.result.transaction('runs').objectStore('runs').getAll();
      get.onsuccess = () => resolve(get.result);
      get.onerror = () => reject(get.error);
    };
  }));
}

describe('playground in headless Chromium', { skip }, () => {
  let browser: Browser;
  let server: Awaited<ReturnType<typeof startPlayground>>;
  let work: string;
  let cliRun: Promise<string>;
  const sample = join(PLAYGROUND_DIR, 'sample.txt');

  before(async () => {
    await buildPlayground();
    work = mkdtempSync(join(tmpdir(), 'recur-playground-'));
    // The CLI reference run, in parallel with the browser's start.
    const runDir = join(work, 'cli-run');
    cliRun = recur(['train', '--text', sample, ...cliFlags(trainArgs(SETTINGS)), '--out', runDir]).then((r) => {
      assert.equal(r.code, 0, r.stderr);
      return runDir;
    });
    [browser, server] = await Promise.all([launchBrowser(), startPlayground()]);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  });

  test('the page loads without console errors, cross-origin isolated, and names its device', async () => {
    const page = await browser.context.newPage();
    const errors = watchErrors(page);
    await page.goto(server.url);
    await page.waitForFunction((sel) => document.querySelector(sel)?.textContent !== 'starting…', byTestId('device'));
    const device = await textOf(page, 'device');
    assert.match(device, /^(cpu|webgpu: .+)$/);
    if (device === 'cpu') assert.match((await page.textContent('#notices')) ?? '', /WebGPU is not used: .+ Training runs on the CPU/);
    assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'COOP/COEP make the page cross-origin isolated (SharedArrayBuffer for threads)');
    assert.ok((await page.inputValue('#text')).startsWith('THE LANTERN KEEPER'), 'the bundled sample is the default text');
    assert.deepEqual(await page.$$eval('#model option', (os) => os.map((o) => (o as HTMLOptionElement).value)).then((v) => v.includes('mingru') && v.includes('mesa')), true);
    for (const id of ['train', 'stop', 'step', 'loss', 'val-loss', 'device', 'sample', 'generate', 'save', 'load']) {
      assert.equal(await page.locator(byTestId(id)).count(), 1, `one element with data-testid=${id}`);
    }
    await page.screenshot({ path: artifactPath('empty.png'), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('with a WebGPU adapter (SwiftShader here) the page trains 30 steps on WebGPU: the loss falls, a sample appears', async () => {
    const page = await browser.context.newPage();
    const errors = watchErrors(page);
    await page.goto(`${server.url}?dim=16&depth=1&steps=30&batch=4&seq=32&evalEvery=10&device=webgpu&autostart=1`);
    await page.waitForFunction((sel) => document.querySelector(sel)?.textContent !== 'starting…', byTestId('device'));
    const device = await textOf(page, 'device');
    assert.match(device, /^webgpu: .+/, `the page runs on WebGPU (notices: ${await page.textContent('#notices')})`);
    await waitForStep(page, 30);
    // from a uniform guess, log V nats/char, the loss must have fallen well below it
    const uniform = Math.log(new Set(readFileSync(sample, 'utf8')).size);
    const val = await numberOf(page, 'val-loss');
    assert.ok(val < uniform - 0.5, `val loss ${val} after 30 WebGPU steps, uniform guess ${uniform.toFixed(3)}`);
    assert.ok(Number.isFinite(await numberOf(page, 'loss')));
    await page.click(byTestId('generate'));
    await page.waitForFunction((sel) => (document.querySelector(sel)?.textContent ?? '').length > 20, byTestId('sample'));
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('without a WebGPU adapter the page says so and trains on the CPU', async () => {
    const plain = await launchBrowser({ webgpu: false });
    try {
      const page = await plain.context.newPage();
      const errors = watchErrors(page);
      await page.goto(`${server.url}?dim=16&depth=1&steps=3&batch=2&seq=16&evalEvery=3&autostart=1`);
      await waitForStep(page, 3);
      assert.equal(await textOf(page, 'device'), 'cpu');
      assert.match((await page.textContent('#notices')) ?? '', /WebGPU is not used: this browser offers WebGPU but no adapter .+ Training runs on the CPU/);
      assert.ok(Number.isFinite(await numberOf(page, 'val-loss')));
      assert.deepEqual(errors, []);
    } finally {
      await plain.close();
    }
  });

  test('30 steps on 2 CPU threads, stopped and resumed midway, match recur train on 1; the loss falls, a sample appears, runs are kept', async () => {
    const page = await browser.context.newPage();
    const errors = watchErrors(page);
    await page.goto(`${server.url}${formatSettings({ ...SETTINGS, threads: 2, autostart: true })}`);
    // Stop a few steps in, then resume: the run must end where an uninterrupted one does.
    await page.waitForFunction((sel) => Number(document.querySelector(sel)?.textContent) >= 3, byTestId('step'));
    await page.click(byTestId('stop'));
    await page.waitForFunction((sel) => !(document.querySelector(sel) as HTMLButtonElement).disabled, byTestId('train'));
    const stoppedAt = Number(await textOf(page, 'step'));
    assert.ok(stoppedAt >= 3 && stoppedAt < 30, `stopped midway (at step ${stoppedAt})`);
    await page.click('#resume');
    await waitForStep(page, 30);
    await page.waitForFunction((sel) => (document.querySelector(sel)?.textContent ?? '').length >= 100, byTestId('sample'));
    assert.equal(await textOf(page, 'threads'), '2', 'the page is cross-origin isolated: the CPU backend runs 2 threads');

    const log = readLog(await cliRun);
    assertSame(await numberOf(page, 'loss'), lossAt(log, 'train', 30), 'train loss at step 30: page vs recur train');
    assertSame(await numberOf(page, 'val-loss'), lossAt(log, 'val', 30), 'val loss at step 30: page vs recur train');

    await page.waitForFunction(() => document.querySelectorAll('#runs li').length > 0);
    const [kept] = await keptRuns(page);
    assert.ok(kept && kept.step === 30 && kept.train.length === 30 && kept.val.map(([s]) => s).join() === '10,20,30', 'the run and its curves are kept in IndexedDB');
    assert.ok(kept.val[2]![1] < kept.val[0]![1] && kept.train[29]![1] < kept.train[0]![1] - 0.5, `the loss falls (${kept.train[0]![1]} → ${kept.train[29]![1]})`);

    await page.screenshot({ path: artifactPath('trained.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(200);
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'no horizontal scrolling at phone width');
    await page.screenshot({ path: artifactPath('trained-phone.png'), fullPage: true });

    // Save: the download is a self-contained checkpoint that recur eval reads, with the CLI run's numbers.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(byTestId('save'))]);
    const saved = join(work, 'page.safetensors');
    await download.saveAs(saved);
    const [fromPage, fromCli] = await Promise.all([
      recur(['eval', '--checkpoint', saved, '--text', sample, '--json']),
      recur(['eval', '--checkpoint', join(work, 'cli-run'), '--text', sample, '--json']),
    ]);
    assert.equal(fromPage.code, 0, fromPage.stderr);
    const pageEval = JSON.parse(fromPage.stdout) as { loss: number; predictions: number };
    const cliEval = JSON.parse(fromCli.stdout) as { loss: number; predictions: number };
    assert.equal(pageEval.predictions, cliEval.predictions);
    assertSame(pageEval.loss, cliEval.loss, 'recur eval: the page checkpoint vs the CLI run');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('a recur train checkpoint loads in the page with the same validation loss and resumes as recur train --resume', async () => {
    const runDir = await cliRun;
    const ckpt = join(runDir, readdirSync(runDir).find((f) => f.startsWith('ckpt-'))!);
    const resumed = recur(['train', '--resume', runDir, '--text', sample, '--steps', '40']);
    const page = await browser.context.newPage();
    const errors = watchErrors(page);
    await page.goto(`${server.url}${formatSettings({ ...SETTINGS, threads: 1 })}`);
    await page.waitForFunction((sel) => document.querySelector(sel)?.textContent !== 'starting…', byTestId('device'));
    assert.equal(await textOf(page, 'threads'), '1');
    const log = readLog(runDir);
    await page.setInputFiles(byTestId('load'), ['config.json', 'model.safetensors', 'optimizer.safetensors', 'trainer.json'].map((f) => join(ckpt, f)));
    await page.waitForFunction((sel) => document.querySelector(sel)?.hasAttribute('data-value'), byTestId('val-loss'));
    assert.equal(await textOf(page, 'step'), '30');
    assertSame(await numberOf(page, 'val-loss'), lossAt(log, 'val', 30), 'val loss of the CLI checkpoint: page vs its log');

    await page.fill('input[name=steps]', '40');
    await page.click('#resume');
    await waitForStep(page, 40);
    const r = await resumed;
    assert.equal(r.code, 0, r.stderr);
    assertSame(await numberOf(page, 'val-loss'), lossAt(readLog(runDir), 'val', 40), 'val loss at step 40: resumed in the page vs recur train --resume');
    assert.deepEqual(errors, []);
    await page.close();
  });
});
